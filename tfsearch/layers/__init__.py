"""Keras layers that run inside search graphs (XLA-compilable, SavedModel-ready)."""

from tfsearch.layers.diversity_reranker import METHODS, DiversityReranker

__all__ = ["METHODS", "DiversityReranker"]
