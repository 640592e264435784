"""A query tower that also reads a short history of texts: context-aware search, or a user tower."""

import pathlib

import tensorflow as tf

from tfsearch.models.tower_saving import BuildsByCalling, read_weights, write_weights
from tfsearch.utils.atomic import atomic_directory
from tfsearch.utils.folder_files import read_metadata, write_metadata

CONTEXT_TOWER_CONFIG_FILE = "tfsearch_context_tower.json"
ENCODER_DIR = "encoder"


@tf.keras.utils.register_keras_serializable(package="tfsearch")
class ContextQueryTower(BuildsByCalling, tf.keras.Model):
    """Fuses a query with a list of context texts (recent queries, titles of items engaged with).

    The query and the context texts are embedded by the same text encoder in
    one call (the context is flattened, only non-empty texts are encoded, and
    the result is scattered back to `[batch, max_context, dim]`). The context
    is then pooled by attention, and a learned gate mixes the pooled context
    with the query embedding:

    - attention query: a projection of the query embedding when the row has a
      query, else a learned vector (the row is a *user*, not a search);
    - keys: a projection of the context embeddings, plus a learned bias per
      recency position (0 = the most recent text);
    - values: the context embeddings plus a learned linear map of them
      (zero-initialised, so the pooled context starts as a weighted mean);
    - gate `g = sigmoid(w . [query, pooled] + b)`: output
      `normalize(g * query + (1 - g) * normalize(pooled))`.

    A row without context returns its query embedding unchanged; a row
    without a query returns the normalised pooled context, so with no query at
    all the tower is a *user tower* for a text-based recommender whose items
    are embedded by the same encoder. A row with neither is all zeros.

    With `num_interests = K > 1` the tower returns `K` vectors per row
    (multi-interest, as in MIND and ComiRec): a user row pools its context
    with `K` learned attention queries (randomly initialised, each with its own
    recency bias), so that a user who likes both westerns and musicals gets
    one vector near each. An item's score is its best dot product with the
    `K` vectors; `TwoTower` trains each example through the interest nearest
    its positive. Rows with a query use the query for every interest.

    Only the `max_context` most recent texts are kept (the last ones of each
    row: contexts are given oldest first).

    Args:
        encoder: a text encoder (`BertEncoder` or its config): strings
            `[n]` -> float `[n, embedding_dim]`.
        max_context: int. Context texts kept per row (the most recent).
        attention_dim: int or None. Size of the attention keys (None: the
            encoder's `embedding_dim`).
        gate_bias: float. Initial bias of the gate (0: an even mix).
        num_interests: int. Vectors returned per row (1: one).
        **kwargs: standard `tf.keras.Model` arguments.

    Call arguments:
        inputs: dict with
            `query`: optional string `[batch]`; `""` means no query for the row.
            `context`: optional string `[batch, num_context]`, ragged or padded
                with `""`, oldest first.
            Or, already embedded (the numeric, XLA-compilable path, see `fuse`):
            `query_embedding` `[batch, dim]` with `query_mask` bool `[batch]`,
            `context_embeddings` `[batch, num_context, dim]` with
            `context_mask` bool `[batch, num_context]` (oldest first).
        A string tensor `[batch]` alone is taken as the queries.

    Returns:
        float32 `[batch, embedding_dim]`, unit norm (zeros for a row with
        neither query nor context); `[batch, num_interests, embedding_dim]`
        when `num_interests > 1`.

    Example:
    ```python
    encoder = BertEncoder.from_pretrained()
    tower = ContextQueryTower(encoder, max_context=10)
    users = tower({"context": tf.ragged.constant([["Toy Story (1995)", "Babe (1995)"], ["Heat (1995)"]])})
    search = tower({"query": tf.constant(["space adventure", "jazz"]),
                    "context": tf.ragged.constant([["Star Wars (1977)"], []])})  # row 2: the query alone
    ```
    """

    def __init__(self, encoder, max_context=10, attention_dim=None, gate_bias=0.0, num_interests=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(encoder, dict):
            encoder = tf.keras.layers.deserialize(encoder)
        if int(max_context) != max_context or max_context < 1:
            raise ValueError(f"`max_context` must be a positive integer, got {max_context!r}.")
        if attention_dim is not None and (int(attention_dim) != attention_dim or attention_dim < 1):
            raise ValueError(f"`attention_dim` must be a positive integer or None, got {attention_dim!r}.")
        if int(num_interests) != num_interests or num_interests < 1:
            raise ValueError(f"`num_interests` must be a positive integer, got {num_interests!r}.")
        dim = int(encoder.embedding_dim)

        # === Layers ===
        self.encoder = encoder
        self.query_projection = tf.keras.layers.Dense(
            int(attention_dim or dim), use_bias=False, kernel_initializer="zeros", name="query_projection")
        self.key_projection = tf.keras.layers.Dense(
            int(attention_dim or dim), use_bias=False, name="key_projection")
        self.value_projection = tf.keras.layers.Dense(
            dim, use_bias=False, kernel_initializer="zeros", name="value_projection")
        self.gate = tf.keras.layers.Dense(
            1, bias_initializer=tf.keras.initializers.Constant(float(gate_bias)), kernel_initializer="zeros",
            name="gate")

        # === Config ===
        self.max_context = int(max_context)
        self.attention_dim = None if attention_dim is None else int(attention_dim)
        self.gate_bias = float(gate_bias)
        self.num_interests = int(num_interests)

    def build(self, input_shape=None):
        dim = self.embedding_dim
        attention_dim = self.attention_dim or dim
        if self.num_interests == 1:
            self.user_query = self.add_weight(name="user_query", shape=[attention_dim], initializer="zeros")
            self.recency_bias = self.add_weight(name="recency_bias", shape=[self.max_context], initializer="zeros")
        else:  # random attention queries, so that the interests differ from the first step
            self.user_query = self.add_weight(name="user_query", shape=[self.num_interests, attention_dim],
                                              initializer=tf.keras.initializers.RandomNormal(stddev=1.0))
            self.recency_bias = self.add_weight(name="recency_bias", shape=[self.num_interests, self.max_context],
                                                initializer="zeros")
        for layer, shape in ((self.query_projection, [None, dim]), (self.key_projection, [None, None, dim]),
                             (self.value_projection, [None, None, dim]), (self.gate, [None, 2 * dim])):
            with tf.name_scope(layer.name):
                layer.build(shape)
        self.built = True

    @property
    def embedding_dim(self):
        return int(self.encoder.embedding_dim)

    # --- inputs ------------------------------------------------------------

    def recent_context(self, context):
        """Keeps the `max_context` most recent non-empty texts of each row.

        Args:
            context: string `[batch, num_context]`, ragged or padded with `""`,
                oldest first.

        Returns:
            string `[batch, max_context]`, oldest first, padded with `""` at the end.
        """
        if not isinstance(context, tf.RaggedTensor):
            context = tf.convert_to_tensor(context, tf.string)
        if context.shape.rank != 2:
            raise ValueError(f"`context` must be [batch, num_context] strings, got rank {context.shape.rank}.")
        context = tf.ragged.boolean_mask(context, tf.strings.length(context) > 0)
        return context[:, -self.max_context:].to_tensor(default_value="", shape=[None, self.max_context])

    def embed_texts(self, queries, context, training=False):
        """Embeds queries `[batch]` and contexts `[batch, max_context]` in one encoder call.

        Empty strings are not encoded: their rows are zeros and their mask False.

        Returns:
            `(query_embedding [batch, dim], query_mask [batch], context_embeddings
            [batch, max_context, dim], context_mask [batch, max_context])`.
        """
        batch = tf.shape(queries)[0]
        flat = tf.concat([queries, tf.reshape(context, [-1])], axis=0)
        present = tf.strings.length(flat) > 0
        positions = tf.where(present)
        # One extra (empty) text keeps the encoder's batch non-empty.
        texts = tf.concat([tf.boolean_mask(flat, present), tf.constant([""])], axis=0)
        embedded = tf.cast(self.encoder(texts, training=training), tf.float32)[:-1]
        dense = tf.scatter_nd(positions, embedded, tf.stack([tf.shape(flat, out_type=tf.int64)[0],
                                                            tf.cast(tf.shape(embedded)[1], tf.int64)]))
        dim = self.embedding_dim
        query_embedding = tf.reshape(dense[:batch], [-1, dim])
        context_embeddings = tf.reshape(dense[batch:], [-1, self.max_context, dim])
        return (query_embedding, present[:batch], context_embeddings,
                tf.reshape(present[batch:], [-1, self.max_context]))

    # --- fusion ------------------------------------------------------------

    def fuse(self, query_embedding, query_mask, context_embeddings, context_mask, return_details=False):
        """The numeric part: attention pooling over the context and the gate. XLA-compilable.

        Args:
            query_embedding: float `[batch, dim]` (anything where `query_mask` is False).
            query_mask: bool `[batch]`, True where the row has a query.
            context_embeddings: float `[batch, num_context, dim]`, oldest first.
            context_mask: bool `[batch, num_context]`, True for real context texts.
            return_details: bool. Also return the attention weights
                `[batch, num_context]` and the gate values `[batch]`.

        Returns:
            float32 `[batch, dim]`; with `return_details`, `(output, attention, gate)`.
            With `num_interests = K > 1`: output `[batch, K, dim]`, attention
            `[batch, K, num_context]`, gate `[batch, K]`.
        """
        if not self.built:
            self.build()
        interests = self.num_interests
        query_embedding = tf.cast(query_embedding, tf.float32)
        context_embeddings = tf.cast(context_embeddings, tf.float32)
        query_mask = tf.cast(query_mask, tf.bool)
        context_mask = tf.cast(context_mask, tf.bool)
        query_embedding = tf.where(query_mask[:, tf.newaxis], query_embedding, 0.0)
        context_embeddings = tf.where(context_mask[:, :, tf.newaxis], context_embeddings, 0.0)
        num_context = tf.shape(context_embeddings)[1]

        # Recency position of each slot: 0 for the last real text of the row.
        lengths = tf.reduce_sum(tf.cast(context_mask, tf.int32), axis=1, keepdims=True)
        recency = lengths - 1 - tf.range(num_context)[tf.newaxis, :]
        recency = tf.clip_by_value(recency, 0, self.max_context - 1)

        # One attention query per interest: [batch, K, attention_dim].
        user_queries = tf.reshape(self.user_query, [interests, -1])
        attention_query = tf.where(query_mask[:, tf.newaxis, tf.newaxis],
                                   self.query_projection(query_embedding)[:, tf.newaxis, :],
                                   user_queries[tf.newaxis, :, :])
        keys = self.key_projection(context_embeddings)  # [batch, num_context, attention_dim]
        scale = tf.math.rsqrt(tf.cast(tf.shape(keys)[-1], tf.float32))
        recency_bias = tf.gather(tf.reshape(self.recency_bias, [interests, -1]), recency, axis=1)  # [K, batch, ctx]
        logits = tf.einsum("bka,bca->bkc", attention_query, keys) * scale + tf.transpose(recency_bias, [1, 0, 2])
        context_mask_k = context_mask[:, tf.newaxis, :]
        logits = tf.where(context_mask_k, logits, -1e9)
        attention = tf.nn.softmax(logits, axis=-1) * tf.cast(context_mask_k, tf.float32)  # [batch, K, ctx]
        values = context_embeddings + self.value_projection(context_embeddings)
        pooled = tf.math.l2_normalize(tf.einsum("bkc,bcd->bkd", attention, values), axis=-1)  # [batch, K, dim]

        has_context = lengths[:, 0] > 0
        queries_k = tf.broadcast_to(query_embedding[:, tf.newaxis, :], tf.shape(pooled))
        gate = tf.sigmoid(self.gate(tf.concat([queries_k, pooled], axis=-1)))[..., 0]  # [batch, K]
        gate = tf.where(has_context[:, tf.newaxis], tf.where(query_mask[:, tf.newaxis], gate, 0.0), 1.0)
        mixed = tf.math.l2_normalize(gate[..., tf.newaxis] * queries_k + (1.0 - gate[..., tf.newaxis]) * pooled,
                                     axis=-1)
        # No context: the query embedding exactly as the encoder gave it.
        output = tf.where(has_context[:, tf.newaxis, tf.newaxis], mixed, queries_k)
        if interests == 1:
            output, attention, gate = output[:, 0], attention[:, 0], gate[:, 0]
        if return_details:
            return output, attention, gate
        return output

    def call(self, inputs, training=False):
        if not isinstance(inputs, dict):
            inputs = {"query": inputs}
        if "context_embeddings" in inputs or "query_embedding" in inputs:
            return self._call_embedded(inputs)
        unknown = sorted(set(inputs) - {"query", "context"})
        if unknown or not inputs:
            raise ValueError(f"ContextQueryTower takes `query` and/or `context` (or their embeddings), got "
                             f"{sorted(inputs)}.")
        query = inputs.get("query")
        context = inputs.get("context")
        if query is None:
            batch = context.nrows() if isinstance(context, tf.RaggedTensor) else tf.shape(context)[0]
            query = tf.fill(tf.reshape(batch, [1]), "")
        query = tf.reshape(tf.convert_to_tensor(query, tf.string), [-1])
        if context is None:
            context = tf.fill(tf.stack([tf.shape(query)[0], self.max_context]), "")
        else:
            context = self.recent_context(context)
        return self.fuse(*self.embed_texts(query, context, training=training))

    def _call_embedded(self, inputs):
        if "context_embeddings" in inputs:
            context = tf.convert_to_tensor(inputs["context_embeddings"], tf.float32)
            mask = inputs.get("context_mask")
            mask = tf.ones(tf.shape(context)[:2], tf.bool) if mask is None else tf.cast(mask, tf.bool)
        if "query_embedding" in inputs:
            query = tf.convert_to_tensor(inputs["query_embedding"], tf.float32)
            query_mask = inputs.get("query_mask")
            query_mask = tf.ones(tf.shape(query)[:1], tf.bool) if query_mask is None else tf.cast(query_mask, tf.bool)
        else:
            query = tf.zeros([tf.shape(context)[0], self.embedding_dim], tf.float32)
            query_mask = tf.zeros(tf.shape(context)[:1], tf.bool)
        if "context_embeddings" not in inputs:
            context = tf.zeros([tf.shape(query)[0], 1, self.embedding_dim], tf.float32)
            mask = tf.zeros([tf.shape(query)[0], 1], tf.bool)
        return self.fuse(query, query_mask, context, mask)

    # --- config and files --------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update({
            "encoder": tf.keras.layers.serialize(self.encoder),
            "max_context": self.max_context,
            "attention_dim": self.attention_dim,
            "gate_bias": self.gate_bias,
            "num_interests": self.num_interests,
        })
        return config

    def _ensure_built(self):
        if not self.built or not self.encoder.built:
            self({"query": tf.constant(["build"]), "context": tf.constant([["build"]])})

    def save_to_directory(self, path, overwrite=False):
        """Writes the tower to a folder atomically: `encoder/` (an encoder folder), the config, `weights/`.

        The encoder must offer `write_files` (as `BertEncoder` does).
        `ContextQueryTower.from_directory(path)` reads it back.
        """
        self._ensure_built()
        with atomic_directory(path, overwrite=overwrite) as tmp:
            (tmp / ENCODER_DIR).mkdir()
            self.encoder.write_files(tmp / ENCODER_DIR)
            config = {k: v for k, v in self.get_config().items() if k != "encoder"}
            write_weights(tmp, tower=self)
            write_metadata(tmp, CONTEXT_TOWER_CONFIG_FILE, config, final_newline=False)
        return pathlib.Path(path)

    @classmethod
    def from_directory(cls, path):
        """Loads a tower written by `save_to_directory`."""
        from tfsearch.models.bert_encoder import BertEncoder

        path = pathlib.Path(path)
        config = read_metadata(path, CONTEXT_TOWER_CONFIG_FILE, "context tower")
        tower = cls(BertEncoder.from_pretrained(path / ENCODER_DIR), **config)
        tower._ensure_built()
        read_weights(path, tower=tower)
        return tower
