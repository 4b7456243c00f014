#!/usr/bin/env bash
# Set up .venv and start the dashboard (http://localhost:8501). Extra arguments go to streamlit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
exec .venv/bin/streamlit run streamlit_app.py "$@"
