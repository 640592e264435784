"""`train(config)`: fine-tunes the two towers on BEIR judgements, on one device or many, resumably."""

import json
import os
import pathlib
import shutil
import time

import numpy as np
import tensorflow as tf

from tfsearch.models.bert_encoder import ENCODER_CONFIG_FILE
from tfsearch.training.train_config import TrainConfig
from tfsearch.utils.atomic import atomic_write_text

CONFIG_FILE = "train_config.json"
REPORT_FILE = "training_report.json"
BEST_DIR = "best"
BACKUP_DIR = "backup"


# What a training run writes into its output folder.
_OURS = {CONFIG_FILE, REPORT_FILE, BEST_DIR, BACKUP_DIR, "logs", "workers", "hard_negatives.jsonl"}


class CorruptCheckpointError(RuntimeError):
    """A fault-tolerance backup that cannot be read back (truncated or altered files)."""


class TrainingSpeed(tf.keras.callbacks.Callback):
    """Times the training batches alone (not validation) and logs examples per second."""

    def __init__(self, batch_size):
        super().__init__()
        self.batch_size = batch_size
        self.seconds = 0.0
        self.steps = 0
        self._start = None

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self._start is not None:
            self.seconds += time.perf_counter() - self._start
            self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(tf.keras.backend.get_value(
                self.model.optimizer.learning_rate(self.model.optimizer.iterations)
                if callable(self.model.optimizer.learning_rate) else self.model.optimizer.learning_rate))
            logs["examples_per_second"] = self.examples_per_second

    @property
    def examples_per_second(self):
        return self.steps * self.batch_size / self.seconds if self.seconds else 0.0


class ResumeRecorder(tf.keras.callbacks.Callback):
    """Notes the optimizer step training starts from (after `BackupAndRestore` restored it)."""

    def __init__(self):
        super().__init__()
        self.initial_step = 0

    def on_train_begin(self, logs=None):
        self.initial_step = int(self.model.optimizer.iterations.numpy())


