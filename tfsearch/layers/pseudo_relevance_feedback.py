"""Query expansion in embedding space: Rocchio pseudo-relevance feedback as a Keras layer."""

import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="tfsearch")
class PseudoRelevanceFeedback(tf.keras.layers.Layer):
    """Moves query embeddings towards the mean of their top retrieved documents.

    Rocchio's relevance feedback (Rocchio, 1971) applied to dense embeddings,
    with the top `m` retrieved documents taken as relevant (pseudo-relevance
    feedback, as in ANCE-PRF or Rocchio-PRF for dense retrievers): for a query
    embedding `q` and the embeddings `e_1 .. e_m` of its top `m` documents,

        q' = normalise((1 - beta) * q + beta * mean(e_1, ..., e_m))

    where `normalise` divides by the L2 norm. The documents must be passed best
    first; only the first `num_feedback_documents` of the given ones are used,
    and of those only the ones the mask marks valid. A query with no valid
    feedback document keeps its own direction (`normalise(q)`). With unit-norm
    inputs (tfsearch encoders' default) `beta = 0` returns the query unchanged
    and `beta = 1` the normalised centroid of the feedback documents.

    Core TensorFlow ops only: it compiles with XLA
    (`tf.function(jit_compile=True)`), runs inside SavedModel signatures (the
    export's `search` with `prf_documents > 0`) and under distribution
    strategies. Computation is in float32 whatever the layer's dtype policy.

    Args:
        num_feedback_documents: int >= 1. `m`, the number of top documents
            averaged.
        beta: float in [0, 1]. Weight of the feedback centroid (0: no
            expansion).
        **kwargs: `tf.keras.layers.Layer` arguments (`name`, ...).

    Call arguments:
        query_embeddings: float tensor `[batch_size, dim]`.
        document_embeddings: float tensor `[batch_size, num_documents, dim]`,
            each query's retrieved documents, best first; `num_documents >=
            num_feedback_documents` when known at trace time (extra documents
            are ignored).
        mask: optional bool tensor `[batch_size, num_documents]`, True for real
            documents (False for padding, e.g. an index that returned fewer
            than `m`). Default: all valid.

    Returns:
        float32 tensor `[batch_size, dim]`: the expanded queries, unit norm.

    Example:
    ```python
    prf = tfsearch.layers.PseudoRelevanceFeedback(num_feedback_documents=2, beta=0.5)
    queries = tf.constant([[1.0, 0.0]])
    documents = tf.constant([[[0.0, 1.0], [0.0, 1.0], [-1.0, 0.0]]])  # best first; the third is ignored
    prf(queries, documents)
    # [[0.7071, 0.7071]] = normalise(0.5 * [1, 0] + 0.5 * [0, 1])
    ```
    """

    def __init__(self, num_feedback_documents=3, beta=0.5, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_feedback_documents, bool) or int(num_feedback_documents) != num_feedback_documents \
                or num_feedback_documents < 1:
            raise ValueError(f"`num_feedback_documents` must be a positive integer, got {num_feedback_documents!r}.")
        if not 0.0 <= float(beta) <= 1.0:
            raise ValueError(f"`beta` must be in [0, 1], got {beta!r}.")

        # === Config ===
        self.num_feedback_documents = int(num_feedback_documents)
        self.beta = float(beta)

    def call(self, query_embeddings, document_embeddings, mask=None):
        queries = tf.cast(tf.convert_to_tensor(query_embeddings), tf.float32)
        documents = tf.cast(tf.convert_to_tensor(document_embeddings), tf.float32)
        if queries.shape.rank != 2 or documents.shape.rank != 3:
            raise ValueError("`query_embeddings` must be [batch, dim] and `document_embeddings` [batch, "
                             f"num_documents, dim]; got ranks {queries.shape.rank} and {documents.shape.rank}.")
        m = self.num_feedback_documents
        available = documents.shape[1]
        if available is not None and available < m:
            raise ValueError(f"`document_embeddings` hold {available} documents per query but "
                             f"`num_feedback_documents` is {m}.")
        documents = documents[:, :m]
        if mask is None:
            weights = tf.ones_like(documents[:, :, 0])
        else:
            weights = tf.cast(tf.cast(mask, tf.bool)[:, :m], tf.float32)
        # Padding may hold anything (NaN included): zero it before summing.
        documents = tf.where(weights[:, :, tf.newaxis] > 0.0, documents, 0.0)
        count = tf.reduce_sum(weights, axis=1, keepdims=True)  # [batch, 1]
        centroid = tf.reduce_sum(documents, axis=1) / tf.maximum(count, 1.0)  # zero when no valid document
        expanded = (1.0 - self.beta) * queries + self.beta * centroid
        # No valid feedback: the query's own direction (also when beta = 1).
        expanded = tf.where(count > 0.0, expanded, queries)
        return tf.math.l2_normalize(expanded, axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None  # `mask` marks valid feedback documents; the output carries none.

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_feedback_documents": self.num_feedback_documents,
            "beta": self.beta,
        })
        return config
