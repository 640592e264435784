import json

import pytest
import tensorflow as tf

from tfsearch.training.strategies import detect_strategy, is_chief, make_strategy


@pytest.fixture
def no_tpu(monkeypatch):
    monkeypatch.delenv("TPU_NAME", raising=False)
    monkeypatch.delenv("COLAB_TPU_ADDR", raising=False)


@pytest.mark.parametrize("gpus, expected", [(0, "default"), (1, "default"), (2, "mirrored"), (8, "mirrored")])
def test_detect_strategy_from_the_gpu_count(no_tpu, gpus, expected):
    assert detect_strategy(gpus=gpus) == expected


def test_detect_strategy_prefers_a_tpu(no_tpu, monkeypatch):
    assert detect_strategy(tpu_address="grpc://10.0.0.2:8470", gpus=4) == "tpu"
    monkeypatch.setenv("COLAB_TPU_ADDR", "10.0.0.2:8470")
    assert detect_strategy(gpus=0) == "tpu"


def test_detect_strategy_on_this_machine(no_tpu):
    gpus = len(tf.config.list_physical_devices("GPU"))
    assert detect_strategy() == ("mirrored" if gpus >= 2 else "default")
    assert is_chief(make_strategy(detect_strategy()))


def test_multi_worker_needs_a_valid_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {}}))
    with pytest.raises(ValueError, match="not a valid cluster"):
        make_strategy("multi_worker")
    with pytest.raises(ValueError, match="`strategy` must be one of"):
        make_strategy("parameter_server")
