"""What full text costs at insert time on Milvus Lite, per analyzer.

pdfrag's collection has an analyzer-enabled ``text`` field and a sparse
field that Milvus fills with BM25 (``pdfrag.index.milvus``); on Milvus Lite
the analyzer runs in Python, in the process that holds the database. This
upserts the same rows of real text (English from the shared corpus's
``large`` folder, Chinese from its ``cjk`` folder) into fresh Lite
collections with no analyzer, the ``standard`` analyzer and the ``jieba``
analyzer, and times jieba's own segmentation of the same rows.

    .venv/bin/python benchmarks/lite_analyzers.py [--rows 1000] [--chars 900]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "pdfs"


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
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    from pdfrag.index.milvus import analyzer_candidates

    with tempfile.TemporaryDirectory() as tmp:
        client = MilvusClient(str(Path(tmp) / "bench.db"))
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        if kind == "none":
            schema.add_field("text", DataType.VARCHAR, max_length=65535)
        else:
            params = dict(analyzer_candidates(kind))[kind]  # pdfrag's own analyzer settings
            schema.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True, analyzer_params=params)
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]))
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        index = client.prepare_index_params()
        index.add_index("vec", index_type="FLAT", metric_type="COSINE")
        if kind != "none":
            index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        client.create_collection("bench", schema=schema, index_params=index)
        rng = np.random.default_rng(0)
        rows = [{"id": str(i), "text": t, "vec": rng.standard_normal(dim).astype("float32").tolist()} for i, t in enumerate(texts)]
        start = time.perf_counter()
        for i in range(0, len(rows), 100):
            client.upsert("bench", rows[i : i + 100])
        seconds = time.perf_counter() - start
        client.close()
    return seconds / len(rows) * 1000


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
        for kind in ("none", "standard", "jieba"):
            label = "no analyzer" if kind == "none" else f"`{kind}` analyzer + BM25"
            print(f"| {name}, {len(texts)} × {len(texts[0])} chars | {label} | {upsert_ms_per_row(kind, texts):.2f} |", flush=True)
    print("\n| rows | jieba call | ms per row |\n|---|---|---:|")
    for name, texts in sets.items():
        for fn in ("cut_for_search", "cut"):
            if texts:
                print(f"| {name} | `{fn}` | {jieba_ms_per_row(texts, fn):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
