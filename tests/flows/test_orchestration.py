"""Deployments, workers, events and failures against the real local stack
(`pdfrag stack up`): a Prefect server with a CPU and a GPU work pool and one
worker each, a Milvus server, Ceph RGW as S3, and pdfrag's HTTP service."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from pdfrag.config import load_settings
from pdfrag.index.filters import quote
from pdfrag.pipeline import close_pipelines, get_pipeline

pytestmark = pytest.mark.integration

CORPUS_BUCKET = "corpus"  # no notifications: only explicit runs ingest it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout: float, interval: float = 0.5, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from pdfrag.stack.local import down, up

    home = tmp_path_factory.mktemp("stack-home")
    saved = dict(os.environ)
    settings = load_settings(home=str(home), **{"prefect.port": _free_port()})
    state = up(settings, service_port=_free_port(), log=lambda *_: None)
    os.environ.update(state.env)
    close_pipelines()
    try:
        with temporary_settings(updates={PREFECT_API_URL: state.prefect_url}):
            s3 = _s3(state)
            s3.create_bucket(Bucket=CORPUS_BUCKET)
            yield {"settings": settings, "state": state, "home": home, "s3": s3}
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=10)
            EventsWorker.drain_all(timeout=10)
    finally:
        close_pipelines()
        down(settings, log=lambda *_: None, grace=5.0)  # every run has finished; a worker can sit out the whole grace after SIGINT
        os.environ.clear()
        os.environ.update(saved)


def _s3(state):
    from pdfrag.store.s3 import make_s3_client

    return make_s3_client(state.s3_endpoint)


def pipeline(stack):
    return get_pipeline({"home": str(stack["home"])})


def put(stack, pdfs: Path, rel: str, key: str) -> None:
    stack["s3"].put_object(Bucket=CORPUS_BUCKET, Key=key, Body=(pdfs / rel).read_bytes())


def rows_under(stack, prefix: str) -> list[str]:
    p = pipeline(stack)
    return [r["id"] for r in p.index._query_all(f"source like {quote(prefix + '%')}", ["id"])]


def ledger_under(stack, prefix: str):
    return [e for e in pipeline(stack).ledger.all() if e.source.startswith(prefix)]


def run_record(stack, source: str) -> dict:
    """The newest run record (stored by every ingest) for ``source``."""
    p = pipeline(stack)
    for key in reversed(list(p.store.list("runs/"))):
        rec = json.loads(p.store.get_bytes(key))
        if rec["source"] == source:
            return rec
    raise AssertionError(f"no run record for {source}")


def flow_runs(deployment_name: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as c:
        return c.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name])))


def test_ingest_deployment_with_embedding_on_the_gpu_pool(stack, pdfs):
    from prefect.deployments import run_deployment

    prefix = f"s3://{CORPUS_BUCKET}/set1/"
    put(stack, pdfs, "prose/docling_multi_page.pdf", "set1/a.pdf")
    put(stack, pdfs, "cjk/pdfplumber_issue-461-example.pdf", "set1/b.pdf")
    put(stack, pdfs, "bad_input/pdfplumber_empty.pdf", "set1/empty.pdf")

    fr = run_deployment("ingest/ingest", parameters={"source": prefix}, timeout=600, poll_interval=1)
    assert fr.state.is_completed(), fr.state
    assert fr.work_pool_name == "cpu-pool"
    entries = {Path(e.source).name: e for e in ledger_under(stack, prefix)}
    assert entries["a.pdf"].status == entries["b.pdf"].status == "indexed"
    assert entries["empty.pdf"].status == "failed" and "empty file" in entries["empty.pdf"].error
    ids = rows_under(stack, prefix)
    assert len(ids) == len(set(ids)) == entries["a.pdf"].chunks + entries["b.pdf"].chunks
    # The embedding ran as its own deployment, on the GPU pool's worker.
    embeds = [r for r in flow_runs("embed") if r.state and r.state.is_completed()]
    assert embeds and all(r.work_pool_name == "gpu-pool" for r in embeds)
    rec = run_record(stack, prefix)
    assert rec["indexed"] == 2 and len(rec["failed"]) == 1 and rec["chunks_added"] == len(ids)
    # The worker's result went to Prefect's result storage on S3.
    summary = fr.state.result()
    assert summary.indexed == 2 and summary.chunks_added == len(ids) and summary.failed[0].source == prefix + "empty.pdf"
    results = stack["s3"].list_objects_v2(Bucket="pdfrag", Prefix="prefect-results/")
    assert results.get("KeyCount", 0) > 0


def test_upload_triggers_ingest_once(stack, pdfs):
    url = stack["state"].service_url
    data = (pdfs / "prose" / "samplefiles_pdflatex-4-pages.pdf").read_bytes()
    uri = f"s3://{stack['state'].env['PDFRAG_ORCHESTRATION__UPLOAD_BUCKET']}/incoming/latex.pdf"

    t0 = time.monotonic()
    r = httpx.put(f"{url}/documents/latex.pdf", content=data, timeout=60)
    assert r.status_code == 202 and r.json()["uri"] == uri
    entry = wait_for(lambda: pipeline(stack).ledger.get([uri]).get(uri), 180, what=f"{uri} in the ledger")
    latency = time.monotonic() - t0
    print(f"upload-to-searchable latency: {latency:.1f} s")
    assert entry.status == "indexed" and entry.chunks > 0
    assert len(rows_under(stack, uri)) == entry.chunks

    runs_before = len(flow_runs("ingest-object"))
    r = httpx.put(f"{url}/documents/latex.pdf", content=data, timeout=60)
    assert r.status_code == 202 and r.json()["queued"] is False  # the same version was announced already
    time.sleep(5)
    assert len(flow_runs("ingest-object")) == runs_before
    assert len(rows_under(stack, uri)) == entry.chunks

    # Non-PDF keys in a notification are ignored, not ingested.
    note = {"Records": [{"eventName": "ObjectCreated:Put", "eventSource": "ceph:s3", "s3": {"bucket": {"name": "x"}, "object": {"key": "notes.txt", "eTag": "1"}}}]}
    r = httpx.post(f"{url}/events/s3", json=note, timeout=30)
    assert r.status_code == 200 and r.json()["queued"] == [] and "not a PDF" in r.json()["ignored"][0]


def test_refresh_reconciles_new_changed_deleted(stack, pdfs):
    from prefect.deployments import run_deployment

    prefix = f"s3://{CORPUS_BUCKET}/set2/"
    put(stack, pdfs, "prose/samplefiles_minimal-document.pdf", "set2/keep.pdf")
    put(stack, pdfs, "prose/docling_code_and_formula.pdf", "set2/change.pdf")
    put(stack, pdfs, "prose/pdfplumber_scotus-transcript-p1.pdf", "set2/delete.pdf")
    fr = run_deployment("refresh/refresh", parameters={"source": prefix}, timeout=600, poll_interval=1)
    assert fr.state.is_completed(), fr.state
    first = run_record(stack, prefix)
    assert (first["indexed"], first["changed"], first["pruned"]) == (3, 0, 0)

    put(stack, pdfs, "prose/docling_picture_classification.pdf", "set2/new.pdf")
    put(stack, pdfs, "prose/samplefiles_google-doc-document.pdf", "set2/change.pdf")
    stack["s3"].delete_object(Bucket=CORPUS_BUCKET, Key="set2/delete.pdf")
    fr = run_deployment("refresh/refresh", parameters={"source": prefix}, timeout=600, poll_interval=1)
    assert fr.state.is_completed(), fr.state
    second = run_record(stack, prefix)
    assert second["indexed"] - second["changed"] == 1  # new.pdf
    assert second["changed"] == 1  # change.pdf
    assert second["pruned"] == 1 and second["unchanged"] == 1  # delete.pdf gone, keep.pdf as it was
    entries = {Path(e.source).name: e for e in ledger_under(stack, prefix)}
    assert set(entries) == {"keep.pdf", "change.pdf", "new.pdf"}
    ids = rows_under(stack, prefix)
    assert len(ids) == len(set(ids)) == sum(e.chunks for e in entries.values())


def test_worker_killed_mid_run_then_rerun_is_exact(stack, pdfs):
    from prefect.deployments import run_deployment

    from pdfrag.stack.local import start_worker

    prefix = f"s3://{CORPUS_BUCKET}/set3/"
    names = ["two_column/pdfminer_naacl06-shinyama.pdf", "prose/pdfplumber_issue-316-example.pdf", "prose/pdfplumber_issue-848.pdf",
             "cjk/pdfplumber_issue-67-example.pdf", "two_column/pdfplumber_federal-register-2020-17221.pdf"]
    for i, rel in enumerate(names):
        put(stack, pdfs, rel, f"set3/{i}.pdf")
    fr = run_deployment("ingest/ingest", parameters={"source": prefix}, timeout=0)
    # Kill the CPU worker (and the flow run it started) once work is under way.
    wait_for(lambda: len(ledger_under(stack, prefix)) >= 1, 300, what="the first document indexed")
    state, settings = stack["state"], stack["settings"]
    os.killpg(state.pids["worker-cpu-pool"], signal.SIGKILL)
    done_before = len(ledger_under(stack, prefix))
    assert done_before < len(names), "the run finished before the worker was killed; use larger files"
    start_worker(settings, state, settings.orchestration.cpu_pool)

    fr2 = run_deployment("ingest/ingest", parameters={"source": prefix}, timeout=900, poll_interval=1)
    assert fr2.state.is_completed(), fr2.state
    entries = ledger_under(stack, prefix)
    assert len(entries) == len(names) and all(e.status == "indexed" for e in entries)
    ids = rows_under(stack, prefix)
    assert len(ids) == len(set(ids)) == sum(e.chunks for e in entries)
    assert fr.id != fr2.id


def test_milvus_down_during_inserts_then_rerun(stack, pdfs, monkeypatch):
    """Inserts fail with retries and a clear, retryable failure; after a
    restart, a rerun completes without duplicates."""
    from pdfrag.flows.ingest import ingest
    from pdfrag.stack.milvus import start_milvus, stop_milvus
    from pdfrag.stack.local import stack_dir
    from pdfrag.tasks import index as index_tasks

    prefix = f"s3://{CORPUS_BUCKET}/set4/"
    names = ["prose/docling_multi_page.pdf", "prose/samplefiles_pdflatex-4-pages.pdf", "tables/pymupdf_small-table.pdf", "prose/pdfplumber_issue-848.pdf"]
    for i, rel in enumerate(names):
        put(stack, pdfs, rel, f"set4/{i}.pdf")
    monkeypatch.setattr(index_tasks, "index", index_tasks.index.with_options(retries=2, retry_delay_seconds=[0.5, 1.0]))
    # The end-of-run bookkeeping retries too (its own delays add up to about 30 s): shorter here.
    for name in ("record_failures", "finalize"):
        monkeypatch.setattr(index_tasks, name, getattr(index_tasks, name).with_options(retries=2, retry_delay_seconds=[0.5, 1.0]))
    config = {"home": str(stack["home"]), "embed.deployment": ""}
    milvus_dir = stack_dir(stack["settings"]) / "milvus"
    real_index_document = type(pipeline(stack)).index_document
    calls = {"n": 0}

    def index_then_stop(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # the first document is in; Milvus goes away before the second
            stop_milvus(milvus_dir)
        return real_index_document(self, *a, **kw)

    monkeypatch.setattr(type(pipeline(stack)), "index_document", index_then_stop)
    summary = ingest(source=prefix, config=config)
    assert summary.indexed == 1
    assert len(summary.failed) == len(names) - 1
    for f in summary.failed:
        assert f.stage == "index" and f.retryable and "unreachable" in f.error, f
    assert summary.bookkeeping_errors  # the ledger could not take the failures; the summary has them

    monkeypatch.setattr(type(pipeline(stack)), "index_document", real_index_document)
    info = start_milvus(milvus_dir, port=int(stack["state"].milvus_uri.rsplit(":", 1)[1]))
    assert info.uri == stack["state"].milvus_uri
    close_pipelines()
    again = ingest(source=prefix, config=config)
    assert again.failed == [] and again.indexed == len(names) - 1 and again.unchanged == 1
    entries = ledger_under(stack, prefix)
    ids = rows_under(stack, prefix)
    assert len(ids) == len(set(ids)) == sum(e.chunks for e in entries)
    assert again.chunks_embedded == 0  # embeddings of the failed run were kept in the store
