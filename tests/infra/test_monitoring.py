"""Monitoring: the Prometheus scrape configuration, the Grafana provisioning
and dashboard. Every metric the dashboard queries is one the query service
really exports (read from its registry), and the ingest panels' SQL names the
task and flows pdfrag really has."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from .conftest import COMPOSE, ROOT

MON = ROOT / "infra" / "monitoring"
DASHBOARD = MON / "grafana" / "dashboards" / "pdfrag.json"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def exported_names() -> set[str]:
    """Sample names the service's /metrics serves (with _total, _bucket...)."""
    from pdfrag.service.metrics import Metrics

    m = Metrics()
    m.requests.labels("POST", "/search", "200").inc()
    m.errors.labels("/search", "500").inc()
    m.latency.labels("POST", "/search").observe(0.1)
    m.search_milvus.labels("dense").observe(0.01)
    m.search_embed.observe(0.01)
    m.search_results.observe(5)
    text = m.render().decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_scrape_config_targets_the_query_service() -> None:
    prom = yaml.safe_load((MON / "prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "pdfrag-query")
    assert job["metrics_path"] == "/metrics"
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    compose = yaml.safe_load(COMPOSE.read_text())
    assert host in compose["services"]
    assert any(p.endswith(f":{port}") for p in compose["services"][host]["ports"])
    # API keys: the header comes from a file the Compose service writes from .env.
    (path,) = job["http_headers"]["X-API-Key"]["files"]
    assert path in " ".join(compose["services"]["prometheus"]["command"])
    mount = [v for v in compose["services"]["prometheus"]["volumes"] if v.endswith("/etc/prometheus/prometheus.yml:ro")]
    assert mount and (COMPOSE.parent / mount[0].split(":")[0]).resolve() == (MON / "prometheus.yml").resolve()


def test_dashboard_queries_only_exported_metrics(dashboard: dict[str, Any]) -> None:
    names = exported_names()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", []) if "expr" in t]
    used = {n for e in exprs for n in re.findall(r"\b(pdfrag_[a-z_]+)\b", e)}
    assert used, "the dashboard queries pdfrag metrics"
    assert used <= names, f"not exported: {sorted(used - names)}"
    # Search latency and ingest throughput are there.
    titles = " | ".join(p["title"] for p in dashboard["panels"])
    assert "Search latency" in titles and "Ingest throughput" in titles
    latency = next(p for p in dashboard["panels"] if p["title"].startswith("Search latency"))
    assert all("histogram_quantile" in t["expr"] and 'route="/search"' in t["expr"] for t in latency["targets"])
    # Route labels are the service's route templates.
    from pdfrag.config import Settings
    from pdfrag.service.upload import make_router

    paths = {r.path for r in make_router(Settings()).routes} | {"/search"}
    for e in exprs:
        for route in re.findall(r'route="([^"]+)"', e):
            assert route in paths, route


def test_ingest_panels_read_prefects_database(dashboard: dict[str, Any]) -> None:
    from pdfrag.tasks.index import _name

    sqls = [t["rawSql"] for p in dashboard["panels"] for t in p.get("targets", []) if "rawSql" in t]
    assert len(sqls) == 2
    # The `index` task's run name is "index-<file>": what the LIKE matches.
    class F:
        name = "paper.pdf"

    assert _name({"f": F()}) == "index-paper.pdf"
    assert "name LIKE 'index-%'" in sqls[0] and "state_type = 'COMPLETED'" in sqls[0] and "FROM task_run" in sqls[0]
    flows = set(re.findall(r"'([a-z-]+)'", re.search(r"IN \(([^)]*)\)", sqls[1])[1]))
    declared = set()
    for f in (ROOT / "flows").glob("*.py"):
        declared |= set(re.findall(r'@flow\(name="([a-z-]+)"', f.read_text()))
    assert flows and flows <= declared, (flows, declared)


def test_provisioning_matches_the_dashboard_and_compose(dashboard: dict[str, Any]) -> None:
    ds = yaml.safe_load((MON / "grafana" / "provisioning" / "datasources" / "pdfrag.yml").read_text())["datasources"]
    uids = {d["uid"]: d for d in ds}
    used = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p.get("targets", [])}
    assert used == set(uids)
    assert uids["pdfrag-prometheus"]["url"] == "http://prometheus:9090"
    pg = uids["pdfrag-prefect-db"]
    assert pg["url"] == "postgres:5432" and pg["secureJsonData"]["password"].startswith("$")
    compose = yaml.safe_load(COMPOSE.read_text())
    grafana = compose["services"]["grafana"]
    assert pg["secureJsonData"]["password"].lstrip("$") in grafana["environment"]
    provider = yaml.safe_load((MON / "grafana" / "provisioning" / "dashboards" / "pdfrag.yml").read_text())["providers"][0]
    mounts = dict(v.rsplit(":", 1)[0].split(":") for v in grafana["volumes"] if v.startswith("../"))
    assert mounts["../monitoring/grafana/dashboards"] == provider["options"]["path"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] == "pdfrag-overview"
