#!/usr/bin/env bash
# Installs Labelgram into .venv, creates config.toml from the example if there is none,
# and runs the bot. The token comes from the environment: LABELGRAM_TOKEN=... scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
if [ ! -f config.toml ]; then
  cp config.example.toml config.toml
  echo "Created config.toml from config.example.toml; add your Telegram id to admin_ids."
fi
exec .venv/bin/labelgram --config config.toml "$@"
