#!/usr/bin/env bash
# Install pdfrag, ingest the sample PDFs shipped in samples/, and search them.
# Everything runs locally: Milvus Lite, a folder as object store, a Prefect
# server started under $PDFRAG_HOME/prefect, the packaged all-MiniLM-L6-v2.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export PDFRAG_HOME="${PDFRAG_HOME:-$PWD/.pdfrag}"
export HF_HUB_OFFLINE=1
.venv/bin/pdfrag ingest samples --report "$PDFRAG_HOME/quickstart-report.json"
echo
echo '$ pdfrag search "When was the IBM MT/ST introduced?" -k 3'
.venv/bin/pdfrag search "When was the IBM MT/ST introduced?" -k 3
echo
echo '$ pdfrag search "白细胞计数" -k 2'
.venv/bin/pdfrag search "白细胞计数" -k 2
echo
echo "Run summary: $PDFRAG_HOME/quickstart-report.json. The Prefect UI stays up; stop it with: .venv/bin/pdfrag server stop"
