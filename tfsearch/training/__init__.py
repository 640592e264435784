"""Two-tower fine-tuning: strategies, input pipeline, hard negatives, callbacks, the training loop.

Imported lazily, so that `tfsearch train --help` reads `TrainConfig` without loading TensorFlow.
"""

_LAZY = {
    "CorruptCheckpointError": "tfsearch.training.trainer",
    "STRATEGIES": "tfsearch.training.strategies",
    "TrainConfig": "tfsearch.training.train_config",
    "WarmupLinearDecay": "tfsearch.training.learning_rate",
    "detect_strategy": "tfsearch.training.strategies",
    "gather_from_replicas": "tfsearch.training.global_negatives",
    "make_strategy": "tfsearch.training.strategies",
    "train": "tfsearch.training.trainer",
}


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tfsearch.training' has no attribute {name!r}")


__all__ = list(_LAZY)
