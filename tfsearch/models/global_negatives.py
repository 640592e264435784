"""Candidates gathered from every replica, so that each query meets the whole global batch."""

import tensorflow as tf


def gather_from_replicas(values):
    """Concatenates `values` across the replicas of the current replica context.

    Called inside `strategy.run` (or a Keras `train_step` under a strategy),
    every replica gets the rows of all replicas, **its own rows first** and then
    those of the following replicas in order, wrapping around: on replica `r`
    of `R`, the rows of replicas `r, r+1, ..., R-1, 0, ..., r-1`. With that
    order a replica's query `i` still has its positive candidate at row `i`, so
    tensorflow-recommenders' `Retrieval` task (labels `eye(num_queries,
    num_candidates)`) scores every query against the global batch unchanged.
    tfrs has the same idea in its private `_cross_replica_concat` but never
    calls it, so its in-batch negatives are per replica.

    The gradient flows back to the replica that produced each row
    (`ReplicaContext.all_gather` is differentiable). Every replica must hold
    the same number of rows (batch with `drop_remainder=True`), and at
    least one: gathering empty tensors crashes TensorFlow's CPU collectives.

    Outside a strategy, or with one replica, `values` is returned as is.

    Args:
        values: tensor `[rows_per_replica, ...]`.

    Returns:
        tensor `[num_replicas * rows_per_replica, ...]`.

    Example:
    ```python
    strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    # replica 0 holds [[0], [1]], replica 1 holds [[2], [3]]:
    # replica 0 gets [[0], [1], [2], [3]], replica 1 gets [[2], [3], [0], [1]].
    ```
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    rows = tf.shape(values)[0]
    all_rows = context.all_gather(tf.reshape(rows, [1]), axis=0)
    with tf.control_dependencies([
        tf.debugging.assert_equal(all_rows, rows, message=(
            "Every replica must hold the same number of rows to gather negatives across replicas; "
            "batch the training data with drop_remainder=True."))
    ]):
        gathered = context.all_gather(values, axis=0)
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    return tf.roll(gathered, shift=-replica * rows, axis=0)
