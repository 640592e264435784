import json

import pytest
import tensorflow as tf

from tests.conftest import make_tiny_encoder
from tfsearch.data import DEMO_DIR
from tfsearch.models.bert_encoder import BertEncoder
from tfsearch.training.train_config import TrainConfig
from tfsearch.training.trainer import CorruptCheckpointError, train


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    return str(make_tiny_encoder(sequence_length=24).save_to_directory(tmp_path_factory.mktemp("m") / "tiny"))


def config_for(output, model, **overrides):
    # The demo corpus's only split trains here: 48 queries (10 held out), about 1,150 judged pairs.
    values = dict(data=str(DEMO_DIR), split="test", output=str(output), model=model, epochs=2, batch_size=64,
                  learning_rate=1e-3, validation_fraction=0.2, checkpoint_every=5, seed=0,
                  mixed_precision=None)  # float32 whatever the machine (the default "auto" is tested below)
    values.update(overrides)
    return TrainConfig(**values)


class CrashAt(tf.keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.step:
            raise RuntimeError("simulated crash")


def test_train_end_to_end_writes_a_loadable_model(tiny_model_dir, tmp_path):
    config = config_for(tmp_path / "run", tiny_model_dir, mined_negatives=1, mining_skip_top=1)
    report = train(config, progress=False)
    out = tmp_path / "run"
    assert report["steps"] == report["steps_per_epoch"] * 2 and report["resumed_from_step"] == 0
    # Epoch 0 is the starting model, measured for the report; the best is a trained epoch.
    assert report["validation_queries"] == 10 and [v["epoch"] for v in report["validation"]] == [0, 1, 2]
    assert report["best_validation"] == max(v["nDCG@10"] for v in report["validation"][1:])
    assert report["examples_per_second"] > 0 and len(report["history"]["learning_rate"]) == 2
    assert (out / "hard_negatives.jsonl").is_file() and (out / "train_config.json").is_file()
    assert not list((out / "backup").glob("**/*.index"))  # the backup is removed when training completes
    assert list((out / "logs").glob("**/events.out.tfevents.*"))
    assert json.loads((out / "best" / "validation.json").read_text())["val_ndcg@10"] == report["best_validation"]
    # The output folder is an encoder folder holding the best model.
    best = BertEncoder.from_pretrained(out / "best")
    loaded = BertEncoder.from_pretrained(out)
    texts = tf.constant(["planets and stars"])
    assert (loaded(texts).numpy() == best(texts).numpy()).all()
    # Running again returns the completed run; other settings are refused.
    again = train(config, progress=False)
    assert again["already_complete"] and again["steps"] == report["steps"]
    with pytest.raises(ValueError, match="other settings.*epochs"):
        train(config_for(tmp_path / "run", tiny_model_dir, epochs=3, mined_negatives=1, mining_skip_top=1))


def test_crash_then_resume_from_the_backup(tiny_model_dir, tmp_path):
    config = config_for(tmp_path / "run", tiny_model_dir)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, progress=False, callbacks=[CrashAt(13)])
    assert list((tmp_path / "run" / "backup").glob("**/*.index"))
    report = train(config, progress=False)
    # Backups every 5 steps: the crash at step 13 resumes from step 10, and
    # the run still ends after exactly 2 epochs of steps.
    assert report["resumed_from_step"] == 10
    assert report["steps"] == 2 * report["steps_per_epoch"]
    assert report["precision"] == {"given": None, "policy": "float32", "reason": "as given"}  # the checkpoint's


def test_a_corrupt_backup_is_reported_not_loaded(tiny_model_dir, tmp_path):
    config = config_for(tmp_path / "run", tiny_model_dir)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, progress=False, callbacks=[CrashAt(7)])
    data_files = list((tmp_path / "run" / "backup").glob("**/*.data-*"))
    assert data_files
    largest = max(data_files, key=lambda p: p.stat().st_size)
    largest.write_bytes(largest.read_bytes()[: largest.stat().st_size // 2])  # truncated
    with pytest.raises(CorruptCheckpointError, match="cannot be read.*not loaded"):
        train(config, progress=False)


def test_output_that_is_not_a_training_folder_is_refused(tiny_model_dir, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a tfsearch training folder"):
        train(config_for(tmp_path / "run", tiny_model_dir), progress=False)


def test_auto_precision_is_resolved_once_and_recorded(tiny_model_dir, tmp_path, monkeypatch):
    from tfsearch.utils import precision

    calls = []
    monkeypatch.setattr(precision, "machine_facts", lambda: calls.append(1) or ({"avx2", "amx_bf16"}, None, None))
    config = config_for(tmp_path / "run", tiny_model_dir, epochs=1, validation_fraction=0.0, mixed_precision="auto")
    report = train(config, progress=False)
    assert report["precision"] == {"given": "auto", "policy": "mixed_bfloat16", "reason": "CPU with AMX-BF16"}
    assert len(calls) == 1
    assert json.loads((tmp_path / "run" / "train_config.json").read_text())["mixed_precision"] == "auto"
    assert json.loads((tmp_path / "run" / "training_report.json").read_text())["precision"] == report["precision"]
    assert BertEncoder.from_pretrained(tmp_path / "run").backbone.compute_dtype == "bfloat16"


def test_the_default_precision_is_auto_and_float16_gets_loss_scaling(tiny_model_dir):
    from tfsearch.models.two_tower import TwoTower
    from tfsearch.training.trainer import _compile

    assert TrainConfig(data="d", output="o").mixed_precision == "auto"
    with pytest.raises(ValueError, match=r"`mixed_precision` must be one of \('auto', None, 'float32'.*got 'bf16'"):
        TrainConfig(data="d", output="o", mixed_precision="bf16")
    config = TrainConfig(data="d", output="o", mixed_precision="auto")
    for policy, scaled in [("mixed_float16", True), ("mixed_bfloat16", False), ("float32", False)]:
        model = TwoTower(BertEncoder.from_pretrained(tiny_model_dir))
        _compile(model, config, tf.distribute.get_strategy(), total_steps=10, policy=policy)
        assert isinstance(model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer) == scaled, policy
