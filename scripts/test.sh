#!/usr/bin/env bash
# Set up .venv with the dev requirements and run every test (browser tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
