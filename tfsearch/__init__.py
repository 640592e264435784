"""tfsearch: end-to-end semantic search in TensorFlow.

Importing tfsearch routes `tf.keras` to Keras 2 (`tf-keras`), which the
TensorFlow models of `transformers` and tensorflow-recommenders need. Import it
before anything else touches `tf.keras`. On x86-64 CPUs with AVX2 and FMA
where TensorFlow leaves its oneDNN kernels off (AMD Zen 3, Intel Skylake), it
also turns them on (`tfsearch.utils.onednn`), so import it before TensorFlow.
"""

from tfsearch._keras_setup import Keras3ActiveError, configure_legacy_keras
from tfsearch.utils.onednn import configure_onednn

configure_legacy_keras()
configure_onednn()

from tfsearch.utils.lazy_exports import lazy_exports  # noqa: E402  (after the Keras 2 routing)

__version__ = "0.1.0"

# The public API and the subpackages are imported lazily, so that `import
# tfsearch` stays cheap and the CLI can answer `--help` without loading TensorFlow.
__all__ = ["Keras3ActiveError", "__version__", "BertEncoder", "BertBackbone", "WordPieceTokenizer", "BruteForceIndex",
           "DiversityReranker", "TwoTower", "TrainConfig", "BeirDataset", "BeirFormatError", "evaluate_run"]

_SUBPACKAGES = ("data", "embeddings", "eval", "export", "hybrid", "index", "layers", "models", "recommend",
                "serving", "text", "training", "utils")

__getattr__, __dir__ = lazy_exports(__name__, __all__, {
    "tfsearch.models.bert_encoder": ("BertEncoder",),
    "tfsearch.models.bert_backbone": ("BertBackbone",),
    "tfsearch.text.wordpiece_tokenizer": ("WordPieceTokenizer",),
    "tfsearch.index.brute_force_index": ("BruteForceIndex",),
    "tfsearch.layers.diversity_reranker": ("DiversityReranker",),
    "tfsearch.models.two_tower": ("TwoTower",),
    "tfsearch.training.train_config": ("TrainConfig",),
    "tfsearch.data.beir": ("BeirDataset", "BeirFormatError"),
    "tfsearch.eval.metrics": ("evaluate_run",),
}, subpackages=_SUBPACKAGES)
