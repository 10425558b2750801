#!/usr/bin/env bash
# Installs Labelgram with its test tools into .venv and runs the whole test suite (then the
# end-to-end tests again on the aiohttp transport; arguments run pytest with them only).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
if [ $# -eq 0 ]; then
  # The Label Studio the server tests import into (tests/labelstudio.py: a cached venv, about
  # 2.5 minutes the first time) is built meanwhile, beside the checks and the first tests; the
  # tests wait for it on its lock, and report its log should it fail.
  .venv/bin/python -c 'from tests.labelstudio import install; install()' >/dev/null 2>&1 &
  # The static checks first: a lint error, an unformatted file or a type error fails CI.
  .venv/bin/ruff check .
  .venv/bin/ruff format --check .
  .venv/bin/mypy
fi
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
if [ $# -eq 0 ]; then
  # The end-to-end tests once more on the optional aiohttp transport ([telegram] transport),
  # so both request stacks stay proven on every run (about 75 s more). The Label Studio server
  # tests (tests/test_labelstudio_server.py) prove a file format, not a transport: once is enough.
  LABELGRAM_TEST_TRANSPORT=aiohttp .venv/bin/python -m pytest -q -p no:cacheprovider \
    tests --deselect tests/test_bench.py --deselect tests/test_crash.py \
    --deselect tests/test_labelstudio_server.py
fi
