"""Dense against hybrid search on the public chunking benchmark
(``../shared/corpus/chunking_eval``: five English corpora, 472 questions
with reference excerpts as character ranges), through a real Milvus Lite
collection and the query service's own ``Searcher``.

    .venv/bin/python benchmarks/search_modes.py [--config NAME ...] [--k 5]

For each chunker configuration (default: pdfrag's default, and its structure
chunker with recursive sections) the corpora are chunked and embedded as
``benchmarks/chunking.py`` does (all-MiniLM-L6-v2; embeddings cached under
``.pdfrag/cache/chunking-eval``), the chunks go into one fresh collection
with BM25 full text (what ``pdfrag ingest`` builds by default: jieba
analyzer), and each question is searched three ways: ``dense`` (the
vectors alone), ``hybrid`` (BM25 fused with the vectors by reciprocal rank,
as the query service and ``pdfrag search`` do by default), and ``bm25``
(full text alone, for reference). Scores are the chunking benchmark's:
character-level recall, precision and IoU of the top ``k`` chunks against
the reference excerpts, mean over questions, per corpus and overall.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pdfrag.chunk.evaluation import TOP_K, CachingEmbedder, ModelTokenizer, default_configs, load_benchmark, score_question, sentence_embedder
from pdfrag.config import EmbedSettings, IndexSettings, MilvusSettings
from pdfrag.embed import get_embedder, get_profile
from pdfrag.index.milvus import MilvusIndex
from pdfrag.search import Searcher

DEFAULT_CONFIGS = ["structure 200 (semantic sections, default)", "structure 200/0 (recursive sections)"]
MODES = ("dense", "hybrid", "bm25")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "chunking_eval")
    ap.add_argument("--cache", type=Path, default=ROOT / ".pdfrag" / "cache" / "chunking-eval")
    ap.add_argument("--config", action="append", help=f"chunker configuration (repeatable; default: {DEFAULT_CONFIGS})")
    ap.add_argument("--k", type=int, default=TOP_K, help="chunks retrieved per question")
    args = ap.parse_args(argv)

    started = time.time()
    settings = EmbedSettings()
    tokenizer = ModelTokenizer(get_profile(settings.model))
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    embedder = CachingEmbedder(get_embedder(settings), args.cache, log=log)
    splitter = sentence_embedder(settings, embedder, args.cache, log)  # sentences as the pipeline's default chunker embeds them
    bench = load_benchmark(args.corpus)
    configs = {c.name: c for c in default_configs(tokenizer, embedder, langchain=False, split_embedder=splitter)}
    names = args.config or DEFAULT_CONFIGS
    unknown = [n for n in names if n not in configs]
    if unknown:
        raise SystemExit(f"unknown configuration(s) {unknown}; choose from {list(configs)}")
    questions = [q.text for q in bench.questions]
    qvecs = dict(zip(questions, embedder.embed_queries(questions), strict=True))
    corpora = list(bench.corpora)

    print(f"# Dense against hybrid search on the chunking benchmark ({len(questions)} questions, top {args.k} chunks, {settings.model})\n")
    print("| chunker | search | chunks | recall | precision | IoU | " + " | ".join(f"{c} recall / IoU" for c in corpora) + " |")
    print("|---|---|---:|---:|---:|---:|" + "---:|" * len(corpora))
    with tempfile.TemporaryDirectory(prefix="pdfrag-modes-") as tmp:
        for n, name in enumerate(names):
            fn = configs[name].make()
            spans = [s for corpus, text in bench.corpora.items() for s in fn(corpus, text)]
            vecs = embedder.embed_documents([s.embed_text for s in spans])
            uri = str(Path(tmp) / f"modes{n}.db")
            index = MilvusIndex(
                MilvusSettings(uri=uri, collection="modes"), IndexSettings(), uri,
                {"model": settings.model, "dimension": int(vecs.shape[1]), "metric": "COSINE"},
            )
            index.ensure_collection()
            if index.full_text() is None:
                raise SystemExit("this Milvus has no BM25 full text: hybrid search cannot be measured")
            index.upsert([
                {
                    "id": f"c{i}", "vector": vecs[i].tolist(), "text": bench.corpora[s.corpus][s.start : s.end], "doc_id": s.corpus,
                    "source": s.corpus, "page_start": 1, "page_end": 1, "chunk_index": i, "char_start": s.start, "char_end": s.end,
                    "token_count": 0, "pipeline": "modes", "metadata": {},
                }
                for i, s in enumerate(spans)
            ])
            index.flush()
            index.load()
            searchers = {mode: Searcher(index, qvecs.__getitem__, hybrid=mode == "hybrid") for mode in ("dense", "hybrid")}
            for mode in MODES:
                per_q = []
                for q in bench.questions:
                    if mode == "bm25":
                        ids = [h.chunk_id for h in index.text_search(q.text, args.k)]
                    else:
                        ids = [r.chunk_id for r in searchers[mode].search(q.text, args.k).results]
                    per_q.append(score_question(q, [spans[int(cid[1:])] for cid in ids]))
                scores = np.array(per_q) * 100
                cells = []
                for c in corpora:
                    idx = [i for i, q in enumerate(bench.questions) if q.corpus == c]
                    cells.append(f"{scores[idx, 0].mean():.1f} / {scores[idx, 2].mean():.1f}")
                r, p, j = scores.mean(axis=0)
                print(f"| {name} | {mode} | {len(spans):,} | {r:.1f} | {p:.1f} | {j:.1f} | " + " | ".join(cells) + " |", flush=True)
            index.close()
    print(f"\n{time.time() - started:.0f} s in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
