"""The run configuration of `tfsearch train`, separate from the model's layer config."""

import dataclasses
import json
import pathlib
from typing import Optional

# "auto": bfloat16 where native, float16 with loss scaling on GPUs of compute capability 7.x, float32 elsewhere
# (`tfsearch.utils.precision`); None and "float32": float32 (None keeps a starting checkpoint's own policy).
MIXED_PRECISION = ("auto", None, "float32", "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")


def _setting(default, help):
    """A setting with its default and its one-line description (the `tfsearch train` flag's help)."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs; saved as `train_config.json` in the output folder.

    Each field is described once, by its `metadata["help"]`: the help of its
    `tfsearch train` flag (`--max-length` for `max_length`), which the command
    line builds from these fields alone. `Optional[...]` fields default to
    None, meaning "decided elsewhere" (the checkpoint's length, no head, ...).

    Example:
    ```python
    config = TrainConfig(data="path/to/scifact", output="models/scifact", epochs=1)
    TrainConfig.from_file("bench/configs/train_scifact.json", output="models/other")  # keyword overrides
    ```
    """

    data: str = dataclasses.field(metadata={"help": "BEIR folder"})
    output: str = dataclasses.field(metadata={"help": "model folder to write (resumed when it holds a run)"})
    split: str = _setting("train", "qrels split to train on")
    model: Optional[str] = _setting(None, "starting checkpoint or preset (all-MiniLM-L6-v2)")
    max_length: Optional[int] = _setting(None, "tokens per text (the checkpoint's: 256)")
    shared_towers: bool = _setting(True, "one encoder for queries and documents (else two copies)")
    projection_dim: Optional[int] = _setting(None, "add a projection head of this size to each tower")
    validation_fraction: float = _setting(0.1, "training queries held out for validation")
    validation_corpus_size: Optional[int] = _setting(
        None, "documents searched at validation: the validation queries' relevant documents plus a seeded "
              "sample of the rest up to this many (default: the whole corpus)")
    epochs: int = _setting(3, "passes over the training pairs")
    batch_size: int = _setting(32, "global batch (split across replicas)")
    learning_rate: float = _setting(2e-5, "peak learning rate (AdamW, linear warm-up and decay)")
    warmup_fraction: float = _setting(0.1, "share of steps warming up")
    weight_decay: float = _setting(0.01, "AdamW weight decay")
    temperature: float = _setting(0.05, "softmax temperature of the Retrieval task")
    remove_accidental_hits: bool = _setting(True, "do not count a positive's duplicate as negative")
    num_hard_negatives: Optional[int] = _setting(None, "tfrs in-batch mining: keep the N hardest negatives of "
                                                       "each query")
    mined_negatives: int = _setting(0, "hard negatives mined per query with the starting model before training "
                                       "(0: none)")
    mining_skip_top: int = _setting(3, "unjudged documents skipped at the top when mining (likely false "
                                       "negatives; see mine_hard_negatives)")
    mining_depth: int = _setting(30, "ranks searched when mining")
    strategy: str = _setting("default", "default | one_device | mirrored | multi_worker (TF_CONFIG) | tpu "
                                        "(see make_strategy)")
    tpu: Optional[str] = _setting(None, "TPU name or address (--strategy tpu)")
    mixed_precision: Optional[str] = _setting(
        "auto", "auto (bfloat16 where native: AVX512-BF16/AMX-BF16 CPUs, TPUs, GPUs of compute capability 8.0+; "
                "float16 with loss scaling on GPUs of capability 7.x; else float32) | float32 | mixed_bfloat16 | "
                "mixed_float16 (loss scaling)")
    jit_compile: bool = _setting(False, "XLA-compile the training step")
    checkpoint_every: int = _setting(50, "steps between fault-tolerance backups")
    early_stopping_patience: int = _setting(2, "epochs without a better validation nDCG@10 before stopping")
    seed: int = _setting(0, "seeds the split, the shuffling and the weights of new layers")

    def __post_init__(self):
        # (valid, setting, what is allowed); each failure reads "`setting` must be ALLOWED, got VALUE".
        checks = [
            (self.epochs >= 1, "epochs", "at least 1"),
            (self.batch_size >= 2, "batch_size", "at least 2 (in-batch negatives)"),
            (self.learning_rate > 0, "learning_rate", "positive"),
            (0 <= self.warmup_fraction <= 1, "warmup_fraction", "in [0, 1]"),
            (self.weight_decay >= 0, "weight_decay", "non-negative"),
            (self.temperature > 0, "temperature", "positive"),
            (0 <= self.validation_fraction < 1, "validation_fraction", "in [0, 1)"),
            (self.mined_negatives >= 0, "mined_negatives", "non-negative"),
            (self.mining_skip_top >= 0, "mining_skip_top", "non-negative"),
            (self.checkpoint_every >= 1, "checkpoint_every", "at least 1"),
            (self.strategy in STRATEGIES, "strategy", f"one of {STRATEGIES}"),
            (self.mixed_precision in MIXED_PRECISION, "mixed_precision", f"one of {MIXED_PRECISION}"),
            (self.num_hard_negatives is None or self.num_hard_negatives >= 1, "num_hard_negatives",
             "positive or None"),
            (self.validation_corpus_size is None or self.validation_corpus_size >= 1, "validation_corpus_size",
             "positive or None"),
        ]
        problems = [f"`{name}` must be {allowed}, got {getattr(self, name)!r}" for ok, name, allowed in checks if not ok]
        if problems:
            raise ValueError("Invalid training configuration: " + "; ".join(problems) + ".")

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown training settings: {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
        return cls(**values)

    @classmethod
    def from_file(cls, path, **overrides):
        """Reads a JSON file of settings; `overrides` (e.g. from flags) win."""
        values = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(values)

    def differences(self, other):
        """Settings that differ from `other` and change the result (not output or strategy)."""
        ignored = {"output", "strategy", "tpu"}
        return {k: (v, other.to_dict().get(k)) for k, v in self.to_dict().items()
                if k not in ignored and other.to_dict().get(k) != v}
