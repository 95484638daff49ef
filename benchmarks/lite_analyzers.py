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
    """Upsert through pdfrag's own index writer (``MilvusIndex.upsert``:
    for ``segmented``, pdfrag's cutting of the text is in the time)."""
    from pdfrag.config import IndexSettings, MilvusSettings
    from pdfrag.index.milvus import MilvusIndex

    settings = IndexSettings(hybrid=False) if kind == "none" else IndexSettings(analyzer=kind)
    with tempfile.TemporaryDirectory() as tmp:
        index = MilvusIndex(MilvusSettings(), settings, str(Path(tmp) / "bench.db"), {"model": "bench", "dimension": dim, "metric": "COSINE"})
        index.ensure_collection()
        made = (index.full_text() or {}).get("analyzer", "none")
        assert made == kind, f"asked for {kind}, the collection has {made}"
        rng = np.random.default_rng(0)
        rows = [
            {
                "id": f"{i:032x}", "vector": (v := rng.standard_normal(dim).astype("float32")).tolist(), "text": t, "doc_id": f"{i // 100:064x}",
                "source": f"/bench/{i // 100}.pdf", "page_start": 1, "page_end": 1, "chunk_index": i % 100, "char_start": 0,
                "char_end": len(t), "token_count": 0, "pipeline": "0" * 32, "metadata": {},
            }
            for i, t in enumerate(texts)
        ]
        start = time.perf_counter()
        for i in range(0, len(rows), 100):
            index.upsert(rows[i : i + 100])
        seconds = time.perf_counter() - start
        index.close()
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
        for kind in ("none", "standard", "jieba", "segmented"):
            label = "no full text" if kind == "none" else f"`{kind}` analyzer + BM25"
            print(f"| {name}, {len(texts)} × {len(texts[0])} chars | {label} | {upsert_ms_per_row(kind, texts):.2f} |", flush=True)
    print("\n| rows | jieba call | ms per row |\n|---|---|---:|")
    for name, texts in sets.items():
        for fn in ("cut_for_search", "cut"):
            if texts:
                print(f"| {name} | `{fn}` | {jieba_ms_per_row(texts, fn):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
