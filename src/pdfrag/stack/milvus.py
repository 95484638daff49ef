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
import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

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

# Popen objects of servers started by this process, by pid: lets us reap them
# (a zombie still answers ``kill(pid, 0)``) and keeps Popen from warning.
_CHILDREN: dict[int, subprocess.Popen] = {}


@dataclass
class MilvusServerInfo:
    uri: str  # "http://127.0.0.1:PORT"
    pid: int
    port: int
    data_dir: str


# ----------------------------------------------------------------- small helpers


def _dir(data_dir: Path) -> Path:
    return Path(data_dir).expanduser().resolve()


def _client_host(host: str) -> str:
    """The address a local client uses to reach a server bound to ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def _uri(host: str, port: int) -> str:
    return f"http://{_client_host(host)}:{port}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    proc = _CHILDREN.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            _CHILDREN.pop(pid, None)
            return False
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
    except (OSError, IndexError):
        pass
    return True


def _looks_like_milvus(pid: int) -> bool:
    """Guard against pid reuse before signalling a recorded pid: its command
    line must mention milvus (when /proc lets us check)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no /proc or no permission: cannot tell, trust the record
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    return bool(args) and any("milvus" in a for a in args)


def _port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound. gRPC servers bind with SO_REUSEPORT,
    so a second Milvus Lite server could silently share a port with the first;
    this plain bind (no SO_REUSEPORT) fails while anything listens there."""
    try:
        infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RuntimeError(f"invalid Milvus server host {host!r}: {exc}") from None
    family, socktype, proto, _, sockaddr = infos[0]
    with socket.socket(family, socktype, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(sockaddr)
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    try:
        family, socktype, proto, _, sockaddr = socket.getaddrinfo(host or None, 0, socket.AF_UNSPEC, socket.SOCK_STREAM)[0]
    except socket.gaierror:
        family, socktype, proto, sockaddr = socket.AF_INET, socket.SOCK_STREAM, 0, ("127.0.0.1", 0)
    with socket.socket(family, socktype, proto) as s:
        s.bind(sockaddr)
        return s.getsockname()[1]


def _read_state(home: Path) -> dict | None:
    try:
        data = json.loads((home / STATE_FILE).read_text())
        data["pid"] = int(data["pid"])
        data["port"] = int(data["port"])
        data["uri"] = str(data["uri"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return data


def _write_state(home: Path, state: dict) -> None:
    path = home / STATE_FILE
    tmp = home / f".{STATE_FILE}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _remove_state(home: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (home / STATE_FILE).unlink()


def _log_tail(home: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with open(home / LOG_FILE, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


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


@contextlib.contextmanager
def _locked(home: Path, timeout: float) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"timed out after {timeout:.0f}s waiting for {home / LOCK_FILE}: "
                        "another process is starting or stopping this Milvus server"
                    ) from None
                time.sleep(_POLL_INTERVAL)
        yield
    finally:
        os.close(fd)  # releases the lock


def _probe(uri: str, timeout: float) -> Exception | None:
    """One real client call: None when it succeeds, else the error."""
    try:
        from pymilvus import MilvusClient
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


def _signal_group(pid: int, sig: int) -> None:
    """Signal the process group led by ``pid`` (servers start with
    ``start_new_session=True``), or just ``pid`` if it leads no group."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        if pgid == pid and pgid != os.getpgrp():
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)


def _terminate(pid: int, timeout: float) -> None:
    try:
        leads_group = os.getpgid(pid) == pid and pid != os.getpgrp()
    except ProcessLookupError:
        leads_group = False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)
    if _pid_alive(pid):
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.05)
    if leads_group:  # anything left in the group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    proc = _CHILDREN.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1.0)


def _info(state: dict, home: Path) -> MilvusServerInfo:
    return MilvusServerInfo(uri=state["uri"], pid=state["pid"], port=state["port"], data_dir=str(state.get("data_dir") or home))


def _status_unlocked(home: Path, timeout: float) -> MilvusServerInfo | None:
    state = _read_state(home)
    if state is None:
        if (home / STATE_FILE).exists():
            _remove_state(home)  # unreadable: stale
        return None
    pid = state["pid"]
    if not (_pid_alive(pid) and _looks_like_milvus(pid)):
        _CHILDREN.pop(pid, None)
        _remove_state(home)
        return None
    if _probe(state["uri"], timeout) is None:
        return _info(state, home)
    return None  # alive but not answering: keep the record (start/stop decide)


def _launch(home: Path, host: str, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(home), "--host", host, "--port", str(port)]
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")  # the log shows lines as they come
    with open(home / LOG_FILE, "ab") as log:
        log.write(f"\n--- pdfrag: {datetime.now(timezone.utc).isoformat()} starting: {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(home),
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    return proc


def _failure(home: Path, problem: str) -> RuntimeError:
    tail = _log_tail(home)
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
            if _pid_alive(pid) and _looks_like_milvus(pid):
                if _wait(state["uri"], timeout, alive=lambda: _pid_alive(pid)) is None:
                    return _info(state, home)
                if _pid_alive(pid):
                    _terminate(pid, timeout=10.0)
            _CHILDREN.pop(pid, None)
            _remove_state(home)

        attempts = 1 if port is not None else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            if port is not None:
                use_port = int(port)
                if not _port_free(host, use_port):
                    raise RuntimeError(f"cannot start Milvus on {host}:{use_port}: the port is in use (pass port=None for a free one)")
            else:
                use_port = _free_port(host)
            uri = _uri(host, use_port)
            log_start = _log_size(home)
            t0 = time.monotonic()
            proc = _launch(home, host, use_port)
            err = _wait(uri, timeout, alive=lambda: _pid_alive(proc.pid))
            if err is None and _pid_alive(proc.pid):
                break
            if _pid_alive(proc.pid):  # timed out
                _terminate(proc.pid, timeout=5.0)
                raise _failure(home, f"Milvus Lite server on {uri} (data dir {home}) did not answer within {timeout:.0f}s: {type(err).__name__}: {err}")
            code = proc.poll()
            _CHILDREN.pop(proc.pid, None)
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
            "pid": proc.pid,
            "port": use_port,
            "host": host,
            "uri": uri,
            "data_dir": str(home),
            "started_at": datetime.now(timezone.utc).isoformat(),
        }
        _write_state(home, state)
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
        if state is None:
            _remove_state(home)
            return False
        pid = state["pid"]
        if not (_pid_alive(pid) and _looks_like_milvus(pid)):
            _CHILDREN.pop(pid, None)
            _remove_state(home)
            return False
        _terminate(pid, timeout=timeout)
        _remove_state(home)
        return True
