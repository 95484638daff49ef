"""Memory of an extraction worker that reads scanned pages, with the OCR
models' ONNX Runtime arenas released after each page (the default,
``extract.ocr_release_memory``) and kept.

Each setting runs in a process of its own, as an extraction worker does: one
extractor (OCR, layout and tables as configured by default) reads every PDF
of the corpus's ``scanned`` folder, ``--rounds`` times over. It prints the
process's RSS above its start after every few files, at the end, and the
time spent extracting.

    .venv/bin/python benchmarks/ocr_memory.py [--rounds 2] [--folder PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ROOT.parent / "shared" / "corpus" / "pdfs" / "scanned"


def worker(folder: Path, rounds: int, release: bool) -> dict:
    import psutil

    from pdfrag.config import ExtractSettings
    from pdfrag.errors import PdfragError
    from pdfrag.extract import get_extractor

    ex = get_extractor(ExtractSettings(isolate=False, ocr_release_memory=release))
    me = psutil.Process()
    base = me.memory_info().rss
    files = sorted(folder.glob("*.pdf")) * rounds
    marks, failed, seconds = [], 0, 0.0
    for i, path in enumerate(files):
        data = path.read_bytes()
        t = time.perf_counter()
        try:
            ex.extract(data, source=str(path), doc_id=f"{i}")
        except PdfragError:  # a blank scan fails with its reason; the worker goes on
            failed += 1
        seconds += time.perf_counter() - t
        marks.append((me.memory_info().rss - base) >> 20)
    return {"files": len(files), "failed": failed, "seconds": seconds, "growth_mib": marks}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2, help="times the folder is read by the same worker (default 2)")
    ap.add_argument("--folder", type=Path, default=SCANNED, help="PDFs to read (default: the shared corpus's scanned folder)")
    ap.add_argument("--worker", choices=("release", "keep"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.folder, args.rounds, args.worker == "release")))
        return 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    print(f"{args.folder}: {len(list(args.folder.glob('*.pdf')))} PDFs, read {args.rounds} times by one worker per setting")
    print("| OCR arenas | extraction time, s | RSS above start after every 7th file, MiB | at the end, MiB | peak after a file, MiB |")
    print("|---|---:|---|---:|---:|")
    for setting in ("release", "keep"):
        out = subprocess.run(
            [sys.executable, __file__, "--worker", setting, "--rounds", str(args.rounds), "--folder", str(args.folder)],
            capture_output=True, text=True, env=env, check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        g = r["growth_mib"]
        label = "released after each page (default)" if setting == "release" else "kept (`extract.ocr_release_memory = false`)"
        print(f"| {label} | {r['seconds']:.1f} | {', '.join(str(x) for x in g[6::7])} | {g[-1]:,} | {max(g):,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
