"""The task runner the flows use, from configuration: threads (default),
Dask or Ray. Extraction and chunking are submitted to it; with Dask or Ray
they spread over the cluster's machines without code changes."""

from __future__ import annotations

from pdfrag.config import RunnerSettings, load_settings
from pdfrag.errors import ConfigError


def make_task_runner(settings: RunnerSettings | None = None):
    s = settings or load_settings().runner
    if s.kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        # Each document's chunk task is submitted with its extract task's
        # future and waits for it on a thread of its own; with only
        # ``workers`` threads those waits took half of them, and one
        # document was extracted at a time instead of ``workers``.
        return ThreadPoolTaskRunner(max_workers=2 * s.workers)
    if s.kind == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as e:
            raise ConfigError("runner.kind is 'dask' but prefect-dask is not installed", hint="pip install 'pdfrag[dask]'") from e
        if s.address:
            return DaskTaskRunner(address=s.address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": s.workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None})
    if s.kind == "ray":
        try:
            from prefect_ray import RayTaskRunner
        except ImportError as e:
            raise ConfigError("runner.kind is 'ray' but prefect-ray is not installed", hint="pip install 'pdfrag[ray]'") from e
        return RayTaskRunner(address=s.address or None)
    raise ConfigError(f"unknown runner kind {s.kind!r}")
