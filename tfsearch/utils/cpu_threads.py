"""One intra-op thread per TensorFlow call on a CPU, with calls running side by side.

TensorFlow splits each op over a pool of intra-op threads, by default one per
core. A query is small (a `[1, 16]` input): most of its time is then fixed
per-op cost, and handing part of each op to a second thread and waiting for it
adds more than it saves. With one intra-op thread a single query is encoded
about 30% faster on 2 cores. Large batches lose nothing if the cores are kept
busy another way: `tfsearch.models.batch_encoding.encode_dataset` runs one
batch per core side by side when TensorFlow has fewer intra-op threads than
the machine has cores (`encoding_concurrency`), and the per-op cost is then
paid in parallel instead of being joined. Measured with `python
bench/encode.py` (docs/benchmarks.md#one-intra-op-thread-per-call).

| TensorFlow intra-op threads   | batches encoded side by side |
|-------------------------------|------------------------------|
| TensorFlow's default (0)      | 1                            |
| `t` < cores                   | cores // `t`                 |
| any, with a GPU or TPU        | 1                            |

`use_one_intra_op_thread()` sets the recommended setting for an encoding
process; TensorFlow accepts it only before it runs its first op, and a value
the user set (`TF_NUM_INTRAOP_THREADS`, or `tf.config.threading` earlier) is
left alone. Training is not affected by the table (it never calls
`encode_dataset` concurrently) but is slower with one intra-op thread, so
commands that train do not call it.
"""

import logging
import os

INTRA_OP_VARIABLE = "TF_NUM_INTRAOP_THREADS"
INTER_OP_VARIABLE = "TF_NUM_INTEROP_THREADS"

logger = logging.getLogger("tfsearch")


def available_cores():
    """The CPU cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def concurrent_calls(intra_op_threads, cores, accelerator=False):
    """How many encoder calls to run side by side, from the facts alone (nothing is queried).

    Args:
        intra_op_threads: int. TensorFlow's intra-op threads; 0 for its default
            (one per core).
        cores: int. Cores available to the process.
        accelerator: bool. Whether a GPU or TPU runs the encoder.

    Returns:
        int, at least 1: `cores // intra_op_threads` on a CPU with an explicit
        thread count, else 1.

    Example:
    ```python
    concurrent_calls(0, 2)  # 1: TensorFlow's default, each call uses both cores
    concurrent_calls(1, 2)  # 2: one thread per call, two calls at once
    concurrent_calls(1, 16, accelerator=True)  # 1
    ```
    """
    if accelerator or intra_op_threads <= 0:
        return 1
    return max(1, cores // intra_op_threads)


def intra_op_threads():
    """TensorFlow's intra-op thread count as configured (0 for its default), from `tf.config` or the variable."""
    import tensorflow as tf

    configured = tf.config.threading.get_intra_op_parallelism_threads()
    if configured:
        return configured
    try:
        return max(0, int(os.environ.get(INTRA_OP_VARIABLE, "0")))
    except ValueError:
        return 0


def has_accelerator():
    """Whether TensorFlow sees a GPU or TPU (listing devices initialises none)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))


def encoding_concurrency():
    """`concurrent_calls` for this process: its TensorFlow setting, cores and devices (no device is initialised)."""
    return concurrent_calls(intra_op_threads(), available_cores(), has_accelerator())


def use_one_intra_op_thread(cores=None):
    """Sets TensorFlow to one intra-op thread and `cores` inter-op threads, for a process that encodes on a CPU.

    Args:
        cores: int or None. Inter-op threads; None for `available_cores()`.

    Returns:
        `(applied, reason)`: whether the process now runs one intra-op thread
        per call, and a one-line reason (also logged at INFO).
    """
    import tensorflow as tf

    if has_accelerator():
        applied, reason = False, "an accelerator runs the encoder: TensorFlow's thread defaults kept"
    elif tf.config.threading.get_intra_op_parallelism_threads() == 1:  # an earlier call (or the same by hand)
        applied, reason = True, "one intra-op thread per call (set already)"
    elif intra_op_threads() or os.environ.get(INTER_OP_VARIABLE):
        applied, reason = False, f"intra-op threads set by the user ({intra_op_threads() or 'default'}): kept"
    else:
        cores = cores or available_cores()
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(max(cores, 2))
            applied, reason = True, f"one intra-op thread per call, {cores} calls side by side"
        except RuntimeError:  # TensorFlow has run an op already
            applied, reason = False, "TensorFlow was already initialised: its thread settings kept"
    logger.info("CPU threads: %s", reason)
    return applied, reason
