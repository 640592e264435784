"""The run configuration of `tfsearch train`, separate from the model's layer config."""

import dataclasses
import json
import pathlib

MIXED_PRECISION = (None, "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs; saved as `train_config.json` in the output folder.

    Attributes:
        data: BEIR folder.
        output: the output (model) folder.
        split: training split of the judgements.
        model: starting checkpoint or preset (None: all-MiniLM-L6-v2).
        max_length: tokens per text (None: the checkpoint's).
        shared_towers: one encoder for queries and documents (else two copies).
        projection_dim: optional projection head on each tower.
        validation_fraction: training queries held out for validation.
        validation_corpus_size: documents searched at validation: the
            validation queries' relevant documents plus a seeded sample of the
            rest up to this many (None: the whole corpus).
        epochs, batch_size (global), learning_rate (peak), warmup_fraction,
        weight_decay: optimisation (AdamW, linear warm-up and decay).
        temperature, remove_accidental_hits, num_hard_negatives: the
            `Retrieval` task (`num_hard_negatives`: tfrs' in-batch mining).
        mined_negatives: hard negatives mined per query before training (0: none).
        mining_skip_top, mining_depth: see `mine_hard_negatives`.
        strategy, tpu: see `make_strategy`.
        mixed_precision: None, "mixed_bfloat16" or "mixed_float16" (loss scaling).
        jit_compile: XLA-compile the training step.
        checkpoint_every: steps between fault-tolerance backups.
        early_stopping_patience: epochs without a better validation nDCG@10 before stopping.
        seed: seeds the split, the shuffling and the weights of new layers.
    """

    data: str
    output: str
    split: str = "train"
    model: str = None
    max_length: int = None
    shared_towers: bool = True
    projection_dim: int = None
    validation_fraction: float = 0.1
    validation_corpus_size: int = None
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    temperature: float = 0.05
    remove_accidental_hits: bool = True
    num_hard_negatives: int = None
    mined_negatives: int = 0
    mining_skip_top: int = 3
    mining_depth: int = 30
    strategy: str = "default"
    tpu: str = None
    mixed_precision: str = None
    jit_compile: bool = False
    checkpoint_every: int = 50
    early_stopping_patience: int = 2
    seed: int = 0

    def __post_init__(self):
        checks = [
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 2, "batch_size must be at least 2 (in-batch negatives)"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (0 <= self.warmup_fraction <= 1, "warmup_fraction must be in [0, 1]"),
            (self.weight_decay >= 0, "weight_decay must be non-negative"),
            (self.temperature > 0, "temperature must be positive"),
            (0 <= self.validation_fraction < 1, "validation_fraction must be in [0, 1)"),
            (self.mined_negatives >= 0 and self.mining_skip_top >= 0, "mining settings must be non-negative"),
            (self.checkpoint_every >= 1, "checkpoint_every must be at least 1"),
            (self.strategy in STRATEGIES, f"strategy must be one of {STRATEGIES}"),
            (self.mixed_precision in MIXED_PRECISION, f"mixed_precision must be one of {MIXED_PRECISION}"),
            (self.num_hard_negatives is None or self.num_hard_negatives >= 1, "num_hard_negatives must be positive"),
            (self.validation_corpus_size is None or self.validation_corpus_size >= 1,
             "validation_corpus_size must be positive"),
        ]
        problems = [message for ok, message in checks if not ok]
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
