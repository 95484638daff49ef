"""Markdown tables for benchmarks/ingest.py's results (a dict, also saved as JSON)."""

from __future__ import annotations

from typing import Any

MIB = 2**20


def _f(x: float | None, nd: int = 1) -> str:
    return "–" if x is None else f"{x:,.{nd}f}"


def _pct(x: float | None, nd: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{nd}f} %"


def _ratio(a: float | None, b: float | None, nd: int = 2) -> str:
    return "–" if not a or not b else f"{a / b:.{nd}f}×"


def rates(res: dict[str, Any], pages: int) -> dict[str, float]:
    wall = res["wall"]
    tok = res.get("tokens", {})
    chunks = tok.get("chunks") or res.get("chunks") or res.get("chunks_added") or 0
    return {
        "wall": wall, "pages_s": pages / wall, "chunks": chunks, "chunks_s": chunks / wall,
        "tokens_s": tok.get("tokens_embedded", 0) / wall, "rss": res["peak_rss"] / MIB,
    }


def machine_line(m: dict[str, Any]) -> str:
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in (m.get("flags") or {}).items())
    load = m.get("load_average")
    load_s = f"; load average at start {load[0]:.1f}" if load else ""
    return (
        f"{m.get('cpu')}, {m.get('cores')} cores, {m.get('ram_gib')} GiB RAM ({flags}); Python {m.get('python')}, "
        f"torch {m.get('torch', '?')} ({m.get('torch_threads', '?')} threads); {m.get('os')}{load_s}"
    )


def comparison_table(sh: dict[str, Any], set_name: str, title: str) -> list[str]:
    ref, pdf = sh["reference"], sh["pdfrag"]
    pages = sh["pages"]
    r, p = rates(ref, pages), rates(pdf, pages)
    rt, pt = ref["tokens"], pdf["tokens"]
    lines = [
        f"| {title}: {sh['files']} PDFs, {pages:,} pages | reference | pdfrag | pdfrag / reference |",
        "|---|---:|---:|---:|",
        f"| wall time, s | {_f(r['wall'])} | {_f(p['wall'])} | {_ratio(p['wall'], r['wall'])} |",
        f"| **pages/s** | {_f(r['pages_s'], 2)} | {_f(p['pages_s'], 2)} | **{_ratio(p['pages_s'], r['pages_s'])}** |",
        f"| chunks | {r['chunks']:,} | {p['chunks']:,} | {_ratio(p['chunks'], r['chunks'])} |",
        f"| chunks/s | {_f(r['chunks_s'], 2)} | {_f(p['chunks_s'], 2)} | {_ratio(p['chunks_s'], r['chunks_s'])} |",
        f"| word pieces in the chunks | {rt['tokens']:,} | {pt['tokens']:,} | {_ratio(pt['tokens'], rt['tokens'])} |",
        f"| word pieces embedded | {rt['tokens_embedded']:,} | {pt['tokens_embedded']:,} | {_ratio(pt['tokens_embedded'], rt['tokens_embedded'])} |",
        f"| tokens embedded/s | {_f(r['tokens_s'], 0)} | {_f(p['tokens_s'], 0)} | {_ratio(p['tokens_s'], r['tokens_s'])} |",
        f"| **share of tokens embedded** | {_pct(rt['share_embedded'])} | {_pct(pt['share_embedded'])} | |",
        f"| chunks cut at the model's limit | {rt['chunks_truncated']:,} ({_pct(rt['share_chunks_truncated'])}) | {pt['chunks_truncated']:,} ({_pct(pt['share_chunks_truncated'])}) | |",
        f"| longest chunk, word pieces | {rt['max_tokens']:,} | {pt['max_tokens']:,} | |",
        f"| peak RSS, MiB | {_f(r['rss'], 0)} | {_f(p['rss'], 0)} | {_ratio(p['rss'], r['rss'])} |",
        f"| files failed | {len(ref.get('failed') or [])} | {len(pdf.get('failed') or [])} | |",
    ]
    rr = ref.get("retrieval", {}).get(set_name)
    pr = pdf.get("retrieval", {}).get(set_name)
    if rr and pr:
        for m, label in (("ndcg@10", "nDCG@10"), ("recall@10", "Recall@10"), ("recall@100", "Recall@100"), ("mrr@10", "MRR@10")):
            bold = "**" if m == "ndcg@10" else ""
            lines.append(f"| {bold}{label}, {set_name} set{bold} | {rr[m]:.3f} | {pr[m]:.3f} | {pr[m] - rr[m]:+.3f} |")
    ph = pdf.get("retrieval", {}).get(f"{set_name} hybrid")
    if rr and ph:
        # pdfrag as it searches by default (hybrid), against the reference's dense search.
        for m, label in (("ndcg@10", "nDCG@10"), ("recall@10", "Recall@10"), ("mrr@10", "MRR@10")):
            bold = "**" if m == "ndcg@10" else ""
            lines.append(f"| {bold}{label}, {set_name} set, pdfrag's hybrid search{bold} | {rr[m]:.3f} | {ph[m]:.3f} | {ph[m] - rr[m]:+.3f} |")
    return lines