def train(config, progress=True, strategy=None, callbacks=()):
    """Fine-tunes a `TwoTower` model as `config` says and writes the output folder.

    The output folder, written as training goes:
    - `train_config.json`: the settings (a resumed run must match them);
    - `hard_negatives.jsonl`: mined negatives, when asked for;
    - `backup/`: fault-tolerance state (`BackupAndRestore`, every
      `checkpoint_every` steps; removed when training completes);
    - `best/`: the towers with the best validation nDCG@10 so far;
    - `logs/`: TensorBoard (loss, learning rate, validation measures);
    - at the end, the best towers at the top level (`tfsearch_encoder.json`,
      `vocab.txt`, `weights/`; `document_encoder/` for separate towers), which
      `tfsearch evaluate --model OUTPUT` reads, and `training_report.json`.

    Running again on the same folder resumes from the backup, or returns the
    report of a completed run.

    Args:
        config: `TrainConfig`.
        progress: bool. Keras progress bar and encoding progress.
        strategy: optional `tf.distribute.Strategy` (else from `config.strategy`).
        callbacks: extra Keras callbacks, run after tfsearch's own.

    Returns:
        The report (dict): steps, epochs, history, best validation, speed.
    """
    from tfsearch.data.beir import BeirDataset
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.models.fingerprint import model_fingerprint
    from tfsearch.models.two_tower import TwoTower
    from tfsearch.training.learning_rate import WarmupLinearDecay
    from tfsearch.training.strategies import is_chief, make_strategy
    from tfsearch.training.training_data import (mine_hard_negatives, read_hard_negatives, split_queries,
                                                 training_pairs, write_hard_negatives)
    from tfsearch.training.validation_callback import ValidationRetrieval

    output = pathlib.Path(config.output)
    strategy = strategy or make_strategy(config.strategy, config.tpu)
    chief = is_chief(strategy)
    completed = _check_output_folder(config, output, chief)
    if completed is not None:
        return completed
    worker_dir = output if chief else output / "workers" / f"worker-{strategy.cluster_resolver.task_id}"
    worker_dir.mkdir(parents=True, exist_ok=True)
    if chief:
        atomic_write_text(output / CONFIG_FILE, json.dumps(config.to_dict(), indent=2) + "\n")
    _check_backup(output / BACKUP_DIR)
    tf.keras.utils.set_random_seed(config.seed)
    started = time.perf_counter()

    data = BeirDataset(config.data)
    qrels = data.qrels(config.split)
    train_qrels, validation_qrels = split_queries(qrels, config.validation_fraction, config.seed)
    queries = data.queries()
    corpus = data.corpus()

    with strategy.scope():
        def encoder():
            return BertEncoder.from_pretrained(config.model, sequence_length=config.max_length,
                                               projection_dim=config.projection_dim, dtype=config.mixed_precision)

        model = TwoTower(encoder(), None if config.shared_towers else encoder(), temperature=config.temperature,
                         remove_accidental_hits=config.remove_accidental_hits,
                         num_hard_negatives=config.num_hard_negatives)

    mined = None
    if config.mined_negatives:
        mined_path = output / "hard_negatives.jsonl"
        if mined_path.is_file():
            mined = read_hard_negatives(mined_path)
        else:
            from tfsearch.models.batch_encoding import encode_texts

            doc_ids = sorted(corpus)
            embeddings = encode_texts(model.document_tower, [corpus[d].contents() for d in doc_ids],
                                      progress=progress, description="encoding corpus for mining")
            mined = mine_hard_negatives(model.query_encoder, embeddings, doc_ids, train_qrels, queries,
                                        num_negatives=config.mined_negatives, skip_top=config.mining_skip_top,
                                        depth=config.mining_depth)
            if chief:
                write_hard_negatives(mined_path, mined)
    pairs = training_pairs(train_qrels, queries, corpus, mined, config.mined_negatives)
    steps_per_epoch = pairs.steps_per_epoch(config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    schedule = WarmupLinearDecay(config.learning_rate, int(round(config.warmup_fraction * total_steps)), total_steps)
    with strategy.scope():
        optimizer = tf.keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
        optimizer.exclude_from_weight_decay(var_names=["LayerNorm", "bias"])
        if config.mixed_precision == "mixed_float16":
            optimizer = tf.keras.mixed_precision.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer, jit_compile=config.jit_compile)

    speed = TrainingSpeed(config.batch_size)
    resume = ResumeRecorder()
    user_callbacks = list(callbacks)
    callbacks = []
    validation = None
    if validation_qrels:
        doc_ids = _validation_corpus(corpus, validation_qrels, config.validation_corpus_size, config.seed)
        best_file = output / BEST_DIR / "validation.json"

        def save_best(epoch, logs):
            if chief:
                model.save_towers(output / BEST_DIR, overwrite=True)
                atomic_write_text(best_file, json.dumps({"epoch": epoch + 1, **{
                    k: v for k, v in logs.items() if k.startswith("val_")}}, indent=2) + "\n")

        validation = ValidationRetrieval({q: queries[q] for q in validation_qrels}, validation_qrels, doc_ids,
                                         [corpus[d].contents() for d in doc_ids], on_improvement=save_best)
        if best_file.is_file():  # resumed: improve on the best model already saved
            validation.best = json.loads(best_file.read_text())[validation.monitor]
        callbacks += [validation, tf.keras.callbacks.EarlyStopping(
            monitor=validation.monitor, mode="max", patience=config.early_stopping_patience)]
    # Order matters: validation writes val_* into the logs that early stopping
    # reads; the backup is restored before `resume` and `speed` look at the
    # step; `speed` adds the learning rate before TensorBoard writes.
    callbacks += [
        tf.keras.callbacks.BackupAndRestore(str(output / BACKUP_DIR), save_freq=config.checkpoint_every),
        resume,
        speed,
        tf.keras.callbacks.TensorBoard(str(worker_dir / "logs"), update_freq="epoch"),
        *user_callbacks,
    ]
    transform = None
    if config.jit_compile:  # XLA: no string ops in the step, static shapes
        from tfsearch.models.two_tower import tokenize_features

        query_tokenizer, document_tokenizer = model.query_encoder.tokenizer, model.document_tower.tokenizer
        transform = lambda features: tokenize_features(features, query_tokenizer, document_tokenizer)  # noqa: E731
    with strategy.scope():
        model(tf.constant(["build"]))  # BackupAndRestore restores into a built model only
    history = model.fit(pairs.dataset(config.batch_size, seed=config.seed, transform=transform),
                        epochs=config.epochs, callbacks=callbacks, verbose=1 if progress else 2)

    steps = int(model.optimizer.iterations.numpy())
    report = {
        "steps": steps,
        "resumed_from_step": resume.initial_step,
        "steps_per_epoch": steps_per_epoch,
        "epochs_completed": steps // steps_per_epoch,
        "training_pairs": len(pairs),
        "validation_queries": len(validation_qrels),
        "history": {k: [float(v) for v in values] for k, values in history.history.items()},
        "validation": validation.history if validation else [],  # epoch 0: before training
        "best_validation": validation.best if validation else None,
        "examples_per_second": speed.examples_per_second,
        "seconds": time.perf_counter() - started,
        "num_replicas": strategy.num_replicas_in_sync,
        "weights_fingerprint": model_fingerprint(model.query_encoder),
        "final_weights_sha": _weights_digest(model),
    }
    if chief:
        if validation is not None and (output / BEST_DIR / ENCODER_CONFIG_FILE).is_file():
            _publish(output / BEST_DIR, output)
        else:
            model.save_towers(output / BEST_DIR, overwrite=True)
            _publish(output / BEST_DIR, output)
    atomic_write_text(worker_dir / REPORT_FILE, json.dumps(report, indent=2) + "\n")
    return report


