"""trec_eval's measures on rankings small enough to work out by hand."""

from __future__ import annotations

import math

import pytest

from pdfrag.eval.metrics import evaluate, mrr_at_k, ndcg_at_k, parse_measure, per_query, recall_at_k, trec_order

QRELS = {"q1": {"a": 2, "b": 1, "c": 0}, "q2": {"d": 1}, "q3": {"e": 0}}
RUN = {"q1": [("x", 0.9), ("b", 0.8), ("a", 0.7), ("c", 0.6)], "q2": [("y", 0.4)], "q3": [("e", 0.9)]}


def test_ndcg_graded_gain_log2_discount_ideal_from_qrels() -> None:
    # DCG = 0/log2(2) + 1/log2(3) + 2/log2(4) = 1.63093; IDCG = 2/log2(2) + 1/log2(3) = 2.63093
    assert ndcg_at_k(["x", "b", "a", "c"], QRELS["q1"], 10) == pytest.approx(1.6309298 / 2.6309298, abs=1e-6)
    assert ndcg_at_k(["x", "b", "a", "c"], QRELS["q1"], 10) == pytest.approx(0.619906, abs=1e-6)
    # Cut at 2: DCG = 1/log2(3) = 0.63093, IDCG@2 unchanged.
    assert ndcg_at_k(["x", "b", "a"], QRELS["q1"], 2) == pytest.approx(0.6309298 / 2.6309298, abs=1e-6)
    assert ndcg_at_k(["a", "b"], QRELS["q1"], 10) == 1.0
    assert ndcg_at_k(["b", "a"], {"a": 1, "b": 1}, 10) == 1.0
    assert ndcg_at_k(["z"], {"a": 0}, 10) == 0.0
    # A negative grade gains nothing.
    assert ndcg_at_k(["n", "a"], {"n": -1, "a": 1}, 10) == pytest.approx(1 / math.log2(3))


def test_recall_and_mrr() -> None:
    ranking = ["x", "b", "a", "c"]
    assert recall_at_k(ranking, QRELS["q1"], 10) == 1.0
    assert recall_at_k(ranking, QRELS["q1"], 2) == 0.5
    assert recall_at_k(ranking, QRELS["q1"], 1) == 0.0
    assert mrr_at_k(ranking, QRELS["q1"], 10) == 0.5
    assert mrr_at_k(ranking, QRELS["q1"], 1) == 0.0
    assert mrr_at_k(["c", "x", "y", "a"], QRELS["q1"], 10) == 0.25  # grade 0 is not relevant


def test_trec_order_sorts_by_score_then_doc_id_descending() -> None:
    assert trec_order([("a", 0.5), ("b", 0.5), ("c", 0.9)]) == ["c", "b", "a"]
    assert trec_order([("a", 0.2), ("a", 0.9), ("b", 0.5)]) == ["b", "a"]  # first entry of a document counts
    assert mrr_at_k(trec_order([("a", 0.5), ("b", 0.5)]), {"a": 1}, 10) == 0.5


def test_evaluate_means_over_judged_queries() -> None:
    pq = per_query(RUN, QRELS)
    assert set(pq) == {"q1", "q2"}  # q3 has nothing relevant to find
    assert pq["q2"] == {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    got = evaluate(RUN, QRELS)
    assert got["ndcg@10"] == pytest.approx(0.619906 / 2, abs=1e-6)
    assert got["recall@10"] == 0.5 and got["recall@100"] == 0.5 and got["mrr@10"] == 0.25
    # A judged query missing from the run scores 0 but still counts.
    assert evaluate({"q1": RUN["q1"]}, QRELS)["mrr@10"] == 0.25
    assert evaluate({}, {"q": {"a": 0}}) == {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}


def test_measure_names() -> None:
    assert parse_measure("ndcg@10") == ("ndcg", 10)
    for bad in ("map@10", "ndcg", "recall@0", "mrr@x"):
        with pytest.raises(ValueError):
            parse_measure(bad)
