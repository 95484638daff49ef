"""infra/compose/docker-compose.yml: checked against the Compose
specification's JSON schema (fetched by scripts/install-tools.sh), before and
after interpolation with .env.example, and what matters asserted on the parsed
file. No Docker engine is needed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from .conftest import COMPOSE, ENV_EXAMPLE, ROOT, TOOLS, pinned, settings_path_exists

SCHEMA = TOOLS / "compose-spec" / "compose-spec.json"
# Services that run once and exit; every other one is long-running.
ONE_SHOT = {"minio-init", "bootstrap"}
STATEFUL = {"postgres": "/var/lib/postgresql/data", "etcd": "/etcd", "minio": "/data", "milvus": "/var/lib/milvus", "prometheus": "/prometheus", "grafana": "/var/lib/grafana"}

_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation: ${VAR}, ${VAR:-default},
    ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR, and $$ for a dollar."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m["name"] or m["bare"]
        op, arg = m["op"], m["arg"]
        present = name in env
        val = env.get(name, "")
        if op in (":-", "-"):
            return val if (present and (val or op == "-")) else arg
        if op in (":?", "?"):
            if not present or (op == ":?" and not val):
                raise KeyError(f"{name}: {arg}")
            return val
        return val

    return _VAR.sub(sub, value)


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            env[k.strip()] = v.strip()
    return env


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return read_env(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    return interpolate(raw, env)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    if not SCHEMA.is_file():
        pytest.skip("compose-spec schema not installed: scripts/install-tools.sh fetches it (npm needed)")
    return json.loads(SCHEMA.read_text())


def test_interpolation_follows_compose_rules() -> None:
    env = {"A": "1", "E": ""}
    assert interpolate("${A}-${B:-x}-${E:-y}-${E-z}-$$HOME-$A", env) == "1-x-y--$HOME-1"
    with pytest.raises(KeyError, match="B: set B"):
        interpolate("${B:?set B}", env)
    with pytest.raises(KeyError):
        interpolate("${E:?empty}", env)


def test_compose_file_matches_the_compose_spec_schema(raw: dict[str, Any], compose: dict[str, Any], schema: dict[str, Any]) -> None:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    for doc in (raw, compose):
        errors = sorted(cls(schema).iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    # The validator does reject what the spec forbids.
    bad = json.loads(json.dumps(compose))
    bad["services"]["query"]["helthcheck"] = {}
    assert list(cls(schema).iter_errors(bad))


def test_env_example_sets_every_required_variable(raw: dict[str, Any], env: dict[str, str]) -> None:
    required = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?", COMPOSE.read_text()))
    assert {"POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "PDFRAG_API_KEY", "GRAFANA_ADMIN_PASSWORD"} <= required
    assert required <= {k for k, v in env.items() if v}
    with pytest.raises(KeyError):
        interpolate(raw, {k: v for k, v in env.items() if k != "POSTGRES_PASSWORD"})
    # The API key is embedded in JSON and in a URL: the example obeys the rule it states.
    assert re.fullmatch(r"[A-Za-z0-9_-]+", env["PDFRAG_API_KEY"])


def test_no_secret_literals_in_the_compose_file(raw: dict[str, Any]) -> None:
    for name, svc in raw["services"].items():
        environment = svc.get("environment") or {}
        for key, value in environment.items():
            if re.search(r"PASSWORD|SECRET|ACCESS_KEY|API_KEY|TOKEN", key):
                # Only interpolations (and the JSON around a list of them).
                assert isinstance(value, str) and "${" in value, f"{name}.{key} must come from .env"
                assert re.fullmatch(r'[\[\]"]*', re.sub(r"\$\{[^}]*\}", "", value)), f"{name}.{key} holds a literal: {value}"
    # x-pdfrag-env is merged into the pdfrag services; its secrets come from .env too.
    shared = raw["x-pdfrag-env"]
    assert shared["AWS_SECRET_ACCESS_KEY"].startswith("${") and "${PDFRAG_API_KEY" in shared["PDFRAG_SERVICE__API_KEYS"]


def test_every_stateful_service_keeps_its_data_on_a_named_volume(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = set()
    for name, target in STATEFUL.items():
        mounts = [v.split(":") for v in compose["services"][name]["volumes"]]
        on_target = [m for m in mounts if m[1] == target]
        assert on_target, f"{name}: nothing mounted on {target}"
        assert on_target[0][0] in declared, f"{name}: {target} must be a named volume"
        used.add(on_target[0][0])
    assert len(used) == len(STATEFUL)  # one volume each
    for name, svc in compose["services"].items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            assert src in declared or src.startswith("../"), f"{name}: {v}"
            if src.startswith("../"):
                assert (COMPOSE.parent / src).resolve().exists(), f"{name}: {src} does not exist"
                assert v.endswith(":ro"), f"{name}: configuration mounts are read-only"


def test_health_checks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    healthy = {n for n, s in services.items() if "test" in (s.get("healthcheck") or {})}
    assert healthy == set(services) - ONE_SHOT
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            c = cond["condition"]
            if dep in ONE_SHOT:
                assert c == "service_completed_successfully", (name, dep)
            else:
                assert c == "service_healthy" and dep in healthy, (name, dep)
    order = {
        "prefect-server": "postgres",
        "milvus": "etcd",
        "query": "milvus",
        "minio-init": "query",
        "bootstrap": "minio-init",
        "worker-cpu": "bootstrap",
        "worker-gpu": "bootstrap",
        "worker-embed": "bootstrap",
    }
    for svc, dep in order.items():
        assert dep in services[svc]["depends_on"], (svc, dep)

    def reaches(a: str, b: str, seen: frozenset[str] = frozenset()) -> bool:
        deps = services[a].get("depends_on") or {}
        return b in deps or any(reaches(d, b, seen | {a}) for d in deps if d not in seen)

    for name in services:
        assert not reaches(name, name), f"dependency cycle through {name}"


def test_gpu_reservation_only_on_the_gpu_worker(compose: dict[str, Any]) -> None:
    with_devices = {n for n, s in compose["services"].items() if ((s.get("deploy") or {}).get("resources") or {}).get("reservations", {}).get("devices")}
    assert with_devices == {"worker-gpu"}
    gpu = compose["services"]["worker-gpu"]
    (dev,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert dev["driver"] == "nvidia" and "gpu" in dev["capabilities"] and dev["count"] == 1
    assert gpu["build"]["target"] == "gpu" and gpu["profiles"] == ["gpu"]
    for name, svc in compose["services"].items():
        if name != "worker-gpu" and "build" in svc:
            assert svc["build"]["target"] == "cpu", name


def test_every_pool_has_a_worker_in_each_profile(compose: dict[str, Any], env: dict[str, str]) -> None:
    prefect_yaml = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    pools = {d["work_pool"]["name"] for d in prefect_yaml["deployments"]}
    assert pools == {"cpu-pool", "gpu-pool"}
    assert set(env["COMPOSE_PROFILES"].split(",")) & {"gpu", "cpu"}
    for profile in ("gpu", "cpu"):
        active = [s for s in compose["services"].values() if not s.get("profiles") or profile in s["profiles"]]
        served = set()
        for s in active:
            cmd = s.get("command") or []
            if cmd[:3] == ["prefect", "worker", "start"]:
                served.add(cmd[cmd.index("--pool") + 1])
                assert "--with-healthcheck" in cmd
        assert served == pools, profile


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    images = {n: s["image"] for n, s in compose["services"].items()}
    assert set(images) == set(compose["services"]), "every service names its image"
    for name, image in images.items():
        assert pinned(image), f"{name}: {image}"
    assert images["worker-gpu"].endswith("pdfrag-gpu:0.1.0") and images["query"].endswith("pdfrag:0.1.0")


def test_pdfrag_settings_exist_and_point_at_the_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("query", "bootstrap", "worker-cpu", "worker-gpu", "worker-embed"):
        env = services[name]["environment"]
        pdfrag = [k for k in env if k.startswith("PDFRAG_")]
        assert len(pdfrag) >= 9, pdfrag
        assert [k for k in pdfrag if not settings_path_exists(k)] == [], name
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert env["PDFRAG_MILVUS__URI"] == "http://milvus:19530"
        assert env["PDFRAG_STORE__ENDPOINT_URL"] == "http://minio:9000"
        assert json.loads(env["PDFRAG_SERVICE__API_KEYS"]) == ["change-me-api-key"]
    assert "prefect-server" in services and "4200" in str(services["prefect-server"]["ports"])
    assert services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://prefect:change-me-postgres@postgres:5432/")
    # The server records task runs in batches, as the local one does.
    from pdfrag.stack.prefect_server import SERVER_TUNING

    assert {k: services["prefect-server"]["environment"].get(k) for k in SERVER_TUNING} == SERVER_TUNING
    # The result storage block the workers use is the one bootstrap creates.
    from pdfrag.deploy import RESULTS_BLOCK

    assert services["worker-cpu"]["environment"]["PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"] == f"remote-file-system/{RESULTS_BLOCK}"
    boot = services["bootstrap"]["command"]
    assert boot[:2] == ["python", "/app/bootstrap.py"] and boot[boot.index("--results") + 1].startswith("s3://pdfrag/")


def test_minio_notifies_the_upload_endpoint(compose: dict[str, Any]) -> None:
    from pdfrag.config import Settings
    from pdfrag.service.upload import make_router

    routes = {(r.path, m) for r in make_router(Settings()).routes for m in r.methods}
    minio = compose["services"]["minio"]["environment"]
    targets = {k.removeprefix("MINIO_NOTIFY_WEBHOOK_ENABLE_") for k, v in minio.items() if k.startswith("MINIO_NOTIFY_WEBHOOK_ENABLE_") and v == "on"}
    assert targets == {"PDFRAG"}
    endpoint = minio["MINIO_NOTIFY_WEBHOOK_ENDPOINT_PDFRAG"]
    m = re.fullmatch(r"http://(?P<host>[a-z-]+):(?P<port>\d+)(?P<path>/[^?]+)\?api_key=(?P<key>.+)", endpoint)
    assert m, endpoint
    assert m["host"] == "query" and m["port"] == "8000" and (m["path"], "POST") in routes
    assert m["key"] == "change-me-api-key"
    init = compose["services"]["minio-init"]["command"][0]
    assert "mc mb --ignore-existing local/pdfrag local/pdfrag-docs" in init
    assert "mc event add local/pdfrag-docs arn:minio:sqs::PDFRAG:webhook --event put --suffix .pdf" in init
    # The bucket notified is the upload bucket the service and refresh use.
    assert compose["services"]["query"]["environment"]["PDFRAG_ORCHESTRATION__UPLOAD_BUCKET"] == "pdfrag-docs"
    assert compose["services"]["bootstrap"]["command"][-1] == "s3://pdfrag-docs/"
