#!/usr/bin/env bash
# Set up LexBrief with its test tools, then lint, type-check and run the whole test suite
# (end-to-end tests run the real SmolLM2 model). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh starter,gui,dev
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check app tests packaging
.venv/bin/mypy
exec .venv/bin/pytest "$@"
