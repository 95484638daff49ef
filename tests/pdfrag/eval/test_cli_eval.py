"""``pdfrag eval retrieval`` as a user runs it: index three small PDFs, then
evaluate a tiny BEIR query set against the collection."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

PDFRAG = [sys.executable, "-m", "pdfrag.cli"]


@pytest.fixture()
def cli(prefect_server, home):
    env = {**os.environ, "PDFRAG_HOME": str(home), "PREFECT_API_URL": prefect_server.url, "HF_HUB_OFFLINE": "1"}

    def _run(*args: str, check_rc: int | None = 0) -> subprocess.CompletedProcess:
        proc = subprocess.run([*PDFRAG, *args], env=env, capture_output=True, text=True, timeout=300)
        if check_rc is not None:
            assert proc.returncode == check_rc, f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc

    return _run


def test_eval_retrieval(cli, pdfs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("docling_multi_page.pdf", "pdfplumber_scotus-transcript-p1.pdf", "samplefiles_google-doc-document.pdf"):
        shutil.copy(pdfs / "prose" / name, src)
    cli("ingest", str(src))

    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "\n".join(
            json.dumps(q)
            for q in (
                {"_id": "q1", "text": "When was the IBM MT/ST introduced?"},
                {"_id": "q2", "text": "Who argued for the petitioner in Knowles v. Mirzayance?"},
                {"_id": "q3", "text": "What is the capital of Indonesia?"},
                {"_id": "unjudged", "text": "this query has no judgement and is not run"},
            )
        )
        + "\n"
    )
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text(
        "query-id\tcorpus-id\tscore\n"
        "q1\tdocling_multi_page\t1\n"
        "q2\tpdfplumber_scotus-transcript-p1\t1\n"
        "q3\tsamplefiles_google-doc-document\t2\n"
        "q3\tdocling_multi_page\t0\n"
    )
    run = tmp_path / "run.jsonl"
    proc = cli("eval", "retrieval", "--queries", str(queries), "--qrels", str(qrels), "--k", "10", "--run-out", str(run), "--json")
    data = json.loads(proc.stdout)
    assert data["queries"] == 3 and data["judged"] == 3 and data["k"] == 10
    assert data["mode"] == "hybrid"  # by default, as pdfrag search and the query service search
    # Three documents, each question names its own: every answer ranks first.
    assert data["ndcg@10"] == pytest.approx(1.0) and data["mrr@10"] == pytest.approx(1.0)
    assert data["recall@10"] == pytest.approx(1.0) and data["recall@100"] == pytest.approx(1.0)

    lines = [json.loads(line) for line in run.read_text().splitlines()]
    assert [r["query_id"] for r in lines] == ["q1", "q2", "q3"]
    first = lines[0]
    assert first["doc_ids"][0] == "docling_multi_page"
    assert set(first["doc_ids"]) == {"docling_multi_page", "pdfplumber_scotus-transcript-p1", "samplefiles_google-doc-document"}
    assert first["scores"] == sorted(first["scores"], reverse=True)
    assert len(first["doc_ids"]) == len(first["scores"]) == len(first["chunk_ids"]) > 3  # chunk level: documents repeat

    # Hybrid scores are reciprocal-rank-fusion scores (at most 2 / (60 + 1): a chunk first in both lists).
    assert 0 < first["scores"][0] <= 2 / 61 + 1e-6

    # Dense search alone (the embedding model's own ranking, cosine scores) finds them too.
    dense_run = tmp_path / "dense.jsonl"
    proc = cli("eval", "retrieval", "--queries", str(queries), "--qrels", str(qrels), "--k", "10", "--mode", "dense", "--run-out", str(dense_run), "--json")
    data = json.loads(proc.stdout)
    assert data["mode"] == "dense" and data["ndcg@10"] == pytest.approx(1.0)
    top = [json.loads(line) for line in dense_run.read_text().splitlines()][0]
    assert top["doc_ids"][0] == "docling_multi_page" and top["scores"][0] > 2 / 61
    proc = cli("eval", "retrieval", "--queries", str(queries), "--qrels", str(qrels), "--mode", "sparse", check_rc=2)
    assert "--mode" in proc.stderr

    # Content hashes as corpus ids: nothing in these qrels matches, every measure is 0.
    proc = cli("eval", "retrieval", "--queries", str(queries), "--qrels", str(qrels), "--doc-id", "doc_id", "--json")
    assert json.loads(proc.stdout)["ndcg@10"] == 0.0

    # The table on stdout without --json; a qrels file that judges none of the queries is bad usage.
    proc = cli("eval", "retrieval", "--queries", str(queries), "--qrels", str(qrels), "--k", "10")
    assert "| nDCG@10 | 1.0000 |" in proc.stdout and "Recall@100 counts the top 10 only" in proc.stderr
    other = tmp_path / "other.tsv"
    other.write_text("query-id\tcorpus-id\tscore\nzz\tdocling_multi_page\t1\n")
    proc = cli("eval", "retrieval", "--queries", str(queries), "--qrels", str(other), check_rc=2)
    assert "none of the queries" in proc.stderr
    proc = cli("eval", "retrieval", "--queries", str(queries), "--qrels", str(qrels), "--doc-id", "name", check_rc=2)
    assert "--doc-id" in proc.stderr
