"""One-shot setup of a Prefect server for pdfrag's containers (the Compose
stack's ``bootstrap`` service, the Helm chart's bootstrap Job).

    python /app/bootstrap.py [--buckets NAME ...] [--pool-template POOL=FILE ...]
                             [--results s3://BUCKET/PREFIX] [--index SOURCE] [--wait SECONDS]

0. ``--buckets``: creates the S3 buckets that are missing (on
   ``PDFRAG_STORE__ENDPOINT_URL`` with the ``AWS_*`` credentials);
1. waits for the Prefect API (``PREFECT_API_URL``) to answer;
2. ``--pool-template``: creates or updates that work pool as a Kubernetes
   pool whose base job template is the JSON file (the chart renders them);
   pools without one are made process pools by ``pdfrag deploy``;
3. ``--results``: the S3 result storage block that workers on different
   machines share (``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK``), on
   ``PDFRAG_STORE__ENDPOINT_URL`` with the ``AWS_*`` credentials;
4. ``pdfrag deploy``: the global concurrency limits and the deployments of
   ``/app/prefect.yaml`` (the entrypoints are in the installed package);
5. ``--index SOURCE``: ``pdfrag ingest SOURCE``, which creates the collection
   (so the service's /ready turns 200) and indexes whatever is already there,
   embedding in this process (the embed pool's workers may be waiting for
   this bootstrap to finish).

Every step is idempotent: it runs on every ``docker compose up`` and every
``helm upgrade``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def log(msg: str) -> None:
    print(f"bootstrap: {msg}", flush=True)


def wait_for_prefect(api_url: str, timeout: float) -> None:
    import httpx

    end = time.monotonic() + timeout
    last = ""
    while time.monotonic() < end:
        try:
            r = httpx.get(f"{api_url.rstrip('/')}/health", timeout=5)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as e:
            last = str(e)
        time.sleep(2)
    raise SystemExit(f"bootstrap: Prefect API {api_url} did not answer within {timeout:.0f} s ({last})")


def ensure_buckets(names: list[str]) -> None:
    from pdfrag.config import load_settings
    from pdfrag.store.s3 import make_s3_client

    s = load_settings()
    client = make_s3_client(s.store.endpoint_url, s.store.region)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for name in names:
        if name in existing:
            continue
        kwargs = {}
        if s.store.region and s.store.region != "us-east-1" and not s.store.endpoint_url:
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": s.store.region}
        client.create_bucket(Bucket=name, **kwargs)
        log(f"created bucket {name}")


def kubernetes_pools(templates: dict[str, Path]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    with get_client(sync_client=True) as client:
        for name, path in templates.items():
            template = json.loads(path.read_text())
            client.create_work_pool(
                WorkPoolCreate(name=name, type="kubernetes", base_job_template=template, description=f"pdfrag: {name} (a pod per flow run)"),
                overwrite=True,
            )
            log(f"work pool {name}: kubernetes, base job template from {path}")


def result_storage(basepath: str) -> None:
    from pdfrag.config import load_settings
    from pdfrag.deploy import ensure_result_storage

    s = load_settings()
    slug = ensure_result_storage(
        basepath,
        s.store.endpoint_url,
        os.environ.get("AWS_ACCESS_KEY_ID", ""),
        os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        s.store.region,
    )
    log(f"result storage {slug} at {basepath}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--buckets", nargs="*", default=[], metavar="NAME")
    ap.add_argument("--pool-template", action="append", default=[], metavar="POOL=FILE")
    ap.add_argument("--results", default="", metavar="s3://BUCKET/PREFIX")
    ap.add_argument("--index", default="", metavar="SOURCE")
    ap.add_argument("--wait", type=float, default=300.0, metavar="SECONDS")
    args = ap.parse_args(argv)

    api_url = os.environ.get("PREFECT_API_URL", "")
    if not api_url:
        raise SystemExit("bootstrap: PREFECT_API_URL is not set")
    templates = {}
    for item in args.pool_template:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).is_file():
            raise SystemExit(f"bootstrap: --pool-template wants POOL=FILE with an existing file, got {item!r}")
        templates[name] = Path(path)

    if args.buckets:
        ensure_buckets(args.buckets)
    log(f"waiting for {api_url}")
    wait_for_prefect(api_url, args.wait)
    if templates:
        kubernetes_pools(templates)
    if args.results:
        result_storage(args.results)
    log("pdfrag deploy (pools without a template, limits, deployments)")
    subprocess.run(["pdfrag", "deploy"], check=True, cwd=Path(__file__).resolve().parent)
    if args.index:
        log(f"pdfrag ingest {args.index}")
        # Embedding in this process: the workers of the embed deployment's pool
        # may be waiting for this very bootstrap to finish (Compose).
        subprocess.run(["pdfrag", "ingest", args.index], check=True, env={**os.environ, "PDFRAG_EMBED__DEPLOYMENT": ""})
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
