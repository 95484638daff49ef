"""Process-management helpers shared by the local server managers
(:mod:`~pdfrag.stack.prefect_server`, :mod:`~pdfrag.stack.milvus`,
:mod:`~pdfrag.stack.rgw` and :mod:`~pdfrag.stack.local`).

Each manager starts detached servers (``start_new_session=True``, so each
leads its own process group), records them in a JSON state file next to their
data, serialises start/stop with an ``flock``-ed lock file, and stops them
with a signal followed by SIGKILL. What identifies *their* process (which
command line, which exception on a lock timeout...) stays in the managers and
comes in here as parameters.

Children started here are kept in one registry of :class:`subprocess.Popen`
objects (:func:`track` / :func:`untrack`): a dead child stays a zombie, which
still answers ``kill(pid, 0)``, until it is reaped, and Popen warns when a
running child's object is garbage collected.

Linux-first: ``/proc`` is used when present, and its absence is tolerated.
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
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

__all__ = [
    "client_host",
    "cmdline",
    "cmdline_matches",
    "file_lock",
    "free_port",
    "log_tail",
    "pid_alive",
    "port_free",
    "read_json",
    "spawn_detached",
    "terminate",
    "terminate_if_ours",
    "track",
    "untrack",
    "wait_exit",
    "write_json_atomic",
]

# Popen objects of processes started by this process, by pid.
_CHILDREN: dict[int, subprocess.Popen] = {}


# ------------------------------------------------------------------ children


def track(proc: subprocess.Popen) -> subprocess.Popen:
    """Register a started child so that :func:`pid_alive` reaps it once it
    exits; returns ``proc``."""
    _CHILDREN[proc.pid] = proc
    return proc


def untrack(pid: int) -> subprocess.Popen | None:
    """Forget the child ``pid`` (if registered) and return its Popen."""
    return _CHILDREN.pop(pid, None)


def _reap(pid: int, timeout: float = 1.0) -> None:
    proc = untrack(pid)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)


def spawn_detached(
    cmd: list[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    banner: bool = True,
) -> subprocess.Popen:
    """Start ``cmd`` in a new session (its own process group), detached from
    the caller: stdin from /dev/null, stdout and stderr appended to
    ``log_path``. With ``banner``, a ``--- pdfrag: <time> starting: <cmd>``
    line goes into the log first. The child is :func:`track` ed."""
    with open(log_path, "ab") as log:
        if banner:
            log.write(f"\n--- pdfrag: {datetime.now(timezone.utc).isoformat()} starting: {' '.join(cmd)}\n".encode())
            log.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=None if cwd is None else str(cwd),
            start_new_session=True,
            close_fds=True,
        )
    return track(proc)


# ------------------------------------------------------------------ liveness


def _zombie(pid: int) -> bool:
    """Whether /proc says ``pid`` is a zombie (or dead); False if it cannot tell."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie.

    A tracked child is polled (and forgotten once it has exited); an untracked
    child of ours that has exited is reaped. A process of another user counts
    as alive.
    """
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
    # A zombie (dead child not yet reaped) still answers kill(pid, 0).
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return not _zombie(pid)


def _split_cmdline(raw: bytes) -> list[str]:
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def cmdline(pid: int) -> list[str] | None:
    """The arguments of ``pid`` from ``/proc/<pid>/cmdline`` (``[]`` for a
    zombie or a kernel thread), or None when they cannot be read."""
    try:
        return _split_cmdline(Path(f"/proc/{pid}/cmdline").read_bytes())
    except OSError:
        return None


def cmdline_matches(pid: int, match: Callable[[list[str]], bool], *, unreadable: bool = True) -> bool:
    """Guard against pid reuse before signalling a recorded pid: whether its
    command line is non-empty and satisfies ``match``.

    False when ``/proc/<pid>`` does not exist; ``unreadable`` when the command
    line cannot be read otherwise (no /proc, no permission): True trusts the
    record, False distrusts it.
    """
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return unreadable
    args = _split_cmdline(raw)
    return bool(args) and match(args)


# ------------------------------------------------------------------ stopping


def leads_group(pid: int) -> bool:
    """Whether ``pid`` leads a process group other than ours."""
    try:
        return os.getpgid(pid) == pid and pid != os.getpgrp()
    except ProcessLookupError:
        return False


def _signal_group(pid: int, sig: int) -> None:
    """Signal the process group led by ``pid``, or just ``pid`` if it leads
    none (or leads ours). A process that is gone is ignored."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        if pgid == pid and pgid != os.getpgrp():
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)


