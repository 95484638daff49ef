"""pdfrag.stack.local's process handling without the stack: stop_process,
the spawn of a detached process and the state file. Fast."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from pdfrag.config import load_settings
from pdfrag.stack import local, proc

PY = sys.executable
_READY = "import signal, sys, time\n{setup}\nprint('ready', flush=True)\ntime.sleep(60)\n"


def _spawn(tmp_path: Path, name: str, setup: str) -> int:
    pid = local._spawn(name, [PY, "-c", _READY.format(setup=setup)], {}, tmp_path / "log")
    log = tmp_path / "log" / f"{name}.log"
    deadline = time.monotonic() + 15
    while "ready" not in log.read_text():
        assert time.monotonic() < deadline, "did not start"
        time.sleep(0.02)
    return pid


def test_stop_process_sigint_then_sigkill(tmp_path: Path) -> None:
    polite = _spawn(tmp_path, "polite", "signal.signal(signal.SIGINT, lambda *_: sys.exit(0))")
    t0 = time.monotonic()
    local.stop_process(polite, timeout=10.0)
    assert time.monotonic() - t0 < 5
    assert not proc.pid_alive(polite)

    stubborn = _spawn(tmp_path, "stubborn", "signal.signal(signal.SIGINT, signal.SIG_IGN)")
    t0 = time.monotonic()
    local.stop_process(stubborn, timeout=0.5)
    assert 0.5 <= time.monotonic() - t0 < 6
    assert not proc.pid_alive(stubborn)


def test_stop_processes_waits_for_all_together(tmp_path: Path) -> None:
    """Two processes that ignore SIGINT cost one grace period, not two."""
    stubborn = [_spawn(tmp_path, f"stubborn{i}", "signal.signal(signal.SIGINT, signal.SIG_IGN)") for i in range(2)]
    polite = _spawn(tmp_path, "polite", "signal.signal(signal.SIGINT, lambda *_: sys.exit(0))")
    t0 = time.monotonic()
    local.stop_processes([*stubborn, polite], timeout=1.5)
    assert 1.5 <= time.monotonic() - t0 < 2 * 1.5
    assert not any(proc.pid_alive(p) for p in [*stubborn, polite])


def test_stop_process_leaves_a_pid_that_leads_no_group_alone() -> None:
    """A recorded pid reused by a process outside its own group: untouched."""
    other = subprocess.Popen([PY, "-c", "import time; time.sleep(60)"])  # in our group
    try:
        local.stop_process(other.pid, sig=signal.SIGTERM, timeout=0.2)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_state_round_trip(home: Path) -> None:
    settings = load_settings()
    assert settings.home == home
    assert local.read_state(settings) is None
    state = local.StackState(prefect_url="http://127.0.0.1:1/api", started=["rgw"], pids={"service": 12})
    local._write_state(settings, state)
    assert local.read_state(settings) == state
    assert [p.name for p in local.stack_dir(settings).iterdir()] == ["stack.json"]


def test_down_stops_the_workers_and_the_service_together(home: Path, tmp_path: Path) -> None:
    """``down`` with workers that sit out SIGINT: one grace period for all,
    then SIGKILL; each is reported stopped and the state file is gone."""
    settings = load_settings()
    names = ["service", "worker-gpu-pool", "worker-cpu-pool"]
    pids = {n: _spawn(tmp_path, n, "signal.signal(signal.SIGINT, signal.SIG_IGN)") for n in names}
    local._write_state(settings, local.StackState(prefect_url="http://127.0.0.1:1/api", started=list(names), pids=pids))
    logged: list[str] = []
    t0 = time.monotonic()
    stopped = local.down(settings, log=logged.append, grace=1.0)
    assert 1.0 <= time.monotonic() - t0 < 2 * 1.0 + 1.0  # one grace for the three, not three
    assert stopped == list(reversed(names)) and logged == [f"stopped {n}" for n in reversed(names)]
    assert not any(proc.pid_alive(p) for p in pids.values())
    assert local.read_state(settings) is None
