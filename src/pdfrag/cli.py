"""The ``pdfrag`` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from pdfrag.errors import ConfigError, PdfragError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Turn a corpus of PDFs into a searchable Milvus collection.")
server_app = typer.Typer(no_args_is_help=True, help="The local Prefect server under $PDFRAG_HOME/prefect.")
app.add_typer(server_app, name="server")
stack_app = typer.Typer(no_args_is_help=True, help="The whole service on this machine: Prefect, workers, Milvus, S3, HTTP service.")
app.add_typer(stack_app, name="stack")
eval_app = typer.Typer(no_args_is_help=True, help="Evaluate the collection against labelled query sets.")
app.add_typer(eval_app, name="eval")

err = Console(stderr=True, soft_wrap=True)  # paths in messages stay whole
out = Console()


def _settings(overrides: dict[str, Any] | None = None):
    from pdfrag.config import load_settings

    try:
        return load_settings(**(overrides or {}))
    except Exception as e:  # noqa: BLE001 - pydantic validation etc.
        err.print(f"[red]configuration error:[/red] {e}")
        raise typer.Exit(2) from e


def _prefect_setup(settings, verbose: bool) -> str | None:
    """Point Prefect at PREFECT_API_URL, or start/reuse the local server.
    Returns the UI address when there is one."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not verbose:
        import logging

        # Prefect's background senders log their queue draining at exit.
        for name in ("EventsWorker", "APILogWorker"):
            logging.getLogger(name).setLevel(logging.ERROR)
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"].removesuffix("/api")
    mode = settings.prefect.mode
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    if mode == "ephemeral":
        err.print("[yellow]Prefect ephemeral mode: run history is partial[/yellow]")
        return None
    from pdfrag.stack.prefect_server import ensure_server

    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    with err.status("starting the local Prefect server…"):
        info = ensure_server(settings.prefect_home, host=settings.prefect.host, port=settings.prefect.port)
    os.environ["PREFECT_API_URL"] = info.url
    verb = "started" if info.started else "reusing"
    err.print(f"Prefect UI: {info.ui_url}  ({verb} local server; stop it with `pdfrag server stop`)")
    return info.ui_url


