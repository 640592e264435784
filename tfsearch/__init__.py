"""tfsearch: end-to-end semantic search in TensorFlow.

Importing tfsearch routes `tf.keras` to Keras 2 (`tf-keras`), which the
TensorFlow models of `transformers` and tensorflow-recommenders need. Import it
before anything else touches `tf.keras`.
"""

from tfsearch._keras_setup import Keras3ActiveError, configure_legacy_keras

configure_legacy_keras()

__version__ = "0.1.0"

# Public API, imported lazily so that `import tfsearch` stays cheap and the CLI
# can answer `--help` without loading TensorFlow.
_LAZY = {
    "BertEncoder": "tfsearch.models.bert_encoder",
    "BertBackbone": "tfsearch.models.bert_backbone",
    "WordPieceTokenizer": "tfsearch.text.wordpiece_tokenizer",
    "BruteForceIndex": "tfsearch.index.brute_force_index",
    "DiversityReranker": "tfsearch.layers.diversity_reranker",
    "TwoTower": "tfsearch.models.two_tower",
    "TrainConfig": "tfsearch.training.train_config",
    "BeirDataset": "tfsearch.data.beir",
    "BeirFormatError": "tfsearch.data.beir",
    "evaluate_run": "tfsearch.eval.metrics",
}


_SUBPACKAGES = ("data", "eval", "index", "layers", "models", "text", "training", "utils")


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"tfsearch.{name}")
    raise AttributeError(f"module 'tfsearch' has no attribute {name!r}")


__all__ = ["Keras3ActiveError", "__version__", *_LAZY]
