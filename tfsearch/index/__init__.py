"""Retrieval indexes."""

from tfsearch.index.brute_force_index import BruteForceIndex

__all__ = ["BruteForceIndex"]
