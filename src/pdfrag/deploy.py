"""Work pools, concurrency limits and deployments, created by command
(`pdfrag deploy`), never by hand. Needs PREFECT_API_URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pdfrag.config import Settings
from pdfrag.errors import ConfigError

MILVUS_WRITE_LIMIT = "pdfrag-milvus-write"
GPU_EMBED_LIMIT = "pdfrag-gpu-embed"


def ensure_pools(settings: Settings) -> list[str]:
    """Process work pools for CPU work and for embedding (``gpu-pool``: give
    its workers a GPU; they embed on the CPU where there is none)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    made = []
    with get_client(sync_client=True) as client:
        for name, desc in ((settings.orchestration.cpu_pool, "pdfrag: extraction, chunking, indexing"), (settings.orchestration.gpu_pool, "pdfrag: embedding (GPU)")):
            try:
                client.create_work_pool(WorkPoolCreate(name=name, type="process", description=desc))
                made.append(name)
            except ObjectAlreadyExists:
                pass
    return made


def ensure_limits(settings: Settings) -> None:
    """Global concurrency limits on Milvus writes and on GPU embedding."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectAlreadyExists

    o = settings.orchestration
    with get_client(sync_client=True) as client:
        for name, limit in ((MILVUS_WRITE_LIMIT, o.milvus_write_limit), (GPU_EMBED_LIMIT, o.gpu_embed_limit)):
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
            except ObjectAlreadyExists:
                client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=limit))


RESULTS_BLOCK = "pdfrag-results"


def ensure_result_storage(basepath: str, endpoint_url: str, access_key: str, secret_key: str, region: str = "") -> str:
    """Prefect result storage on S3 (any S3-compatible endpoint), so workers
    on different machines share flow and task results. Returns the block's
    slug for PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK."""
    from prefect.filesystems import RemoteFileSystem

    settings: dict = {
        "key": access_key,
        "secret": secret_key,
        "client_kwargs": {"endpoint_url": endpoint_url or None, "region_name": region or None},
        "config_kwargs": {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"},
    }
    RemoteFileSystem(basepath=basepath, settings=settings).save(RESULTS_BLOCK, overwrite=True)
    return f"remote-file-system/{RESULTS_BLOCK}"


def project_dir() -> Path:
    """The checkout holding prefect.yaml (the working directory, or above)."""
    here = Path.cwd()
    for d in (here, *here.parents):
        if (d / "prefect.yaml").is_file():
            return d
    raise ConfigError("no prefect.yaml in the working directory or above", stage="deploy", hint="run from the pdfrag checkout")


def deploy_all(settings: Settings, env: dict[str, str] | None = None) -> None:
    """`prefect --no-prompt deploy --all` from prefect.yaml."""
    root = project_dir()
    run_env = {
        **os.environ,
        **(env or {}),
        "PDFRAG_PROJECT_DIR": str(root),
        "PDFRAG_REFRESH_CRON": settings.orchestration.refresh_cron,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"], cwd=root, env=run_env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise ConfigError(f"prefect deploy failed:\n{(proc.stdout + proc.stderr)[-3000:]}", stage="deploy")


def deploy(settings: Settings, env: dict[str, str] | None = None) -> None:
    api_url = (env or {}).get("PREFECT_API_URL") or os.environ.get("PREFECT_API_URL")
    if not api_url:
        raise ConfigError("no Prefect server", stage="deploy", hint="start one with `pdfrag server start` and set PREFECT_API_URL")
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # The client must talk to this server even if Prefect was imported
    # earlier with other settings.
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        ensure_pools(settings)
        ensure_limits(settings)
    deploy_all(settings, {**(env or {}), "PREFECT_API_URL": api_url})
