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

    With `word_buckets` as well, a trainable bag of words is added to the
    head's output before the normalisation: each lower-cased word of the text
    is hashed into one of `word_buckets` rows of a zero-initialised table, and
    the rows are summed and divided by the square root of the word count. It
    is a cheap stand-in for fine-tuning the encoder on CPUs: the words' meaning
    for the task is learned from the training data (for example that "harbor"
    goes with pirate films), and it carries over to any new text made of
    known words. At initialisation the output equals the head's alone.

    The layer holds data (the table), not only settings: it is not meant for
    `get_config` serialisation; rebuild it from the corpus and `encode_texts`.

    Args:
        texts: list of str `[num_texts]` (duplicates allowed).
        embeddings: float array `[num_texts, dim]`, row i the embedding of `texts[i]`.
        encoder: optional text encoder for texts outside the cache (frozen).
        projection_dim: int or None. Adds the trainable head.
        word_buckets: int or None. Adds the trainable bag of hashed words
            (`[word_buckets, projection_dim]`); needs `projection_dim`.
        **kwargs: `tf.keras.layers.Layer` arguments.

    Call arguments:
        texts: string tensor `[n]`.

    Returns:
        float32 `[n, dim]` (`[n, projection_dim]`, unit norm, with the head;
        zeros for `""`).

    Example:
    ```python
    titles = [item.contents() for item in items.values()]
    cached = CachedTextEncoder(titles, encode_texts(encoder, titles), encoder=encoder)
    tower = ContextQueryTower(cached, max_context=10)  # trains its fusion weights only
    ```
    """

    def __init__(self, texts, embeddings, encoder=None, projection_dim=None, word_buckets=None, **kwargs):
        super().__init__(**kwargs)
        if word_buckets is not None and (int(word_buckets) != word_buckets or word_buckets < 1):
            raise ValueError(f"`word_buckets` must be a positive integer or None, got {word_buckets!r}.")
        if word_buckets is not None and projection_dim is None:
            raise ValueError("`word_buckets` needs `projection_dim`: the bag of words is added to the head's output.")
        embeddings = np.asarray(embeddings, np.float32)
        if embeddings.ndim != 2 or len(embeddings) != len(texts):
            raise ValueError(f"`embeddings` must be [len(texts), dim] = [{len(texts)}, dim], got {embeddings.shape}.")
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
        self.word_buckets = None if word_buckets is None else int(word_buckets)
        self.word_embeddings = None
        if word_buckets is not None:
            self.word_embeddings = self.add_weight(name="word_embeddings", shape=[self.word_buckets,
                                                                                  self.projection_dim],
                                                   initializer="zeros")

    @property
    def embedding_dim(self):
        return self.projection_dim or self.dim

    @property
    def trainable_weights(self):
        # The head (and the bag of words) only: the wrapped encoder stays frozen.
        if self.projection is None or not self.trainable:
            return []
        words = [self.word_embeddings] if self.word_embeddings is not None else []
        return list(self.projection.trainable_weights) + words

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
        projected = self.projection(embeddings)
        if self.word_embeddings is not None:
            projected += self.bag_of_words(texts)
        return tf.math.l2_normalize(projected, axis=-1)

    def bag_of_words(self, texts):
        """The learned word term: `sum(word_embeddings[hash(w)] for w in words) / sqrt(len(words))`.

        Words are the runs of letters and digits of the lower-cased text
        (UTF-8), e.g. "Café Noir (1951)" -> ["café", "noir", "1951"].

        Args:
            texts: string `[n]`.

        Returns:
            float32 `[n, projection_dim]` (zeros for a text without words).
        """
        texts = tf.reshape(tf.convert_to_tensor(texts, tf.string), [-1])
        words = tf.strings.split(tf.strings.regex_replace(tf.strings.lower(texts, encoding="utf-8"),
                                                          r"[^\pL\pN]+", " "))
        rows = tf.strings.to_hash_bucket_fast(words, self.word_buckets)
        summed = tf.reduce_sum(tf.gather(self.word_embeddings, rows), axis=1)
        count = tf.cast(tf.maximum(words.row_lengths(), 1), tf.float32)[:, tf.newaxis]
        return summed * tf.math.rsqrt(count)

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