def _quiet_prefect_console() -> None:
    """Keep Prefect's run logs off the terminal (they still reach the server
    and its UI at full detail); the CLI prints progress and a summary that
    lists every failed file."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):
        for h in logging.getLogger(name).handlers:
            if isinstance(h, PrefectConsoleHandler):
                h.setLevel(logging.CRITICAL)


class _RichReporter:
    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=False
        )
        self.files = None
        self.counts = {"indexed": 0, "unchanged": 0, "failed": 0}

    def start(self, total_files: int, total_work: int = 0) -> None:
        self.progress.start()
        self.files = self.progress.add_task("files", total=total_files)

    def file_done(self, name: str, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        desc = f"files (indexed {self.counts['indexed']}, unchanged {self.counts['unchanged']}, failed {self.counts['failed']})"
        self.progress.update(self.files, advance=1, description=desc)

    def stop(self) -> None:
        self.progress.stop()


@app.command()
def ingest(
    source: str = typer.Argument(..., help="a PDF, a folder (searched recursively) or s3://bucket/prefix"),
    report: Optional[Path] = typer.Option(None, "--report", help="write the run summary as JSON to this file"),
    prune: bool = typer.Option(False, "--prune", help="delete the chunks of files gone from SOURCE"),
    reprocess: bool = typer.Option(False, "--reprocess", help="ignore the ledger and stage caches' verdicts and redo every file"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="retry files that failed before even if unchanged"),
    strict: bool = typer.Option(False, "--strict", help="exit 1 if any file failed (in this run, or unchanged since it failed)"),
    model: Optional[str] = typer.Option(None, "--model", help="embedding model: all-MiniLM-L6-v2 (default, English) or multilingual-e5-small (Chinese, mixed), or a local folder"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON on stdout"),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="show Prefect's logs"),
) -> None:
    """Ingest PDFs into the collection; unchanged files are skipped."""
    from pdfrag.sources import check_source

    try:
        check_source(source)  # before the Prefect server starts: a mistyped path fails in a second, not in forty
    except ConfigError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    settings = _settings({"embed.model": model})
    _prefect_setup(settings, verbose)
    from pdfrag import progress
    from pdfrag.flows.ingest import ingest as ingest_flow

    if not verbose:
        _quiet_prefect_console()

    if err.is_terminal and not as_json:
        progress.install(_RichReporter())
    config = {"home": str(settings.home)}
    if model:
        config["embed.model"] = model
    from pdfrag.flows.runner import make_task_runner

    runner = make_task_runner(settings.runner)
    try:
        summary = ingest_flow.with_options(task_runner=runner)(
            source=source, prune=prune, reprocess=reprocess, retry_failed=retry_failed, config=config
        )
    except PdfragError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2 if isinstance(e, ConfigError) else 1) from e
    finally:
        progress.install(None)
    data = summary.to_report()
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        _print_summary(summary)
    if strict and (summary.failed or summary.known_failures):
        raise typer.Exit(1)


def _print_summary(s) -> None:
    rate = s.pages / s.seconds if s.seconds else 0.0
    err.print(
        f"[bold]{s.files}[/bold] files: [green]{s.indexed} indexed[/green], {s.unchanged} unchanged, "
        f"[{'red' if s.failed else 'green'}]{len(s.failed)} failed[/]; {s.pages} pages, "
        f"{s.chunks_added} chunks added, {s.chunks_deleted} deleted, {s.chunks_embedded} embedded; {s.seconds:.1f} s ({rate:.1f} pages/s)"
    )
    if s.pruned:
        err.print(f"{s.pruned} file(s) gone from the source were pruned")
    if s.failed:
        err.print("[yellow]The run completed, but these files failed:[/yellow]")
        for f in s.failed:
            err.print(f"  [red]✗[/red] {f.error}")
    if s.known_failures:
        err.print(f"{len(s.known_failures)} unchanged file(s) failed in an earlier run (see `pdfrag stats`; `--retry-failed` retries them)")
    for w in s.warnings:
        err.print(f"[yellow]warning:[/yellow] {w}")


@app.command()
def extract(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a PDF file"),
    as_json: bool = typer.Option(False, "--json", help='print {"pages": [{"page", "method", "text", "tables", "headings"}]}'),
    markdown: bool = typer.Option(False, "--markdown", help="print the pages as Markdown (headings as #, tables as Markdown)"),
    password: Optional[list[str]] = typer.Option(None, "--password", help="password for an encrypted PDF (repeatable)"),
    ocr: Optional[str] = typer.Option(None, "--ocr", help="auto | rapidocr | paddle | off"),
) -> None:
    """Show what the pipeline sees in a PDF: each page's text, method and tables."""
    from pdfrag.extract import get_extractor
    from pdfrag.extract.render import document_json, document_markdown

    overrides: dict[str, Any] = {}
    if ocr:
        overrides["extract.ocr"] = ocr
    settings = _settings(overrides)
    if password:
        settings.extract.passwords = list(password) + list(settings.extract.passwords)
    extractor = get_extractor(settings.extract)
    try:
        doc = extractor.extract(file.read_bytes(), source=str(file), doc_id="")
    except PdfragError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from e
    if as_json:
        print(json.dumps(document_json(doc), ensure_ascii=False, indent=1))
    elif markdown:
        sys.stdout.write(document_markdown(doc))
    else:
        for p in doc.pages:
            err.print(f"[bold]── page {p.page}[/bold] · {p.method}" + (f" · {p.note}" if p.note else ""))
            print(p.text)
            for t in p.tables:
                err.print(f"[dim]table {t.index}: {len(t.rows)} rows × {len(t.header)} columns ({t.method})[/dim]")


