"""Chunking evaluation on the public chunking benchmark (Chroma's
"Evaluating Chunking Strategies for Retrieval", the ``chunking_eval`` folder
of the corpus): five text corpora and 472 questions whose answers are given
as character ranges of one corpus.

The published method, implemented as such:

1. Every chunker chunks the five corpora; chunks are verbatim spans (their
   offsets come with them).
2. All corpora's chunks go into one index: here one in-memory matrix of
   L2-normalized vectors, searched exactly (dot products = cosine), so
   "approximate search" plays no part.
3. Each question (embedded with the same model) retrieves its top 5 chunks.
4. Counting characters, per question: recall = reference characters covered
   by the retrieved chunks of the question's corpus / reference characters;
   precision = those covered characters / characters of all 5 retrieved
   chunks (overlaps counted twice, chunks of other corpora included); IoU =
   covered / (retrieved characters + reference characters missed). Means
   over questions.

Embeddings go through the project's embedder (``get_embedder``, whatever
backend it picks), with a cache keyed by the text's hash: chunks two
configurations share are embedded once, and the cache can live on disk
between runs. Chunking throughput is characters per second of the chunker
alone (for the semantic chunker, the time its embedder spends computing is
taken out), the best of three rounds in which every chunker runs in turn.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pdfrag.embed.base import Embedder, normalize
from pdfrag.embed.tokens import ModelTokenizer
from pdfrag.identity import config_hash
from pdfrag.types import Page

# The published results with all-MiniLM-L6-v2 (sizes in cl100k tokens), as
# quoted in the corpus README: (chunker, size/overlap, recall, precision, IoU).
PUBLISHED: list[tuple[str, str, float, float, float]] = [
    ("RecursiveCharacterTextSplitter", "250/125", 78.7, 4.9, 4.9),
    ("RecursiveCharacterTextSplitter", "200/0", 75.7, 6.5, 6.5),
    ("TokenTextSplitter", "250/125", 82.4, 3.6, 3.5),
    ("ClusterSemanticChunker", "250", 77.3, 6.1, 6.0),
    ("ClusterSemanticChunker", "200", 75.2, 7.2, 7.2),
]
TOP_K = 5


@dataclass(frozen=True)
class Question:
    text: str
    corpus: str
    refs: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Benchmark:
    corpora: dict[str, str]
    questions: list[Question]

    @property
    def chars(self) -> int:
        return sum(len(t) for t in self.corpora.values())


def load_benchmark(folder: Path) -> Benchmark:
    folder = Path(folder)
    corpora = {p.stem: p.read_text(encoding="utf-8") for p in sorted((folder / "corpora").glob("*.md"))}
    if not corpora:
        raise FileNotFoundError(f"no corpora/*.md under {folder}")
    questions = []
    with (folder / "questions_df.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            refs = tuple((int(r["start_index"]), int(r["end_index"])) for r in json.loads(row["references"]))
            text = corpora[row["corpus_id"]]
            for (a, b), r in zip(refs, json.loads(row["references"]), strict=True):
                if text[a:b] != r["content"]:
                    raise ValueError(f"reference {a}:{b} of {row['corpus_id']} does not match its content")
            questions.append(Question(row["question"], row["corpus_id"], refs))
    return Benchmark(corpora, questions)


# Chunk spans -----------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    corpus: str
    start: int
    end: int
    embed_text: str  # what gets embedded (the span's text, or context + text)


SpanFn = Callable[[str, str], list[Span]]  # (corpus name, text) -> spans


def pdfrag_spans(chunker: Any) -> SpanFn:
    """A pdfrag ``Chunker`` as a span function: the corpus is one page."""
    from pdfrag.chunk.base import embedding_text

    def run(name: str, text: str) -> list[Span]:
        return [Span(name, c.char_start, c.char_end, embedding_text(c.text, c.metadata)) for c in chunker.chunk(name, [Page(1, text)], "eval")]

    return run


def located_spans(split: Callable[[str], list[str]]) -> SpanFn:
    """A splitter that returns strings (LangChain's): each chunk is found in
    the corpus, searching forward from the previous chunk's start."""

    def run(name: str, text: str) -> list[Span]:
        out, pos = [], 0
        for piece in split(text):
            if not piece:
                continue
            at = text.find(piece, pos)
            if at == -1:
                at = text.find(piece)
            if at == -1:
                raise ValueError(f"chunk not found verbatim in {name}: {piece[:60]!r}")
            out.append(Span(name, at, at + len(piece), piece))
            pos = at
        return out

    return run


def langchain_recursive(tokenizer: ModelTokenizer, size: int, overlap: int) -> Callable[[str], list[str]]:
    """LangChain's RecursiveCharacterTextSplitter with its default separators,
    lengths in the embedding model's tokens (the published runs counted
    cl100k tokens, which this machine cannot load offline). A development
    dependency: ``pip install -e .[dev]``."""
    try:
        from langchain_text_splitters import RecursiveCharacterTextSplitter
    except ImportError as e:  # pragma: no cover - depends on the extra
        raise ImportError("LangChain rows need langchain-text-splitters: pip install -e '.[dev]'") from e
    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap, length_function=tokenizer.count)
    return splitter.split_text


