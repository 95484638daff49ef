"""Chunking benchmark: pdfrag's chunkers on the public chunking benchmark
(``../shared/corpus/chunking_eval``: five corpora, 472 questions with
reference excerpts as character ranges), by the published method (Chroma's
"Evaluating Chunking Strategies for Retrieval"): all corpora's chunks in one
index, top 5 chunks per question with all-MiniLM-L6-v2, character-level
recall, precision and IoU. Beside them, LangChain's RecursiveCharacterTextSplitter
at 250/125 and 200/0 computed in the same run (``pip install -e '.[dev]'``),
and the published rows. Chunking throughput (characters/s, embedding
excluded) for every row, in the same run.

Same as ``pdfrag eval chunking``; this script also writes the JSON result.

Run: ``python benchmarks/chunking.py [--only NAME ...] [--out FILE]``.
Embeddings are cached by text hash under ``--cache`` (default
``.pdfrag/cache/chunking-eval``): a first run embeds about 9 M characters
(roughly an hour on 2 busy CPU cores), a rerun only chunks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pdfrag.chunk.evaluation import run_benchmark

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "chunking_eval")
    ap.add_argument("--cache", type=Path, default=ROOT / ".pdfrag" / "cache" / "chunking-eval")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--only", action="append", help="run only this row (repeatable)")
    ap.add_argument("--no-langchain", action="store_true")
    ap.add_argument("--out", type=Path, help="write the JSON result here")
    ap.add_argument("--backend", default="auto", help="embedding backend for retrieval (default: auto, as the pipeline)")
    args = ap.parse_args(argv)
    from pdfrag.config import EmbedSettings

    result = run_benchmark(
        args.corpus, cache=None if args.no_cache else args.cache, only=args.only, langchain=not args.no_langchain,
        embed_settings=EmbedSettings(backend=args.backend),
    )
    print(result["table"])
    print(f"\n{result['embedded_texts']} texts embedded in {result['embedding_seconds']} s; {result['seconds']} s in all", file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