def stage_tables(sh: dict[str, Any]) -> list[str]:
    ref, pdf = sh["reference"], sh["pdfrag"]
    rs = ref["stages"]
    lines = [
        "Reference (sequential; share of wall time):",
        "",
        "| load (PyMuPDFLoader) | split | embed (incl. model load) | insert (langchain-milvus) |",
        "|---:|---:|---:|---:|",
        "| " + " | ".join(f"{_f(rs.get(k))} s ({_pct(rs.get(k, 0) / ref['wall'])})" for k in ("load", "split", "embed", "insert")) + " |",
        "",
        "pdfrag (time inside each stage function, summed over documents; extraction and chunking run ahead on the task "
        "runner's threads while the flow embeds, so shares are of the summed stage time, and the flow's wall time is given beside):",
        "",
    ]
    ps = pdf["stages"]
    order = ["extract", "chunk", "embed", "index", "plan", "precheck", "bookkeeping"]
    keys = [k for k in order if k in ps] + [k for k in ps if k not in order]
    total = sum(ps.values()) or 1.0
    lines.append("| " + " | ".join(keys) + " | sum of stages | flow wall time |")
    lines.append("|" + "---:|" * (len(keys) + 2))
    lines.append("| " + " | ".join(f"{_f(ps[k])} s ({_pct(ps[k] / total)})" for k in keys) + f" | {_f(total)} s | {_f(pdf['wall'])} s |")
    return lines


def scale_table(sc: dict[str, Any]) -> list[str]:
    tf, td, ff, rf = sc["tenth_flow"], sc["tenth_direct"], sc["full_flow"], sc["refresh"]
    rss_ratio = ff["peak_rss"] / tf["peak_rss"]
    overhead = (tf["wall"] - td["wall"]) / td["wall"]
    refresh = rf["wall"] / ff["wall"]
    fd = sc.get("full_direct")  # the plain loop on all of it (newer runs)
    full_overhead = (ff["wall"] - fd["wall"]) / fd["wall"] if fd else None
    ok = lambda cond: "✅" if cond else "❌"  # noqa: E731
    lines = [
        f"Generated corpus: {sc['pages']:,} pages in {sc['files']} files (tenth: {sc['tenth_pages']:,} pages).",
        "",
        "| measurement | value | target | |",
        "|---|---:|---:|---|",
        f"| pdfrag, tenth ({sc['tenth_pages']:,} pages): wall, pages/s | {_f(tf['wall'])} s, {_f(sc['tenth_pages'] / tf['wall'], 2)} pages/s | | |",
        f"| pdfrag, all ({sc['pages']:,} pages): wall, pages/s | {_f(ff['wall'])} s, {_f(sc['pages'] / ff['wall'], 2)} pages/s | | |",
        f"| peak RSS, tenth → all | {_f(tf['peak_rss'] / MIB, 0)} → {_f(ff['peak_rss'] / MIB, 0)} MiB (**{rss_ratio:.2f}×**) | ≤ 1.2× | {ok(rss_ratio <= 1.2)} |",
        f"| Prefect overhead, one pair: flow {_f(tf['wall'])} s vs the same stage functions in a plain loop {_f(td['wall'])} s (tenth; repeated below) | {_pct(overhead)} | ≤ 5 % | {ok(overhead <= 0.05)} |",
        *([
            f"| Prefect overhead on all {sc['pages']:,} pages: flow {_f(ff['wall'])} s vs the plain loop {_f(fd['wall'])} s "
            f"(extra time: {_f(ff['wall'] - fd['wall'])} s here, {_f(tf['wall'] - td['wall'])} s on the tenth) | "
            f"**{_pct(full_overhead)}** | ≤ 5 % | {ok(full_overhead <= 0.05)} |"
        ] if fd else []),
        f"| refresh of the unchanged corpus: {_f(rf['wall'])} s ({rf.get('unchanged', 0):,} unchanged, {rf.get('chunks_embedded', 0)} embedded) vs first ingest {_f(ff['wall'])} s | **{_pct(refresh, 2)}** | ≤ 2 % | {ok(refresh <= 0.02)} |",
    ]
    if sc.get("lite_server"):
        lt, lf = sc["lite_server"]["tenth"], sc["lite_server"]["full"]
        ratio = lf["peak_rss"] / lt["peak_rss"]
        lines += [
            f"| with the collection in a Milvus Lite server process: pdfrag's peak RSS, tenth → all | "
            f"{_f(lt['peak_rss'] / MIB, 0)} → {_f(lf['peak_rss'] / MIB, 0)} MiB (**{ratio:.2f}×**) | ≤ 1.2× | {ok(ratio <= 1.2)} |",
            f"| the Milvus Lite server's own peak RSS (at start), tenth → all | {_f(lt['milvus_server']['peak_rss'] / MIB, 0)} → "
            f"{_f(lf['milvus_server']['peak_rss'] / MIB, 0)} MiB ({_f(lf['milvus_server']['start_rss'] / MIB, 0)}) | | |",
            f"| same runs: wall, tenth / all | {_f(lt['wall'])} s / {_f(lf['wall'])} s | | |",
        ]
    if sc.get("reference"):
        r = sc["reference"]
        pages = sc["tenth_pages"] if r.get("on") == "tenth" else sc["pages"]
        mine = tf if r.get("on") == "tenth" else ff
        lines.append(
            f"| reference on the {r.get('on')} ({pages:,} pages): wall, pages/s, peak RSS | {_f(r['wall'])} s, {_f(pages / r['wall'], 2)} pages/s, "
            f"{_f(r['peak_rss'] / MIB, 0)} MiB | | |"
        )
        lines.append(f"| pdfrag / reference pages/s on the {r.get('on')} | **{_ratio(pages / mine['wall'], pages / r['wall'])}** | ≥ 3× | {ok(r['wall'] / mine['wall'] >= 3)} |")
        if "tenth_tokens" in sc and r.get("tokens"):
            lines.append(
                f"| share of tokens embedded on the tenth: reference, pdfrag | {_pct(r['tokens']['share_embedded'])}, {_pct(sc['tenth_tokens']['share_embedded'])} | | |"
            )
    return lines


