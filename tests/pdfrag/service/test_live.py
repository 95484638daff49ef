"""The service over HTTP against a shared ``milvus-lite server`` (what
`pdfrag stack` runs): searches while an ingest writes, the search page in
headless Chromium, and /ready while Milvus goes down and comes back."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest

from pdfrag.service.app import create_app
from pdfrag.stack.milvus import start_milvus, stop_milvus

from .conftest import LiveServer, clean_env, copy_pdfs, ingest, settings_for, wait_ready

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
SCREENSHOT = REPO / "docs" / "search-page.png"


@pytest.fixture(scope="module")
def live(tmp_path_factory, pdfs):
    with clean_env() as env:
        root = tmp_path_factory.mktemp("live")
        data = root / "milvus"
        info = start_milvus(data)
        try:
            env.setenv("PDFRAG_MILVUS__URI", info.uri)  # the pipeline and the service share the server
            home = root / "home"
            src = copy_pdfs(pdfs, root / "corpus", ["prose/docling_multi_page.pdf", "cjk/pdfplumber_issue-461-example.pdf"])
            ingest({"home": str(home)}, src)
            app = create_app(settings_for(home))
            with LiveServer(app) as server:
                http = httpx.Client(base_url=server.url, timeout=30)
                wait_ready(http.get)
                yield SimpleNamespace(root=root, data=data, home=home, src=src, info=info, server=server, http=http, pdfs=pdfs)
                http.close()
        finally:
            stop_milvus(data)


def test_ingest_while_searching(live):
    """An ingest writes to the shared server while clients search: no errors
    (no lock errors either side), and the new document is found after."""
    new_src = copy_pdfs(live.pdfs, live.root / "new", ["two_column/samplefiles_multicolumn.pdf", "prose/samplefiles_pdflatex-4-pages.pdf"])
    stop = threading.Event()
    statuses: list[int] = []
    failures: list[str] = []
    questions = ["When was the IBM MT/ST typewriter introduced?", "白细胞计数", "word processors in offices", "Two-Column Document with Lorem Ipsum"]

    def client_loop(i: int) -> None:
        with httpx.Client(base_url=live.server.url, timeout=60) as c:
            n = i
            while not stop.is_set():
                try:
                    r = c.post("/search", json={"query": questions[n % len(questions)], "top_k": 5})
                    statuses.append(r.status_code)
                    if r.status_code != 200:
                        failures.append(r.text)
                except httpx.HTTPError as e:
                    failures.append(repr(e))
                n += 1

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        before = len(statuses)
        result = ingest({"home": str(live.home)}, new_src)
        during = len(statuses) - before
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert sorted(result["indexed"]) == ["samplefiles_multicolumn.pdf", "samplefiles_pdflatex-4-pages.pdf"]
    assert failures == []
    assert during >= 3 and set(statuses) == {200}

    r = live.http.post("/search", json={"query": "Two-Column Document with Lorem Ipsum", "top_k": 3})
    assert r.json()["results"][0]["file_name"] == "samplefiles_multicolumn.pdf"
    docs = live.http.get("/documents").json()
    assert docs["total"] == 4
    new = next(d for d in docs["documents"] if d["file_name"] == "samplefiles_multicolumn.pdf")
    r = live.http.post("/search", json={"query": "lorem ipsum", "top_k": 100, "filters": {"doc_id": new["doc_id"]}})
    assert len(r.json()["results"]) == new["chunks"]


def _inject_hostile_row(live) -> None:
    """A chunk whose text and file name are HTML: the page must show them as text."""
    from pdfrag.config import load_settings
    from pdfrag.embed import get_embedder
    from pdfrag.embed.profiles import get_profile
    from pdfrag.index.milvus import MilvusIndex

    s = load_settings(home=str(live.home))
    text = 'Zebra xylophone quartz <img src=x onerror="window.__xss=1"><script>window.__xss=2</script> marker'
    vec = get_embedder(s.embed).embed_documents([text])[0]
    idx = MilvusIndex(s.milvus, s.index, s.milvus_uri, get_profile(s.embed.model).identity())
    try:
        idx.upsert([{
            "id": "f" * 32, "vector": vec.tolist(), "text": text, "doc_id": "e" * 64, "source": "/hostile/<b>x</b>.pdf",
            "page_start": 1, "page_end": 1, "chunk_index": 0, "char_start": 0, "char_end": len(text), "token_count": 20,
            "pipeline": "0" * 32, "metadata": {"file_name": "<b onmouseover=alert(1)>evil</b>.pdf"},
        }])
    finally:
        idx.close()


def _browser(tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (os.path.exists(chromium) and os.path.exists(driver_path)):
        pytest.fail("chromium and chromedriver are needed (scripts/install-system.sh browser)")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager reach out
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome'}", "--window-size=1200,1500",
    ]:
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver_path), options=opts)


def test_search_page_in_a_browser(live, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    _inject_hostile_row(live)
    driver = _browser(tmp_path)
    try:
        wait = WebDriverWait(driver, 30)
        driver.get(live.server.url + "/")
        wait.until(lambda d: len(Select(d.find_element(By.ID, "doc")).options) >= 4)
        wait.until(lambda d: "ready" in d.find_element(By.ID, "status").text)
        assert "hybrid" in driver.find_element(By.ID, "status").text

        def run(query: str, doc_label: str | None = None) -> list:
            select = Select(driver.find_element(By.ID, "doc"))
            if doc_label:
                select.select_by_visible_text(next(o.text for o in select.options if o.text.startswith(doc_label)))
            else:
                select.select_by_value("")
            box = driver.find_element(By.ID, "q")
            box.clear()
            box.send_keys(query)
            old = driver.find_elements(By.CSS_SELECTOR, ".result")
            driver.find_element(By.ID, "go").click()
            if old:
                wait.until(ec.staleness_of(old[0]))
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".result")))
            return driver.find_elements(By.CSS_SELECTOR, ".result")

        # Chinese, restricted to one document through the select.
        results = run("白细胞计数", "pdfplumber_issue-461-example.pdf")
        assert {r.find_element(By.CSS_SELECTOR, ".file").text for r in results} == {"pdfplumber_issue-461-example.pdf"}
        assert any("白细胞" in m.text for m in driver.find_elements(By.CSS_SELECTOR, ".result mark"))
        # The collection's model reads English: the page says so above the results.
        warning = driver.find_element(By.ID, "warnings")
        assert warning.is_displayed() and "all-MiniLM-L6-v2 is an English model" in warning.text

        # Hostile text is shown as text, never run.
        results = run("zebra xylophone quartz marker")
        assert "<b onmouseover=alert(1)>evil</b>.pdf" in [r.find_element(By.CSS_SELECTOR, ".file").text for r in results]
        assert any("<script>window.__xss=2</script>" in r.find_element(By.CSS_SELECTOR, ".text").text for r in results)
        assert driver.execute_script("return window.__xss === undefined && document.querySelectorAll('.results img, .results script, .results b').length === 0")

        # English, all documents; this one is the screenshot.
        results = run("When was the IBM MT/ST typewriter introduced?")
        first = results[0]
        assert first.find_element(By.CSS_SELECTOR, ".file").text == "docling_multi_page.pdf"
        assert first.find_element(By.CSS_SELECTOR, ".pages").text == "p. 1"
        marks = [m.text.lower() for m in first.find_elements(By.CSS_SELECTOR, "mark")]
        assert "ibm" in marks and "typewriter" in marks
        assert "hybrid" in driver.find_element(By.ID, "summary").text
        assert not driver.find_element(By.ID, "warnings").is_displayed()  # an English query: no warning
        assert first.find_element(By.CSS_SELECTOR, ".headings").text == "The Birth of Word Processing (1960s - 1970s)"
        # The README's screenshot is refreshed on request only: a test run
        # leaves the working tree as it found it.
        shot = SCREENSHOT if os.environ.get("UPDATE_DOCS_SCREENSHOT") else tmp_path / "search-page.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()


def test_ready_while_milvus_is_down_and_after_it_restarts(live):
    http = live.http
    assert http.get("/ready").status_code == 200
    assert stop_milvus(live.data) is True
    try:
        r = http.get("/ready")
        assert r.status_code == 503
        body = r.json()
        assert body["ready"] is False and body["checks"]["milvus"] == "unreachable"
        assert any(reason.startswith("Milvus unreachable at http://127.0.0.1:") for reason in body["reasons"])
        r = http.post("/search", json={"query": "typewriter", "top_k": 1})
        assert r.status_code == 503 and r.json()["error"].startswith("Milvus unreachable")
        assert http.get("/health").status_code == 200
        metrics = http.get("/metrics").text
        assert "pdfrag_ready 0.0" in metrics
    finally:
        start_milvus(live.data, port=live.info.port)  # same address: clients reconnect
    body = wait_ready(http.get, timeout=60)
    assert body["checks"] == {"milvus": "ok", "collection": "loaded", "model": "loaded"}
    r = http.post("/search", json={"query": "When was the IBM MT/ST typewriter introduced?", "top_k": 1})
    assert r.status_code == 200 and r.json()["results"][0]["file_name"] == "docling_multi_page.pdf"
    assert http.get("/documents").json()["total"] == 4
    assert np.isfinite(r.json()["results"][0]["score"])
