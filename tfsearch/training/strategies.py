"""Distribution strategies by name, as `tfsearch train --strategy` chooses them."""

import json
import os

import tensorflow as tf

from tfsearch.training.train_config import STRATEGIES  # noqa: F401  (one list, read without TensorFlow)


def make_strategy(name="default", tpu=None, devices=None):
    """Returns a `tf.distribute.Strategy`.

    Args:
        name: one of `STRATEGIES`:
            - `default`: TensorFlow's default strategy (no distribution);
            - `one_device`: `OneDeviceStrategy` on the first GPU, else the CPU;
            - `mirrored`: `MirroredStrategy` over `devices` (default: all GPUs,
              or the CPU); synchronous, one replica per device;
            - `multi_worker`: `MultiWorkerMirroredStrategy`, the cluster read
              from the `TF_CONFIG` environment variable (a clear error if it is
              missing or malformed);
            - `tpu`: `TPUStrategy` through `TPUClusterResolver(tpu=tpu)` (`""`
              on a Colab or Cloud TPU VM).
        tpu: str or None. The TPU name or address for `tpu`.
        devices: list of device names for `mirrored`, e.g. `["/cpu:0", "/cpu:1"]`.

    Example:
    ```python
    strategy = make_strategy("mirrored")
    with strategy.scope():
        model = TwoTower(BertEncoder.from_pretrained())
    ```
    """
    if name not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {STRATEGIES}, got {name!r}.")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="" if tpu is None else tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _check_tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError("--strategy multi_worker reads the cluster from the TF_CONFIG environment variable, which is "
                         'not set. Example for worker 0 of 2: TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", '
                         '"host2:12345"]}, "task": {"type": "worker", "index": 0}}\'')
    try:
        config = json.loads(raw)
        workers = config["cluster"]["worker"]
        task = config["task"]
        if task["type"] not in ("worker", "chief") or not 0 <= int(task["index"]) < len(workers) + 1:
            raise ValueError(task)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"TF_CONFIG is not a valid cluster description ({e!r}): {raw}") from None


def is_chief(strategy):
    """True on the worker that writes the model and logs (worker 0, or the only one)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)


def detect_strategy(tpu_address=None, gpus=None):
    """The strategy name that fits the runtime: what the notebooks and `--strategy auto` use.

    - `tpu` when a TPU is reachable: `tpu_address` given, the `TPU_NAME` or
      `COLAB_TPU_ADDR` environment variable set (Cloud and older Colab TPU
      runtimes), or TPU devices visible (Colab and Cloud TPU VMs);
    - `mirrored` on two or more GPUs;
    - `default` on one GPU or the CPU (TensorFlow places work on the GPU itself).

    Args:
        tpu_address: str or None. A TPU name or `grpc://` address.
        gpus: int or None. The number of GPUs (None: counted with
            `tf.config.list_physical_devices("GPU")`).

    Returns:
        One of `"tpu"`, `"mirrored"`, `"default"`, for `make_strategy`.

    Example:
    ```python
    strategy = make_strategy(detect_strategy())
    ```
    """
    if tpu_address or os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR") \
            or tf.config.list_physical_devices("TPU"):
        return "tpu"
    if gpus is None:
        gpus = len(tf.config.list_physical_devices("GPU"))
    return "mirrored" if gpus >= 2 else "default"
