"""Two-tower fine-tuning: strategies, input pipeline, hard negatives, callbacks, the training loop.

Imported lazily, so that `tfsearch train --help` reads `TrainConfig` without loading TensorFlow.
"""

from tfsearch.utils.lazy_exports import lazy_exports

__all__ = ["CorruptCheckpointError", "STRATEGIES", "TrainConfig", "WarmupLinearDecay", "detect_strategy",
           "gather_from_replicas", "make_strategy", "train"]

__getattr__, __dir__ = lazy_exports(__name__, __all__, {
    "tfsearch.training.run_folder": ("CorruptCheckpointError",),
    "tfsearch.training.strategies": ("detect_strategy", "make_strategy"),
    "tfsearch.training.train_config": ("STRATEGIES", "TrainConfig"),  # no TensorFlow import
    "tfsearch.training.learning_rate": ("WarmupLinearDecay",),
    "tfsearch.models.global_negatives": ("gather_from_replicas",),  # kept here for existing callers
    "tfsearch.training.trainer": ("train",),
})
