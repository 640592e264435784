import json

import pytest

from tfsearch.training.run_folder import CorruptCheckpointError, check_backup, check_output_folder, publish
from tfsearch.training.train_config import TrainConfig


def config_for(output, **overrides):
    return TrainConfig(data="data", output=str(output), **overrides)


def test_a_new_or_empty_folder_starts_a_run(tmp_path):
    assert check_output_folder(config_for(tmp_path / "run"), tmp_path / "run") is None
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "logs").mkdir()  # a run's own folder, written before its settings file
    (tmp_path / "run" / ".vocab.txt.tmp").write_text("")  # temporary files are not foreign
    assert check_output_folder(config_for(tmp_path / "run"), tmp_path / "run") is None


def test_a_folder_of_other_files_is_refused_by_the_chief_only(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a tfsearch training folder"):
        check_output_folder(config_for(tmp_path), tmp_path)
    assert check_output_folder(config_for(tmp_path), tmp_path, chief=False) is None


def test_same_settings_resume_or_return_the_report_other_settings_are_refused(tmp_path):
    config = config_for(tmp_path, epochs=2)
    (tmp_path / "train_config.json").write_text(json.dumps(config.to_dict()))
    assert check_output_folder(config, tmp_path) is None  # no report yet: resume
    (tmp_path / "training_report.json").write_text('{"steps": 12}')
    assert check_output_folder(config, tmp_path) is None  # no published towers yet: resume
    (tmp_path / "tfsearch_encoder.json").write_text("{}")
    assert check_output_folder(config, tmp_path) == {"steps": 12, "already_complete": True}
    with pytest.raises(ValueError, match=r"other settings \(epochs: 2 -> 3\)"):
        check_output_folder(config_for(tmp_path, epochs=3), tmp_path)


def test_no_backup_is_nothing_to_check(tmp_path):
    check_backup(tmp_path / "backup")  # absent
    (tmp_path / "backup").mkdir()
    check_backup(tmp_path / "backup")  # empty
    assert issubclass(CorruptCheckpointError, RuntimeError)


def test_publish_copies_the_best_towers_with_the_config_file_last(tmp_path):
    best, output = tmp_path / "run" / "best", tmp_path / "run"
    (best / "weights").mkdir(parents=True)
    (best / "weights" / "ckpt.index").write_text("new")
    (best / "vocab.txt").write_text("[PAD]\n")
    (best / "tfsearch_encoder.json").write_text('{"new": true}')
    (output / "weights").mkdir()
    (output / "weights" / "stale").write_text("old")  # an earlier publication is replaced
    publish(best, output)
    assert (output / "weights" / "ckpt.index").read_text() == "new" and not (output / "weights" / "stale").exists()
    assert (output / "vocab.txt").read_text() == "[PAD]\n"
    assert (output / "tfsearch_encoder.json").read_text() == '{"new": true}'
    assert not (output / "document_encoder").exists()  # one tower: nothing more
    assert not list(output.glob(".*.tmp"))  # staging copies were renamed into place
