#!/usr/bin/env bash
# Install pdfrag (as scripts/install.sh does) and run the whole test suite:
# unit tests and integration tests against the real servers the tests start
# themselves: Prefect server and workers, Milvus Lite (in-process and as a
# server), Ceph RGW as S3 (installed from Debian's packages; needs root or
# the packages already present), and an S3 emulator for store unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
scripts/install-system.sh   # Ceph RGW (the real S3 server the tests start), Chromium
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
exec .venv/bin/python -m pytest "$@"
