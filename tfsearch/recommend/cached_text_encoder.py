"""A frozen text encoder that looks known texts up instead of running BERT again."""

import numpy as np
import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="tfsearch")
class CachedTextEncoder(tf.keras.layers.Layer):
    """Embeddings of a fixed set of texts (e.g. an item corpus) looked up by the text, in-graph.

    When the text encoder is frozen, a recommender's user tower only ever
    reads item texts it has already embedded: this layer turns each step's
    hundreds of BERT passes into one hash-table lookup. Texts outside the
    cache are embedded by `encoder` when one is given, else refused. The empty
    string maps to zeros.

    With `projection_dim`, a trainable linear head (orthogonal initialisation,
    no bias, then L2 normalisation) maps the frozen embeddings to a space
    trained for the task: BERT stays frozen and cached, the head learns. The
    wrapped `encoder`'s weights are never trained through this layer.

    The layer holds data (the table), not only settings: it is not meant for
    `get_config` serialisation; rebuild it from the corpus and `encode_texts`.

    Args:
        texts: list of str `[num_texts]` (duplicates allowed).
        embeddings: float array `[num_texts, dim]`, row i the embedding of `texts[i]`.
        encoder: optional text encoder for texts outside the cache (frozen).
        projection_dim: int or None. Adds the trainable head.
        **kwargs: `tf.keras.layers.Layer` arguments.

    Call arguments:
        texts: string tensor `[n]`.

    Returns:
        float32 `[n, dim]` (`[n, projection_dim]` with the head).

    Example:
    ```python
    titles = [item.contents() for item in items.values()]
    cached = CachedTextEncoder(titles, encode_texts(encoder, titles), encoder=encoder)
    tower = ContextQueryTower(cached, max_context=10)  # trains its fusion weights only
    ```
    """

    def __init__(self, texts, embeddings, encoder=None, projection_dim=None, **kwargs):
        super().__init__(**kwargs)
        embeddings = np.asarray(embeddings, np.float32)
        if embeddings.ndim != 2 or len(embeddings) != len(texts):
            raise ValueError(f"embeddings must be [len(texts), dim] = [{len(texts)}, dim], got {embeddings.shape}.")
        rows = {}
        for row, text in enumerate(texts):
            rows.setdefault(str(text), row)
        unique = [t for t in rows if t != ""]
        table = np.concatenate([embeddings[[rows[t] for t in unique]], np.zeros([1, embeddings.shape[1]], np.float32)])
        self.dim = int(embeddings.shape[1])
        self.size = len(unique)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(unique + [""], tf.string),
                                                tf.range(len(unique) + 1, dtype=tf.int64)), default_value=-1)
        self.cached = tf.Variable(table, trainable=False, name="cached_embeddings")
        self.encoder = encoder
        self.projection_dim = None if projection_dim is None else int(projection_dim)
        self.projection = None
        if projection_dim is not None:
            self.projection = tf.keras.layers.Dense(self.projection_dim, use_bias=False,
                                                    kernel_initializer="orthogonal", name="projection")
            with tf.name_scope(self.projection.name):
                self.projection.build([None, self.dim])

    @property
    def embedding_dim(self):
        return self.projection_dim or self.dim

    @property
    def trainable_weights(self):
        # The head only: the wrapped encoder stays frozen.
        return list(self.projection.trainable_weights) if self.projection is not None and self.trainable else []

    @property
    def non_trainable_weights(self):
        head = {id(w) for w in self.trainable_weights}
        everything = (tf.keras.layers.Layer.trainable_weights.fget(self)
                      + tf.keras.layers.Layer.non_trainable_weights.fget(self))
        return [w for w in everything if id(w) not in head]

    def call(self, texts, training=False):
        embeddings = self._lookup(texts)
        if self.projection is None:
            return embeddings
        return tf.math.l2_normalize(self.projection(embeddings), axis=-1)

    def _lookup(self, texts):
        texts = tf.reshape(tf.convert_to_tensor(texts, tf.string), [-1])
        rows = self.table.lookup(texts)
        found = rows >= 0
        hits = tf.gather(self.cached, tf.maximum(rows, 0))
        if self.encoder is None:
            check = tf.debugging.assert_equal(
                tf.reduce_all(found), True,
                message="CachedTextEncoder: a text is not in the cache and no encoder was given for it.")
            with tf.control_dependencies([check]):
                return tf.identity(hits)
        misses = tf.where(~found)
        # One extra empty text keeps the encoder's batch non-empty.
        missing = tf.concat([tf.gather_nd(texts, misses), tf.constant([""])], axis=0)
        encoded = tf.stop_gradient(tf.cast(self.encoder(missing, training=False), tf.float32))[:-1]
        return tf.tensor_scatter_nd_update(hits, misses, encoded)
