#!/usr/bin/env bash
# Install pdfrag (as scripts/install.sh does) and run the whole test suite:
# unit tests and integration tests against the real servers the tests start
# themselves (Prefect server, Milvus Lite, an S3 emulator for store tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
exec .venv/bin/python -m pytest "$@"
