"""Load benchmark of the query service: queries/s and latency under
concurrent clients, the query embedding included.

What it does, exactly:

1. Starts (or reuses) a ``milvus-lite server`` on ``--data-dir``/milvus, as
   ``pdfrag stack`` runs one.
2. Embeds ``--unique`` passages (1,000 by default) with the real model: 50-word
   windows of ``/work/shared/corpus/chunking_eval/corpora/*.md`` (or
   ``--corpora``), sampled across all corpora. Embedding 50,000 passages
   would take about half an hour on 2 CPU cores (about 28 passages/s), so the
   rows reuse these embeddings cyclically: row i takes passage i mod unique
   (its text) and its vector plus Gaussian noise of standard deviation 0.005
   per component, renormalized (cosine about 0.995 to the original).
3. Insert throughput with and without full text: the first
   ``--insert-sample`` rows (3,000) upserted through ``MilvusIndex.upsert``
   (the pipeline's path) and flushed into a fresh dense-only collection
   (schema 1), one with the BM25 field and the standard analyzer, and one with
   the jieba analyzer (the default); each is dropped afterwards. Twice,
   interleaved; the best rate of each is printed.
4. Builds the collection ``bench`` of ``--rows`` chunks (50,000), 200 to a
   document (250 documents, with ledger entries), unless it already holds
   that many (``--rebuild`` forces it). FLAT index (pdfrag's AUTO on Milvus
   Lite), BM25 field with the jieba analyzer.
5. For each service mode (``--modes``: hybrid, then dense via
   PDFRAG_SERVICE__HYBRID=false) starts ``pdfrag serve`` in a subprocess (the
   real service in its own process), waits for /ready, warms up for 3 s, then
   for each concurrency level (``--concurrency``, 1,4,8) runs that many client
   threads (httpx, one connection each) for ``--duration`` seconds (15), each
   sending POST /search with the real questions of ``questions_df.csv``
   (``question`` column) in turn, ``top_k`` 10, no filter. Prints queries/s,
   p50 and p99 latency as the client sees it (embedding, Milvus and HTTP
   included), and the server's mean embedding and Milvus times per query.

Run: ``python benchmarks/query_load.py`` (about 4.5 minutes on 2 cores the
first time, about 3.5 when the collection is reused).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "corpus" / "chunking_eval"
COLLECTION = "bench"
WINDOW_WORDS = 50
ROWS_PER_DOC = 200
NOISE = 0.005


def machine() -> str:
    model, cores = platform.processor() or "?", os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        model = info.get("Model name", model).strip()
        cores = info.get("CPU(s)", str(cores)).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    mem = ""
    try:
        kb = int(next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{model}, {cores} CPUs{mem}; Python {platform.python_version()} on {platform.system()} {platform.release()}"


def windows(corpora: Path) -> list[tuple[str, str]]:
    out = []
    for md in sorted(corpora.glob("*.md")):
        words = md.read_text(encoding="utf-8", errors="replace").split()
        for i in range(0, len(words) - WINDOW_WORDS // 2, WINDOW_WORDS):
            out.append((md.stem, " ".join(words[i : i + WINDOW_WORDS])))
    return out


def settings(home: Path, uri: str, collection: str, **extra):
    from pdfrag.config import load_settings

    return load_settings(home=str(home), **{"milvus.uri": uri, "milvus.collection": collection, "embed.device": "cpu", **extra})


def make_rows(texts: list[tuple[str, str]], vectors: np.ndarray, n: int, seed: int = 7) -> list[dict]:
    rng = np.random.default_rng(seed)
    unique = len(texts)
    rows = []
    for i in range(n):
        b = i % unique
        v = vectors[b] + rng.normal(scale=NOISE, size=vectors.shape[1]).astype(np.float32)
        v /= np.linalg.norm(v)
        corpus, text = texts[b]
        d = i // ROWS_PER_DOC
        rows.append(
            {
                "id": f"{i:032x}", "vector": v.tolist(), "text": text, "doc_id": f"{d:064x}",
                "source": f"/bench/{corpus}/doc-{d:04d}.pdf", "page_start": (i % ROWS_PER_DOC) // 10 + 1,
                "page_end": (i % ROWS_PER_DOC) // 10 + 1, "chunk_index": i % ROWS_PER_DOC, "char_start": 0,
                "char_end": len(text), "token_count": WINDOW_WORDS, "pipeline": "b" * 32,
                "metadata": {"file_name": f"doc-{d:04d}.pdf", "pipeline_version": "bench"},
            }
        )
    return rows


def open_index(s):
    from pdfrag.embed.profiles import get_profile
    from pdfrag.index.milvus import MilvusIndex

    return MilvusIndex(s.milvus, s.index, s.milvus_uri, get_profile(s.embed.model).identity())


def insert_rate(home: Path, uri: str, rows: list[dict], analyzer: str | None) -> float | None:
    """Rows/s of upsert + flush into a fresh collection (dropped after):
    dense only (``analyzer`` None) or with the BM25 field and that analyzer."""
    extra = {"index.hybrid": False} if analyzer is None else {"index.hybrid": True, "index.analyzer": analyzer}
    s = settings(home, uri, f"bench_insert_{analyzer or 'dense'}", **extra)
    idx = open_index(s)
    try:
        if idx.exists():
            idx.client.drop_collection(idx.collection)
        idx.ensure_collection()
        if (idx.full_text() or {}).get("analyzer") != analyzer:
            return None  # a backend without BM25 functions
        idx.upsert([dict(r, id="w" + r["id"][1:]) for r in rows[:20]])  # warm up (the analyzer loads its dictionary)
        t0 = time.perf_counter()
        idx.upsert(rows)
        idx.flush()
        return len(rows) / (time.perf_counter() - t0)
    finally:
        try:
            idx.client.drop_collection(idx.collection)
        finally:
            idx.close()


def build(home: Path, uri: str, rows: int, unique: int, corpora: Path, insert_sample: int, rebuild: bool) -> None:
    from pdfrag.embed import get_embedder
    from pdfrag.ledger import INDEXED, Ledger, LedgerEntry

    s = settings(home, uri, COLLECTION)
    idx = open_index(s)
    try:
        have = idx.count() if idx.exists() else 0
        if have >= rows and not rebuild and not insert_sample:
            print(f"reusing collection {COLLECTION!r}: {have} chunks")
            return
        all_windows = windows(corpora)
        rnd = random.Random(13)
        texts = rnd.sample(all_windows, min(unique, len(all_windows)))
        print(f"corpus: {len(all_windows)} windows of {WINDOW_WORDS} words from {corpora}; embedding {len(texts)} of them (sampled across all corpora)")
        emb = get_embedder(s.embed)
        t0 = time.perf_counter()
        vectors = emb.embed_documents([t for _, t in texts], batch_size=64)
        dt = time.perf_counter() - t0
        print(f"embedded {len(texts)} passages in {dt:.1f} s ({len(texts) / dt:.1f}/s, model load included)")
        all_rows = make_rows(texts, vectors, max(rows, insert_sample))
        if insert_sample:
            sample = all_rows[:insert_sample]
            rates: dict[str | None, float | None] = {}
            for _ in range(2):  # twice, interleaved, best of each: the server's first calls are slow
                for analyzer in (None, "standard", "jieba"):
                    r = insert_rate(home, uri, sample, analyzer)
                    rates[analyzer] = None if r is None else max(rates.get(analyzer) or 0.0, r)
            dense = rates[None] or float("nan")

            def rate(a: str) -> str:
                r = rates[a]
                return "n/a (no BM25 on this server)" if r is None else f"{r:,.0f} rows/s ({r / dense:.0%})"

            print(
                f"insert throughput, {len(sample)} rows upserted + flushed: dense only (schema 1) {dense:,.0f} rows/s; "
                f"with the BM25 field: standard analyzer {rate('standard')}, jieba analyzer (the default) {rate('jieba')}"
            )
        if have >= rows and not rebuild:
            print(f"reusing collection {COLLECTION!r}: {have} chunks")
            return
        if idx.exists():
            idx.client.drop_collection(idx.collection)
            ledger_name = f"{COLLECTION}_ledger"
            if idx.client.has_collection(ledger_name):
                idx.client.drop_collection(ledger_name)
        idx.ensure_collection()
        print(f"collection {COLLECTION!r}: {idx.index_type} index, full text {idx.full_text()}")
        rows_ = all_rows[:rows]
        t0 = time.perf_counter()
        for i in range(0, len(rows_), 5000):
            idx.upsert(rows_[i : i + 5000])
        idx.flush()
        idx.load()
        dt = time.perf_counter() - t0
        n_docs = (rows + ROWS_PER_DOC - 1) // ROWS_PER_DOC
        print(
            f"built {rows} chunks ({len(texts)} embedded passages reused cyclically with noise sd {NOISE}) in {n_docs} documents: "
            f"{dt:.1f} s ({rows / dt:,.0f} rows/s)"
        )
        ledger = Ledger(idx)
        ledger.ensure()
        ledger.put([
            LedgerEntry(r["source"], r["metadata"]["file_name"], r["doc_id"], "b" * 32, INDEXED, chunks=min(ROWS_PER_DOC, rows - i), pages=20, size=0)
            for i, r in ((i, all_rows[i]) for i in range(0, rows, ROWS_PER_DOC))
        ])
    finally:
        idx.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(home: Path, uri: str, port: int, hybrid: bool, consistency: str) -> subprocess.Popen:
    env = {
        **os.environ, "PDFRAG_HOME": str(home), "PDFRAG_MILVUS__URI": uri, "PDFRAG_MILVUS__COLLECTION": COLLECTION,
        "PDFRAG_EMBED__DEVICE": "cpu", "PDFRAG_SERVICE__HYBRID": "true" if hybrid else "false",
        "PDFRAG_SERVICE__CONSISTENCY": consistency, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    }
    log = open(home / "bench-service.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "pdfrag.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> dict:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with {proc.returncode}")
        try:
            r = httpx.get(url + "/ready", timeout=10)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the service did not become ready")


def load(url: str, questions: list[str], concurrency: int, duration: float, top_k: int) -> dict:
    import httpx

    lat: list[float] = []
    embed: list[float] = []
    milvus: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            n = i * 37
            start.wait()
            while time.perf_counter() < stop_at[0]:
                q = questions[n % len(questions)]
                n += 1
                t0 = time.perf_counter()
                try:
                    r = c.post("/search", json={"query": q, "top_k": top_k})
                    ok = r.status_code == 200 and len(r.json()["results"]) == top_k
                except httpx.HTTPError:
                    ok = False
                dt = time.perf_counter() - t0
                with lock:
                    if ok:
                        lat.append(dt)
                        t = r.json()["timings"]
                        embed.append(t["embed_ms"])
                        milvus.append(t["milvus_ms"])
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    stop_at[0] = t0 + duration
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    a = np.asarray(lat) * 1000
    return {
        "concurrency": concurrency, "requests": len(lat), "errors": errors[0], "qps": len(lat) / elapsed,
        "p50": float(np.percentile(a, 50)) if len(a) else float("nan"), "p99": float(np.percentile(a, 99)) if len(a) else float("nan"),
        "embed": float(np.mean(embed)) if embed else float("nan"), "milvus": float(np.mean(milvus)) if milvus else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=REPO / ".pdfrag" / "bench", help="home of the benchmark (Milvus server data under milvus/)")
    ap.add_argument("--corpora", type=Path, default=SHARED / "corpora")
    ap.add_argument("--questions", type=Path, default=SHARED / "questions_df.csv")
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--unique", type=int, default=1_000, help="passages embedded with the model (reused cyclically)")
    ap.add_argument("--insert-sample", type=int, default=3_000, help="rows for the dense vs BM25 insert comparison (0: skip)")
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per concurrency level")
    ap.add_argument("--concurrency", default="1,4,8")
    ap.add_argument("--modes", default="hybrid,dense", help="service modes to run: hybrid (BM25 + dense), dense")
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--keep-server", action="store_true", help="leave the milvus-lite server running")
    ap.add_argument("--consistency", default="Strong", help="the service's search consistency (PDFRAG_SERVICE__CONSISTENCY)")
    ap.add_argument("--milvus-uri", default="", help="use this Milvus server instead of starting a milvus-lite server")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from pdfrag.stack.milvus import start_milvus, stop_milvus

    t_start = time.perf_counter()
    home = args.data_dir.absolute()
    home.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    if args.milvus_uri:
        from pymilvus import MilvusClient

        info = type("External", (), {"uri": args.milvus_uri})()
        print(f"Milvus server: {info.uri} ({MilvusClient(info.uri).get_server_version()})")
    else:
        info = start_milvus(home / "milvus")
        print(f"milvus-lite server: {info.uri} (data {info.data_dir})")
    proc = None
    try:
        build(home, info.uri, args.rows, args.unique, args.corpora, args.insert_sample, args.rebuild)
        with open(args.questions, newline="", encoding="utf-8") as fh:
            questions = [row["question"] for row in csv.DictReader(fh) if row.get("question")]
        levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        print(f"{len(questions)} questions, top_k {args.top_k}, {args.duration:.0f} s per level; latency as the client sees it (query embedding included)")
        for mode in modes:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            proc = start_service(home, info.uri, port, hybrid=mode == "hybrid", consistency=args.consistency)
            ready = wait_ready(url, proc)
            print(
                f"\nservice {url}: index {ready['index_type']}, {'hybrid (BM25 + dense, RRF)' if ready['hybrid'] else 'dense only'}, "
                f"model {ready['model']}, consistency {args.consistency}"
            )
            load(url, questions, 1, 3.0, args.top_k)  # warm up
            print(f"{'mode':>6} {'clients':>7} {'queries':>8} {'errors':>6} {'q/s':>6} {'p50 ms':>8} {'p99 ms':>8} {'embed ms':>9} {'milvus ms':>10}")
            for c in levels:
                r = load(url, questions, c, args.duration, args.top_k)
                print(
                    f"{mode:>6} {r['concurrency']:>7} {r['requests']:>8} {r['errors']:>6} {r['qps']:>6.1f} {r['p50']:>8.1f} {r['p99']:>8.1f} "
                    f"{r['embed']:>9.1f} {r['milvus']:>10.1f}",
                    flush=True,
                )
            proc.terminate()
            proc.wait(timeout=30)
            proc = None
        print("(embed ms and milvus ms: server-side means per query; embed includes waiting for a shared batch)")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep_server and not args.milvus_uri:
            stop_milvus(home / "milvus")
        print(f"total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    if not shutil.which("lscpu"):
        print("(lscpu not found: the machine line is partial)")
    main()
