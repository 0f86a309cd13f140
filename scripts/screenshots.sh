#!/usr/bin/env bash
# Real screenshots of the window on a virtual X display (Debian: apt-get install xvfb xauth
# libxcb-cursor0). Writes docs/screenshots/*.png; uses a throwaway data folder.
set -euo pipefail
cd "$(dirname "$0")/.."
export LEXBRIEF_HOME="${LEXBRIEF_HOME:-$(mktemp -d)}"
export QT_QPA_PLATFORM=xcb
exec xvfb-run -a -s "-screen 0 1360x860x24" .venv/bin/python scripts/screenshots.py "${1:-docs/screenshots}"