@app.command()
def chunk(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a PDF, or a text or Markdown file (one page)"),
    chunker: Optional[str] = typer.Option(None, "--chunker", help="fixed, recursive, semantic or structure (default: chunk.chunker)"),
    size: Optional[int] = typer.Option(None, "--size", help="chunk size (chunk.size)"),
    overlap: Optional[int] = typer.Option(None, "--overlap", help="overlap (chunk.overlap)"),
    as_json: bool = typer.Option(False, "--json", help='print {"file", "doc_id", "chunker", "chunks": [...]} on stdout'),
) -> None:
    """Show the chunks a file gives, as ingest would make them: token counts,
    pages, offsets, heading paths."""
    from pdfrag.identity import doc_id_of_bytes
    from pdfrag.pipeline import Pipeline
    from pdfrag.types import Page

    settings = _settings({"chunk.chunker": chunker, "chunk.size": size, "chunk.overlap": overlap})
    data = file.read_bytes()
    doc_id = doc_id_of_bytes(data)
    p = Pipeline(settings)
    try:
        if data[:5] == b"%PDF-" or file.suffix.lower() == ".pdf":
            pages = p.extractor.extract(data, source=str(file), doc_id=doc_id).pages
        else:
            pages = [Page(1, data.decode("utf-8", errors="replace"))]
        chunks = p.chunker.chunk(doc_id, pages, p.pipeline_id)
    except PdfragError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2 if isinstance(e, ConfigError) else 1) from e
    if as_json:
        print(json.dumps({
            "file": str(file), "doc_id": doc_id, "chunker": p.chunker.config(),
            "chunks": [
                {
                    "chunk_id": c.chunk_id, "index": c.chunk_index, "page_start": c.page_start, "page_end": c.page_end,
                    "char_start": c.char_start, "char_end": c.char_end, "token_count": c.token_count,
                    "heading_path": list(c.heading_path), "text": c.text, "metadata": c.metadata,
                }
                for c in chunks
            ],
        }, ensure_ascii=False))
        return
    for c in chunks:
        pages_ = f"p. {c.page_start}" if c.page_start == c.page_end else f"pp. {c.page_start}-{c.page_end}"
        path = " > ".join(c.heading_path)
        out.print(f"[bold]#{c.chunk_index}[/bold]  {pages_}  chars {c.char_start}-{c.char_end}  [cyan]{c.token_count} tokens[/cyan]" + (f"  [dim]{path}[/dim]" if path else ""), highlight=False)
        snippet = " ".join(c.text.split())
        out.print(f"   {snippet[:300]}{'…' if len(snippet) > 300 else ''}", highlight=False)
    n = [c.token_count for c in chunks]
    cfg = p.chunker.config()
    err.print(
        f"{len(chunks)} chunks from {len(pages)} page(s) by the {cfg['chunker']} chunker (size {cfg.get('size')}, at most {p.chunker.max_tokens} tokens)"
        + (f"; tokens min {min(n)}, mean {sum(n) / len(n):.0f}, max {max(n)}" if n else "")
    )


@app.command()
def search(
    query: str = typer.Argument(..., help="what to look for"),
    k: int = typer.Option(5, "-k", "--top-k", min=1, max=100, help="number of results"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per result on stdout"),
    model: Optional[str] = typer.Option(None, "--model", help="embedding model (must be the collection's): all-MiniLM-L6-v2 or multilingual-e5-small"),
    mode: str = typer.Option("auto", "--mode", help="auto (hybrid where the collection has BM25 full text, as the query service searches), dense, or hybrid"),
) -> None:
    """Search the collection."""
    from pdfrag.language import query_mismatch
    from pdfrag.pipeline import get_pipeline
    from pdfrag.search import search_outcome

    _settings({"embed.model": model})
    try:
        p = get_pipeline({"embed.model": model} if model else None)
        outcome = search_outcome(p, query, k, mode)
    except PdfragError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2 if isinstance(e, ConfigError) else 1) from e
    mismatch = query_mismatch(query, p.profile.name, p.profile.english_only)
    if mismatch:
        err.print(f"[yellow]note:[/yellow] {mismatch}")
    results = outcome.results
    if as_json:
        for r in results:
            print(json.dumps({**r.to_dict(), "mode": outcome.mode}, ensure_ascii=False))
        return
    err.print("[dim]hybrid search: BM25 and dense fused by reciprocal rank (scores are RRF scores)[/dim]" if outcome.mode == "hybrid" else "[dim]dense search (scores are cosine similarities)[/dim]")
    if not results:
        empty = p.index.count() == 0
        err.print("no results" + (": the collection is empty; run `pdfrag ingest SOURCE`" if empty else ""))
    for r in results:
        pages = f"p. {r.page_start}" if r.page_start == r.page_end else f"pp. {r.page_start}-{r.page_end}"
        score = f"{r.score:.4f}" if outcome.mode == "hybrid" else f"{r.score:.3f}"
        out.print(f"[bold]{r.rank}.[/bold] [cyan]{score}[/cyan]  [bold]{r.file_name}[/bold], {pages}  [dim]{r.chunk_id}[/dim]")
        out.print(f"   [dim]{r.source}[/dim]")
        snippet = " ".join(r.text.split())
        out.print(f"   {snippet[:400]}{'…' if len(snippet) > 400 else ''}", highlight=False)


