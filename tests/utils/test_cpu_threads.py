import json
import os
import subprocess
import sys

import pytest

from tfsearch.utils.cpu_threads import INTRA_OP_VARIABLE, concurrent_calls

CASES = [
    # (intra-op threads, cores, accelerator, batches side by side)
    (0, 2, False, 1),  # TensorFlow's default: every call already uses both cores
    (0, 16, False, 1),
    (1, 2, False, 2),  # one thread per call: one call per core
    (1, 16, False, 16),
    (2, 16, False, 8),  # 16 // 2
    (3, 16, False, 5),  # 16 // 3, rounded down
    (4, 2, False, 1),  # more threads than cores: still one call
    (1, 16, True, 1),  # a GPU or TPU runs the encoder: one call at a time
]


@pytest.mark.parametrize("intra_op_threads,cores,accelerator,expected", CASES)
def test_concurrent_calls(intra_op_threads, cores, accelerator, expected):
    assert concurrent_calls(intra_op_threads, cores, accelerator) == expected


SCRIPT = r"""
import json, sys
import tensorflow as tf
from tfsearch.utils.cpu_threads import encoding_concurrency, use_one_intra_op_thread
if sys.argv[1] == "initialised":
    tf.constant(1.0) + 1.0  # an op runs: TensorFlow's threads are fixed from here
applied, reason = use_one_intra_op_thread(cores=2)
again = use_one_intra_op_thread(cores=2)  # what a second encoder load does
print(json.dumps({"applied": applied, "reason": reason, "again": again,
                  "intra": tf.config.threading.get_intra_op_parallelism_threads(),
                  "inter": tf.config.threading.get_inter_op_parallelism_threads(),
                  "concurrency": encoding_concurrency()}))
"""


def run_fresh(mode, **environment):
    """The script in a fresh process (TensorFlow reads its thread settings once), without GPUs."""
    env = {k: v for k, v in os.environ.items() if k not in (INTRA_OP_VARIABLE, "TF_NUM_INTEROP_THREADS")}
    env.update(environment, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_one_intra_op_thread_is_set_only_where_nothing_was_chosen_before():
    fresh = run_fresh("fresh")
    assert fresh["applied"] and (fresh["intra"], fresh["inter"]) == (1, 2)
    assert fresh["reason"] == "one intra-op thread per call, 2 calls side by side"
    assert fresh["again"] == [True, "one intra-op thread per call (set already)"]
    # os.sched_getaffinity gives the cores; with one intra-op thread each gets a batch (at least 1).
    assert fresh["concurrency"] == max(1, len(os.sched_getaffinity(0)))

    late = run_fresh("initialised")
    assert not late["applied"] and late["intra"] == 0 and late["concurrency"] == 1
    assert "already initialised" in late["reason"]

    # The user's variable wins, and is what the concurrency follows: 1 thread -> one batch per core.
    user = run_fresh("fresh", **{INTRA_OP_VARIABLE: "1"})
    assert not user["applied"] and user["intra"] == 0 and "set by the user (1)" in user["reason"]
    assert user["concurrency"] == len(os.sched_getaffinity(0))
