"""The two-tower retrieval model: a query tower and a document tower trained with in-batch softmax."""

import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfsearch.models.bert_encoder import BertEncoder
from tfsearch.models.global_negatives import gather_from_replicas

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

    A query tower may return several vectors per query, `[batch, K, dim]`
    (`ContextQueryTower(num_interests=K)`): each example is then scored
    through its interest nearest its positive (`nearest_interest`, as in
    ComiRec), and only that vector learns from it.

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
        For XLA (`compile(jit_compile=True)`), whose graphs cannot hold string
        ops, `tokenize_features` replaces the texts by `<name>_token_ids` and
        `<name>_padding_mask` of a fixed length and the ids by int64
        `<name>_key` hashes, in the input pipeline.

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
        if isinstance(features, dict):
            return _embed(self.query_encoder, features, "query", training)
        return self.query_encoder(features, training=training)

    def candidates(self, features, training=False):
        """Embeddings, hashed ids and sampling probabilities of the batch's candidates.

        Returns:
            `(embeddings [num_candidates, dim], ids int64 [num_candidates],
            probabilities [num_candidates] or None)`: the positives first (row
            `i` is query `i`'s positive), then the hard negatives; gathered
            across replicas when `global_negatives` is set.
        """
        positives = _flat(features, "document")
        ids = _keys(features, "document_id")
        num_positives = tf.shape(ids)[0]
        hard = "hard_negative_ids" in features or "hard_negative_ids_key" in features
        if hard:
            negatives = _flat(features, "hard_negatives")
            positives = tf.nest.map_structure(lambda a, b: tf.concat([a, b], axis=0), positives, negatives)
            negative_ids = tf.reshape(_keys(features, "hard_negative_ids"), [-1])
            num_negatives = tf.shape(negative_ids)[0]
            ids = tf.concat([ids, negative_ids], axis=0)
        # One pass of the document tower over positives and hard negatives.
        embeddings = _embed(self.document_tower, positives, "document", training)
        probabilities = features.get("candidate_sampling_probability")
        if probabilities is not None:
            probabilities = tf.cast(probabilities, tf.float32)
            if hard:  # hard negatives are not sampled by popularity: no correction
                probabilities = tf.concat([probabilities, tf.ones([num_negatives], tf.float32)], axis=0)

        def gather(values):
            if values is None or not self.global_negatives:
                return values
            if not hard:
                return gather_from_replicas(values)
            # Positives and hard negatives are gathered apart, so that the
            # global positives still come first, in the order of the queries.
            return tf.concat([gather_from_replicas(values[:num_positives]),
                              gather_from_replicas(values[num_positives:])], axis=0)

        return gather(embeddings), gather(ids), gather(probabilities)

    def compute_loss(self, features, training=False):
        queries = _embed(self.query_encoder, features, "query", training)
        embeddings, ids, probabilities = self.candidates(features, training=training)
        if queries.shape.rank == 3:  # several interests per query; the batch's positives come first
            queries = nearest_interest(queries, embeddings[:tf.shape(queries)[0]])
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


def nearest_interest(interests, positives):
    """Each example's interest vector with the highest dot product with its positive.

    The routing of multi-interest training (Cen et al., ComiRec, KDD 2020):
    the choice itself is not differentiated, the chosen vector is.

    Args:
        interests: float `[batch, num_interests, dim]`.
        positives: float `[batch, dim]`.

    Returns:
        float `[batch, dim]`.

    Example:
    ```python
    interests = tf.constant([[[1.0, 0.0], [0.0, 1.0]]])  # one user, two interests
    nearest_interest(interests, tf.constant([[0.2, 0.9]]))  # [[0.0, 1.0]]
    ```
    """
    scores = tf.einsum("bkd,bd->bk", interests, tf.stop_gradient(tf.cast(positives, interests.dtype)))
    return tf.gather(interests, tf.argmax(scores, axis=1, output_type=tf.int32), batch_dims=1)


def _embed(encoder, features, name, training):
    """Embeds `features[name]` (strings) or its `_token_ids` / `_padding_mask` (tokenised in the pipeline)."""
    if name + "_token_ids" in features:
        return encoder.encode_tokens(features[name + "_token_ids"], features[name + "_padding_mask"],
                                     training=training)
    return encoder(features[name], training=training)


def _flat(features, name):
    """`features[name]` (texts or tokens) with the leading axes merged: `[n, ...]`, keyed as `document`."""
    if name + "_token_ids" in features:
        ids, mask = features[name + "_token_ids"], features[name + "_padding_mask"]
        length = tf.shape(ids)[-1]
        return {"document_token_ids": tf.reshape(ids, [-1, length]),
                "document_padding_mask": tf.reshape(mask, [-1, length])}
    return {"document": tf.reshape(features[name], [-1])}


def _keys(features, name):
    """int64 hashes of the ids `features[name]`, or the `<name>_key` the pipeline hashed already."""
    if name + "_key" in features:
        return features[name + "_key"]
    return hash_ids(features[name])


def hash_ids(ids):
    """Document ids (strings) -> int64 keys for accidental-hit removal."""
    return tf.strings.to_hash_bucket_fast(ids, _ID_BUCKETS)


def tokenize_features(features, query_tokenizer, document_tokenizer, length=None):
    """Replaces the texts of a batch of training features by fixed-length tokens, and the ids by keys.

    For XLA: the training step then holds no string op and only static shapes.
    Use in the input pipeline: `dataset.map(lambda f: tokenize_features(f, ...))`.

    Args:
        features: dict of `TwoTower` training features (batched).
        query_tokenizer, document_tokenizer: `WordPieceTokenizer`s of the towers.
        length: tokens per text (default: each tokenizer's `sequence_length`).

    Returns:
        dict with `query_token_ids` / `query_padding_mask` `[b, Lq]`, `document_*`
        `[b, Ld]`, `hard_negatives_*` `[b, m, Ld]`, and `document_id_key` /
        `hard_negative_ids_key` int64, plus the other numeric features.
    """
    out = {}

    def tokens(tokenizer, texts):
        size = length or tokenizer.sequence_length
        shape = tf.shape(texts)
        flat = tokenizer(tf.reshape(texts, [-1]))
        pad = size - tf.shape(flat["token_ids"])[1]
        ids = tf.pad(flat["token_ids"], [[0, 0], [0, pad]])
        mask = tf.pad(flat["padding_mask"], [[0, 0], [0, pad]])
        full = tf.concat([shape, [size]], axis=0)
        return tf.reshape(ids, full), tf.reshape(mask, full)

    for name, tokenizer in (("query", query_tokenizer), ("document", document_tokenizer),
                            ("hard_negatives", document_tokenizer)):
        if name in features:
            out[name + "_token_ids"], out[name + "_padding_mask"] = tokens(tokenizer, features[name])
    for name in ("document_id", "hard_negative_ids"):
        if name in features:
            out[name + "_key"] = hash_ids(features[name])
    if "candidate_sampling_probability" in features:
        out["candidate_sampling_probability"] = features["candidate_sampling_probability"]
    return out


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
