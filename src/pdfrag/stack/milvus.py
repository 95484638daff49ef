"""Run one shared Milvus Lite server for a data directory.

Milvus Lite in-process (``MilvusClient("./milvus.db")``) lets only one process
open a data directory. When several processes need the index at once
(pipeline workers plus a query service), one of them starts
``milvus-lite server`` on the directory and everybody connects to
``http://127.0.0.1:PORT``.

Files of ours in ``data_dir`` next to Milvus Lite's own (``LOCK``,
``collections/``...):

* ``milvus-server.json`` – ``{pid, port, host, uri, data_dir, started_at}`` of
  the server we started, written atomically once a real client call succeeds;
* ``milvus-server.log``  – the server's stdout/stderr, appended to;
* ``milvus-server.lock`` – ``flock``-ed while starting or stopping, so that two
  concurrent :func:`start_milvus` calls never start two servers.

The server runs as ``python -m milvus_lite server`` in a new session (its own
process group), detached from the caller; stopping it sends SIGTERM to the
group (Milvus Lite keeps a write-ahead log: acknowledged writes survive), then
SIGKILL after a timeout.

Prefect-free; ``pymilvus`` is imported only to check readiness.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pdfrag.index._pymilvus import load as load_pymilvus
from pdfrag.stack import proc

__all__ = [
    "MilvusServerInfo",
    "milvus_status",
    "start_milvus",
    "stop_milvus",
    "wait_ready",
]

STATE_FILE = "milvus-server.json"
LOG_FILE = "milvus-server.log"
LOCK_FILE = "milvus-server.lock"

_POLL_INTERVAL = 0.2
_PROBE_TIMEOUT = 3.0
_STATUS_TIMEOUT = 5.0
_LOG_TAIL_LINES = 25
_PORT_ATTEMPTS = 3


@dataclass
class MilvusServerInfo:
    uri: str  # "http://127.0.0.1:PORT"
    pid: int
    port: int
    data_dir: str


# ----------------------------------------------------------------- small helpers


def _dir(data_dir: Path) -> Path:
    return Path(data_dir).expanduser().resolve()


def _uri(host: str, port: int) -> str:
    return f"http://{proc.client_host(host)}:{port}"


def _looks_like_milvus(pid: int) -> bool:
    """Guard against pid reuse before signalling a recorded pid: its command
    line must mention milvus (when /proc lets us check)."""
    return proc.cmdline_matches(pid, lambda args: any("milvus" in a for a in args))


def _port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound. gRPC servers bind with SO_REUSEPORT,
    so a second Milvus Lite server could silently share a port with the first;
    the check of :func:`proc.port_free` fails while anything listens there."""
    try:
        return proc.port_free(host, port)
    except socket.gaierror as exc:
        raise RuntimeError(f"invalid Milvus server host {host!r}: {exc}") from None


def _read_state(home: Path) -> dict | None:
    data = proc.read_json(home / STATE_FILE)
    if data is None:
        return None
    try:
        data["pid"] = int(data["pid"])
        data["port"] = int(data["port"])
        data["uri"] = str(data["uri"])
    except (ValueError, TypeError, KeyError):
        return None
    return data


def _remove_state(home: Path) -> None:
    (home / STATE_FILE).unlink(missing_ok=True)


def _log_size(home: Path) -> int:
    try:
        return (home / LOG_FILE).stat().st_size
    except OSError:
        return 0


def _log_since(home: Path, offset: int) -> str:
    try:
        with open(home / LOG_FILE, "rb") as fh:
            fh.seek(offset)
            return fh.read(256 * 1024).decode(errors="replace")
    except OSError:
        return ""


def _locked(home: Path, timeout: float) -> contextlib.AbstractContextManager[None]:
    lock = home / LOCK_FILE
    message = f"timed out after {timeout:.0f}s waiting for {lock}: another process is starting or stopping this Milvus server"
    return proc.file_lock(lock, timeout, lambda: RuntimeError(message), poll=_POLL_INTERVAL)


