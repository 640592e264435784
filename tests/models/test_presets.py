
import pytest

from tfsearch.models import presets


def test_missing_package_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(presets.PRESETS, "absent", ("tfsearch_no_such_package", "model", "absent-model==1.0"))
    with pytest.raises(presets.CheckpointNotFoundError, match="pip install --no-deps absent-model==1.0"):
        presets.preset_dir("absent")


def test_unknown_preset():
    with pytest.raises(presets.CheckpointNotFoundError, match="Unknown preset"):
        presets.preset_dir("nope")


def test_default_preset_resolves(pretrained_dir):
    assert (pretrained_dir / "vocab.txt").is_file()
    assert presets.resolve_checkpoint(None) == pretrained_dir
