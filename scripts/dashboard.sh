#!/usr/bin/env bash
# Set up .venv and start the dashboard (http://localhost:8501). Extra arguments go to streamlit.
# With NST_RAY_ADDRESS set, Ray is installed too and runs compute on that cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
if [ -n "${NST_RAY_ADDRESS:-}" ]; then
  scripts/setup.sh requirements-ray.txt  # runs compute on a Ray cluster (docs/scaling.md)
fi
exec .venv/bin/streamlit run streamlit_app.py "$@"
