"""Ranking metrics with trec_eval's definitions (as BEIR computes them
through pytrec_eval).

A run maps each query to ``[(doc id, score), ...]``. As trec_eval does, the
documents are ranked by score, highest first, ties broken by doc id in
descending order, whatever order the run lists them in. A document is
relevant when its qrels grade is at least 1.

- ``ndcg_cut_k``: gain = grade (negative grades count 0), discount
  log2(rank + 1); the ideal ranking sorts the query's qrels by grade.
- ``recall_k``: relevant documents in the top k / relevant documents judged.
- ``recip_rank`` over the top k (MRR@k): 1 / rank of the first relevant
  document in the top k, else 0.

Queries of the qrels without any relevant document are left out of the
means (trec_eval reads them as having nothing to find); a judged query
absent from the run scores 0 on every measure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Run = Mapping[str, Sequence[tuple[str, float]]]
Qrels = Mapping[str, Mapping[str, int]]

DEFAULT_MEASURES = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


def trec_order(ranked: Sequence[tuple[str, float]]) -> list[str]:
    """Doc ids in trec_eval's order: score descending, then doc id descending.
    A document listed twice keeps its first (best) entry."""
    best: dict[str, float] = {}
    for doc, score in ranked:
        if doc not in best:
            best[doc] = float(score)
    return [d for d, _ in sorted(best.items(), key=lambda x: (x[1], x[0]), reverse=True)]


def ndcg_at_k(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    dcg = sum(max(rels.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    relevant = {d for d, g in rels.items() if g >= 1}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def mrr_at_k(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    for i, d in enumerate(ranking[:k]):
        if rels.get(d, 0) >= 1:
            return 1.0 / (i + 1)
    return 0.0


_FUNCS = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k}


def parse_measure(name: str) -> tuple[str, int]:
    kind, _, cut = name.partition("@")
    if kind not in _FUNCS or not cut.isdigit() or int(cut) < 1:
        raise ValueError(f"unknown measure {name!r}: use ndcg@K, recall@K or mrr@K")
    return kind, int(cut)


def per_query(run: Run, qrels: Qrels, measures: Sequence[str] = DEFAULT_MEASURES) -> dict[str, dict[str, float]]:
    """Every measure for every judged query that has a relevant document."""
    parsed = [(m, *parse_measure(m)) for m in measures]
    out: dict[str, dict[str, float]] = {}
    for qid, rels in qrels.items():
        if not any(g >= 1 for g in rels.values()):
            continue
        ranking = trec_order(run.get(qid, ()))
        out[qid] = {m: _FUNCS[kind](ranking, rels, cut) for m, kind, cut in parsed}
    return out


def evaluate(run: Run, qrels: Qrels, measures: Sequence[str] = DEFAULT_MEASURES) -> dict[str, float]:
    """Means over the judged queries (see the module doc)."""
    pq = per_query(run, qrels, measures)
    if not pq:
        return {m: 0.0 for m in measures}
    return {m: sum(v[m] for v in pq.values()) / len(pq) for m in measures}
