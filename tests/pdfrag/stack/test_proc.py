"""Unit tests of pdfrag.stack.proc, the process helpers shared by the local
server managers. Fast: small child processes only, no servers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pdfrag.stack import proc

PY = sys.executable


def _proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _wait_for_state(pid: int, states: tuple[str, ...], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _proc_state(pid) not in states:
        assert time.monotonic() < deadline, f"pid {pid} never reached {states}: {_proc_state(pid)}"
        time.sleep(0.01)


def _live_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (an orphan's zombie
    stays while PID 1 does not reap it, as in some containers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


# ------------------------------------------------------------------ files


def test_write_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    data = {"pid": 123, "port": 4200, "url": "http://127.0.0.1:4200/api", "nested": {"ü": [1, 2]}}
    proc.write_json_atomic(path, data)
    assert proc.read_json(path) == data
    assert path.read_text().endswith("}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left

    proc.write_json_atomic(path, {"pid": 1}, mode=0o600)  # replaces the old file
    assert proc.read_json(path) == {"pid": 1}
    assert path.stat().st_mode & 0o777 == 0o600


def test_read_json_missing_or_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert proc.read_json(path) is None  # missing
    for text in ("", "not json", '{"pid": 1', "[1, 2]", '"a string"', "42", "null"):
        path.write_text(text)
        assert proc.read_json(path) is None, text
    path.write_bytes(b"\xff\xfe{}")  # not UTF-8
    assert proc.read_json(path) is None
    assert proc.read_json(tmp_path) is None  # a directory


# ------------------------------------------------------------------ lock


class _Busy(Exception):
    pass


def test_lock_excludes_another_process(tmp_path: Path) -> None:
    lock = tmp_path / "sub" / "server.lock"
    with proc.file_lock(lock, timeout=1.0, on_timeout=_Busy):
        assert lock.exists()  # created, with its directory
        # Another process cannot have it while we hold it.
        probe = textwrap.dedent(
            """
            import fcntl, os, sys
            fd = os.open(sys.argv[1], os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print("busy")
            else:
                print("got it")
            """
        )
        out = subprocess.run([PY, "-c", probe, str(lock)], capture_output=True, text=True, timeout=30, check=True)
        assert out.stdout.strip() == "busy"

    holder = subprocess.Popen(
        [PY, "-c", "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDWR)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "time.sleep(60)\n", str(lock)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(_Busy):
            with proc.file_lock(lock, timeout=0.3, on_timeout=_Busy, poll=0.05):
                pytest.fail("lock held by another process was acquired")
        assert 0.3 <= time.monotonic() - t0 < 5
    finally:
        holder.kill()
        holder.wait()
    # Released when its holder died.
    with proc.file_lock(lock, timeout=5.0, on_timeout=_Busy, poll=0.05):
        pass


def test_lock_excludes_another_thread_until_released(tmp_path: Path) -> None:
    lock = tmp_path / "server.lock"
    events: list[str] = []
    held, release = threading.Event(), threading.Event()

    def first() -> None:
        with proc.file_lock(lock, timeout=5.0, on_timeout=_Busy):
            events.append("first in")
            held.set()
            release.wait(10)
            events.append("first out")

    t = threading.Thread(target=first)
    t.start()
    try:
        assert held.wait(10)
        with pytest.raises(_Busy):
            with proc.file_lock(lock, timeout=0.2, on_timeout=_Busy, poll=0.05):
                pass
        release.set()
        with proc.file_lock(lock, timeout=10.0, on_timeout=_Busy, poll=0.05):
            events.append("second in")
    finally:
        release.set()
        t.join(10)
    assert events == ["first in", "first out", "second in"]


def test_lock_error_inside_block_is_not_a_timeout(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        with proc.file_lock(tmp_path / "l", timeout=1.0, on_timeout=_Busy):
            raise KeyError("x")
    with proc.file_lock(tmp_path / "l", timeout=0.1, on_timeout=_Busy):
        pass  # released by the exception


# ------------------------------------------------------------------ ports


def test_free_port_is_bindable() -> None:
    for host in ("127.0.0.1", ""):
        port = proc.free_port(host)
        assert 0 < port < 65536
        assert proc.port_free("127.0.0.1", port)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", port))  # no SO_REUSEADDR: really free
            s.listen()
            assert not proc.port_free("127.0.0.1", port)


def test_port_free_sees_a_reuseport_listener() -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert not proc.port_free("127.0.0.1", s.getsockname()[1])


def test_client_host() -> None:
    assert proc.client_host("0.0.0.0") == "127.0.0.1"
    assert proc.client_host("") == "127.0.0.1"
    assert proc.client_host("::") == "[::1]"
    assert proc.client_host("[::]") == "[::1]"
    assert proc.client_host("::1") == "[::1]"
    assert proc.client_host("[::1]") == "[::1]"
    assert proc.client_host("127.0.0.1") == "127.0.0.1"
    assert proc.client_host("localhost") == "localhost"


# ------------------------------------------------------------------ liveness


def test_pid_alive_self_and_invalid() -> None:
    assert proc.pid_alive(os.getpid())
    assert not proc.pid_alive(0)
    assert not proc.pid_alive(-1)


def test_pid_alive_reaped_child() -> None:
    child = subprocess.Popen([PY, "-c", "pass"])
    child.wait()
    assert not proc.pid_alive(child.pid)


def test_pid_alive_tracked_child() -> None:
    child = proc.track(subprocess.Popen([PY, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE))
    try:
        assert proc.pid_alive(child.pid)
    finally:
        assert child.stdin is not None
        child.stdin.close()
    child_exit_deadline = time.monotonic() + 10
    while proc.pid_alive(child.pid):
        assert time.monotonic() < child_exit_deadline
        time.sleep(0.01)
    assert child.returncode == 0  # polled through its Popen
    assert proc.untrack(child.pid) is None  # forgotten once dead


def test_pid_alive_zombie_child_is_dead_and_reaped() -> None:
    child = subprocess.Popen([PY, "-c", "pass"])
    _wait_for_state(child.pid, ("Z",))  # exited, not reaped: still answers kill(pid, 0)
    os.kill(child.pid, 0)
    assert not proc.pid_alive(child.pid)
    assert _proc_state(child.pid) is None  # reaped by pid_alive
    child.poll()


def test_pid_alive_zombie_of_another_parent() -> None:
    """A zombie we cannot reap (its parent is another process): /proc says Z."""
    parent = subprocess.Popen(
        [PY, "-c", "import os, time\npid = os.fork()\nif pid == 0:\n    os._exit(0)\n"
         "print(pid, flush=True)\ntime.sleep(60)\n"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        zombie = int(parent.stdout.readline())
        _wait_for_state(zombie, ("Z",))
        assert not proc.pid_alive(zombie)
        assert _proc_state(zombie) == "Z"  # not ours to reap
        assert proc.pid_alive(parent.pid)
    finally:
        parent.kill()
        parent.wait()


def test_cmdline() -> None:
    args = proc.cmdline(os.getpid())
    assert args and any("python" in a or "pytest" in a for a in args)
    assert proc.cmdline_matches(os.getpid(), lambda a: a == args)
    assert not proc.cmdline_matches(os.getpid(), lambda a: "no-such-arg" in a)
    dead = subprocess.Popen([PY, "-c", "pass"])
    dead.wait()
    assert proc.cmdline(dead.pid) is None
    assert not proc.cmdline_matches(dead.pid, lambda a: True)
    assert not proc.cmdline_matches(dead.pid, lambda a: True, unreadable=True)


# ------------------------------------------------------------------ stopping

_GROUP = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the child below
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    if sys.argv[1] == "leader-takes-term":
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    print(child.pid, flush=True)
    time.sleep(60)
    """
)


