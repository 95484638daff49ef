"""Tests for pdfrag.stack.prefect_server: one real Prefect server start (~10-20 s)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from pdfrag.stack import prefect_server as ps
from pdfrag.stack.prefect_server import ServerInfo, ensure_server, prefect_env, server_status, stop_server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_prefect_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = prefect_env(tmp_path / "prefect")
    assert env["PREFECT_HOME"] == str((tmp_path / "prefect").resolve())
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["DO_NOT_TRACK"] == "1"
    assert env["PREFECT_UI_ENABLED"] == "true"
    assert "PREFECT_API_URL" not in env

    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:4200/api")
    monkeypatch.setenv("PREFECT_HOME", "/somewhere/else")
    server_env = ps._server_env(tmp_path / "prefect")
    assert "PREFECT_API_URL" not in server_env
    assert server_env["PREFECT_HOME"] == env["PREFECT_HOME"]
    assert server_env["PATH"] == os.environ["PATH"]
    # the task run recorder writes in batches, unless the environment says otherwise
    assert server_env["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE"] == "100"
    assert server_env["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL"] == "1"
    monkeypatch.setenv("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE", "7")
    assert ps._server_env(tmp_path / "prefect")["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE"] == "7"


def test_stale_state_file_is_not_running(tmp_path: Path) -> None:
    home = tmp_path / "prefect"
    home.mkdir()
    state = home / "server.json"
    state.write_text(
        json.dumps(
            {
                "pid": _dead_pid(),
                "port": 1,
                "host": "127.0.0.1",
                "url": "http://127.0.0.1:1/api",
                "ui_url": "http://127.0.0.1:1",
                "started_at": "2020-01-01T00:00:00+00:00",
            }
        )
    )
    assert server_status(home) is None
    assert not state.exists()

    state.write_text(json.dumps({"pid": _dead_pid(), "port": 1, "url": "http://127.0.0.1:1/api"}))
    assert stop_server(home) is False
    assert not state.exists()

    state.write_text("not json")
    assert server_status(home) is None
    assert not state.exists()

    assert server_status(tmp_path / "never-created") is None
    assert stop_server(tmp_path / "never-created") is False


@pytest.mark.integration
def test_server_lifecycle(tmp_path: Path) -> None:
    home = tmp_path / "prefect"
    pids: set[int] = set()
    # Occupy the requested port so that ensure_server must fall back to another.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", _free_port()))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        # Two concurrent callers: the lock must make them share one server.
        results: list[ServerInfo | BaseException] = []

        def call() -> None:
            try:
                results.append(ensure_server(home, port=taken, timeout=50.0))
            except BaseException as exc:  # noqa: BLE001 - reported below
                results.append(exc)

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(70.0)
        for r in results:
            if isinstance(r, ServerInfo):
                pids.add(r.pid)
        assert len(results) == 2 and all(isinstance(r, ServerInfo) for r in results), results
        first, second = sorted(results, key=lambda r: not r.started)  # type: ignore[union-attr]
        assert first.started is True and second.started is False
        assert first.pid == second.pid and first.port == second.port
        assert first.port != taken
        assert first.url == f"http://127.0.0.1:{first.port}/api"
        assert first.ui_url == f"http://127.0.0.1:{first.port}"

        with urllib.request.urlopen(f"{first.url}/health", timeout=5) as resp:
            assert resp.status == 200
        # The UI is told the API's real address, not the default port 4200.
        with urllib.request.urlopen(f"{first.ui_url}/ui-settings", timeout=5) as resp:
            assert json.loads(resp.read())["api_url"] == first.url
        # The running server records task runs in batches (SERVER_TUNING).
        with urllib.request.urlopen(f"{first.url}/admin/settings", timeout=5) as resp:
            recorder = json.loads(resp.read())["server"]["services"]["task_run_recorder"]
        assert recorder["batch_size"] == 100 and recorder["flush_interval"] == 1

        state = json.loads((home / "server.json").read_text())
        assert {"pid", "port", "host", "url", "ui_url", "started_at"} <= state.keys()
        assert state["pid"] == first.pid and state["port"] == first.port
        assert (home / "prefect.db").exists()  # PREFECT_HOME was honoured
        assert (home / "server.log").exists()

        again = ensure_server(home, port=taken)
        assert again.started is False and again.pid == first.pid

        status = server_status(home)
        assert status is not None and status.pid == first.pid and status.url == first.url

        assert stop_server(home, timeout=20.0) is True
        assert _gone(first.pid)
        with pytest.raises(ProcessLookupError):
            os.killpg(first.pid, 0)  # no leftover process in the server's group
        assert server_status(home) is None
        assert not (home / "server.json").exists()
        assert stop_server(home) is False
    finally:
        blocker.close()
        stop_server(home, timeout=10.0)
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
