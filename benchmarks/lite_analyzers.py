"""What full text costs at insert time on Milvus Lite, per analyzer.

pdfrag's collection has an analyzer-enabled text field and a sparse field
that Milvus fills with BM25 (``pdfrag.index.milvus``); on Milvus Lite the
analyzer runs in Python, in the process that holds the database. This
upserts the same rows of real text (English from the shared corpus's
``large`` folder, Chinese from its ``cjk`` folder) through pdfrag's index
writer into fresh Lite collections: without full text, and with each
analyzer (``standard``; ``jieba``, Milvus Lite's; ``segmented``, pdfrag's
default on Lite, which cuts the Chinese itself and lets ``standard`` split
the words). It also times jieba's own segmentation of the same rows.

Then BM25 alone, per analyzer, on the passage-level retrieval sets of the
embedding benchmark (``benchmarks/embedding.py``): the chunking_eval questions
over 200-token windows of its English corpora, and the Chinese set's
Chinese questions over its paragraphs (its English questions find nothing
in Chinese text by BM25, whatever the analyzer). Each passage is a row;
each question a ``text_search`` (``MilvusIndex``, so ``segmented`` cuts the
query as it cuts the rows); nDCG@10, Recall@10 and MRR@10 over the passages.

    .venv/bin/python benchmarks/lite_analyzers.py [--rows 1000] [--chars 900] [--no-quality]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "pdfs"
ANALYZERS = ("standard", "jieba", "segmented")
os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # Milvus Lite's local channel's keepalive chatter


def rows_of(folder: Path, n: int, chars: int) -> list[str]:
    import pymupdf

    text = ""
    for pdf in sorted(folder.glob("*.pdf")):
        try:
            with pymupdf.open(pdf) as doc:
                text += " ".join(" ".join(page.get_text().split()) for page in doc) + " "
        except Exception:  # noqa: BLE001 - a file the reader rejects is skipped
            continue
        if len(text) >= n * chars:
            break
    rows = [text[i : i + chars] for i in range(0, len(text) - chars + 1, chars)]
    return (rows * (n // max(len(rows), 1) + 1))[:n] if rows else []


def upsert_ms_per_row(kind: str, texts: list[str], dim: int = 384) -> float:
    """Upsert through pdfrag's own index writer (``MilvusIndex.upsert``:
    for ``segmented``, pdfrag's cutting of the text is in the time)."""
    with tempfile.TemporaryDirectory() as tmp:
        index = _lite_index(Path(tmp) / "bench.db", kind, dim)
        rows = _rows(texts, dim)
        start = time.perf_counter()
        for i in range(0, len(rows), 100):
            index.upsert(rows[i : i + 100])
        seconds = time.perf_counter() - start
        index.close()
    return seconds / len(rows) * 1000


def _lite_index(path: Path, kind: str, dim: int):
    from pdfrag.config import IndexSettings, MilvusSettings
    from pdfrag.index.milvus import MilvusIndex

    settings = IndexSettings(hybrid=False) if kind == "none" else IndexSettings(analyzer=kind)
    index = MilvusIndex(MilvusSettings(), settings, str(path), {"model": "bench", "dimension": dim, "metric": "COSINE"})
    index.ensure_collection()
    made = (index.full_text() or {}).get("analyzer", "none")
    assert made == kind, f"asked for {kind}, the collection has {made}"
    return index


def _rows(texts: list[str], dim: int) -> list[dict]:
    rng = np.random.default_rng(0)
    return [
        {
            "id": f"{i:032x}", "vector": rng.standard_normal(dim).astype("float32").tolist(), "text": t, "doc_id": f"{i // 100:064x}",
            "source": f"/bench/{i // 100}.pdf", "page_start": 1, "page_end": 1, "chunk_index": i, "char_start": 0,
            "char_end": len(t), "token_count": 0, "pipeline": "0" * 32, "metadata": {},
        }
        for i, t in enumerate(texts)
    ]


