"""BEIR data: reading, validation, quality reports and tf.data pipelines."""

import pathlib

from tfsearch.data.beir import (
    BeirDataset,
    BeirFormatError,
    Document,
    Query,
    iter_corpus,
    iter_qrels,
    iter_queries,
)
from tfsearch.data.beir_download import download_beir
from tfsearch.data.quality import DataQualityReport, check_beir_folder

DEMO_DIR = pathlib.Path(__file__).resolve().parent / "demo"


def demo_dataset():
    """The demo corpus shipped with tfsearch, as a `BeirDataset`."""
    return BeirDataset(DEMO_DIR)


__all__ = [
    "DEMO_DIR",
    "BeirDataset",
    "BeirFormatError",
    "DataQualityReport",
    "Document",
    "Query",
    "check_beir_folder",
    "demo_dataset",
    "download_beir",
    "iter_corpus",
    "iter_qrels",
    "iter_queries",
]