# Embedding cache ---------------------------------------------------------------


class CachingEmbedder(Embedder):
    """Wraps an embedder: vectors by hash of (kind, text), kept in memory and,
    with ``folder``, in ``.npz`` shards on disk. ``seconds`` is the time spent
    computing vectors (cache misses), so callers can take it out of timings."""

    backend: ClassVar[str] = "cache"

    def __init__(self, inner: Embedder, folder: Path | None = None, log: Callable[[str], None] | None = None) -> None:
        self.inner = inner
        self.profile = inner.profile
        self.seconds = 0.0
        self.computed = 0
        self.log = log or (lambda _m: None)
        self._vecs: dict[str, np.ndarray] = {}
        self.folder = Path(folder) / config_hash(inner.config())[:16] if folder else None
        if self.folder and self.folder.is_dir():
            for shard in sorted(self.folder.glob("*.npz")):
                with np.load(shard) as z:
                    for k, v in zip(z["keys"], z["vecs"], strict=True):
                        self._vecs[str(k)] = v

    def config(self) -> dict[str, Any]:
        return self.inner.config()

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:  # pragma: no cover - not used
        raise NotImplementedError

    def embed_documents(self, texts: list[str], batch_size: int = 64, progress: Callable[[int], None] | None = None) -> np.ndarray:
        return self._get("d", texts, lambda todo: self.inner.embed_documents(todo, batch_size=batch_size))

    def embed_queries(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self._get("q", texts, lambda todo: self.inner.embed_queries(todo, batch_size=batch_size))

    def _get(self, kind: str, texts: list[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        keys = [hashlib.sha256(f"{kind}\0{t}".encode()).hexdigest()[:32] for t in texts]
        todo: dict[str, str] = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in self._vecs and k not in todo:
                todo[k] = t
        if todo:
            t0 = time.perf_counter()
            self.log(f"embedding {len(todo)} new texts ({sum(len(t) for t in todo.values()):,} characters)")
            vecs = compute(list(todo.values()))
            self.seconds += time.perf_counter() - t0
            self.computed += len(todo)
            for k, v in zip(todo, vecs, strict=True):
                self._vecs[k] = v
            if self.folder:
                self.folder.mkdir(parents=True, exist_ok=True)
                name = self.folder / f"{time.strftime('%Y%m%d%H%M%S')}-{keys[0][:8]}-{len(todo)}.npz"
                np.savez(name, keys=np.array(list(todo)), vecs=vecs.astype(np.float32))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return normalize(np.stack([self._vecs[k] for k in keys]).astype(np.float32))


# Scoring ------------------------------------------------------------------------


def _union(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _length(ranges: list[tuple[int, int]]) -> int:
    return sum(b - a for a, b in ranges)


def score_question(q: Question, retrieved: list[Span]) -> tuple[float, float, float]:
    """(recall, precision, IoU) of one question, counting characters."""
    hits: list[tuple[int, int]] = []
    for s in retrieved:
        if s.corpus != q.corpus:
            continue
        for a, b in q.refs:
            lo, hi = max(a, s.start), min(b, s.end)
            if hi > lo:
                hits.append((lo, hi))
    covered = _length(_union(hits))
    ref_total = _length(list(q.refs))
    missed = _length(_union(list(q.refs))) - covered
    retrieved_total = sum(s.end - s.start for s in retrieved)
    recall = covered / ref_total if ref_total else 0.0
    precision = covered / retrieved_total if retrieved_total else 0.0
    iou = covered / (retrieved_total + missed) if retrieved_total + missed else 0.0
    return recall, precision, iou


# Running -------------------------------------------------------------------------


@dataclass
class Config:
    name: str  # how the row is labelled
    make: Callable[[], SpanFn]
    family: str = "pdfrag"  # pdfrag | langchain


@dataclass
class Row:
    name: str
    family: str
    chunks: int
    mean_chars: float
    mean_tokens: float
    recall: float
    precision: float
    iou: float
    recall_std: float
    iou_std: float
    chunk_seconds: float
    chars_per_s: float
    per_corpus: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_config(
    cfg: Config, bench: Benchmark, embedder: CachingEmbedder, qvecs: np.ndarray, tokenizer: ModelTokenizer, k: int = TOP_K,
    batch_size: int = 64,
) -> Row:
    fn = cfg.make()
    spans: list[Span] = []
    before = embedder.seconds
    t0 = time.perf_counter()
    for name, text in bench.corpora.items():
        spans.extend(fn(name, text))
    elapsed = time.perf_counter() - t0 - (embedder.seconds - before)  # embedding excluded; evaluate() measures again
    for s in spans:
        text = bench.corpora[s.corpus]
        if not 0 <= s.start < s.end <= len(text):
            raise ValueError(f"{cfg.name}: span {s.start}:{s.end} outside {s.corpus}")
    vecs = embedder.embed_documents([s.embed_text for s in spans], batch_size=batch_size)
    scores = qvecs @ vecs.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    per_q = np.array([score_question(q, [spans[i] for i in top[n]]) for n, q in enumerate(bench.questions)])
    per_corpus = {}
    for c in bench.corpora:
        idx = [n for n, q in enumerate(bench.questions) if q.corpus == c]
        if idx:
            r, p, j = per_q[idx].mean(axis=0) * 100
            per_corpus[c] = {"recall": round(float(r), 1), "precision": round(float(p), 1), "iou": round(float(j), 1)}
    lens = [s.end - s.start for s in spans]
    sample = spans[:: max(len(spans) // 2000, 1)]
    toks = tokenizer.count_batch([bench.corpora[s.corpus][s.start : s.end] for s in sample])
    return Row(
        name=cfg.name, family=cfg.family, chunks=len(spans), mean_chars=float(np.mean(lens)), mean_tokens=float(np.mean(toks)),
        recall=float(per_q[:, 0].mean() * 100), precision=float(per_q[:, 1].mean() * 100), iou=float(per_q[:, 2].mean() * 100),
        recall_std=float(per_q[:, 0].std() * 100), iou_std=float(per_q[:, 2].std() * 100),
        chunk_seconds=elapsed, chars_per_s=bench.chars / elapsed if elapsed > 0 else math.inf, per_corpus=per_corpus,
    )


def evaluate(
    configs: list[Config], bench: Benchmark, embedder: CachingEmbedder, tokenizer: ModelTokenizer, k: int = TOP_K,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr), repeats: int = 3,
) -> list[Row]:
    qvecs = embedder.embed_queries([q.text for q in bench.questions])
    rows = []
    for cfg in configs:
        log(f"[{cfg.name}] chunking and embedding…")
        t0 = time.perf_counter()
        row = run_config(cfg, bench, embedder, qvecs, tokenizer, k)
        log(f"[{cfg.name}] {row.chunks} chunks, recall {row.recall:.1f} precision {row.precision:.1f} IoU {row.iou:.1f}, {time.perf_counter() - t0:.0f} s")
        rows.append(row)
    if repeats > 0:
        # Throughput apart from the first pass (which embeds): every chunker
        # ``repeats`` times, in turns, so that a burst of load on a shared
        # machine hits them alike; each keeps its best time.
        log(f"chunking throughput: {repeats} interleaved rounds")
        best = [math.inf] * len(configs)
        for _ in range(repeats):
            for i, cfg in enumerate(configs):
                best[i] = min(best[i], chunk_seconds(cfg, bench, embedder))
        for row, sec in zip(rows, best, strict=True):
            row.chunk_seconds = sec
            row.chars_per_s = bench.chars / sec if sec > 0 else math.inf
    return rows


def chunk_seconds(cfg: Config, bench: Benchmark, embedder: CachingEmbedder) -> float:
    """Seconds to chunk all corpora, time spent computing embeddings excluded."""
    fn = cfg.make()
    before = embedder.seconds
    t0 = time.perf_counter()
    for name, text in bench.corpora.items():
        fn(name, text)
    return time.perf_counter() - t0 - (embedder.seconds - before)


def chars_per_token(bench: Benchmark, tokenizer: ModelTokenizer) -> float:
    text = "".join(bench.corpora.values())
    return len(text) / max(sum(tokenizer.count_batch(list(bench.corpora.values()))), 1)


def format_table(rows: list[Row], *, questions: int, chars_per_token_ratio: float | None = None, backend: str = "") -> str:
    """One Markdown table: our rows, LangChain's rows of the same run, then the
    published rows."""
    head = "| chunker | chunks | mean chars | mean tokens | recall | precision | IoU | chunking chars/s |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    lines = [head]
    for r in rows:
        label = r.name if r.family == "pdfrag" else f"{r.name} (this run)"
        lines.append(
            f"| {label} | {r.chunks:,} | {r.mean_chars:,.0f} | {r.mean_tokens:.0f} | {r.recall:.1f} | {r.precision:.1f} | {r.iou:.1f} | {r.chars_per_s:,.0f} |"
        )
    for name, sz, rec, prec, iou in PUBLISHED:
        lines.append(f"| {name} {sz} (published, cl100k tokens) | | | | {rec:.1f} | {prec:.1f} | {iou:.1f} | |")
    notes = [
        f"Top {TOP_K} of one exact index over all five corpora; means over {questions} questions; standard deviations are 25-40 points of recall.",
        "Chunking chars/s: the chunker alone (embedding excluded), best of three interleaved rounds.",
        "Sizes of this run count all-MiniLM-L6-v2 tokens" + (f" ({chars_per_token_ratio:.2f} characters a token on these corpora)" if chars_per_token_ratio else "")
        + "; the published sizes count cl100k tokens (about 4 characters a token on English text): mean chars compares them.",
    ]
    if backend:
        notes.append(f"Embedding backend: {backend}.")
    return "\n".join(lines) + "\n\n" + "\n".join(notes)


# The configurations of the report -----------------------------------------------


def default_configs(tokenizer: ModelTokenizer, embedder: Embedder, langchain: bool = True, split_embedder: Embedder | None = None) -> list[Config]:
    """Our four chunkers at the published size (200 tokens, no overlap): the
    structure chunker both with recursive and with semantic section splitting
    (the default); the default also at 160 tokens; LangChain's recursive
    splitter at the two published settings. Semantic splitting embeds its
    sentences with ``split_embedder`` (default: ``embedder``), as the
    pipeline does with ``chunk.split_backend``."""
    from pdfrag.chunk.fixed import FixedChunker
    from pdfrag.chunk.recursive import RecursiveChunker
    from pdfrag.chunk.semantic import SemanticChunker
    from pdfrag.chunk.structure import StructureChunker

    t, e = tokenizer, split_embedder or embedder
    out = [
        Config("fixed 200/0", lambda: pdfrag_spans(FixedChunker(t, size=200, overlap=0))),
        Config("recursive 200/0", lambda: pdfrag_spans(RecursiveChunker(t, size=200, overlap=0))),
        Config("semantic dp 200", lambda: pdfrag_spans(SemanticChunker(t, e, size=200, breakpoint="dp"))),
        Config("structure 200/0 (recursive sections)", lambda: pdfrag_spans(StructureChunker(t, size=200, overlap=0))),
        Config("structure 200 (semantic sections, default)", lambda: pdfrag_spans(StructureChunker(t, size=200, split="semantic", embedder=e))),
        Config("structure 160 (semantic sections)", lambda: pdfrag_spans(StructureChunker(t, size=160, split="semantic", embedder=e))),
    ]
    if langchain:
        out += [
            Config("LangChain RecursiveCharacterTextSplitter 250/125", lambda: located_spans(langchain_recursive(t, 250, 125)), "langchain"),
            Config("LangChain RecursiveCharacterTextSplitter 200/0", lambda: located_spans(langchain_recursive(t, 200, 0)), "langchain"),
        ]
    return out


def sentence_embedder(settings: Any, embedder: CachingEmbedder, cache: Path | None, log: Callable[[str], None]) -> CachingEmbedder:
    """What semantic splitting embeds sentences with, as the pipeline's
    default chunker does (``chunk.split_backend``): ``embedder`` itself when
    that is the index's backend, else a caching embedder of its own (in
    memory only for static vectors, which are cheaper to compute than to
    read back from disk)."""
    from pdfrag.chunk import split_embed_settings
    from pdfrag.config import ChunkSettings
    from pdfrag.embed import get_embedder

    split = split_embed_settings(ChunkSettings(), settings)
    if split == settings:
        return embedder
    return CachingEmbedder(get_embedder(split), None if split.backend == "static" else cache, log=log)


def run_benchmark(
    corpus: Path, *, cache: Path | None, only: list[str] | None = None, langchain: bool = True, embed_settings: Any = None,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
) -> dict[str, Any]:
    """Everything ``pdfrag eval chunking`` and ``benchmarks/chunking.py``
    print: the rows, the table, and how they were made."""
    from pdfrag.config import EmbedSettings
    from pdfrag.embed import get_embedder, get_profile

    settings = embed_settings or EmbedSettings()
    tokenizer = ModelTokenizer(get_profile(settings.model))
    inner = get_embedder(settings)
    embedder = CachingEmbedder(inner, cache, log=log)
    splitter = sentence_embedder(settings, embedder, cache, log)
    bench = load_benchmark(corpus)
    configs = default_configs(tokenizer, embedder, langchain=langchain, split_embedder=splitter)
    if only:
        unknown = [n for n in only if n not in {c.name for c in configs}]
        if unknown:
            raise ValueError(f"unknown configuration(s) {unknown}; choose from {[c.name for c in configs]}")
        configs = [c for c in configs if c.name in only]
    t0 = time.perf_counter()
    rows = evaluate(configs, bench, embedder, tokenizer, log=log)
    device = getattr(inner, "device", None) or getattr(inner, "requested_device", "")
    backend = f"{inner.config().get('backend', type(inner).__name__)} on {device}" if device else str(inner.config().get("backend"))
    ratio = chars_per_token(bench, tokenizer)
    return {
        "rows": [r.to_dict() for r in rows],
        "table": format_table(rows, questions=len(bench.questions), chars_per_token_ratio=ratio, backend=backend),
        "backend": backend,
        "model": tokenizer.profile.name,
        "questions": len(bench.questions),
        "corpus_chars": bench.chars,
        "chars_per_token": ratio,
        "split_backend": splitter.config().get("backend"),
        "embedded_texts": embedder.computed + (splitter.computed if splitter is not embedder else 0),
        "embedding_seconds": round(embedder.seconds + (splitter.seconds if splitter is not embedder else 0), 1),
        "seconds": round(time.perf_counter() - t0, 1),
        "published": [dict(zip(("chunker", "size", "recall", "precision", "iou"), p, strict=True)) for p in PUBLISHED],
    }
