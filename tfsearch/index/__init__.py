"""Retrieval indexes: exact (core TensorFlow ops) and ScaNN, behind one interface."""

from tfsearch.index.brute_force_index import BruteForceIndex
from tfsearch.index.index_building import BACKENDS, EncoderMismatchError, build_index, exportable_index, load_index
from tfsearch.index.scann_index import ScannIndex
from tfsearch.index.scann_tuning import ScannParams, default_scann_params, format_tuning_report, tune_scann

__all__ = [
    "BACKENDS",
    "BruteForceIndex",
    "EncoderMismatchError",
    "ScannIndex",
    "ScannParams",
    "build_index",
    "default_scann_params",
    "exportable_index",
    "format_tuning_report",
    "load_index",
    "tune_scann",
]
