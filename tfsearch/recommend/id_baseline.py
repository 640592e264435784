"""The ID-embedding two-tower baseline: tensorflow-recommenders' basic retrieval tutorial model.

https://www.tensorflow.org/recommenders/examples/basic_retrieval: a user tower
and an item tower, each `StringLookup` + `Embedding` over ids, trained with
`tfrs.tasks.Retrieval` (in-batch softmax) and `FactorizedTopK` metrics. It
knows nothing of the items' texts: an item seen rarely in training has a
poorly placed embedding, an item never seen shares the out-of-vocabulary row.
"""

import dataclasses
import time

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfsearch.recommend.leave_last_out import is_positive
from tfsearch.recommend.mean_loss import MeanLoss


@dataclasses.dataclass
class IdBaselineConfig:
    """Settings of `train_id_baseline`.

    Attributes:
        embedding_dim: size of the user and item embeddings (the tutorial's 32).
        epochs, batch_size: training length.
        learning_rate: Adagrad's (the tutorial's 0.1).
        positives_only: train on the positive interactions (rating >= the
            split's threshold), the targets the evaluation asks for; False
            trains on every interaction, as the tutorial does.
        seed: shuffling and initial weights.
    """

    embedding_dim: int = 32
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 0.1
    positives_only: bool = True
    seed: int = 0

    def __post_init__(self):
        checks = [
            (self.embedding_dim >= 1, f"`embedding_dim` must be positive, got {self.embedding_dim!r}"),
            (self.epochs >= 1, f"`epochs` must be positive, got {self.epochs!r}"),
            (self.batch_size >= 2, f"`batch_size` must be at least 2, got {self.batch_size!r}"),
            (self.learning_rate > 0, f"`learning_rate` must be positive, got {self.learning_rate!r}"),
        ]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise ValueError("Invalid ID baseline settings: " + "; ".join(problems) + ".")


@tf.keras.utils.register_keras_serializable(package="tfsearch")
class IdRetrievalModel(tfrs.Model):
    """The tutorial's `MovielensModel`: user-id and item-id embedding towers with a `Retrieval` task.

    Args:
        user_ids: list of str, the user vocabulary.
        item_ids: list of str, the item vocabulary (every candidate).
        embedding_dim: int. Embedding size.
        **kwargs: `tf.keras.Model` arguments.

    Training features: `user_id` and `item_id`, string `[batch]`.

    Example:
    ```python
    model = IdRetrievalModel(user_ids, item_ids, embedding_dim=32)
    model.compile(optimizer=tf.keras.optimizers.Adagrad(0.1))
    model.fit(tf.data.Dataset.from_tensor_slices({"user_id": users, "item_id": items}).batch(256), epochs=3)
    scores = model.user_model(["42"]) @ tf.transpose(model.item_model(item_ids))  # [1, num_items]
    ```
    """

    def __init__(self, user_ids, item_ids, embedding_dim=32, **kwargs):
        super().__init__(**kwargs)
        self.user_ids = [str(u) for u in user_ids]
        self.item_ids = [str(i) for i in item_ids]
        self.embedding_dim = int(embedding_dim)
        self.user_model = tf.keras.Sequential([
            tf.keras.layers.StringLookup(vocabulary=self.user_ids, mask_token=None),
            tf.keras.layers.Embedding(len(self.user_ids) + 1, self.embedding_dim),
        ], name="user_model")
        self.item_model = tf.keras.Sequential([
            tf.keras.layers.StringLookup(vocabulary=self.item_ids, mask_token=None),
            tf.keras.layers.Embedding(len(self.item_ids) + 1, self.embedding_dim),
        ], name="item_model")
        candidates = tf.data.Dataset.from_tensor_slices(tf.constant(self.item_ids)).batch(128).map(self.item_model)
        self.task = tfrs.tasks.Retrieval(metrics=tfrs.metrics.FactorizedTopK(candidates=candidates))

    def call(self, features):
        return self.user_model(features["user_id"] if isinstance(features, dict) else features)

    def compute_loss(self, features, training=False):
        user_embeddings = self.user_model(features["user_id"])
        item_embeddings = self.item_model(features["item_id"])
        # FactorizedTopK scores every item: at evaluation only, as the tutorial's speed-up advises.
        return self.task(user_embeddings, item_embeddings, compute_metrics=not training)

    def get_config(self):
        return {"name": self.name, "user_ids": self.user_ids, "item_ids": self.item_ids,
                "embedding_dim": self.embedding_dim}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def train_id_baseline(split, item_ids, config=None, progress=True):
    """Trains `IdRetrievalModel` on a split's training interactions.

    Args:
        split: `LeaveLastOutSplit`.
        item_ids: list of str, every candidate item.
        config: `IdBaselineConfig` (None: the defaults).
        progress: bool. Keras progress bar.

    Returns:
        `(model, report)`.
    """
    config = config or IdBaselineConfig()
    started = time.perf_counter()
    tf.keras.utils.set_random_seed(config.seed)
    train = [i for i in split.train if not config.positives_only or is_positive(i, split.min_rating)]
    if len(train) < 2:
        raise ValueError(f"{len(train)} training interaction(s): too few for the ID baseline.")
    user_ids = sorted({i.user_id for i in split.train} | set(split.test))
    model = IdRetrievalModel(user_ids, item_ids, embedding_dim=config.embedding_dim)
    batch_size = min(config.batch_size, len(train))
    dataset = (tf.data.Dataset.from_tensor_slices({"user_id": [i.user_id for i in train],
                                                   "item_id": [i.item_id for i in train]})
               .shuffle(len(train), seed=config.seed, reshuffle_each_iteration=True)
               .batch(batch_size, drop_remainder=True)
               .prefetch(tf.data.AUTOTUNE))
    model.compile(optimizer=tf.keras.optimizers.Adagrad(learning_rate=config.learning_rate))
    mean_loss = MeanLoss()
    model.fit(dataset, epochs=config.epochs, verbose=1 if progress else 0, callbacks=[mean_loss])
    report = {
        "interactions": len(train),
        "users": len(user_ids),
        "items": len(item_ids),
        "steps": int(model.optimizer.iterations.numpy()),
        "loss": mean_loss.history,  # mean per epoch
        "seconds": round(time.perf_counter() - started, 2),
        "config": dataclasses.asdict(config),
    }
    return model, report


def id_embeddings(model, user_ids, item_ids):
    """`(users [num_users, dim], items [num_items, dim])` numpy embeddings of the ID towers."""
    users = model.user_model(tf.constant(list(user_ids), tf.string)).numpy()
    items = model.item_model(tf.constant(list(item_ids), tf.string)).numpy()
    return np.asarray(users, np.float32), np.asarray(items, np.float32)
