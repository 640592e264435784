"""The two-tower retrieval model: a query tower and a document tower trained with in-batch softmax."""

import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfsearch.models.bert_encoder import BertEncoder
from tfsearch.training.global_negatives import gather_from_replicas

# Document ids are hashed to int64 for accidental-hit removal (strings cannot be
# gathered across replicas); two different ids collide with probability ~1e-18.
_ID_BUCKETS = 2**62


@tf.keras.utils.register_keras_serializable(package="tfsearch")
class TwoTower(tfrs.Model):
    """Query and document BERT towers trained with tensorflow-recommenders' `Retrieval` task.

    Each training example is a query with a relevant document (and optionally
    hard negative documents). Every query is scored against every document of
    the batch: its own positive, the other queries' positives (in-batch
    negatives) and all the hard negatives. Under a `tf.distribute` strategy the
    documents are gathered from all replicas (`gather_from_replicas`), so each
    query meets the negatives of the global batch, not only of its replica, and
    the loss and gradients equal those of one device on the global batch.

    Args:
        query_encoder: `BertEncoder` (or its config) for queries.
        document_encoder: `BertEncoder` (or its config) for documents, or None
            to share the query encoder's weights (the default).
        temperature: float. Softmax temperature (scores are divided by it);
            0.05 matches sentence-transformers' scale of 20.
        remove_accidental_hits: bool. Do not count a candidate with the
            positive's document id as a negative.
        num_hard_negatives: int or None. tfrs' hard-negative mining: keep only
            the `num_hard_negatives` highest-scoring negatives of each query.
        global_negatives: bool. Gather candidates across replicas.
        **kwargs: standard `tf.keras.Model` arguments.

    Training features (a dict, batched):
        query: string `[batch]`.
        document: string `[batch]`, the positive of each query.
        document_id: string `[batch]`.
        hard_negatives: optional string `[batch, num_negatives]`.
        hard_negative_ids: string `[batch, num_negatives]`, with `hard_negatives`.
        candidate_sampling_probability: optional float `[batch]`, the
            probability of each positive document in the training stream
            (logQ correction); hard negatives are not corrected.

    Example:
    ```python
    encoder = BertEncoder.from_pretrained()
    model = TwoTower(encoder, temperature=0.05)
    model.compile(optimizer=tf.keras.optimizers.Adam(2e-5))
    model.fit(pairs.batch(32, drop_remainder=True))  # dicts as above
    ```
    """

    def __init__(self, query_encoder, document_encoder=None, temperature=0.05, remove_accidental_hits=True,
                 num_hard_negatives=None, global_negatives=True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(query_encoder, dict):
            query_encoder = tf.keras.layers.deserialize(query_encoder)
        if isinstance(document_encoder, dict):
            document_encoder = tf.keras.layers.deserialize(document_encoder)
        if temperature is not None and float(temperature) <= 0:
            raise ValueError(f"`temperature` must be positive, got {temperature}.")
        if num_hard_negatives is not None and int(num_hard_negatives) <= 0:
            raise ValueError(f"`num_hard_negatives` must be positive or None, got {num_hard_negatives}.")
        if document_encoder is not None and document_encoder.embedding_dim != query_encoder.embedding_dim:
            raise ValueError(f"The towers' embeddings differ in size: {query_encoder.embedding_dim} (queries) "
                             f"and {document_encoder.embedding_dim} (documents).")

        # === Layers ===
        self.query_encoder = query_encoder
        self.document_encoder = document_encoder
        self.task = tfrs.tasks.Retrieval(
            temperature=None if temperature is None else float(temperature),
            num_hard_negatives=None if num_hard_negatives is None else int(num_hard_negatives),
            remove_accidental_hits=bool(remove_accidental_hits),
        )

        # === Config ===
        self.temperature = None if temperature is None else float(temperature)
        self.remove_accidental_hits = bool(remove_accidental_hits)
        self.num_hard_negatives = None if num_hard_negatives is None else int(num_hard_negatives)
        self.global_negatives = bool(global_negatives)

    @property
    def shared_towers(self):
        return self.document_encoder is None

    @property
    def document_tower(self):
        """The encoder of documents (the query encoder when the towers are shared)."""
        return self.query_encoder if self.document_encoder is None else self.document_encoder

    def call(self, features, training=False):
        """Embeds `features["query"]` `[batch]` -> `[batch, embedding_dim]`."""
        texts = features["query"] if isinstance(features, dict) else features
        return self.query_encoder(texts, training=training)

    def candidates(self, features, training=False):
        """Embeddings, hashed ids and sampling probabilities of the batch's candidates.

        Returns:
            `(embeddings [num_candidates, dim], ids int64 [num_candidates],
            probabilities [num_candidates] or None)`: the positives first (row
            `i` is query `i`'s positive), then the hard negatives; gathered
            across replicas when `global_negatives` is set.
        """
        documents = features["document"]
        ids = features["document_id"]
        num_positives = tf.shape(documents)[0]
        hard = features.get("hard_negatives")
        if hard is not None:
            documents = tf.concat([documents, tf.reshape(hard, [-1])], axis=0)
            ids = tf.concat([ids, tf.reshape(features["hard_negative_ids"], [-1])], axis=0)
        # One pass of the document tower over positives and hard negatives.
        embeddings = self.document_tower(documents, training=training)
        ids = tf.strings.to_hash_bucket_fast(ids, _ID_BUCKETS)
        probabilities = features.get("candidate_sampling_probability")
        if probabilities is not None:
            probabilities = tf.cast(probabilities, tf.float32)
            if hard is not None:  # hard negatives are not sampled by popularity: no correction
                probabilities = tf.concat([probabilities, tf.ones([tf.size(hard)], tf.float32)], axis=0)

        def gather(values):
            if values is None or not self.global_negatives:
                return values
            if hard is None:
                return gather_from_replicas(values)
            # Positives and hard negatives are gathered apart, so that the
            # global positives still come first, in the order of the queries.
            return tf.concat([gather_from_replicas(values[:num_positives]),
                              gather_from_replicas(values[num_positives:])], axis=0)

        return gather(embeddings), gather(ids), gather(probabilities)

    def compute_loss(self, features, training=False):
        queries = self.query_encoder(features["query"], training=training)
        embeddings, ids, probabilities = self.candidates(features, training=training)
        return self.task(queries, embeddings, candidate_ids=ids, candidate_sampling_probability=probabilities,
                         compute_metrics=False, compute_batch_metrics=False)

    def train_step(self, features):
        # tfrs' train_step, plus loss scaling when the optimizer is a
        # LossScaleOptimizer (mixed_float16).
        scaled = isinstance(self.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            loss = self.compute_loss(features, training=True)
            total_loss = loss + sum(self.losses)
            to_differentiate = self.optimizer.get_scaled_loss(total_loss) if scaled else total_loss
        gradients = tape.gradient(to_differentiate, self.trainable_variables)
        if scaled:
            gradients = self.optimizer.get_unscaled_gradients(gradients)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return {"loss": loss, "total_loss": total_loss}

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "query_encoder": tf.keras.layers.serialize(self.query_encoder),
            "document_encoder": (None if self.document_encoder is None
                                 else tf.keras.layers.serialize(self.document_encoder)),
            "temperature": self.temperature,
            "remove_accidental_hits": self.remove_accidental_hits,
            "num_hard_negatives": self.num_hard_negatives,
            "global_negatives": self.global_negatives,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def save_towers(self, path, overwrite=False):
        """Writes the query encoder to `path` (a `BertEncoder` folder), the document encoder to `path/document_encoder`.

        With shared towers the folder is a plain encoder folder that
        `BertEncoder.from_pretrained(path)` and `tfsearch evaluate --model` read.
        """
        from tfsearch.utils.atomic import atomic_directory

        with atomic_directory(path, overwrite=overwrite) as tmp:
            self.query_encoder.write_files(tmp)
            if self.document_encoder is not None:
                (tmp / DOCUMENT_ENCODER_DIR).mkdir()
                self.document_encoder.write_files(tmp / DOCUMENT_ENCODER_DIR)
        return path


DOCUMENT_ENCODER_DIR = "document_encoder"


def load_towers(path):
    """`(query_encoder, document_encoder)` from a folder written by `TwoTower.save_towers` (or any encoder folder).

    The document encoder is the query encoder when the folder holds one tower.
    """
    import pathlib

    query_encoder = BertEncoder.from_pretrained(path)
    document_dir = pathlib.Path(path) / DOCUMENT_ENCODER_DIR if path is not None else None
    if document_dir is not None and document_dir.is_dir():
        return query_encoder, BertEncoder.from_pretrained(document_dir)
    return query_encoder, query_encoder
