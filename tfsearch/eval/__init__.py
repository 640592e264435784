"""Evaluation: relevance metrics (ir-measures), TREC runs, end-to-end runs."""

from tfsearch.eval.metrics import DEFAULT_MEASURES, evaluate_run, parse_measures, per_query
from tfsearch.eval.trec import read_trec_run, write_trec_run

__all__ = ["DEFAULT_MEASURES", "evaluate_run", "parse_measures", "per_query", "read_trec_run", "write_trec_run"]
