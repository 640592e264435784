"""Retrieval indexes: exact (core TensorFlow ops) and ScaNN, behind one interface; live updates; merging partitions' top-k."""

from tfsearch.index.brute_force_index import BruteForceIndex
from tfsearch.index.index_building import BACKENDS, EncoderMismatchError, build_index, exportable_index, load_index
from tfsearch.index.index_updates import update_index, update_index_folder
from tfsearch.index.scann_index import ScannIndex
from tfsearch.index.scann_tuning import ScannParams, default_scann_params, format_tuning_report, tune_scann
from tfsearch.index.top_k_merge import merge_top_k

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
    "merge_top_k",
    "tune_scann",
    "update_index",
    "update_index_folder",
]
