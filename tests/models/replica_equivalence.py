"""Run as a script: loss and gradients of TwoTower on one device and on two replicas.

Splits the CPU into two logical devices (before TensorFlow starts), builds a
tiny two-tower model, and for each case prints one JSON line with the largest
differences between the single-device and the 2-replica MirroredStrategy loss
and gradients on the same global batch. Used by test_two_tower.py.
"""

import json
import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import tfsearch  # noqa: E402,F401
from tests.conftest import make_tiny_encoder  # noqa: E402
from tfsearch.models.two_tower import TwoTower  # noqa: E402

WORDS = ["the cat sat", "a dog is eating", "bread piece", "tensor flow search", "hello world", "man on mat",
         "cafe food", "naive dog", "the man is eating bread", "cat on the mat"]


def batch(global_batch, hard_negatives, accidental_hits):
    rng = np.random.default_rng(0)
    docs = [WORDS[i % len(WORDS)] + f" {i}" for i in range(global_batch)]
    ids = [f"d{i}" for i in range(global_batch)]
    if accidental_hits:  # queries 0 and 5 (on different replicas) share a positive; 2 and 3 too
        docs[5], ids[5] = docs[0], ids[0]
        docs[3], ids[3] = docs[2], ids[2]
    features = {
        "query": np.array([WORDS[(3 * i) % len(WORDS)] for i in range(global_batch)]),
        "document": np.array(docs),
        "document_id": np.array(ids),
    }
    if hard_negatives:
        features["hard_negatives"] = np.array([[f"negative {i} {j} dog" for j in range(2)]
                                               for i in range(global_batch)])
        features["hard_negative_ids"] = np.array([[f"n{i}.{j}" for j in range(2)] for i in range(global_batch)])
        if accidental_hits:  # a hard negative that is another query's positive
            features["hard_negatives"][1, 0], features["hard_negative_ids"][1, 0] = docs[6], ids[6]
    features["candidate_sampling_probability"] = rng.uniform(0.1, 1.0, size=global_batch).astype(np.float32)
    return features


def make_model(num_hard_negatives):
    return TwoTower(make_tiny_encoder(seed=3), temperature=0.1, remove_accidental_hits=True,
                    num_hard_negatives=num_hard_negatives)


def loss_and_gradients(model, features):
    with tf.GradientTape() as tape:
        loss = model.compute_loss(features, training=False)
    gradients = tape.gradient(loss, model.trainable_variables)
    return loss, [tf.convert_to_tensor(g) for g in gradients]


def main():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    # One single-device and one mirrored model per tfrs mining setting, shared by the four batches:
    # each model is traced once per input structure instead of once per case.
    for num_hard_negatives in (None, 3):
        single = make_model(num_hard_negatives)
        single(tf.constant(["build"]))
        with strategy.scope():
            mirrored = make_model(num_hard_negatives)
            mirrored(tf.constant(["build"]))
        mirrored.set_weights(single.get_weights())

        @tf.function
        def step(f, model=mirrored):
            loss, gradients = strategy.run(lambda x: loss_and_gradients(model, x), args=(f,))
            total = strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
            return total, [strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None) for g in gradients]

        for hard_negatives in (False, True):
            for accidental_hits in (False, True):
                features = batch(8, hard_negatives, accidental_hits)
                loss, gradients = loss_and_gradients(single, {k: tf.constant(v) for k, v in features.items()})
                dataset = tf.data.Dataset.from_tensor_slices(features).batch(8, drop_remainder=True)
                per_replica_features = next(iter(strategy.experimental_distribute_dataset(dataset)))
                mirrored_loss, mirrored_gradients = step(per_replica_features)
                local_sizes = [int(tf.shape(t)[0]) for t in
                               strategy.experimental_local_results(per_replica_features["query"])]
                print(json.dumps({
                    "hard_negatives": hard_negatives, "accidental_hits": accidental_hits,
                    "num_hard_negatives": num_hard_negatives, "local_sizes": local_sizes,
                    "loss": float(loss), "mirrored_loss": float(mirrored_loss),
                    "max_gradient_difference": max(float(tf.reduce_max(tf.abs(a - b)))
                                                   for a, b in zip(gradients, mirrored_gradients)),
                    "max_gradient": max(float(tf.reduce_max(tf.abs(g))) for g in gradients),
                }), flush=True)

    # Per-replica negatives (global_negatives=False) give a different loss: the check is sensitive.
    features = batch(8, False, False)
    single = make_model(None)
    single(tf.constant(["build"]))
    loss, _ = loss_and_gradients(single, {k: tf.constant(v) for k, v in features.items()})
    with strategy.scope():
        local = TwoTower(make_tiny_encoder(seed=3), temperature=0.1, global_negatives=False)
        local(tf.constant(["build"]))
    local.set_weights(single.get_weights())
    dataset = tf.data.Dataset.from_tensor_slices(features).batch(8, drop_remainder=True)
    per_replica = next(iter(strategy.experimental_distribute_dataset(dataset)))
    local_loss = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(
        tf.function(lambda x: local.compute_loss(x, training=False)), args=(per_replica,)), axis=None)
    print(json.dumps({"per_replica_only": True, "loss": float(loss), "mirrored_loss": float(local_loss)}))

    # Keras fit under the strategy: every replica ends with the same weights.
    with strategy.scope():
        model = make_model(None)
        model(tf.constant(["build"]))
        model.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    before = [w.numpy() for w in model.trainable_weights]
    features = batch(8, True, True)
    history = model.fit(tf.data.Dataset.from_tensor_slices(features).repeat(4).batch(8, drop_remainder=True),
                        epochs=1, verbose=0)
    spread = max(float(np.max(np.abs(v.numpy() - w.values[0].numpy())))
                 for w in model.trainable_weights for v in w.values)
    moved = max(float(np.max(np.abs(w.numpy() - b))) for w, b in zip(model.trainable_weights, before))
    print(json.dumps({"fit": True, "replicas": len(model.trainable_weights[0].values), "steps":
                      int(model.optimizer.iterations.numpy()), "max_replica_difference": spread, "moved": moved,
                      "loss": history.history["loss"]}))


if __name__ == "__main__":
    main()
