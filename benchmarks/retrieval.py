"""Retrieval quality of pdfrag configurations on the retrieval sets of
benchmarks/data/retrieval, for tuning chunk sizes and embedding models.

    .venv/bin/python benchmarks/retrieval.py --set zh
    .venv/bin/python benchmarks/retrieval.py --set en --config PDFRAG_CHUNK__SIZE=120 --config PDFRAG_CHUNK__SIZE=254
    .venv/bin/python benchmarks/retrieval.py --set zh --config "PDFRAG_EMBED__MODEL=multilingual-e5-small"

Each ``--config`` is one configuration: space-separated ``PDFRAG_*=value`` settings on top
of the defaults (no ``--config``: the defaults alone). For each, the set's corpus is ingested
into a fresh PDFRAG_HOME with ``pdfrag ingest`` and evaluated with ``pdfrag eval retrieval``
(dense search, and with ``--mode hybrid`` also BM25 fused with dense as the query service
searches; documents ranked by their best chunk); one table compares them. The English
set's corpus is four folders of ../shared/corpus/pdfs (listed in its corpus.txt), the Chinese
set's the PDFs in its folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETS = REPO / "benchmarks" / "data" / "retrieval"
PDFS = Path(os.environ.get("PDFRAG_TEST_CORPUS", REPO.parent / "shared" / "corpus")).resolve() / "pdfs"


def corpus_files(name: str) -> list[Path]:
    d = SETS / name
    listed = d / "corpus.txt"
    if listed.is_file():
        lines = [ln.strip() for ln in listed.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        return [PDFS / ln for ln in lines]
    return sorted((d / "pdfs").glob("*.pdf"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_config(text: str) -> dict[str, str]:
    out = {}
    for item in shlex.split(text):
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("PDFRAG_"):
            raise SystemExit(f"--config takes PDFRAG_NAME=value settings, not {item!r}")
        out[key] = value
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", dest="sets", action="append", choices=("en", "zh"), help="retrieval set (repeatable; default both)")
    ap.add_argument("--config", action="append", default=[], help="one configuration: 'PDFRAG_A=1 PDFRAG_B=2' (repeatable)")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--mode", dest="modes", action="append", choices=("dense", "hybrid"), help="search mode (repeatable; default dense)")
    ap.add_argument("--work", type=Path, default=None, help="keep homes here (default: a temporary folder, removed)")
    args = ap.parse_args()
    configs = [parse_config(c) for c in args.config] or [{}]
    work = args.work or Path(tempfile.mkdtemp(prefix="pdfrag-retrieval-"))
    from pdfrag.stack.prefect_server import ensure_server, stop_server

    server = ensure_server(work / "prefect", port=free_port())
    base = {k: v for k, v in os.environ.items() if not k.startswith("PDFRAG_") or k == "PDFRAG_TEST_CORPUS"}
    base.update({"PREFECT_API_URL": server.url, "HF_HUB_OFFLINE": "1", "GRPC_VERBOSITY": "NONE"})
    rows = []
    try:
        for name in args.sets or ["en", "zh"]:
            src = work / f"corpus-{name}"
            if src.exists():
                shutil.rmtree(src)
            src.mkdir(parents=True)
            for f in corpus_files(name):
                (src / f.name).symlink_to(f)
            for i, cfg in enumerate(configs):
                home = work / f"home-{name}-{i}"
                env = {**base, **cfg, "PDFRAG_HOME": str(home)}
                t = time.perf_counter()
                ing = subprocess.run([sys.executable, "-m", "pdfrag.cli", "ingest", str(src), "--json"], env=env, capture_output=True, text=True)
                if ing.returncode != 0:
                    raise SystemExit(f"ingest failed for {cfg}: {ing.stderr[-2000:]}")
                ingest_s = time.perf_counter() - t
                summary = json.loads(ing.stdout)
                for mode in args.modes or ["dense"]:
                    ev = subprocess.run(
                        [sys.executable, "-m", "pdfrag.cli", "eval", "retrieval", "--queries", str(SETS / name / "queries.jsonl"),
                         "--qrels", str(SETS / name / "qrels.tsv"), "--k", str(args.k), "--mode", mode, "--json"],
                        env=env, capture_output=True, text=True,
                    )
                    if ev.returncode != 0:
                        raise SystemExit(f"eval failed for {cfg}: {ev.stderr[-2000:]}")
                    m = json.loads(ev.stdout)
                    rows.append((name, " ".join(f"{k}={v}" for k, v in cfg.items()) or "defaults", mode, summary.get("chunks_added", 0), ingest_s, m))
                    print(f"{name} {rows[-1][1]} {mode}: nDCG@10 {m['ndcg@10']:.3f}", flush=True)
    finally:
        stop_server(work / "prefect")
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n| set | configuration | search | chunks | ingest, s | nDCG@10 | Recall@10 | Recall@100 | MRR@10 |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for name, cfg, mode, chunks, secs, m in rows:
        print(f"| {name} | `{cfg}` | {mode} | {chunks:,} | {secs:.0f} | {m['ndcg@10']:.3f} | {m['recall@10']:.3f} | {m['recall@100']:.3f} | {m['mrr@10']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
