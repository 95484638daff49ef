"""Manage one local Prefect server whose state lives under a "prefect home".

The home (typically ``$PDFRAG_HOME/prefect``) holds Prefect's own state (the
SQLite database ``prefect.db``, profiles, the UI build) plus three files of
ours:

* ``server.json`` – ``{pid, port, host, url, ui_url, started_at}`` of the
  server we started, written atomically once ``/api/health`` answers;
* ``server.log``  – the server's stdout/stderr, appended to;
* ``server.lock`` – ``flock``-ed while starting or stopping, so that two
  concurrent :func:`ensure_server` calls never start two servers on the same
  SQLite database.

The server runs as ``python -m prefect server start`` in the foreground of a
new session (its own process group), detached from the caller; stopping it
signals the whole group.

This module deliberately imports neither ``prefect`` nor ``httpx``: health
checks use :mod:`urllib` and the server is a subprocess.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pdfrag.errors import ConfigError
from pdfrag.stack import proc

__all__ = [
    "ServerInfo",
    "ensure_server",
    "prefect_env",
    "server_status",
    "stop_server",
]

STATE_FILE = "server.json"
LOG_FILE = "server.log"
LOCK_FILE = "server.lock"

_POLL_INTERVAL = 0.25
_HEALTH_TIMEOUT = 2.0
_LOG_TAIL_LINES = 20

# urllib honours http_proxy/HTTP_PROXY; a local health check must not.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class ServerInfo:
    url: str  # API URL, e.g. "http://127.0.0.1:4200/api"
    ui_url: str  # e.g. "http://127.0.0.1:4200"
    pid: int
    port: int
    started: bool  # True if this call started it, False if an existing one was reused


# --------------------------------------------------------------------------- env


def prefect_env(prefect_home: Path) -> dict[str, str]:
    """Environment variables for running the server (or clients) against
    ``prefect_home``. Merge them over ``os.environ``.

    ``PREFECT_API_URL`` is not included: the server must not have one (it is
    removed from the server's environment), and clients should point it at
    ``ServerInfo.url``.
    """
    return {
        "PREFECT_HOME": str(Path(prefect_home).expanduser().resolve()),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "true",
    }


# The server's task run recorder writes each task-run event in a transaction
# of its own by default (batch size 1): on two cores that cost at least
# 67-89 ms of server CPU per task run (three events; the server was still
# busy when the measurement ended), on the same cores as the flow's own work.
# In batches of up to 100, flushed at least once a second, it cost 26 ms; the
# UI shows a task run's state at most a second later. An explicit setting in
# the environment wins. infra/compose and the Helm chart's prefect-server
# values set the same (tests/infra check that they match).
SERVER_TUNING = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
}


def _server_env(prefect_home: Path, api_url: str = "") -> dict[str, str]:
    env = dict(os.environ)
    env.update(prefect_env(prefect_home))
    for key, value in SERVER_TUNING.items():
        env.setdefault(key, value)
    env.pop("PREFECT_API_URL", None)
    if api_url:
        # The UI asks the server where its API is; without this it answers
        # with the default port 4200 whatever port the server listens on.
        env["PREFECT_UI_API_URL"] = api_url
        env.pop("PREFECT_SERVER_UI_API_URL", None)
    # PREFECT_SERVER_UI_ENABLED takes precedence over its older alias
    # PREFECT_UI_ENABLED; do not let an inherited value override ours.
    env.pop("PREFECT_SERVER_UI_ENABLED", None)
    return env


def _prefect_command() -> list[str]:
    """``[python, -m, prefect]`` when the package has a ``__main__``, else the
    ``prefect`` console script installed next to ``sys.executable``."""
    try:
        spec = importlib.util.find_spec("prefect")  # does not import prefect
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if (Path(location) / "__main__.py").is_file():
                return [sys.executable, "-m", "prefect"]
    script = Path(sys.executable).with_name("prefect")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    raise ConfigError(
        "Prefect is not installed in this environment",
        stage="prefect-server",
        hint=f"install it into the environment of {sys.executable} (pip install 'prefect>=3.9,<4')",
    )


# ----------------------------------------------------------------- small helpers


def _home(prefect_home: Path) -> Path:
    return Path(prefect_home).expanduser().resolve()


def _urls(host: str, port: int) -> tuple[str, str]:
    ui_url = f"http://{proc.client_host(host)}:{port}"
    return f"{ui_url}/api", ui_url


def _looks_like_prefect_server(pid: int) -> bool:
    """Guard against pid reuse before signalling: the recorded pid must still
    run ``prefect ... server start`` (when /proc lets us check)."""
    return proc.cmdline_matches(pid, lambda args: any("prefect" in a for a in args) and "server" in args)


def _health_ok(url: str, timeout: float = _HEALTH_TIMEOUT) -> bool:
    try:
        with _OPENER.open(f"{url.rstrip('/')}/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _port_free(host: str, port: int) -> bool:
    """Whether a server could bind ``host:port`` (see :func:`proc.port_free`)."""
    try:
        return proc.port_free(host, port)
    except socket.gaierror as exc:
        raise ConfigError(
            f"Invalid Prefect server host {host!r}: {exc}",
            stage="prefect-server",
            hint="use an IP address or resolvable host name, e.g. 127.0.0.1",
        ) from None


def _read_state(home: Path) -> dict | None:
    data = proc.read_json(home / STATE_FILE)
    if data is None:
        return None
    try:
        data["pid"] = int(data["pid"])
        data["port"] = int(data["port"])
        str(data["url"])
    except (KeyError, TypeError, ValueError):
        return None
    return data


def _remove_state(home: Path) -> None:
    (home / STATE_FILE).unlink(missing_ok=True)


def _locked(home: Path, timeout: float) -> contextlib.AbstractContextManager[None]:
    def timed_out() -> ConfigError:
        return ConfigError(
            f"Timed out after {timeout:.0f}s waiting for the Prefect server lock {home / LOCK_FILE}",
            stage="prefect-server",
            hint="another pdfrag process is starting or stopping the server; retry shortly",
        )

    return proc.file_lock(home / LOCK_FILE, timeout, timed_out, poll=_POLL_INTERVAL)


def _status_unlocked(home: Path) -> ServerInfo | None:
    state = _read_state(home)
    if state is None:
        if (home / STATE_FILE).exists():
            _remove_state(home)  # unreadable: stale
        return None
    pid = state["pid"]
    if proc.pid_alive(pid) and _health_ok(state["url"]):
        return ServerInfo(
            url=state["url"],
            ui_url=state.get("ui_url") or state["url"].removesuffix("/api"),
            pid=pid,
            port=state["port"],
            started=False,
        )
    if not proc.pid_alive(pid):
        _remove_state(home)
    return None


# ---------------------------------------------------------------------- public


def server_status(prefect_home: Path) -> ServerInfo | None:
    """The running server recorded under ``prefect_home``, or None.

    Running means: the recorded pid is alive and ``{url}/health`` answers 200.
    A state file whose pid is dead is removed. (A live pid whose API does not
    answer, e.g. a server still starting, yields None but keeps the file.)
    """
    return _status_unlocked(_home(prefect_home))


def ensure_server(
    prefect_home: Path,
    host: str = "127.0.0.1",
    port: int = 4200,
    timeout: float = 90.0,
) -> ServerInfo:
    """Return the running server for ``prefect_home``, starting one if needed.

    A recorded live and healthy server is reused whatever ``host``/``port``
    are asked (one server per home/database). Otherwise ``prefect server
    start`` is launched detached; if ``port`` is taken, a free port is used.
    Raises :class:`ConfigError` if the server exits or is not healthy within
    ``timeout`` seconds.
    """
    home = _home(prefect_home)
    home.mkdir(parents=True, exist_ok=True)
    # Waiting for the lock may mean waiting for another caller's full startup.
    with _locked(home, timeout=timeout + 30.0):
        info = _status_unlocked(home)
        if info is not None:
            return info

        # A recorded pid that is alive but unhealthy (hung, or half-started by
        # a caller that died): get rid of it before starting anew on the same DB.
        state = _read_state(home)
        if state is not None:
            proc.terminate_if_ours(state["pid"], _looks_like_prefect_server, timeout=10.0)
            _remove_state(home)

        if not _port_free(host, port):
            port = proc.free_port(host)
        url, ui_url = _urls(host, port)

        cmd = [*_prefect_command(), "server", "start", "--host", host, "--port", str(port)]
        log_path = home / LOG_FILE
        child = proc.spawn_detached(cmd, log_path, env=_server_env(home, url), cwd=home)

        deadline = time.monotonic() + timeout
        problem: str | None = None
        while True:
            code = child.poll()
            if code is not None:
                proc.untrack(child.pid)
                problem = f"Prefect server exited with code {code} during startup"
                break
            if _health_ok(url, timeout=min(_HEALTH_TIMEOUT, max(0.1, deadline - time.monotonic()))):
                break
            if time.monotonic() >= deadline:
                problem = f"Prefect server did not answer {url}/health within {timeout:.0f}s"
                proc.terminate([child.pid], timeout=5.0)
                break
            time.sleep(_POLL_INTERVAL)

        if problem is not None:
            tail = proc.log_tail(log_path, _LOG_TAIL_LINES)
            message = problem + (f"; last lines of {log_path}:\n{tail}" if tail else "")
            raise ConfigError(
                message,
                stage="prefect-server",
                hint=(
                    f"see {log_path}; check that port {port} on {host} is usable and that "
                    f"{home} is writable, or raise the timeout"
                ),
            )

        proc.write_json_atomic(
            home / STATE_FILE,
            {
                "pid": child.pid,
                "port": port,
                "host": host,
                "url": url,
                "ui_url": ui_url,
                "started_at": datetime.now(timezone.utc).isoformat(),
            },
        )
        return ServerInfo(url=url, ui_url=ui_url, pid=child.pid, port=port, started=True)


def stop_server(prefect_home: Path, timeout: float = 30.0) -> bool:
    """Stop the server recorded under ``prefect_home``: SIGTERM to its process
    group, SIGKILL after ``timeout`` seconds. Removes ``server.json``.

    Returns True if a server process was stopped, False if none was running.
    """
    home = _home(prefect_home)
    if not (home / STATE_FILE).exists():
        return False
    with _locked(home, timeout=timeout + 30.0):
        state = _read_state(home)
        stopped = state is not None and proc.terminate_if_ours(state["pid"], _looks_like_prefect_server, timeout)
        _remove_state(home)
        return stopped