@app.command()
def stats(as_json: bool = typer.Option(False, "--json")) -> None:
    """Documents, chunks, model, index and the last run."""
    from pdfrag.pipeline import get_pipeline

    p = get_pipeline()
    data: dict[str, Any] = {"home": str(p.settings.home), "store": p.settings.store_uri}
    try:
        if p.index.exists():
            data.update(p.index.stats())
            p.ledger.ensure()
            data.update(p.ledger.counts())
            data["failed_files"] = [{"source": e.source, "stage": e.stage, "error": e.error} for e in p.ledger.all() if e.status == "failed"]
        else:
            data.update({"collection": p.index.collection, "uri": p.index.uri, "chunks": 0, "documents": 0})
        data["last_run"] = p.last_run()
    except PdfragError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    if as_json:
        print(json.dumps(data, ensure_ascii=False, default=str))
        return
    out.print(f"collection [bold]{data.get('collection')}[/bold] at {data.get('uri')}")
    out.print(f"  documents {data.get('documents', 0)}, chunks {data.get('chunks', 0)}, pages {data.get('pages', 0)}, failed files {data.get('failed', 0)}")
    if data.get("model"):
        out.print(f"  model {data['model']} ({data['dimension']}-d, {data['metric']}), index {data.get('index_type')}")
    lr = data.get("last_run")
    if lr:
        out.print(
            f"  last run {lr.get('started_at')}: {lr.get('indexed')} indexed, {lr.get('unchanged')} unchanged, "
            f"{len(lr.get('failed', []))} failed, {lr.get('chunks_added')} chunks added in {lr.get('seconds')} s"
        )
    for f in data.get("failed_files", []):
        out.print(f"  [red]✗[/red] {f['error']}")


