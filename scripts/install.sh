#!/usr/bin/env bash
# Create .venv and install pdfrag with OCR and its test tools. Idempotent.
#
# torch goes in first, pinned to the CPU build: a bare torch requirement on an
# empty environment pulls a CUDA build of several GB. Where the CPU wheel is
# not on your default index, set PDFRAG_TORCH_INDEX_URL (for example to
# PyTorch's CPU wheel index).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pdfrag needs Python 3.11 or newer")'

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --quiet)
TORCH_VERSION="${PDFRAG_TORCH_VERSION:-2.13.0}"
if ! .venv/bin/python -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null; then
    echo "installing torch $TORCH_VERSION (CPU build)…" >&2
    if [ -n "${PDFRAG_TORCH_INDEX_URL:-}" ]; then
        "${PIP[@]}" install "torch==$TORCH_VERSION" --index-url "$PDFRAG_TORCH_INDEX_URL"
    else
        "${PIP[@]}" install "torch==$TORCH_VERSION"
    fi
fi
echo "installing pdfrag…" >&2
"${PIP[@]}" install -e ".[dev,ocr]"
