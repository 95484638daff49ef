"""`pdfrag stack up|down`: the whole service on one machine, with real
servers: a Prefect server, both work pools with the deployments and one
worker each, a Milvus server shared by the workers and the query service,
Ceph RGW as the S3 store for documents and intermediates, and pdfrag's HTTP
service (upload endpoint, search). `down` stops exactly what `up` started."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pdfrag.config import Settings
from pdfrag.errors import ConfigError
from pdfrag.stack import proc

STORE_BUCKET = "pdfrag"
DOCS_BUCKET = "pdfrag-docs"


@dataclass
class StackState:
    prefect_url: str = ""
    ui_url: str = ""
    milvus_uri: str = ""
    s3_endpoint: str = ""
    service_url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)  # what `up` started (and `down` stops)
    pids: dict[str, int] = field(default_factory=dict)


def stack_dir(settings: Settings) -> Path:
    return settings.home / "stack"


def _state_path(settings: Settings) -> Path:
    return stack_dir(settings) / "stack.json"


def read_state(settings: Settings) -> StackState | None:
    p = _state_path(settings)
    if not p.is_file():
        return None
    return StackState(**json.loads(p.read_text()))


def _write_state(settings: Settings, state: StackState) -> None:
    p = _state_path(settings)
    p.parent.mkdir(parents=True, exist_ok=True)
    proc.write_json_atomic(p, asdict(state))


def _spawn(name: str, args: list[str], env: dict[str, str], logdir: Path) -> int:
    logdir.mkdir(parents=True, exist_ok=True)
    return proc.spawn_detached(args, logdir / f"{name}.log", env=env, banner=False).pid


def stop_process(pid: int, sig: int = signal.SIGINT, timeout: float = 30.0) -> None:
    """Prefect workers stop cleanly on SIGINT (they ignore SIGTERM for a while).

    Signals the process group ``pid`` leads (nothing if it leads none), then
    SIGKILL to the group after ``timeout`` seconds."""
    stop_processes([pid], sig, timeout)


def stop_processes(pids: list[int], sig: int = signal.SIGINT, timeout: float = 30.0) -> None:
    """:func:`stop_process` for several process groups at once
    (:func:`proc.terminate` with ``sig`` first): all are signalled, then
    waited for together (``timeout`` in all, not each), and those left get
    SIGKILL. A pid that leads no group (a recorded pid now reused) is left
    alone."""
    proc.terminate([p for p in pids if proc.leads_group(p)], timeout, sig=sig)


def _wait_http(url: str, timeout: float) -> None:
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise ConfigError(f"{url} did not answer within {timeout:.0f} s", stage="stack")


def worker_env(settings: Settings, state: StackState, s3_env: dict[str, str]) -> dict[str, str]:
    """What every worker and the service need to share one Milvus, one store
    and one Prefect server."""
    return {
        **s3_env,
        "PREFECT_API_URL": state.prefect_url,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
        "PDFRAG_HOME": str(settings.home),
        "PDFRAG_MILVUS__URI": state.milvus_uri,
        "PDFRAG_MILVUS__COLLECTION": settings.milvus.collection,
        "PDFRAG_STORE__URI": f"s3://{STORE_BUCKET}/store",
        "PDFRAG_STORE__ENDPOINT_URL": state.s3_endpoint,
        "PDFRAG_EMBED__DEPLOYMENT": "embed/embed",
        "PDFRAG_ORCHESTRATION__REFRESH_SOURCE": f"s3://{DOCS_BUCKET}/",
        "PDFRAG_ORCHESTRATION__UPLOAD_BUCKET": DOCS_BUCKET,
    }


def up(settings: Settings, service_port: int = 8000, log=print) -> StackState:
    from pdfrag.deploy import deploy
    from pdfrag.stack.prefect_server import ensure_server
    from pdfrag.stack import milvus as milvus_server
    from pdfrag.stack import rgw

    existing = read_state(settings)
    if existing and existing.started:
        raise ConfigError("a stack is already up for this home", stage="stack", hint="run `pdfrag stack down` first")
    d = stack_dir(settings)
    state = StackState()
    _write_state(settings, state)
    try:
        info = ensure_server(settings.prefect_home, host=settings.prefect.host, port=settings.prefect.port)
        state.prefect_url, state.ui_url = info.url, info.ui_url
        if info.started:
            state.started.append("prefect-server")
        _write_state(settings, state)

        if not rgw.rgw_available():
            raise ConfigError("Ceph RGW is not installed (the stack's S3 store)", stage="stack", hint="run scripts/install-system.sh as root")
        s3 = rgw.start_rgw(d / "rgw")
        state.s3_endpoint = s3.endpoint
        state.started.append("rgw")
        _write_state(settings, state)
        client = rgw.s3_client(s3)
        for bucket in (STORE_BUCKET, DOCS_BUCKET):
            try:
                client.create_bucket(Bucket=bucket)
            except client.exceptions.BucketAlreadyOwnedByYou:
                pass

        m = milvus_server.start_milvus(d / "milvus")
        state.milvus_uri = m.uri
        state.started.append("milvus")
        _write_state(settings, state)

        state.env = worker_env(settings, state, rgw.client_env(s3))
        os.environ["PREFECT_API_URL"] = state.prefect_url
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from pdfrag.deploy import ensure_result_storage

        with temporary_settings(updates={PREFECT_API_URL: state.prefect_url}):
            block = ensure_result_storage(f"s3://{STORE_BUCKET}/prefect-results", s3.endpoint, s3.access_key, s3.secret_key, s3.region)
        state.env.update({"PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": block, "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true"})
        deploy(settings, env=state.env)
        for pool in (settings.orchestration.cpu_pool, settings.orchestration.gpu_pool):
            start_worker(settings, state, pool)
        service = [sys.executable, "-m", "pdfrag.cli", "serve", "--port", str(service_port)]
        state.pids["service"] = _spawn("service", service, {**os.environ, **state.env}, d / "log")
        state.started.append("service")
        state.service_url = f"http://{settings.service.host}:{service_port}"
        _write_state(settings, state)
        _wait_http(f"{state.service_url}/health", 120)
        # Bucket notifications from RGW to the upload endpoint.
        sns = rgw.s3_client(s3, "sns")
        arn = sns.create_topic(Name="pdfrag-ingest", Attributes={"push-endpoint": f"{state.service_url}/events/s3"})["TopicArn"]
        client.put_bucket_notification_configuration(
            Bucket=DOCS_BUCKET,
            NotificationConfiguration={"TopicConfigurations": [{"Id": "pdfrag-ingest", "TopicArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
        )
    except BaseException:
        log("stack up failed; stopping what it started")
        down(settings, log=lambda *_: None)
        raise
    return state


def start_worker(settings: Settings, state: StackState, pool: str) -> int:
    """(Re)start the stack's worker for ``pool``; a worker that is still
    running is stopped first."""
    name = f"worker-{pool}"
    if name in state.pids and proc.pid_alive(state.pids[name]):
        stop_process(state.pids[name])
    env = {**os.environ, **state.env}
    state.pids[name] = _spawn(name, [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool], env, stack_dir(settings) / "log")
    if name not in state.started:
        state.started.append(name)
    _write_state(settings, state)
    return state.pids[name]


def down(settings: Settings, log=print, grace: float = 30.0) -> list[str]:
    """Stop what ``up`` started, newest first. The workers and the service
    are signalled together and get ``grace`` seconds to finish in-flight
    work before they are killed: a Prefect worker that has run flows can
    sit out the whole grace after SIGINT (seen with Prefect 3.9), and
    stopping them one by one added those waits up."""
    from pdfrag.stack.prefect_server import stop_server
    from pdfrag.stack import milvus as milvus_server
    from pdfrag.stack import rgw

    state = read_state(settings)
    if state is None:
        return []
    stopped = []
    processes = [n for n in reversed(state.started) if n in state.pids]
    try:
        stop_processes([state.pids[n] for n in processes], timeout=grace)
        for name in processes:
            stopped.append(name)
            log(f"stopped {name}")
    except Exception as e:  # noqa: BLE001 - stop the rest regardless
        log(f"could not stop {', '.join(processes)}: {e}")
    for name in reversed(state.started):
        if name in state.pids:
            continue
        try:
            if name == "milvus":
                milvus_server.stop_milvus(stack_dir(settings) / "milvus")
            elif name == "rgw":
                rgw.stop_rgw(stack_dir(settings) / "rgw")
            elif name == "prefect-server":
                stop_server(settings.prefect_home)
            stopped.append(name)
            log(f"stopped {name}")
        except Exception as e:  # noqa: BLE001 - stop the rest regardless
            log(f"could not stop {name}: {e}")
    _state_path(settings).unlink(missing_ok=True)
    return stopped