def overhead_table(ov: dict[str, Any]) -> list[str]:
    import statistics

    rows = [(p["flow"]["wall"], p["direct"]["wall"]) for p in ov["pairs"]]
    shares = [(f - d) / d for f, d in rows]
    lines = [
        f"Prefect's overhead on the scale corpus's tenth ({ov['pages']:,} pages), flow and plain loop alternating:",
        "",
        "| pair | flow, s | plain loop, s | overhead |",
        "|---:|---:|---:|---:|",
        *[f"| {i + 1} | {_f(f)} | {_f(d)} | {_pct(x)} |" for i, ((f, d), x) in enumerate(zip(rows, shares, strict=True))],
        f"| median | {_f(statistics.median(f for f, _ in rows))} | {_f(statistics.median(d for _, d in rows))} | **{_pct(statistics.median(shares))}** |",
    ]
    return lines


def render_markdown(res: dict[str, Any]) -> str:
    out = [
        "# Ingest benchmark" + (" (quick mode)" if res.get("quick") else ""),
        "",
        f"Run {res.get('started')} – {res.get('finished')} with `benchmarks/ingest.py{' --quick' if res.get('quick') else ''}`.",
        "",
        f"Machine: {machine_line(res['machine'])}.",
        "",
    ]
    if res.get("merged"):
        out += [
            "Parts measured by earlier runs of the same command on the same machine (`--merge`); each table's ratios come from one run:",
            "",
            *[f"- {part}: {m.get('started')} – {m.get('finished')}, load average at its start {_f(m.get('load_average'))}" for part, m in res["merged"].items()],
            "",
        ]
    if res.get("pdfrag_env"):
        out += [f"pdfrag settings from the environment: `{res['pdfrag_env']}`.", ""]
    sh, zh = res.get("shared"), res.get("zh")
    first = (sh if sh and "pdfrag" in sh else None) or (zh if zh and "pdfrag" in zh else None)
    if first:
        pdf = first["pdfrag"]
        out += [
            "## pdfrag against the reference pipeline",
            "",
            f"pdfrag: model `{pdf.get('model')}`, embedding {pdf.get('embed')}, chunks of {pdf['chunk'].get('size')} tokens "
            f"with {pdf['chunk'].get('overlap')} overlap (chunker `{pdf['chunk'].get('chunker')}`), through the Prefect flow. "
            f"Reference: PyMuPDFLoader, RecursiveCharacterTextSplitter(1000, 200), HuggingFaceEmbeddings (all-MiniLM-L6-v2, normalized, "
            f"batch 32), langchain-milvus on Milvus Lite (FLAT, COSINE), batches of 1,000 chunks. Pages/s count every page of the PDFs "
            f"for both; tokens are all-MiniLM-L6-v2 word pieces (the model keeps 254 per chunk besides its two special tokens), "
            f"tokens embedded/s counts what the model saw over the whole wall time. "
            f"Peak RSS is each pipeline's process (model, Milvus Lite and all); pdfrag's Prefect server runs beside it and is not counted. "
            f"Retrieval: dense search of each pipeline's own collection, documents ranked by their best chunk (trec_eval measures); pdfrag's rows marked hybrid search as pdfrag searches by default (BM25 over words cut by jieba where the text is Chinese, fused with dense by reciprocal rank; BM25 leading for queries mostly in a script the English-only model does not read).",
            "",
        ]
        if sh and "pdfrag" in sh:
            out += [*comparison_table(sh, "en", f"shared corpus ({', '.join(sh['categories'])})"), ""]
        if zh and "pdfrag" in zh:
            out += [*comparison_table(zh, "zh", "Chinese set"), ""]
        out += ["### Where the time goes", "", *stage_tables(first), ""]
    if res.get("scale"):
        out += ["## Scale (pdfrag)", "", *scale_table(res["scale"]), ""]
    if res.get("overhead"):
        out += [*overhead_table(res["overhead"]), ""]
    return "\n".join(out)
