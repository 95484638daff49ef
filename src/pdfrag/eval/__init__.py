"""Retrieval evaluation in the BEIR format: loaders, trec_eval metrics, and a
runner that queries the collection and ranks documents by their best chunk."""

from pdfrag.eval.beir import load_qrels, load_queries
from pdfrag.eval.metrics import evaluate, mrr_at_k, ndcg_at_k, recall_at_k
from pdfrag.eval.retrieval import ChunkHit, QueryRun, rank_documents, retrieve

__all__ = [
    "ChunkHit", "QueryRun", "evaluate", "load_qrels", "load_queries", "mrr_at_k", "ndcg_at_k", "rank_documents",
    "recall_at_k", "retrieve",
]
