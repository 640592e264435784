"""Keras layers that run inside search graphs (XLA-compilable, SavedModel-ready)."""

from tfsearch.layers.diversity_reranker import METHODS, DiversityReranker
from tfsearch.layers.pseudo_relevance_feedback import PseudoRelevanceFeedback

__all__ = ["METHODS", "DiversityReranker", "PseudoRelevanceFeedback"]
