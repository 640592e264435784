import json
import os
import subprocess
import sys

import pytest

from tfsearch.utils.cpu_threads import INTRA_OP_VARIABLE

SCRIPT = r"""
import json, sys
import tensorflow as tf
from tfsearch.cli import build_parser
from tfsearch.cli.serve import set_tensorflow_threads
parser = build_parser()
args = parser.parse_args(["serve", "--model-base-path", "m", *sys.argv[1:]])
set_tensorflow_threads(args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism)
print(json.dumps([tf.config.threading.get_intra_op_parallelism_threads(),
                  tf.config.threading.get_inter_op_parallelism_threads()]))
"""


@pytest.mark.parametrize("flags,expected", [
    # No flag: one intra-op thread per call, one inter-op thread per core (at least 2).
    ([], [1, max(2, len(os.sched_getaffinity(0)))]),
    # 0 is TensorFlow's own choice (both pools left at 0, "the cores"), as TensorFlow Serving's flag.
    (["--tensorflow-intra-op-parallelism", "0"], [0, 0]),
    (["--tensorflow-intra-op-parallelism", "3", "--tensorflow-inter-op-parallelism", "2"], [3, 2]),
    (["--tensorflow-inter-op-parallelism", "4"], [0, 4]),  # one flag given: the other is TensorFlow's
])
def test_serve_thread_flags(flags, expected):
    # A fresh process each: TensorFlow reads its thread settings once. No GPU: the CPU default applies.
    env = {k: v for k, v in os.environ.items() if k not in (INTRA_OP_VARIABLE, "TF_NUM_INTEROP_THREADS")}
    env.update(CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", SCRIPT, *flags], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == expected
