"""The Dockerfile (parsed: no Docker engine here) and the helpers it puts
into the images: probe.py is exercised against a real local HTTP server,
bootstrap.py's argument checks run for real."""

from __future__ import annotations

import http.server
import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, pinned

DOCKERFILE = ROOT / "Dockerfile"
PROBE = ROOT / "infra" / "docker" / "probe.py"
BOOTSTRAP = ROOT / "infra" / "docker" / "bootstrap.py"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    out, buf = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            word, _, rest = buf.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def stages() -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = {}
    current = None
    for ins, args in instructions():
        if ins == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert m, args
            current = m[2] or m[1]
            result[current] = [(ins, m[1])]
        elif current:
            result[current].append((ins, args))
    return result


def global_args() -> dict[str, str]:
    out = {}
    for ins, args in instructions():
        if ins == "FROM":
            break
        if ins == "ARG" and "=" in args:
            k, _, v = args.partition("=")
            out[k] = v
    return out


def test_two_targets_from_pinned_bases() -> None:
    st = stages()
    assert {"cpu", "gpu"} <= set(st)
    args = global_args()
    for name, body in st.items():
        base = body[0][1]
        base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), base)
        if base in st:  # an earlier stage
            continue
        assert pinned(base), f"stage {name}: base {base}"
    assert args["PYTHON_IMAGE"].startswith("python:3.11") and "slim" in args["PYTHON_IMAGE"]
    assert args["CUDA_IMAGE"].startswith("nvidia/cuda:") and "runtime" in args["CUDA_IMAGE"]
    assert args["TORCH_VERSION"] == "2.13.0"


def test_torch_builds_cpu_and_cuda() -> None:
    text = DOCKERFILE.read_text()
    st = stages()
    cpu_build = " ".join(a for _, a in st["cpu-build"])
    gpu = " ".join(a for _, a in st["gpu"])
    assert re.search(r"ARG TORCH_CPU_INDEX=https://download\.pytorch\.org/whl/cpu\b", text)
    assert re.search(r"ARG TORCH_CUDA_INDEX=https://download\.pytorch\.org/whl/cu\d+", text)
    assert 'pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_CPU_INDEX}"' in cpu_build
    assert 'pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_CUDA_INDEX}"' in gpu
    # torch before the project, and the project non-editable.
    for body in (cpu_build, gpu):
        assert body.index("torch==") < body.index("-r /tmp/requirements.txt") < body.index("pip install --no-deps /tmp/pdfrag")
        assert "pip install -e" not in body


def test_final_images_are_non_root_with_health_checks() -> None:
    st = stages()
    for target in ("cpu", "gpu"):
        body = st[target]
        users = [a for i, a in body if i == "USER"]
        assert users and users[-1].split(":")[0] not in {"root", "0"}, target
        health = [a for i, a in body if i == "HEALTHCHECK"]
        assert len(health) == 1 and '"/app/probe.py"' in health[0], target
        assert re.search(r"--interval=\d+s", health[0]) and re.search(r"--retries=\d+", health[0])
        copies = [a for i, a in body if i == "COPY" and "--from" not in a]
        sources = [src for c in copies for src in [p for p in shlex.split(c) if not p.startswith("--")][:-1]]
        assert "prefect.yaml" in sources and "infra/docker/probe.py" in sources, target
        for src in sources:
            assert (ROOT / src).exists(), f"{target}: COPY {src}"
        cmd = [a for i, a in body if i == "CMD"][-1]
        assert json.loads(cmd)[0] in {"pdfrag", "prefect"}


def test_no_secrets_baked_in() -> None:
    for ins, args in instructions():
        if ins in {"ENV", "ARG"}:
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY)\w*=", args, re.IGNORECASE), args
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [l for l in ignore if l and not l.startswith("#")]
    assert rules[0] == "*", "everything excluded first, then what the images need"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "src", "flows", "tasks", "prefect.yaml", "infra/docker"}


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802
        _Handler.seen.append({"path": self.path, "key": self.headers.get("X-API-Key", "")})
        code = 200 if self.path in {"/health", "/ready"} else 503
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[int]:
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    _Handler.seen.clear()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def _probe(arg: str | None, env: dict[str, str]) -> int:
    cmd = [sys.executable, str(PROBE)] + ([arg] if arg else [])
    return subprocess.run(cmd, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, timeout=30).returncode


def test_probe_sends_the_api_key_and_reports_status(server: int) -> None:
    port = str(server)
    keys = json.dumps(["first-key", "second-key"])
    assert _probe("/ready", {"PDFRAG_SERVICE__PORT": port, "PDFRAG_SERVICE__API_KEYS": keys}) == 0
    assert _Handler.seen[-1] == {"path": "/ready", "key": "first-key"}
    assert _probe(None, {"PDFRAG_SERVICE__PORT": port}) == 0  # default /health, no key
    assert _Handler.seen[-1] == {"path": "/health", "key": ""}
    assert _probe("/down", {"PDFRAG_SERVICE__PORT": port}) == 1  # 503
    assert _probe(None, {"HEALTHCHECK_URL": f"http://127.0.0.1:{port}/health"}) == 0  # a worker's URL
    server_gone = _probe("http://127.0.0.1:9/health", {})
    assert server_gone == 1


def test_bootstrap_refuses_bad_arguments_before_touching_anything(tmp_path: Path) -> None:
    run = lambda *a, env=None: subprocess.run([sys.executable, str(BOOTSTRAP), *a], capture_output=True, text=True, timeout=60, env=env)  # noqa: E731
    r = run("--pool-template", "cpu-pool", env={"PATH": "/usr/bin:/bin", "PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert r.returncode != 0 and "POOL=FILE" in r.stderr
    r = run(env={"PATH": "/usr/bin:/bin"})
    assert r.returncode != 0 and "PREFECT_API_URL is not set" in r.stderr
    template = tmp_path / "t.json"
    template.write_text("{}")
    r = run("--pool-template", f"gpu-pool={template}", "--wait", "1", env={"PATH": "/usr/bin:/bin", "PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert r.returncode != 0 and "did not answer within 1 s" in r.stderr
