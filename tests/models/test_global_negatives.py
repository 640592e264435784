import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from tests.conftest import REPO
from tfsearch.models.global_negatives import gather_from_replicas

# Two logical CPUs must be configured before TensorFlow starts: its own process.
TWO_REPLICAS = """
import json, os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
sys.path.insert(0, sys.argv[1])
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tfsearch.models.global_negatives import gather_from_replicas
strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
def replica_rows(context):  # replica r holds [[2r], [2r + 1]]
    r = float(context.replica_id_in_sync_group)
    return tf.constant([[2.0 * r], [2.0 * r + 1.0]])
rows = strategy.experimental_distribute_values_from_function(replica_rows)
gathered = strategy.run(tf.function(gather_from_replicas), args=(rows,))
print(json.dumps([v.numpy().ravel().tolist() for v in strategy.experimental_local_results(gathered)]))
"""


def test_outside_a_strategy_the_values_are_returned_as_they_are():
    values = tf.constant([[0.0, 1.0], [2.0, 3.0]])
    assert gather_from_replicas(values) is values
    with tf.distribute.get_strategy().scope():
        np.testing.assert_array_equal(gather_from_replicas(values).numpy(), values.numpy())


def test_each_replica_gets_its_own_rows_first_then_the_following_replicas():
    # The docstring's example: replica 0 holds [[0], [1]], replica 1 holds [[2], [3]].
    proc = subprocess.run([sys.executable, "-c", TWO_REPLICAS, str(REPO)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    replica_0, replica_1 = json.loads(proc.stdout.strip().splitlines()[-1])
    assert replica_0 == [0.0, 1.0, 2.0, 3.0]
    assert replica_1 == [2.0, 3.0, 0.0, 1.0]
