"""Hybrid retrieval: BM25 (bm25s), rank fusion with dense runs, dense pseudo-relevance feedback."""

from tfsearch.hybrid.bm25_retriever import BM25Retriever
from tfsearch.hybrid.hybrid_evaluation import FUSIONS, HybridEvaluationResult, evaluate_hybrid
from tfsearch.hybrid.query_expansion import expand_queries, search_with_feedback
from tfsearch.hybrid.rank_fusion import linear_fusion, min_max_normalise, ranks, reciprocal_rank_fusion
from tfsearch.hybrid.runs import ranked_ids, truncate_run

__all__ = ["BM25Retriever", "FUSIONS", "HybridEvaluationResult", "evaluate_hybrid", "expand_queries",
           "linear_fusion", "min_max_normalise", "ranked_ids", "ranks", "reciprocal_rank_fusion",
           "search_with_feedback", "truncate_run"]
