#!/usr/bin/env bash
# Set up LexBrief and summarize a real court opinion with the embedded starter model, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh starter
exec .venv/bin/lexbrief summarize resources/samples/court-opinion-ca1.pdf "$@"
