"""`train(config)`: fine-tunes the two towers on BEIR judgements, on one device or many, resumably.

`train` is the recipe; the run folder's bookkeeping (may a run use it, is the
backup readable, publishing the best towers) is in `run_folder`, the
callbacks in `callbacks` and `validation_callback`.
"""

import json
import pathlib
import time

import numpy as np
import tensorflow as tf

from tfsearch.models.bert_encoder import ENCODER_CONFIG_FILE
from tfsearch.training.callbacks import ResumeRecorder, TrainingSpeed
from tfsearch.training.run_folder import (  # noqa: F401  (CorruptCheckpointError: raised by train)
    BACKUP_DIR,
    BEST_DIR,
    BEST_VALIDATION_FILE,
    CONFIG_FILE,
    HARD_NEGATIVES_FILE,
    REPORT_FILE,
    CorruptCheckpointError,
    check_backup,
    check_output_folder,
    publish,
)
from tfsearch.utils.atomic import atomic_write_text


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
        The report (dict): steps, epochs, history, best validation, speed,
        and `precision`: `{"given": config.mixed_precision, "policy": the Keras
        policy trained with, "reason": why}` (`"auto"` is resolved once, at the
        start, from this machine; `train_config.json` keeps `"auto"`).

    Raises:
        FileExistsError: the output folder holds files that are not a run's.
        ValueError: the output folder holds a run with other settings.
        CorruptCheckpointError: the backup to resume from cannot be read.

    Example:
    ```python
    report = train(TrainConfig(data="data/scifact", output="models/scifact", epochs=1))
    report["best_validation"]  # validation nDCG@10 of the towers in models/scifact
    ```
    """
    from tfsearch.data.beir import BeirDataset
    from tfsearch.models.fingerprint import model_fingerprint
    from tfsearch.training.strategies import is_chief, make_strategy
    from tfsearch.training.training_data import split_queries, training_pairs

    # The run folder: a new run, a resumed one, or the report of a finished one.
    output = pathlib.Path(config.output)
    strategy = strategy or make_strategy(config.strategy, config.tpu)
    chief = is_chief(strategy)
    completed = check_output_folder(config, output, chief)
    if completed is not None:
        return completed
    worker_dir = output if chief else output / "workers" / f"worker-{strategy.cluster_resolver.task_id}"
    worker_dir.mkdir(parents=True, exist_ok=True)
    if chief:
        atomic_write_text(output / CONFIG_FILE, json.dumps(config.to_dict(), indent=2) + "\n")
    check_backup(output / BACKUP_DIR)
    precision = _precision(config)
    tf.keras.utils.set_random_seed(config.seed)
    started = time.perf_counter()

    # Data, towers, training pairs (with mined negatives), optimizer.
    data = BeirDataset(config.data)
    train_qrels, validation_qrels = split_queries(data.qrels(config.split), config.validation_fraction, config.seed)
    queries = data.queries()
    corpus = data.corpus()
    model = _two_tower(config, strategy, precision["dtype"])
    if precision["dtype"] is None:  # None: the starting checkpoint's own policy, whatever it is
        precision["policy"] = model.query_encoder.backbone.dtype_policy.name
    mined = _hard_negatives(config, model, output, chief, corpus, queries, train_qrels, progress)
    pairs = training_pairs(train_qrels, queries, corpus, mined, config.mined_negatives)
    steps_per_epoch = pairs.steps_per_epoch(config.batch_size)
    _compile(model, config, strategy, total_steps=steps_per_epoch * config.epochs, policy=precision["policy"])

    # Callbacks and training.
    speed = TrainingSpeed(config.batch_size)
    resume = ResumeRecorder()
    validation = (_validation(model, config, output, chief, corpus, queries, validation_qrels)
                  if validation_qrels else None)
    # Order matters: validation writes val_* into the logs that early stopping
    # reads; the backup is restored before `resume` and `speed` look at the
    # step; `speed` adds the learning rate before TensorBoard writes.
    fit_callbacks = [] if validation is None else [validation, tf.keras.callbacks.EarlyStopping(
        monitor=validation.monitor, mode="max", patience=config.early_stopping_patience)]
    fit_callbacks += [
        tf.keras.callbacks.BackupAndRestore(str(output / BACKUP_DIR), save_freq=config.checkpoint_every),
        resume,
        speed,
        tf.keras.callbacks.TensorBoard(str(worker_dir / "logs"), update_freq="epoch"),
        *callbacks,
    ]
    transform = _tokenize_in_pipeline(model) if config.jit_compile else None
    with strategy.scope():
        model(tf.constant(["build"]))  # BackupAndRestore restores into a built model only
    history = model.fit(pairs.dataset(config.batch_size, seed=config.seed, transform=transform),
                        epochs=config.epochs, callbacks=fit_callbacks, verbose=1 if progress else 2)

    # The report, and the best towers at the top of the folder.
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
        "precision": {k: precision[k] for k in ("given", "policy", "reason")},
        "weights_fingerprint": model_fingerprint(model.query_encoder),
        "final_weights_sha": _weights_digest(model),
    }
    if chief:
        if validation is None or not (output / BEST_DIR / ENCODER_CONFIG_FILE).is_file():
            model.save_towers(output / BEST_DIR, overwrite=True)  # no validation: the last towers are the best
        publish(output / BEST_DIR, output)
    atomic_write_text(worker_dir / REPORT_FILE, json.dumps(report, indent=2) + "\n")
    return report


def _precision(config):
    """`config.mixed_precision` resolved once for the run: `{"given", "policy", "reason", "dtype"}` (logged).

    `policy` is the Keras policy trained with ("float32", "mixed_bfloat16" or
    "mixed_float16"), recorded in the report; `dtype` is what the towers are
    loaded with (None: the starting checkpoint's own policy, which `train`
    then records as `policy`).
    """
    from tfsearch.utils.precision import AUTO, resolve_precision

    policy, reason = resolve_precision(config.mixed_precision, argument="mixed_precision")
    dtype = policy if policy is not None or config.mixed_precision is None else "float32"
    if config.mixed_precision == AUTO:
        print(f"precision: {policy or 'float32'} ({reason})", flush=True)
    return {"given": config.mixed_precision, "policy": policy or "float32", "reason": reason, "dtype": dtype}


def _two_tower(config, strategy, dtype=None):
    """The `TwoTower` model to fine-tune, built under `strategy`: one shared encoder or two copies."""
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.models.two_tower import TwoTower

    with strategy.scope():
        def encoder():
            return BertEncoder.from_pretrained(config.model, sequence_length=config.max_length,
                                               projection_dim=config.projection_dim, dtype=dtype)

        return TwoTower(encoder(), None if config.shared_towers else encoder(), temperature=config.temperature,
                        remove_accidental_hits=config.remove_accidental_hits,
                        num_hard_negatives=config.num_hard_negatives)


def _hard_negatives(config, model, output, chief, corpus, queries, train_qrels, progress):
    """Mined hard negatives (`{query_id: [doc_id, ...]}`), read back on resume; None when none are asked for."""
    from tfsearch.training.training_data import mine_hard_negatives, read_hard_negatives, write_hard_negatives

    if not config.mined_negatives:
        return None
    mined_path = output / HARD_NEGATIVES_FILE
    if mined_path.is_file():
        return read_hard_negatives(mined_path)
    from tfsearch.models.batch_encoding import encode_texts

    doc_ids = sorted(corpus)
    embeddings = encode_texts(model.document_tower, [corpus[d].contents() for d in doc_ids],
                              progress=progress, description="encoding corpus for mining")
    mined = mine_hard_negatives(model.query_encoder, embeddings, doc_ids, train_qrels, queries,
                                num_negatives=config.mined_negatives, skip_top=config.mining_skip_top,
                                depth=config.mining_depth)
    if chief:
        write_hard_negatives(mined_path, mined)
    return mined


def _compile(model, config, strategy, total_steps, policy=None):
    """AdamW (no weight decay on LayerNorm and biases) with warm-up and linear decay; loss scaling for float16.

    `policy` is the resolved precision (`_precision`); None reads `config.mixed_precision` as given.
    """
    from tfsearch.training.learning_rate import WarmupLinearDecay

    schedule = WarmupLinearDecay(config.learning_rate, int(round(config.warmup_fraction * total_steps)), total_steps)
    with strategy.scope():
        optimizer = tf.keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
        optimizer.exclude_from_weight_decay(var_names=["LayerNorm", "bias"])
        if (policy or config.mixed_precision) == "mixed_float16":
            optimizer = tf.keras.mixed_precision.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer, jit_compile=config.jit_compile)


def _validation(model, config, output, chief, corpus, queries, validation_qrels):
    """The `ValidationRetrieval` callback; each improvement saves the towers to `best/` (on the chief)."""
    from tfsearch.training.validation_callback import ValidationRetrieval

    doc_ids = _validation_corpus(corpus, validation_qrels, config.validation_corpus_size, config.seed)
    best_file = output / BEST_DIR / BEST_VALIDATION_FILE

    def save_best(epoch, logs):
        if chief:
            model.save_towers(output / BEST_DIR, overwrite=True)
            atomic_write_text(best_file, json.dumps({"epoch": epoch + 1, **{
                k: v for k, v in logs.items() if k.startswith("val_")}}, indent=2) + "\n")

    validation = ValidationRetrieval({q: queries[q] for q in validation_qrels}, validation_qrels, doc_ids,
                                     [corpus[d].contents() for d in doc_ids], on_improvement=save_best)
    if best_file.is_file():  # resumed: improve on the best model already saved
        validation.best = json.loads(best_file.read_text())[validation.monitor]
    return validation


def _tokenize_in_pipeline(model):
    """For XLA (no string ops in the step, static shapes): tokenises the features in the input pipeline."""
    from tfsearch.models.two_tower import tokenize_features

    query_tokenizer, document_tokenizer = model.query_encoder.tokenizer, model.document_tower.tokenizer
    return lambda features: tokenize_features(features, query_tokenizer, document_tokenizer)


def _validation_corpus(corpus, validation_qrels, size, seed):
    """The documents searched at validation: all, or the relevant ones plus a seeded sample up to `size`."""
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
