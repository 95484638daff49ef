"""Orchestration figures on the real local stack (`pdfrag stack up`):

- first ingest of a corpus through the `ingest` deployment (CPU worker, with
  embedding on the GPU pool's worker) against a refresh of the unchanged
  corpus through the `refresh` deployment;
- upload-to-searchable latency: PUT /documents/NAME on the upload endpoint
  until the document's chunks are in Milvus (median of several uploads).

    python benchmarks/orchestration.py [--corpus DIR] [--uploads 3] [--screenshot docs/prefect-run.png]

Starts its own stack in a temporary home and stops it at the end.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "pdfs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot(url: str, out: Path, wait_for_text: str = "Completed", timeout: float = 60.0) -> None:
    """A page of the Prefect UI (a single-page app) in headless Chromium,
    once it has rendered ``wait_for_text``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    out.parent.mkdir(parents=True, exist_ok=True)
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--window-size=1440,1300"):
        opts.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile:
        opts.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
        try:
            driver.get(url)
            end = time.monotonic() + timeout
            while time.monotonic() < end and wait_for_text not in driver.execute_script("return document.body.innerText"):
                time.sleep(0.5)
            time.sleep(2)  # let charts and artifacts settle
            driver.save_screenshot(str(out))
        finally:
            driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--categories", default="prose,two_column,tables,cjk")
    ap.add_argument("--uploads", type=int, default=3)
    ap.add_argument("--screenshot", type=Path, default=None, help="save a screenshot of the first ingest's run page")
    args = ap.parse_args()

    os.chdir(REPO)  # prefect.yaml
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    import httpx

    from pdfrag.config import load_settings
    from pdfrag.pipeline import close_pipelines, get_pipeline
    from pdfrag.stack.local import down, up
    from pdfrag.store.s3 import make_s3_client

    home = Path(tempfile.mkdtemp(prefix="pdfrag-bench-"))
    settings = load_settings(home=str(home), **{"prefect.port": free_port()})
    t = time.perf_counter()
    state = up(settings, service_port=free_port(), log=lambda *_: None)
    print(f"stack up: {time.perf_counter() - t:.1f} s")
    os.environ.update(state.env)
    try:
        with temporary_settings(updates={PREFECT_API_URL: state.prefect_url}):
            s3 = make_s3_client(state.s3_endpoint)
            s3.create_bucket(Bucket="corpus")
            files = [p for c in args.categories.split(",") for p in sorted((args.corpus / c).glob("*.pdf"))]
            for p in files:
                s3.put_object(Bucket="corpus", Key=f"bench/{p.parent.name}/{p.name}", Body=p.read_bytes())
            source = "s3://corpus/bench/"

            t = time.perf_counter()
            fr = run_deployment("ingest/ingest", parameters={"source": source}, timeout=3600, poll_interval=1)
            first_s = time.perf_counter() - t
            first = fr.state.result()
            print(f"first ingest (deployment, {len(files)} files): {first_s:.1f} s wall; flow {first.seconds:.1f} s; "
                  f"{first.indexed} indexed, {len(first.failed)} failed, {first.pages} pages, {first.chunks_added} chunks")
            if args.screenshot:
                screenshot(f"{state.ui_url}/runs/flow-run/{fr.id}", args.screenshot)
                print(f"screenshot: {args.screenshot}")

            t = time.perf_counter()
            fr2 = run_deployment("refresh/refresh", parameters={"source": source}, timeout=3600, poll_interval=1)
            refresh_s = time.perf_counter() - t
            second = fr2.state.result()
            print(f"refresh of the unchanged corpus: {refresh_s:.1f} s wall; flow {second.seconds:.1f} s; "
                  f"{second.unchanged} unchanged, {second.chunks_added} chunks added, {second.chunks_embedded} embedded")
            print(f"refresh / first ingest: {100 * refresh_s / first_s:.1f} % (wall), {100 * second.seconds / max(first.seconds, 1e-9):.1f} % (flow)")

            close_pipelines()
            latencies = []
            samples = [args.corpus / "prose" / n for n in ("samplefiles_pdflatex-4-pages.pdf", "docling_multi_page.pdf", "pdfplumber_issue-848.pdf",
                                                           "samplefiles_minimal-document.pdf", "docling_code_and_formula.pdf")]
            for i, p in enumerate(samples[: args.uploads]):
                name = f"upload-{i}-{p.name}"
                uri = f"s3://{state.env['PDFRAG_ORCHESTRATION__UPLOAD_BUCKET']}/incoming/{name}"
                t = time.perf_counter()
                r = httpx.put(f"{state.service_url}/documents/{name}", content=p.read_bytes(), timeout=120)
                r.raise_for_status()
                pipe = get_pipeline({"home": str(home)})
                while True:
                    e = pipe.ledger.get([uri]).get(uri)
                    if e is not None:
                        break
                    if time.perf_counter() - t > 300:
                        raise SystemExit(f"{uri} not indexed after 300 s")
                    time.sleep(0.25)
                latencies.append(time.perf_counter() - t)
                print(f"upload {name}: searchable after {latencies[-1]:.1f} s ({e.chunks} chunks)")
            print(f"upload-to-searchable latency: median {statistics.median(latencies):.1f} s, min {min(latencies):.1f} s, max {max(latencies):.1f} s")
    finally:
        close_pipelines()
        down(settings, log=lambda *_: None)


if __name__ == "__main__":
    sys.exit(main())
