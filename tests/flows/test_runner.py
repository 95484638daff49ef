"""The flows' task runner is configurable: the Dask runner on a local
cluster gives the same chunks as the default threads."""

from __future__ import annotations

import shutil

import pytest

from pdfrag.config import RunnerSettings
from pdfrag.flows.runner import make_task_runner
from pdfrag.pipeline import close_pipelines, get_pipeline

pytestmark = pytest.mark.integration


def test_threads_is_the_default():
    from prefect.task_runners import ThreadPoolTaskRunner

    assert isinstance(make_task_runner(RunnerSettings()), ThreadPoolTaskRunner)


def test_dask_runner_on_a_local_cluster(prefect_server, home, pdfs, tmp_path):
    from prefect_dask import DaskTaskRunner

    from pdfrag.flows.ingest import ingest

    src = tmp_path / "src"
    src.mkdir()
    for rel in ("prose/docling_multi_page.pdf", "two_column/samplefiles_multicolumn.pdf", "cjk/pdfplumber_issue-461-example.pdf"):
        shutil.copy(pdfs / rel, src)
    runner = make_task_runner(RunnerSettings(kind="dask", workers=2))
    assert isinstance(runner, DaskTaskRunner)
    summary = ingest.with_options(task_runner=runner)(source=str(src), config={"home": str(home)})
    assert summary.failed == [] and summary.indexed == 3
    p = get_pipeline({"home": str(home)})
    assert p.index.count() == summary.chunks_added > 0

    # The same documents through threads, in another home: identical chunk ids.
    other = {"home": str(tmp_path / "threads-home")}
    threads = ingest(source=str(src), config=other)
    q = get_pipeline(other)
    ids = lambda pipe: sorted(r["id"] for r in pipe.index._query_all('id != ""', ["id"]))  # noqa: E731
    assert threads.chunks_added == summary.chunks_added
    assert ids(p) == ids(q)
    close_pipelines()
