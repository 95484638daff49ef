"""The Helm chart infra/helm/pdfrag: rendered with helm (offline copy, see
conftest), every manifest validated against the Kubernetes schemas that
kubernetes-validate ships, and what matters asserted on the parsed objects."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import (
    CHART,
    CONFIGS,
    KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    SECRET_SENTINELS,
    by_kind,
    containers,
    named,
    pinned,
    pod_spec,
    render_chart,
    settings_path_exists,
)

# Custom resources have no schema in kubernetes-validate; they are checked by
# hand below (test_service_monitor).
CUSTOM_KINDS = {"ServiceMonitor"}


def chart_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


# --- without helm ----------------------------------------------------------------


def test_chart_dependencies_are_official_optional_and_off_by_default() -> None:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2" and meta["name"] == "pdfrag"
    deps = {d["name"]: d for d in meta["dependencies"]}
    assert set(deps) == {"milvus", "prefect-server"}
    assert deps["milvus"]["repository"] == "https://zilliztech.github.io/milvus-helm/"
    assert deps["prefect-server"]["repository"] == "https://prefecthq.github.io/prefect-helm"
    values = chart_values()
    for name, dep in deps.items():
        assert dep["condition"] == f"{name}.enabled"
        assert dep["version"], name
        assert values[name]["enabled"] is False, f"{name} must be opt-in: external endpoints by default"
    # Its Prefect server records task runs in batches, as the local one does.
    from pdfrag.stack.prefect_server import SERVER_TUNING

    env = {e["name"]: e["value"] for e in values["prefect-server"]["server"]["env"]}
    assert {k: env.get(k) for k in SERVER_TUNING} == SERVER_TUNING


def test_values_defaults_pin_images() -> None:
    v = chart_values()
    for key in ("image", "gpuImage"):
        assert pinned(f"{v[key]['repository']}:{v[key]['tag']}"), key
    assert pinned(f"{v['minioNotifications']['mcImage']['repository']}:{v['minioNotifications']['mcImage']['tag']}")


# --- rendered --------------------------------------------------------------------


def test_helm_lint_strict(helm: str, offline_chart: Path, tmp_path: Path) -> None:
    for name, values in CONFIGS.items():
        vf = tmp_path / f"{name}.yaml"
        vf.write_text(yaml.safe_dump(values))
        proc = subprocess.run([helm, "lint", "--strict", str(offline_chart), "-f", str(vf)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{name}: {proc.stdout}{proc.stderr}"
        assert "0 chart(s) failed" in proc.stdout


# Manifests each configuration renders: ConfigMap, Secret, 2 ServiceAccounts,
# query Deployment, Service, HPA, PDB, 2 worker Deployments, bootstrap and
# first-index Jobs; Kubernetes pools add the work-pool ConfigMap, Role and
# RoleBinding; "full" adds the Ingress, the ServiceMonitor and the MinIO
# notifications Job.
EXPECTED_COUNTS = {"default": 15, "process": 12, "full": 18}


def test_every_manifest_validates_against_kubernetes_schemas(rendered: dict[str, list[dict[str, Any]]]) -> None:
    validated = {}
    for name, docs in rendered.items():
        assert len(docs) == EXPECTED_COUNTS[name], (name, sorted(d["kind"] for d in docs))
        validated[name] = 0
        for doc in docs:
            if doc["kind"] in CUSTOM_KINDS:
                continue
            try:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']}: {e.message} at {list(e.path)}")
            validated[name] += 1
    assert validated == {"default": 15, "process": 12, "full": 17}


def _job_templates(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    cm = named(docs, "ConfigMap", "-work-pools")
    return {k.removesuffix(".json"): json.loads(v) for k, v in cm["data"].items()}


def _resolve(template: dict[str, Any]) -> dict[str, Any]:
    """The Job a Kubernetes worker would submit: Prefect's own templating with
    the variables' defaults plus what the worker supplies per flow run."""
    from prefect.utilities.templating import apply_values

    values = {k: p["default"] for k, p in template["variables"]["properties"].items() if "default" in p}
    values.update(
        name="ingest-object-abc",
        command="prefect flow-run execute",
        env={"PREFECT__FLOW_RUN_ID": "0b6a2c3e-1f0d-4c55-9b3c-7c8d1e2f3a4b"},
        labels={"prefect.io/flow-run-id": "0b6a2c3e-1f0d-4c55-9b3c-7c8d1e2f3a4b"},
    )
    config = apply_values(template["job_configuration"], values)
    job = config["job_manifest"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    # As the worker does: env dict -> list, command string -> argv.
    container["env"] = [{"name": k, "value": v} for k, v in container["env"].items()]
    container["args"] = container["args"].split()
    return job


def test_work_pool_templates_are_valid_for_prefect_and_kubernetes(rendered: dict[str, list[dict[str, Any]]]) -> None:
    from prefect.server.schemas.actions import validate_base_job_template

    templates = _job_templates(rendered["default"])
    assert set(templates) == {"cpu-pool", "gpu-pool"}
    for pool, template in templates.items():
        validate_base_job_template(template)  # every placeholder is a declared variable
        job = _resolve(template)
        kubernetes_validate.validate(job, KUBE_VERSION, strict=True)
        pod = job["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        assert {e["configMapRef"]["name"] for e in c["envFrom"] if "configMapRef" in e} == {f"{RELEASE}-pdfrag-config"}
        assert {e["secretRef"]["name"] for e in c["envFrom"] if "secretRef" in e} == {f"{RELEASE}-pdfrag-secrets"}
        assert pinned(c["image"]), c["image"]
        assert c["image"].startswith("ghcr.io/pdfrag/pdfrag-gpu:" if pool == "gpu-pool" else "ghcr.io/pdfrag/pdfrag:")
        assert c["resources"]["requests"] and c["resources"]["limits"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert job["metadata"]["namespace"] == NAMESPACE
    # The process pools of prefect.yaml's deployments are the pools the chart sets up.
    prefect_yaml = yaml.safe_load((CHART.parents[2] / "prefect.yaml").read_text())
    assert {d["work_pool"]["name"] for d in prefect_yaml["deployments"]} == set(templates)


def _gpu_limit(resources: dict[str, Any] | None) -> Any:
    return ((resources or {}).get("limits") or {}).get("nvidia.com/gpu")


def _workloads_with_gpu(docs: list[dict[str, Any]]) -> set[str]:
    out = set()
    for d in docs:
        spec = pod_spec(d)
        if spec and any(_gpu_limit(c.get("resources")) for c in containers(spec)):
            out.add(d["metadata"]["name"])
    return out


def test_gpu_resources_only_on_the_gpu_pool_kubernetes_mode(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["default"]
    # Kubernetes pools: no long-running pod holds a GPU; the gpu-pool's flow-run
    # Jobs do, with the node selector and tolerations.
    assert _workloads_with_gpu(docs) == set()
    templates = _job_templates(docs)
    gpu_pod = _resolve(templates["gpu-pool"])["spec"]["template"]["spec"]
    cpu_pod = _resolve(templates["cpu-pool"])["spec"]["template"]["spec"]
    assert _gpu_limit(gpu_pod["containers"][0]["resources"]) == 1
    assert gpu_pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu_pod["tolerations"]
    assert _gpu_limit(cpu_pod["containers"][0]["resources"]) is None
    assert "nodeSelector" not in cpu_pod and "tolerations" not in cpu_pod
    # The workers submit Jobs: they need the Role; the flow-run pods do not.
    role = named(docs, "Role", "-worker")
    assert {"create", "delete", "watch"} <= {v for r in role["rules"] if "jobs" in r["resources"] for v in r["verbs"]}
    for kind in ("cpu", "gpu"):
        worker = named(docs, "Deployment", f"-worker-{kind}")
        spec = pod_spec(worker)
        assert spec["serviceAccountName"] == f"{RELEASE}-pdfrag-worker"
        assert "--type" in spec["containers"][0]["args"] and "kubernetes" in spec["containers"][0]["args"]
        env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
        # The worker's observer must stay inside the namespace its Role covers.
        assert env["PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES"] == NAMESPACE == role["metadata"].get("namespace", NAMESPACE)


def test_gpu_resources_only_on_the_gpu_worker_process_mode(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["process"]
    assert _workloads_with_gpu(docs) == {f"{RELEASE}-pdfrag-worker-gpu"}
    gpu = pod_spec(named(docs, "Deployment", "-worker-gpu"))
    assert _gpu_limit(gpu["containers"][0]["resources"]) == 1
    assert gpu["containers"][0]["image"].startswith("ghcr.io/pdfrag/pdfrag-gpu:")
    assert gpu["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"])
    for d in docs:
        spec = pod_spec(d)
        if spec and d["metadata"]["name"] != f"{RELEASE}-pdfrag-worker-gpu":
            assert "tolerations" not in spec and "nodeSelector" not in spec, d["metadata"]["name"]
    # No work-pool templates, no Role: process pools need no Kubernetes API.
    assert not [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-work-pools")]
    assert by_kind(docs, "Role") == []


def test_query_service_probes_resources_and_rollout(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in rendered.items():
        dep = named(docs, "Deployment", "-query")
        spec = pod_spec(dep)
        (c,) = spec["containers"]
        assert c["args"][:2] == ["pdfrag", "serve"]
        assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert c["startupProbe"]["httpGet"]["path"] == "/health"
        # /ready through the probe script, which sends the API key from the Secret.
        assert c["readinessProbe"]["exec"]["command"] == ["python", "/app/probe.py", "/ready"]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert c[probe]["periodSeconds"] > 0 and c[probe]["failureThreshold"] > 0
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and {"cpu", "memory"} <= set(c["resources"]["limits"])
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
        assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        anti = spec["affinity"]["podAntiAffinity"]
        terms = anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [t["podAffinityTerm"] for t in anti["preferredDuringSchedulingIgnoredDuringExecution"]]
        assert terms[0]["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
        assert terms[0]["topologyKey"] == "kubernetes.io/hostname"
        if name == "full":
            assert "requiredDuringSchedulingIgnoredDuringExecution" in anti
        # The HPA owns the replica count.
        hpa = named(docs, "HorizontalPodAutoscaler", "-query")
        assert "replicas" not in dep["spec"]
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": dep["metadata"]["name"]}
        assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
        svc = named(docs, "Service", "-query")
        assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
        assert svc["spec"]["ports"][0]["targetPort"] == c["ports"][0]["name"] == "http"
        pdb = named(docs, "PodDisruptionBudget", "-query")
        assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_ingress_routes_to_the_query_service(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert by_kind(rendered["default"], "Ingress") == []
    docs = rendered["full"]
    ing = named(docs, "Ingress", "-query")
    svc = named(docs, "Service", "-query")
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == svc["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in svc["spec"]["ports"]}
    assert ing["spec"]["ingressClassName"] == "nginx" and ing["spec"]["tls"][0]["secretName"] == "pdfrag-tls"


def test_service_monitor(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert by_kind(rendered["default"], "ServiceMonitor") == []
    docs = rendered["full"]
    sm = named(docs, "ServiceMonitor", "-query")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    svc = named(docs, "Service", "-query")
    labels = svc["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
    (ep,) = sm["spec"]["endpoints"]
    assert ep["path"] == "/metrics" and ep["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert sm["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]


def test_no_secret_values_outside_the_secret(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["full"]
    sentinels = [SECRET_SENTINELS["awsAccessKeyId"], SECRET_SENTINELS["awsSecretAccessKey"], SECRET_SENTINELS["milvusToken"], SECRET_SENTINELS["prefectApiKey"], *SECRET_SENTINELS["apiKeys"]]
    for d in docs:
        if d["kind"] == "Secret":
            continue
        text = yaml.safe_dump(d)
        for s in sentinels:
            assert s not in text, f"{d['kind']} {d['metadata']['name']} holds a secret value"
            assert base64.b64encode(s.encode()).decode() not in text
    for cm in by_kind(docs, "ConfigMap"):
        for key in cm.get("data", {}):
            assert not any(w in key.upper() for w in ("PASSWORD", "SECRET", "TOKEN", "API_KEY", "ACCESS_KEY")), key
    secret = named(docs, "Secret", "-secrets")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["AWS_SECRET_ACCESS_KEY"] == SECRET_SENTINELS["awsSecretAccessKey"]
    assert json.loads(data["PDFRAG_SERVICE__API_KEYS"]) == SECRET_SENTINELS["apiKeys"]
    assert data["PDFRAG_NOTIFY_API_KEY"] == SECRET_SENTINELS["apiKeys"][0]
    # Every pdfrag container reads them from this Secret.
    for d in docs:
        spec = pod_spec(d)
        for c in containers(spec) if spec else []:
            refs = [e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e]
            assert refs == [secret["metadata"]["name"]], f"{d['metadata']['name']}/{c['name']}"


def test_existing_secret_replaces_the_chart_secret(helm: str, offline_chart: Path, tmp_path: Path) -> None:
    docs = render_chart(helm, offline_chart, {"secrets": {"existingSecret": "my-pdfrag-secrets"}}, tmp_path)
    assert by_kind(docs, "Secret") == []
    dep = pod_spec(named(docs, "Deployment", "-query"))
    assert {"secretRef": {"name": "my-pdfrag-secrets"}} in dep["containers"][0]["envFrom"]


def test_configmap_settings_exist_in_pdfrag_config(rendered: dict[str, list[dict[str, Any]]]) -> None:
    # The check itself: real names pass, misspelt ones do not.
    assert settings_path_exists("PDFRAG_MILVUS__URI") and settings_path_exists("PDFRAG_HOME")
    assert not settings_path_exists("PDFRAG_MILVUS__URL") and not settings_path_exists("PDFRAG_MILVUS__URI__X")
    for name, docs in rendered.items():
        cm = named(docs, "ConfigMap", "-config")
        keys = [k for k in cm["data"] if k.startswith("PDFRAG_")]
        assert len(keys) == 14, keys
        unknown = [k for k in keys if not settings_path_exists(k)]
        assert unknown == [], f"{name}: not settings of pdfrag.config: {unknown}"


def test_configmap_loads_into_pdfrag_settings(rendered: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    from pdfrag.config import Settings

    data = named(rendered["default"], "ConfigMap", "-config")["data"]
    for k, v in data.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("PDFRAG_CONFIG", raising=False)
    s = Settings()
    assert s.milvus.uri == "http://milvus.milvus.svc.cluster.local:19530"
    assert s.store.uri == "s3://pdfrag/store" and s.store.endpoint_url == "http://milvus-minio.milvus.svc.cluster.local:9000"
    assert s.embed.deployment == "embed/embed"
    assert s.orchestration.upload_bucket == "pdfrag-docs" and s.orchestration.milvus_write_limit == 1
    assert s.service.host == "0.0.0.0" and s.service.port == 8000 and s.service.embed_threads == 1
    assert data["PREFECT_API_URL"] == "http://prefect-server.prefect.svc.cluster.local:4200/api"


def test_bundled_dependencies_wire_the_endpoints(rendered: dict[str, list[dict[str, Any]]]) -> None:
    data = named(rendered["full"], "ConfigMap", "-config")["data"]
    assert data["PDFRAG_MILVUS__URI"] == f"http://{RELEASE}-milvus:19530"
    assert data["PREFECT_API_URL"] == f"http://{RELEASE}-prefect-server:4200/api"
    assert data["PDFRAG_STORE__ENDPOINT_URL"] == f"http://{RELEASE}-minio:9000"


def test_every_image_is_pinned(rendered: dict[str, list[dict[str, Any]]], helm: str, offline_chart: Path, tmp_path: Path) -> None:
    seen = set()
    for docs in rendered.values():
        for d in docs:
            spec = pod_spec(d)
            for c in containers(spec) if spec else []:
                assert pinned(c["image"]), f"{d['metadata']['name']}/{c['name']}: {c['image']}"
                seen.add(c["image"])
    assert {"ghcr.io/pdfrag/pdfrag:0.1.0", "ghcr.io/pdfrag/pdfrag-gpu:0.1.0", "minio/mc:RELEASE.2025-04-16T18-13-26Z"} <= seen
    for bad in ({"image": {"tag": "latest"}}, {"gpuImage": {"tag": ""}}):
        with pytest.raises(AssertionError, match="must be a pinned version"):
            render_chart(helm, offline_chart, bad, tmp_path)


def test_bootstrap_and_first_index_jobs(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["default"]
    boot = named(docs, "Job", "-bootstrap")
    assert boot["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    args = pod_spec(boot)["containers"][0]["args"]
    assert args[:2] == ["python", "/app/bootstrap.py"]
    assert "cpu-pool=/work-pools/cpu-pool.json" in args and "gpu-pool=/work-pools/gpu-pool.json" in args
    assert args[args.index("--buckets") + 1 : args.index("--buckets") + 3] == ["pdfrag", "pdfrag-docs"]
    vol = pod_spec(boot)["volumes"][0]["configMap"]["name"]
    assert vol == named(docs, "ConfigMap", "-work-pools")["metadata"]["name"]
    # Process pools: no templates to pass.
    pargs = pod_spec(named(rendered["process"], "Job", "-bootstrap"))["containers"][0]["args"]
    assert "--pool-template" not in pargs

    index = [j for j in by_kind(docs, "Job") if "-index-" in j["metadata"]["name"]]
    assert len(index) == 1
    job = index[0]
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {}), "helm install must not wait for the first index"
    spec = pod_spec(job)
    assert spec["containers"][0]["args"] == ["pdfrag", "ingest", "s3://pdfrag-docs/"]
    assert "/deployments/name/embed/embed" in spec["initContainers"][0]["command"][2]
    # Same source and image: same Job name on every render (an upgrade leaves it alone).
    again = [j for j in by_kind(rendered["process"], "Job") if "-index-" in j["metadata"]["name"]]
    assert again[0]["metadata"]["name"] == job["metadata"]["name"]


def test_minio_notifications_target_the_upload_endpoint(rendered: dict[str, list[dict[str, Any]]]) -> None:
    from pdfrag.config import Settings
    from pdfrag.service.upload import make_router

    routes = {(r.path, m) for r in make_router(Settings()).routes for m in r.methods}
    assert ("/events/s3", "POST") in routes
    docs = rendered["full"]
    job = named(docs, "Job", "-minio-notifications")
    c = pod_spec(job)["containers"][0]
    script = c["args"][0]
    assert 'endpoint="$QUERY_URL/events/s3"' in script and "api_key=$PDFRAG_NOTIFY_API_KEY" in script
    assert "notify_webhook:pdfrag" in script and "arn:minio:sqs::pdfrag:webhook" in script and "--suffix .pdf" in script
    query_url = {e["name"]: e["value"] for e in c["env"]}["QUERY_URL"]
    svc = named(docs, "Service", "-query")
    assert query_url == f"http://{svc['metadata']['name']}.{NAMESPACE}.svc.cluster.local:{svc['spec']['ports'][0]['port']}"


def test_bundled_minio_credentials_and_service_account_annotations(helm: str, offline_chart: Path, tmp_path: Path) -> None:
    values = {
        "milvus": {"enabled": True, "minio": {"accessKey": "bundled-user", "secretKey": "bundled-password"}},
        "prefect-server": {"enabled": True},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/pdfrag"}},
    }
    docs = render_chart(helm, offline_chart, values, tmp_path)
    data = {k: base64.b64decode(v).decode() for k, v in named(docs, "Secret", "-secrets")["data"].items()}
    # pdfrag reaches the Milvus chart's MinIO with that chart's credentials.
    assert (data["AWS_ACCESS_KEY_ID"], data["AWS_SECRET_ACCESS_KEY"]) == ("bundled-user", "bundled-password")
    for sa in by_kind(docs, "ServiceAccount"):
        assert sa["metadata"]["annotations"] == values["serviceAccount"]["annotations"]
    # External S3 with no keys (IAM roles): no credentials in the Secret at all.
    ext = render_chart(helm, offline_chart, {"endpoints": {"s3": {"endpointUrl": ""}}}, tmp_path)
    assert "data" not in named(ext, "Secret", "-secrets") or not named(ext, "Secret", "-secrets")["data"]
    assert named(ext, "ConfigMap", "-config")["data"]["PDFRAG_STORE__ENDPOINT_URL"] == ""