def _probe(uri: str, timeout: float) -> Exception | None:
    """One real client call: None when it succeeds, else the error."""
    try:
        MilvusClient = load_pymilvus().MilvusClient  # not a bare import: see pdfrag.index._pymilvus
    except ImportError as e:  # pragma: no cover - pymilvus is a dependency
        return e
    client = None
    try:
        # dedicated: never share (and then close) a connection that another
        # MilvusClient of this process uses.
        client = MilvusClient(uri, timeout=timeout, dedicated=True)
        client.list_collections(timeout=timeout)
        return None
    except Exception as e:  # noqa: BLE001
        return e
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def _wait(uri: str, timeout: float, alive: Callable[[], bool] | None = None) -> Exception | None:
    """Poll until a client call succeeds (None), the process dies or the
    deadline passes (the last error, or a RuntimeError)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        if alive is not None and not alive():
            return RuntimeError("the server process exited")
        left = deadline - time.monotonic()
        if left <= 0:
            return last or TimeoutError(f"no answer within {timeout:.0f}s")
        last = _probe(uri, max(0.2, min(_PROBE_TIMEOUT, left)))
        if last is None:
            return None
        time.sleep(min(_POLL_INTERVAL, max(0.0, deadline - time.monotonic())))


def _info(state: dict, home: Path) -> MilvusServerInfo:
    return MilvusServerInfo(uri=state["uri"], pid=state["pid"], port=state["port"], data_dir=str(state.get("data_dir") or home))


def _status_unlocked(home: Path, timeout: float) -> MilvusServerInfo | None:
    state = _read_state(home)
    if state is None:
        if (home / STATE_FILE).exists():
            _remove_state(home)  # unreadable: stale
        return None
    pid = state["pid"]
    if not (proc.pid_alive(pid) and _looks_like_milvus(pid)):
        proc.untrack(pid)
        _remove_state(home)
        return None
    if _probe(state["uri"], timeout) is None:
        return _info(state, home)
    return None  # alive but not answering: keep the record (start/stop decide)


def _launch(home: Path, host: str, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(home), "--host", host, "--port", str(port)]
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")  # the log shows lines as they come
    return proc.spawn_detached(cmd, home / LOG_FILE, env=env, cwd=home)


def _failure(home: Path, problem: str) -> RuntimeError:
    tail = proc.log_tail(home / LOG_FILE, _LOG_TAIL_LINES)
    text = f"{problem}; see {home / LOG_FILE}"
    if tail:
        text += f", last lines:\n{tail}"
    return RuntimeError(text)


# ---------------------------------------------------------------------- public


def wait_ready(uri: str, timeout: float) -> None:
    """Poll until ``MilvusClient(uri).list_collections()`` succeeds; raise
    RuntimeError with the last error after ``timeout`` seconds."""
    err = _wait(uri, timeout)
    if err is not None:
        raise RuntimeError(f"Milvus at {uri} not ready within {timeout:.0f}s: {type(err).__name__}: {err}")


def milvus_status(data_dir: Path) -> MilvusServerInfo | None:
    """The running server recorded in ``data_dir``, or None.

    Running means: the recorded pid is alive, runs milvus, and a client call
    succeeds. A record whose process is gone is removed.
    """
    return _status_unlocked(_dir(data_dir), _STATUS_TIMEOUT)


def start_milvus(data_dir: Path, host: str = "127.0.0.1", port: int | None = None, timeout: float = 60.0) -> MilvusServerInfo:
    """Return the server for ``data_dir``, starting ``milvus-lite server`` if
    none answers.

    A recorded running server is reused whatever ``host``/``port`` are asked
    (one server per data directory). ``port=None`` picks a free port; an
    explicit port that is taken is an error. Raises RuntimeError (with the end
    of the server log) if the server exits or no client call succeeds within
    ``timeout`` seconds.
    """
    home = _dir(data_dir)
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home, timeout=timeout + 30.0):
        info = _status_unlocked(home, _STATUS_TIMEOUT)
        if info is not None:
            return info

        # A recorded process that is alive but does not answer: give it the
        # whole timeout (a busy pure-Python server can be slow to answer);
        # if still silent it is hung, and it holds Milvus Lite's LOCK, so it
        # must go before a new one can open the data directory.
        state = _read_state(home)
        if state is not None:
            pid = state["pid"]
            if proc.pid_alive(pid) and _looks_like_milvus(pid):
                if _wait(state["uri"], timeout, alive=lambda: proc.pid_alive(pid)) is None:
                    return _info(state, home)
                if proc.pid_alive(pid):
                    proc.terminate([pid], timeout=10.0)
            proc.untrack(pid)
            _remove_state(home)

        attempts = 1 if port is not None else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            if port is not None:
                use_port = int(port)
                if not _port_free(host, use_port):
                    raise RuntimeError(f"cannot start Milvus on {host}:{use_port}: the port is in use (pass port=None for a free one)")
            else:
                use_port = proc.free_port(host)
            uri = _uri(host, use_port)
            log_start = _log_size(home)
            t0 = time.monotonic()
            child = _launch(home, host, use_port)
            err = _wait(uri, timeout, alive=lambda: proc.pid_alive(child.pid))
            if err is None and proc.pid_alive(child.pid):
                break
            if proc.pid_alive(child.pid):  # timed out
                proc.terminate([child.pid], timeout=5.0)
                raise _failure(home, f"Milvus Lite server on {uri} (data dir {home}) did not answer within {timeout:.0f}s: {type(err).__name__}: {err}")
            code = child.poll()
            proc.untrack(child.pid)
            output = _log_since(home, log_start)
            bind_failed = "bind" in output.lower() or "address already in use" in output.lower()
            if port is None and bind_failed and attempt < attempts:
                continue  # lost a race for the free port: try another
            hint = ""
            if "DataDirLocked" in output or "locked" in output.lower():
                hint = " (another process holds the data directory: a Milvus Lite client or server not recorded here)"
            raise _failure(
                home,
                f"Milvus Lite server exited with code {code} after {time.monotonic() - t0:.1f}s during startup on {uri} (data dir {home}){hint}",
            )

        state = {
            "pid": child.pid,
            "port": use_port,
            "host": host,
            "uri": uri,
            "data_dir": str(home),
            "started_at": datetime.now(timezone.utc).isoformat(),
        }
        proc.write_json_atomic(home / STATE_FILE, state)
        return _info(state, home)


def stop_milvus(data_dir: Path, timeout: float = 20.0) -> bool:
    """Stop the server recorded in ``data_dir``: SIGTERM to its process group,
    SIGKILL after ``timeout`` seconds; removes the record.

    Returns True if a server process was stopped, False if none was running.
    """
    home = _dir(data_dir)
    if not (home / STATE_FILE).exists():
        return False
    with _locked(home, timeout=timeout + 30.0):
        state = _read_state(home)
        stopped = state is not None and proc.terminate_if_ours(state["pid"], _looks_like_milvus, timeout)
        _remove_state(home)
        return stopped
