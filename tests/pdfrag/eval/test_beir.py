"""BEIR loaders: what they accept and how they refuse the rest."""

from __future__ import annotations

import pytest

from pdfrag.errors import ConfigError
from pdfrag.eval.beir import load_qrels, load_queries


def test_load_queries(tmp_path) -> None:
    p = tmp_path / "queries.jsonl"
    p.write_text('{"_id": "q1", "text": "what is a chunk?", "metadata": {}}\n\n{"_id": 2, "text": "表格"}\n', encoding="utf-8")
    assert load_queries(p) == {"q1": "what is a chunk?", "2": "表格"}


@pytest.mark.parametrize("body", ['{"id": "q1", "text": "x"}\n', "not json\n", '{"_id": "q", "text": "a"}\n{"_id": "q", "text": "b"}\n'])
def test_load_queries_refuses(tmp_path, body) -> None:
    p = tmp_path / "queries.jsonl"
    p.write_text(body)
    with pytest.raises(ConfigError, match="queries.jsonl"):
        load_queries(p)


def test_load_qrels(tmp_path) -> None:
    p = tmp_path / "qrels.tsv"
    p.write_text("query-id\tcorpus-id\tscore\nq1\tdoc-a\t2\nq1\tdoc-b\t0\nq2\tdoc-a\t1\n\n")
    assert load_qrels(p) == {"q1": {"doc-a": 2, "doc-b": 0}, "q2": {"doc-a": 1}}


@pytest.mark.parametrize("body", ["q1\tdoc\t1\n", "query-id\tcorpus-id\tscore\nq1\tdoc\n", "query-id\tcorpus-id\tscore\nq1\td\t1\nq1\td\t2\n", ""])
def test_load_qrels_refuses(tmp_path, body) -> None:
    p = tmp_path / "qrels.tsv"
    p.write_text(body)
    with pytest.raises(ConfigError, match="qrels.tsv"):
        load_qrels(p)


def test_missing_files_name_the_path(tmp_path) -> None:
    with pytest.raises(ConfigError, match="nope.jsonl"):
        load_queries(tmp_path / "nope.jsonl")
    with pytest.raises(ConfigError, match="nope.tsv"):
        load_qrels(tmp_path / "nope.tsv")
