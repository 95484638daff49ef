"""Fixtures for tests/pdfrag: a real moto S3 server, and a guard that
``import pdfrag`` finds the real package, not this folder.

The guard: tests/pdfrag mirrors the package layout. pyproject runs pytest with
``--import-mode=importlib``, where nothing here is needed. Under the default
"prepend" mode, though, tests/ (which holds tests/conftest.py and no
__init__.py) goes on sys.path, and the editable install resolves pdfrag
through a meta-path finder that runs after the path finder: ``import pdfrag``
would find tests/pdfrag as a namespace package, ``pdfrag/__init__.py`` would
never run and ``from pdfrag import PIPELINE_VERSION`` (pdfrag.identity) fails.
So import the real package once, with folders that merely hold a ``pdfrag``
directory kept off sys.path; a no-op when it is already imported.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def _shadows(entry: str) -> bool:
    d = Path(entry or ".") / "pdfrag"
    return d.is_dir() and not (d / "__init__.py").is_file()


def _import_real_pdfrag() -> None:
    mod = sys.modules.get("pdfrag")
    if mod is not None and getattr(mod, "__file__", None):
        return
    for name in [n for n in sys.modules if n == "pdfrag" or n.startswith("pdfrag.")]:
        del sys.modules[name]
    saved = sys.path[:]
    try:
        sys.path[:] = [p for p in sys.path if not _shadows(p)]
        importlib.invalidate_caches()
        importlib.import_module("pdfrag")
    finally:
        sys.path[:] = saved
    assert sys.modules["pdfrag"].__file__, "the real pdfrag package could not be imported"


_import_real_pdfrag()


# S3: one real moto server process for the S3 tests of this folder ---------------
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory):
    """``moto_server`` from the venv on a free port; yields its URL."""
    import sys

    exe = Path(sys.executable).parent / "moto_server"
    if not exe.is_file():
        pytest.fail(f"moto_server not found beside {sys.executable}; install moto[server]")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto_server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/", timeout=1) as r:
                    r.read()
                break
            except urllib.error.HTTPError:
                break  # it answers, even if with an error status
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not answer on {url}: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture()
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, and no profile or config file from the machine."""
    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture()
def s3_bucket(moto_endpoint: str, aws_env: None):
    """A fresh bucket on the moto server; yields (endpoint, bucket name, boto3 client)."""
    import boto3

    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return moto_endpoint, name, client
