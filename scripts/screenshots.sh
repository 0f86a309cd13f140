#!/usr/bin/env bash
# Real screenshots of the window on a virtual X display (Debian: apt-get install xvfb xauth
# libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1: Qt's xcb plugin needs the last three). Writes
# docs/screenshots/*.png; uses a throwaway data folder. Then the same window without a
# document at 1280x720, and at 200% scale (QT_SCALE_FACTOR=2), as small-*.png and
# scale200-*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v xvfb-run >/dev/null; then
  echo "screenshots.sh needs a virtual X display: apt-get install xvfb xauth libxcb-cursor0" \
       "libxcb-icccm4 libxcb-keysyms1" >&2
  exit 1
fi
python="${PYTHON:-.venv/bin/python}"  # e.g. a worktree: PYTHON=/path/to/.venv/bin/python
export LEXBRIEF_HOME="${LEXBRIEF_HOME:-$(mktemp -d)}"
export QT_QPA_PLATFORM=xcb
out="${1:-docs/screenshots}"
xvfb-run -a -s "-screen 0 1360x860x24" "$python" scripts/screenshots.py "$out"
xvfb-run -a -s "-screen 0 1280x720x24" "$python" scripts/screenshots.py "$out" \
  --quick small- --size 1280x720
QT_SCALE_FACTOR=2 xvfb-run -a -s "-screen 0 2560x1440x24" "$python" \
  scripts/screenshots.py "$out" --quick scale200- --size 1280x720