@server_app.command("start")
def server_start() -> None:
    """Start (or reuse) the local Prefect server and print its address."""
    from pdfrag.stack.prefect_server import ensure_server

    s = _settings()
    s.prefect_home.mkdir(parents=True, exist_ok=True)
    info = ensure_server(s.prefect_home, host=s.prefect.host, port=s.prefect.port)
    out.print(f"{'started' if info.started else 'already running'}: UI {info.ui_url}, API {info.url} (pid {info.pid})")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the local Prefect server."""
    from pdfrag.stack.prefect_server import stop_server

    s = _settings()
    out.print("stopped" if stop_server(s.prefect_home) else "not running")


@server_app.command("status")
def server_status() -> None:
    """Is the local Prefect server running?"""
    from pdfrag.stack.prefect_server import server_status as status

    s = _settings()
    info = status(s.prefect_home)
    if info is None:
        out.print("not running")
        raise typer.Exit(1)
    out.print(f"running: UI {info.ui_url}, API {info.url} (pid {info.pid})")


@app.command()
def deploy() -> None:
    """Create the work pools and concurrency limits, and deploy prefect.yaml
    to the server at PREFECT_API_URL (or the local one)."""
    from pdfrag.deploy import deploy as do_deploy

    settings = _settings()
    _prefect_setup(settings, verbose=False)
    do_deploy(settings)
    out.print("work pools, limits and deployments are in place; start workers with `prefect worker start --pool cpu-pool` (and gpu-pool)")


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, "--host", help="bind address (default 127.0.0.1)"),
    port: Optional[int] = typer.Option(None, "--port", help="port (default 8000)"),
) -> None:
    """Run the HTTP service: search API and page, documents, readiness,
    metrics, upload endpoint."""
    import uvicorn

    from pdfrag.service.app import create_app

    settings = _settings({"service.host": host, "service.port": port})
    try:
        app = create_app(settings)
    except PdfragError as e:  # another model's collection, a locked Lite database...
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2 if isinstance(e, ConfigError) else 1) from e
    uvicorn.run(app, host=settings.service.host, port=settings.service.port, log_level="info")


@stack_app.command("up")
def stack_up(port: int = typer.Option(8000, "--port", help="port of the HTTP service")) -> None:
    """Start everything and print the addresses."""
    from pdfrag.stack.local import up

    settings = _settings()
    with err.status("starting the stack (Prefect server, Ceph RGW, Milvus, workers, service)…"):
        st = up(settings, service_port=port, log=err.print)
    out.print(f"Prefect UI     {st.ui_url}")
    out.print(f"Prefect API    {st.prefect_url}")
    out.print(f"Milvus         {st.milvus_uri}")
    out.print(f"S3 (Ceph RGW)  {st.s3_endpoint}  buckets: pdfrag (store), pdfrag-docs (documents; uploads are ingested)")
    out.print(f"pdfrag service {st.service_url}  (PUT /documents/NAME.pdf, POST /events/s3)")
    out.print(f"Environment for clients: {st.env.get('PDFRAG_STORE__URI')}; `pdfrag stack env` prints it all")


@stack_app.command("down")
def stack_down(
    grace: float = typer.Option(30.0, "--grace", min=0.0, help="seconds the workers and the service get to finish in-flight work before they are killed"),
) -> None:
    """Stop exactly what `stack up` started."""
    from pdfrag.stack.local import down

    stopped = down(_settings(), log=err.print, grace=grace)
    out.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@stack_app.command("env")
def stack_env() -> None:
    """Shell exports to point pdfrag commands at the running stack."""
    import shlex

    from pdfrag.stack.local import read_state

    st = read_state(_settings())
    if st is None:
        err.print("no stack is up")
        raise typer.Exit(1)
    for k, v in st.env.items():
        print(f"export {k}={shlex.quote(v)}")


@eval_app.command("retrieval")
def eval_retrieval(
    queries: Path = typer.Option(..., "--queries", help="BEIR queries: one {\"_id\", \"text\"} JSON object a line"),
    qrels: Path = typer.Option(..., "--qrels", help="BEIR qrels: query-id, corpus-id, score (tab-separated, with a header)"),
    k: int = typer.Option(100, "--k", min=1, max=1000, help="documents ranked per query"),
    run_out: Optional[Path] = typer.Option(None, "--run-out", help="write each query's chunk hits, best first, as JSON lines"),
    doc_id: str = typer.Option("stem", "--doc-id", help="what the qrels' corpus ids are: stem (file name without extension), doc_id, source"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as one JSON object on stdout"),
    model: Optional[str] = typer.Option(None, "--model", help="embedding model profile (must be the collection's)"),
    mode: str = typer.Option("auto", "--mode", help="auto (as pdfrag search and the query service search: hybrid where the collection has BM25 full text), dense (the embedding model alone) or hybrid"),
) -> None:
    """nDCG@10, Recall@10, Recall@100 and MRR@10 (trec_eval's definitions) of
    the collection's search (hybrid or dense); a document scores its best chunk."""
    import time

    from pdfrag.eval import beir, metrics, retrieval
    from pdfrag.pipeline import get_pipeline
    from pdfrag.search import SEARCH_MODES, resolve_mode

    if doc_id not in retrieval.DOC_ID_MODES:
        err.print(f"[red]error:[/red] --doc-id must be one of {', '.join(retrieval.DOC_ID_MODES)}, not {doc_id!r}")
        raise typer.Exit(2)
    if mode not in SEARCH_MODES:
        err.print(f"[red]error:[/red] --mode must be one of {', '.join(SEARCH_MODES)}, not {mode!r}")
        raise typer.Exit(2)
    _settings({"embed.model": model})
    try:
        qs = beir.load_queries(queries)
        judged = beir.load_qrels(qrels)
        chosen, missing = retrieval.select_judged(qs, judged)
        if missing:
            err.print(f"[yellow]{len(missing)} judged query id(s) are not in {queries} and score 0: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}[/yellow]")
        if not chosen:
            raise ConfigError(f"none of the queries in {queries} is judged in {qrels}", stage="eval")
        p = get_pipeline({"embed.model": model} if model else None)
        if not p.index.exists():
            raise ConfigError(f"no collection {p.index.collection!r} at {p.index.uri}", stage="eval", hint="run `pdfrag ingest SOURCE` first")
        p.index.check_identity()
        mode = resolve_mode(p, mode, stage="eval")
        p.index.load()
        emb = p.embedder
        bs = p.settings.embed.batch_size
        t0 = time.perf_counter()
        searcher = retrieval.collection_searcher(
            p.index, doc_id, search_mode=mode, rrf_k=p.settings.index.rrf_k, english_only=p.profile.english_only,
            duplicates=retrieval.duplicate_sources(p.ledger.all()),
        )
        runs = retrieval.retrieve(chosen, lambda texts: emb.embed_queries(texts, batch_size=bs), searcher, k, batch_size=bs)
        seconds = time.perf_counter() - t0
    except PdfragError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2 if isinstance(e, ConfigError) else 1) from e
    if k < 100:
        err.print(f"[yellow]--k {k}: Recall@100 counts the top {k} only[/yellow]")
    ranked = {q: r.documents for q, r in runs.items()}
    scores = metrics.evaluate(ranked, judged)
    if run_out:
        run_out.parent.mkdir(parents=True, exist_ok=True)
        with run_out.open("w", encoding="utf-8") as fh:
            for r in runs.values():
                fh.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
    data = {
        "ndcg@10": scores["ndcg@10"], "recall@10": scores["recall@10"], "recall@100": scores["recall@100"], "mrr@10": scores["mrr@10"],
        "queries": len(runs), "judged": len(metrics.per_query(ranked, judged)),
        "k": k, "doc_id": doc_id, "mode": mode, "model": p.profile.name, "collection": p.index.collection, "seconds": round(seconds, 3),
    }
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    out.print(f"{data['queries']} queries ({data['judged']} with a relevant document) against {data['collection']} ({data['model']}, {mode} search), k={k}, {seconds:.1f} s")
    out.print("| measure | value |\n|---|---:|")
    for m, label in (("ndcg@10", "nDCG@10"), ("recall@10", "Recall@10"), ("recall@100", "Recall@100"), ("mrr@10", "MRR@10")):
        out.print(f"| {label} | {data[m]:.4f} |")
    if run_out:
        err.print(f"run written to {run_out}")


