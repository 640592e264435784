"""The output folder of a training run: what it holds, whether a run may use it, publishing the best towers.

A run folder, written as training goes:
- `train_config.json`: the settings (a resumed run must match them);
- `hard_negatives.jsonl`: mined negatives, when asked for;
- `backup/`: fault-tolerance state (`BackupAndRestore`; removed when training completes);
- `best/`: the towers with the best validation nDCG@10 so far, and `validation.json`;
- `logs/`: TensorBoard; `workers/`: the other workers' logs and reports;
- at the end, the best towers at the top level (`tfsearch_encoder.json`,
  `vocab.txt`, `weights/`; `document_encoder/` for separate towers) and
  `training_report.json`.
"""

import json
import os
import shutil

import tensorflow as tf

from tfsearch.models.bert_encoder import ENCODER_CONFIG_FILE
from tfsearch.training.train_config import TrainConfig
from tfsearch.utils.atomic import atomic_write_text

CONFIG_FILE = "train_config.json"
REPORT_FILE = "training_report.json"
BEST_DIR = "best"
BACKUP_DIR = "backup"
HARD_NEGATIVES_FILE = "hard_negatives.jsonl"
BEST_VALIDATION_FILE = "validation.json"

# What a training run writes into its output folder.
_OURS = {CONFIG_FILE, REPORT_FILE, BEST_DIR, BACKUP_DIR, "logs", "workers", HARD_NEGATIVES_FILE}

# The files of the best towers copied to the top of the folder, the config file last.
_TOWER_FILES = ("vocab.txt", "weights", "document_encoder")


class CorruptCheckpointError(RuntimeError):
    """A fault-tolerance backup that cannot be read back (truncated or altered files)."""


def check_output_folder(config, output, chief=True):
    """Whether a run with `config` may write into `output`.

    Args:
        config: `TrainConfig`.
        output: `pathlib.Path`, the run folder.
        chief: bool. This worker writes the model; only the chief refuses a
            folder holding foreign files (the other workers may see the
            chief's folder before its settings file).

    Returns:
        The report of a completed run with the same settings (dict, with
        `"already_complete": True`), or None: start or resume training.

    Raises:
        FileExistsError: `output` holds files that are not a training run's.
        ValueError: `output` holds a run with other settings.
    """
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


def check_backup(backup_dir):
    """Reads every tensor of the newest backup checkpoint; a failure is reported, not loaded.

    Args:
        backup_dir: `pathlib.Path`, the `backup/` folder (it may not exist).

    Raises:
        CorruptCheckpointError: a checkpoint that cannot be read, with what to do.
    """
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


def publish(best, output):
    """Copies the best towers to the top of the output folder, the config file last.

    A reader keys on `tfsearch_encoder.json`: it appears only once the
    weights and vocabulary beside it are complete.

    Args:
        best: `pathlib.Path`, a towers folder (`TwoTower.save_towers`).
        output: `pathlib.Path`, the run folder.
    """
    (output / ENCODER_CONFIG_FILE).unlink(missing_ok=True)
    for name in _TOWER_FILES:
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
