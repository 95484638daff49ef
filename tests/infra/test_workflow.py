"""The GitHub Actions workflow for forks: linted by actionlint (PyPI wheel
from the dev extra) and checked for what it must do."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def actionlint() -> str | None:
    local = Path(sys.executable).parent / "actionlint"
    return str(local) if local.is_file() else shutil.which("actionlint")


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def test_actionlint_passes() -> None:
    exe = actionlint()
    if exe is None:
        pytest.skip("actionlint not installed (pip install -e .[dev])")
    assert WORKFLOWS
    # -shellcheck= : the result must not depend on whether shellcheck is installed.
    proc = subprocess.run([exe, "-shellcheck=", "-no-color", *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # actionlint does report errors (so a pass means something).
    bad = ROOT / ".github" / "workflows" / "ci.yml"
    broken = bad.read_text().replace("runs-on: ubuntu-24.04", "runs-on: ubuntu-24.04\n    timeout-minutes: soon", 1)
    proc = subprocess.run([exe, "-shellcheck=", "-no-color", "-"], input=broken, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 1 and "timeout-minutes" in proc.stdout


def test_runs_the_tests_with_the_project_scripts(ci: dict[str, Any]) -> None:
    assert {"push", "pull_request"} <= set(ci["on"])
    steps = ci["jobs"]["test"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "scripts/install.sh" in runs and "scripts/install-tools.sh" in runs
    assert ".venv/bin/python -m pytest" in runs
    assert any(s.get("uses", "").startswith("actions/setup-node@") for s in steps), "install-tools.sh needs npm"


def test_builds_both_images_and_pushes_only_outside_pull_requests(ci: dict[str, Any]) -> None:
    job = ci["jobs"]["images"]
    assert job["needs"] == "test"
    assert job["permissions"]["packages"] == "write" and ci["permissions"] == {"contents": "read"}
    targets = {m["target"]: m["image"] for m in job["strategy"]["matrix"]["include"]}
    assert targets == {"cpu": "pdfrag", "gpu": "pdfrag-gpu"}
    build = next(s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["target"] == "${{ matrix.target }}" and build["with"]["file"] == "Dockerfile"
    assert build["with"]["push"] == "${{ github.event_name != 'pull_request' }}"
    login = next(s for s in job["steps"] if s.get("uses", "").startswith("docker/login-action@"))
    assert login["if"] == "github.event_name != 'pull_request'"
    meta = next(s for s in job["steps"] if s.get("uses", "").startswith("docker/metadata-action@"))
    assert "latest=false" in meta["with"]["flavor"]
    assert "type=sha" in meta["with"]["tags"] and "type=semver" in meta["with"]["tags"]


def test_actions_are_pinned_to_versions(ci: dict[str, Any]) -> None:
    uses = [s["uses"] for job in ci["jobs"].values() for s in job["steps"] if "uses" in s]
    assert len(uses) >= 8
    for u in uses:
        name, _, ref = u.partition("@")
        assert ref and ref not in {"main", "master", "latest"}, u