def _check_output_folder(config, output, chief=True):
    """Returns the report of a completed run with the same settings, or None; refuses a different run."""
    if not output.exists():
        return None
    saved = output / CONFIG_FILE
    if not saved.is_file():
        # Other workers may see the chief's folder before its settings file,
        # and the chief may see theirs (workers/) or its own temporary files.
        foreign = [p.name for p in output.iterdir() if not p.name.startswith(".") and p.name not in _OURS]
        if chief and foreign:
            raise FileExistsError(f"{output} exists and is not a tfsearch training folder; choose another "
                                  "output or empty it.")
        return None
    previous = TrainConfig.from_file(saved)
    differences = config.differences(previous)
    if differences:
        listed = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (new, old) in differences.items())
        raise ValueError(f"{output} holds a run with other settings ({listed}); resume with the same settings, "
                         "or train into a new folder (or pass --overwrite).")
    report = output / REPORT_FILE
    if report.is_file() and (output / ENCODER_CONFIG_FILE).is_file():
        return {**json.loads(report.read_text()), "already_complete": True}
    return None


def _check_backup(backup_dir):
    """Reads every tensor of the newest backup checkpoint; a failure is reported, not loaded."""
    for folder in [backup_dir, *sorted(p for p in backup_dir.glob("**/") if p != backup_dir)]:
        prefix = tf.train.latest_checkpoint(str(folder))
        if prefix is None:
            continue
        try:
            reader = tf.train.load_checkpoint(prefix)
            for name in reader.get_variable_to_shape_map():
                reader.get_tensor(name)
        except (tf.errors.OpError, ValueError, IndexError, RuntimeError) as e:
            raise CorruptCheckpointError(
                f"The training backup {prefix} cannot be read ({type(e).__name__}: {str(e).splitlines()[0]}). "
                f"It was not loaded. Remove {backup_dir} to restart from the last completed epoch's best "
                "model folder, or train into a new folder.") from None


def _validation_corpus(corpus, validation_qrels, size, seed):
    doc_ids = sorted(corpus)
    if size is None or size >= len(doc_ids):
        return doc_ids
    relevant = sorted({d for judged in validation_qrels.values() for d in judged if d in corpus})
    others = [d for d in doc_ids if d not in set(relevant)]
    rng = np.random.default_rng(seed)
    extra = rng.choice(len(others), size=max(0, size - len(relevant)), replace=False)
    return relevant + [others[i] for i in sorted(extra)]


def _weights_digest(model):
    import hashlib

    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:16]


def _publish(best, output):
    """Copies the best towers to the top of the output folder, the config file last.

    A reader keys on `tfsearch_encoder.json`: it appears only once the
    weights and vocabulary beside it are complete.
    """
    (output / ENCODER_CONFIG_FILE).unlink(missing_ok=True)
    for name in ("vocab.txt", "weights", "document_encoder"):
        source = best / name
        if not source.exists():
            continue
        staging = output / f".{name}.tmp"
        shutil.rmtree(staging, ignore_errors=True) if staging.is_dir() else staging.unlink(missing_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, staging)
        target = output / name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(staging, target)
    atomic_write_text(output / ENCODER_CONFIG_FILE, (best / ENCODER_CONFIG_FILE).read_text(encoding="utf-8"))