def _signal_pid(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def wait_exit(pids: Iterable[int], timeout: float, poll: float = 0.05) -> list[int]:
    """Wait up to ``timeout`` seconds for ``pids`` to exit (see
    :func:`pid_alive`); return those still alive."""
    left = [p for p in pids if pid_alive(p)]
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        time.sleep(poll)
        left = [p for p in left if pid_alive(p)]
    return left


def terminate(
    pids: Iterable[int], timeout: float, *, group: bool = True, kill_wait: float = 5.0, sig: int = signal.SIGTERM
) -> list[int]:
    """``sig`` (SIGTERM) to ``pids``, wait up to ``timeout`` seconds, then SIGKILL those
    left and wait up to ``kill_wait`` seconds more; return the pids still
    alive (normally none). Registered children are reaped.

    With ``group`` the process group that each pid leads is signalled (servers
    are started with ``start_new_session=True``; a pid that leads none, or
    leads ours, is signalled alone), and at the end whatever is left in the
    groups the pids led (e.g. workers that outlived their leader) gets SIGKILL
    too. Without ``group`` only the pids themselves are signalled.
    """
    pids = list(pids)
    leaders = [p for p in pids if leads_group(p)] if group else []
    send = _signal_group if group else _signal_pid
    left = pids
    for s, wait in ((sig, timeout), (signal.SIGKILL, kill_wait)):
        for p in left:
            send(p, s)
        left = wait_exit(left, wait)
        if not left:
            break
    for p in leaders:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p, signal.SIGKILL)
    for p in pids:
        _reap(p)
    for p in list(_CHILDREN):  # forget other children that have exited meanwhile
        pid_alive(p)
    return left


def terminate_if_ours(pid: int, is_ours: Callable[[int], bool], timeout: float) -> bool:
    """Stop a recorded server: :func:`terminate` ``pid`` and its group if it
    is alive and ``is_ours(pid)`` (see :func:`cmdline_matches`); else only
    forget it. Returns whether a process was stopped."""
    if not (pid_alive(pid) and is_ours(pid)):
        untrack(pid)
        return False
    terminate([pid], timeout)
    return True


# ------------------------------------------------------------------ ports


def client_host(host: str) -> str:
    """The address a local client uses to reach a server bound to ``host``
    (the loopback address for a wildcard; IPv6 in brackets, for URLs)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now. The test bind uses SO_REUSEADDR
    (as servers do: a port in TIME_WAIT after a restart counts as free) but not
    SO_REUSEPORT, so it fails while anything listens there, even a gRPC server
    that would let a second SO_REUSEPORT server share the port.

    Raises :class:`socket.gaierror` when ``host`` does not resolve.
    """
    family, socktype, proto, _, sockaddr = socket.getaddrinfo(
        host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM
    )[0]
    with socket.socket(family, socktype, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(sockaddr)
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (the kernel's pick for a bind to
    port 0; 127.0.0.1 when ``host`` does not resolve). Another process may
    take it before it is used."""
    try:
        family, socktype, proto, _, sockaddr = socket.getaddrinfo(
            host or None, 0, socket.AF_UNSPEC, socket.SOCK_STREAM
        )[0]
    except socket.gaierror:
        family, socktype, proto, sockaddr = socket.AF_INET, socket.SOCK_STREAM, 0, ("127.0.0.1", 0)
    with socket.socket(family, socktype, proto) as s:
        s.bind(sockaddr)
        return s.getsockname()[1]


# ------------------------------------------------------------------ files


def read_json(path: Path) -> dict | None:
    """The JSON object in ``path``; None when the file is missing or
    unreadable, is not JSON, or holds something other than an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json_atomic(path: Path, data: dict, *, mode: int | None = None) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically: readers see the
    old file or the whole new one, never a partial write (a temporary file in
    the same directory, fsync-ed, then renamed over ``path``). ``mode``, if
    given, is applied before the rename (e.g. 0o600 for secrets)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)


@contextlib.contextmanager
def file_lock(
    path: Path,
    timeout: float,
    on_timeout: Callable[[], BaseException],
    poll: float = 0.2,
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created, with its directory,
    if missing) for the ``with`` block; raise ``on_timeout()`` if it cannot be
    had within ``timeout`` seconds. The lock goes with the file descriptor, so
    it is released when the block ends or the process dies."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
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
                    raise on_timeout() from None
                time.sleep(poll)
        yield
    finally:
        os.close(fd)  # also releases the lock


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of the log file ``path`` (from its last
    64 KiB); "" when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