@contextlib.contextmanager
def _server_group(tmp_path: Path, mode: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """A detached leader and one member of its process group, both ignoring
    SIGTERM (or all but the leader); both SIGKILLed at the end."""
    log = tmp_path / "group.log"
    leader = proc.spawn_detached([PY, "-c", _GROUP, mode], log, banner=False)
    member = None
    try:
        deadline = time.monotonic() + 15
        while not log.read_text().strip():  # the member's pid, once the handlers are set
            assert time.monotonic() < deadline, "the group did not start"
            time.sleep(0.02)
        member = int(log.read_text().split()[0])
        assert os.getpgid(leader.pid) == leader.pid and os.getpgid(member) == leader.pid
        yield leader, member
    finally:
        for pid in (leader.pid, member):
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(pid, signal.SIGKILL)
        proc.untrack(leader.pid)


def test_terminate_group_that_ignores_sigterm_falls_back_to_sigkill(tmp_path: Path) -> None:
    with _server_group(tmp_path, "all-ignore-term") as (leader, member):
        t0 = time.monotonic()
        assert proc.terminate([leader.pid], timeout=0.5) == []
        took = time.monotonic() - t0
        assert 0.5 <= took < 6, took
        assert leader.returncode == -signal.SIGKILL  # reaped through its Popen
        assert proc.untrack(leader.pid) is None
        assert not proc.pid_alive(member)
        assert _live_group_members(leader.pid) == []


def test_terminate_kills_group_members_that_outlive_the_leader(tmp_path: Path) -> None:
    with _server_group(tmp_path, "leader-takes-term") as (leader, member):
        t0 = time.monotonic()
        assert proc.terminate([leader.pid], timeout=10.0) == []
        assert time.monotonic() - t0 < 5  # the leader went on SIGTERM: no 10 s wait
        assert leader.returncode == -signal.SIGTERM
        deadline = time.monotonic() + 5
        while _live_group_members(leader.pid):
            assert time.monotonic() < deadline, "group member survived"
            time.sleep(0.02)
        assert not proc.pid_alive(member)


def test_terminate_if_ours(tmp_path: Path) -> None:
    with _server_group(tmp_path, "leader-takes-term") as (leader, _):
        assert not proc.terminate_if_ours(leader.pid, lambda pid: False, timeout=1.0)
        assert proc.pid_alive(leader.pid)  # not ours: untouched, only forgotten
        assert proc.untrack(leader.pid) is None
        proc.track(leader)
        assert proc.terminate_if_ours(leader.pid, lambda pid: pid == leader.pid, timeout=5.0)
        assert leader.returncode == -signal.SIGTERM
        assert not proc.terminate_if_ours(leader.pid, lambda pid: True, timeout=1.0)  # gone


def test_terminate_pids_without_group() -> None:
    """group=False signals only the pids: here they share our process group."""
    sleepers = [
        proc.track(subprocess.Popen([PY, "-c", "import time; time.sleep(60)"])),
        proc.track(
            subprocess.Popen([PY, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                              "print(1, flush=True); time.sleep(60)"], stdout=subprocess.PIPE)
        ),
    ]
    assert sleepers[1].stdout is not None and sleepers[1].stdout.readline()
    assert proc.terminate([p.pid for p in sleepers], timeout=0.3, group=False) == []
    assert [p.returncode for p in sleepers] == [-signal.SIGTERM, -signal.SIGKILL]
    assert proc.pid_alive(os.getpid())
    assert proc.terminate([sleepers[0].pid], timeout=0.3, group=False) == []  # gone: a no-op


def test_wait_exit() -> None:
    child = proc.track(subprocess.Popen([PY, "-c", "import time; time.sleep(0.2)"]))
    assert proc.wait_exit([child.pid], timeout=0.01) == [child.pid]
    assert proc.wait_exit([child.pid], timeout=10.0) == []


# ------------------------------------------------------------------ spawning and logs


def test_spawn_detached_and_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    code = "import os; print(os.getsid(0) == os.getpid()); print(os.getcwd())"
    child = proc.spawn_detached([PY, "-c", code], log, cwd=tmp_path)
    assert child.wait(timeout=30) == 0
    text = log.read_text()
    assert text.startswith("\n--- pdfrag: ") and " starting: " in text
    assert proc.log_tail(log, 2) == f"True\n{tmp_path}"  # its own session, in cwd
    assert not proc.pid_alive(child.pid)

    log.write_text("".join(f"line {i}\n" for i in range(10000)))
    assert proc.log_tail(log, 3) == "line 9997\nline 9998\nline 9999"
    assert proc.log_tail(tmp_path / "missing.log") == ""