def bm25_quality(kind: str, passages: list[str], queries: list[str], relevant: list[set[int]], dim: int = 8) -> dict[str, float]:
    """BM25 alone over ``passages`` as rows: nDCG@10, Recall@10, MRR@10 (binary
    relevance; ``pdfrag.eval.metrics``, trec_eval's definitions) and the mean
    search time."""
    from pdfrag.eval import metrics

    with tempfile.TemporaryDirectory() as tmp:
        index = _lite_index(Path(tmp) / "q.db", kind, dim)
        index.upsert(_rows(passages, dim))
        index.flush()  # as an ingest ends; the first search then builds Lite's BM25 index
        index.text_search(queries[0], 10)
        run: dict[str, list[tuple[str, float]]] = {}
        start = time.perf_counter()
        for i, q in enumerate(queries):
            # Ranked as Milvus returns them (Milvus Lite reports BM25 as a
            # negated distance: its scores rise down the list).
            run[str(i)] = [(str(int(h.chunk_id, 16)), -rank) for rank, h in enumerate(index.text_search(q, 10))]
        ms = (time.perf_counter() - start) / len(queries) * 1000
        index.close()
    qrels = {str(i): {str(j): 1 for j in rel} for i, rel in enumerate(relevant)}
    m = metrics.evaluate(run, qrels, ("ndcg@10", "recall@10", "mrr@10"))
    return {"nDCG@10": m["ndcg@10"], "Recall@10": m["recall@10"], "MRR@10": m["mrr@10"], "ms": ms}


def jieba_ms_per_row(texts: list[str], fn: str) -> float:
    import jieba

    cut = getattr(jieba, fn)
    start = time.perf_counter()
    for t in texts:
        list(cut(t))
    return (time.perf_counter() - start) / len(texts) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--chars", type=int, default=900, help="characters per row (English); Chinese rows get a third of it")
    ap.add_argument("--no-quality", action="store_true", help="skip BM25 retrieval quality per analyzer")
    args = ap.parse_args()
    sets = {
        "English (large)": rows_of(CORPUS / "large", args.rows, args.chars),
        "Chinese (cjk)": rows_of(CORPUS / "cjk", args.rows, args.chars // 3),
    }
    import jieba

    jieba.setLogLevel(60)
    jieba.initialize()  # its dictionary loads once (about 1 s), outside the timings
    print("| rows | text field | upsert, ms per row |\n|---|---|---:|")
    for name, texts in sets.items():
        if not texts:
            print(f"| {name} | no text found | |")
            continue
        for kind in ("none", *ANALYZERS):
            label = "no full text" if kind == "none" else f"`{kind}` analyzer + BM25"
            print(f"| {name}, {len(texts)} × {len(texts[0])} chars | {label} | {upsert_ms_per_row(kind, texts):.2f} |", flush=True)
    print("\n| rows | jieba call | ms per row |\n|---|---|---:|")
    for name, texts in sets.items():
        for fn in ("cut_for_search", "cut"):
            if texts:
                print(f"| {name} | `{fn}` | {jieba_ms_per_row(texts, fn):.2f} |", flush=True)
    if not args.no_quality:
        print_quality()
    return 0


def print_quality() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import embedding as eb  # the embedding benchmark's retrieval sets

    from pdfrag.embed import get_profile
    from pdfrag.embed.cache import default_models_dir
    from pdfrag.embed.tokens import _load

    tok = _load(str(get_profile("all-MiniLM-L6-v2", default_models_dir()).path))
    en = eb.chunking_eval_ir(tok, eb.ALL_IR)
    zh = eb.zh_ir()
    sets = [(f"English: chunking_eval, {len(en.queries)} questions, {len(en.passages)} passages", en.passages, en.queries, en.relevant)]
    idx = zh.groups["zh→zh"]  # (its English questions find nothing in Chinese text by BM25, whatever the analyzer)
    sets.append((f"Chinese set: {len(idx)} Chinese questions, {len(zh.passages)} paragraphs", zh.passages,
                 [zh.queries[i] for i in idx], [zh.relevant[i] for i in idx]))
    print("\n| set | analyzer | nDCG@10 | Recall@10 | MRR@10 | ms per search |\n|---|---|---:|---:|---:|---:|")
    for label, passages, queries, relevant in sets:
        for kind in ANALYZERS:
            m = bm25_quality(kind, passages, queries, relevant)
            print(f"| {label} | `{kind}` | {m['nDCG@10']:.4f} | {m['Recall@10']:.4f} | {m['MRR@10']:.4f} | {m['ms']:.1f} |", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