# eval chunking ---------------------------------------------------------------


def _chunking_eval_folder(corpus: Optional[Path]) -> Path:
    if corpus is not None:
        return corpus
    roots = [Path(os.environ["PDFRAG_TEST_CORPUS"])] if os.environ.get("PDFRAG_TEST_CORPUS") else []
    roots += [Path.cwd().parent / "shared" / "corpus", Path(__file__).resolve().parents[3] / "shared" / "corpus"]
    for r in roots:
        if (r / "chunking_eval" / "questions_df.csv").is_file():
            return r / "chunking_eval"
    raise ConfigError("no chunking_eval folder found", stage="eval", hint="pass --corpus DIR (the folder with corpora/ and questions_df.csv)")


@eval_app.command("chunking")
def eval_chunking(
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="the chunking_eval folder (default: ../shared/corpus/chunking_eval)"),
    only: Optional[list[str]] = typer.Option(None, "--only", help="run only this row (repeatable), e.g. 'recursive 200/0'"),
    cache: Optional[Path] = typer.Option(None, "--cache", help="embedding cache folder (default: $PDFRAG_HOME/cache/chunking-eval)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="keep embeddings in memory only"),
    no_langchain: bool = typer.Option(False, "--no-langchain", help="skip LangChain's rows (they need the dev extra)"),
    as_json: bool = typer.Option(False, "--json", help="print the rows, the table and the settings as one JSON object"),
) -> None:
    """pdfrag's chunkers on the public chunking benchmark (Chroma's method:
    five corpora in one index, top 5 per question, character recall,
    precision and IoU), beside LangChain's splitter in the same run and the
    published figures; with chunking throughput."""
    from pdfrag.chunk.evaluation import run_benchmark

    settings = _settings()
    try:
        folder = _chunking_eval_folder(corpus)
        result = run_benchmark(
            folder, cache=None if no_cache else (cache or settings.home / "cache" / "chunking-eval"), only=only,
            langchain=not no_langchain, embed_settings=settings.embed, log=lambda m: err.print(m, highlight=False, markup=False),
        )
    except (PdfragError, ValueError, ImportError, FileNotFoundError) as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(result["table"])


def _quiet_jieba() -> None:
    """jieba runs in this process (pdfrag.index.words, and Milvus Lite's
    jieba analyzer on collections made with it); it logs its dictionary
    loading at DEBUG to stderr."""
    try:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
    except ImportError:
        pass


def main() -> None:
    # gRPC's C core logs keepalive chatter of Milvus Lite's local channel to
    # stderr; pymilvus raises real errors as exceptions.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    _quiet_jieba()
    try:
        app()
    except ConfigError as e:
        err.print(f"[red]error:[/red] {e}")
        sys.exit(2)


if __name__ == "__main__":
    main()
