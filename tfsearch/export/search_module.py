"""The exported search graph: strings in, document ids out, with the retrieval and re-ranking layers inside."""

import tensorflow as tf

from tfsearch.layers.diversity_reranker import DiversityReranker
from tfsearch.layers.pseudo_relevance_feedback import PseudoRelevanceFeedback
from tfsearch.models.batch_encoding import encode_in_length_chunks
from tfsearch.utils.arguments import check_integer

# The defaults of an export, decided here only: `export_search_model`, the
# command line and `tfsearch serve` (through the export's metadata) use these.
DEFAULT_NUM_CANDIDATES = 100
DEFAULT_MAX_K = 100
DEFAULT_K = 10
DEFAULT_DIVERSITY = 0.0
# Texts per encoder call inside one signature call (`encode_in_length_chunks`):
# 16 SciFact queries encoded in 59 ms in chunks of 4 against 85 ms padded as
# one batch in float32 (8: 33 against 42 ms), chunks of 2 or 8 gaining less, and
# in bfloat16 44 against 58 ms, on a 2-core EPYC with one thread per call
# (`bench/encoding_chunks.py`).
DEFAULT_ENCODING_CHUNK_SIZE = 4


def default_k(max_k):
    """The `k` of a search request that leaves it out: `DEFAULT_K`, or `max_k` when lower.

    Args:
        max_k: int. The largest `k` the export allows.

    Returns:
        int.

    Example:
    ```python
    default_k(100)  # 10
    default_k(5)    # 5
    ```
    """
    return min(DEFAULT_K, int(max_k))


class SearchModule(tf.Module):
    """A `tf.Module` whose functions become the export's signatures.

    - `encode_query(queries)`: string `[batch]` -> `{"embeddings": [batch, dim]}`;
    - `encode_document(documents)`: string `[batch]` -> `{"embeddings": [batch, dim]}`;
    - `search(queries, k=default_k(max_k), diversity=0.0)`: string `[batch]`,
      int32 scalar `k` in [1, max_k], float32 scalar `diversity` in [0, 1]
      (0: pure relevance); both optional, saved as the SignatureDef's
      `defaults` ->
      `{"ids": string [batch, k], "scores": float32 [batch, k], "positions":
      int32 [batch, k]}`: the index retrieves the top `num_candidates` by inner
      product, `DiversityReranker` re-ranks them at the requested balance, and
      the first `k` are returned with their relevance scores (cosine) and
      their rows in the index. Rows beyond the corpus have id "", score -inf
      and position -1. With `prf_documents > 0` the query embeddings are
      first expanded with pseudo-relevance feedback: the index retrieves each
      query's top `prf_documents`, `PseudoRelevanceFeedback` moves the query
      towards their mean (`prf_beta`), and the expanded query is what
      retrieves the candidates (the returned scores are its cosines).
    - `search_batchable(queries, k=[default_k(max_k)], diversity=[0.0])`:
      the same search with every input and output batched along its first
      dimension, so that TensorFlow Serving's server-side batching can merge
      requests: string `queries` `[batch]`, int32 `k` `[batch]` (each in
      [1, max_k]) and float32 `diversity` `[batch]`, one per query ->
      `{"ids": string [batch, max_k], "scores": float32 [batch, max_k],
      "positions": int32 [batch, max_k]}`. Row i holds the first `k[i]`
      results of `search` for query i at `diversity[i]`; its slots from
      `k[i]` on are empty (id "", score -inf, position -1), like the slots
      beyond the corpus. A one-element `k` or `diversity` applies to every
      query; the SignatureDef's `defaults` are such one-element tensors (see
      `docs/guides/export_and_serving.md` for what that means under
      batching).

    The graph knows the index only through the interface every backend
    shares: `index.candidates(query_embeddings, n)` -> `(scores [b, n],
    positions [b, n] int32, embeddings [b, n, dim])`, positions -1 for slots
    it could not fill, and `index.identifiers_tensor` (string
    `[num_documents]`); `index.backend` names the export's flavour.

    Args:
        query_encoder: `BertEncoder` of the queries.
        document_encoder: `BertEncoder` of the documents (may be the same).
        index: an index whose `candidates` works in a graph: a built
            `BruteForceIndex` (core TF ops) or `ScannIndex` (needs ScaNN's ops
            where it is served); `tfsearch.index.exportable_index` makes one
            of a loaded index.
        document_embeddings: ignored, kept for older callers: the index
            provides its rows.
        method: re-ranking method, `"mmr"` or `"dpp"`.
        num_candidates: int. Candidates re-ranked per query. Defaults to
            `DEFAULT_NUM_CANDIDATES`.
        max_k: int. The largest `k` a request may ask for. Defaults to
            `DEFAULT_MAX_K`.
        prf_documents: int >= 0. Feedback documents of the in-graph query
            expansion (0, the default: off).
        prf_beta: float in [0, 1]. Weight of the feedback documents' mean.
        encoding_chunk_size: int or None. The texts of one call (a request's,
            or the requests a batching server merged) are sorted by token
            length and encoded this many at a time, each chunk padded only
            to its own longest (`tfsearch.models.batch_encoding.
            encode_in_length_chunks`); None or 0: the whole batch padded to
            its longest. Defaults to `DEFAULT_ENCODING_CHUNK_SIZE`. Applies
            to encoders with `tokenizer` and `encode_tokens` (`BertEncoder`).

    Example:
    ```python
    module = SearchModule(encoder, encoder, BruteForceIndex().index(doc_embeddings, doc_ids))
    out = module.search(tf.constant(["query"]), tf.constant(10), tf.constant(0.3))
    # out["ids"]: [1, 10] strings; tf.saved_model.save(module, path, signatures=module.signatures())
    expanding = SearchModule(encoder, encoder, index, prf_documents=3, prf_beta=0.5)  # search, expand, search
    batched = module.search_batchable(tf.constant(["query", "other"]), tf.constant([10, 3]),
                                      tf.constant([0.3, 0.0]))
    # batched["ids"]: [2, max_k] strings, row 1 empty from slot 3 on
    ```
    """

    def __init__(self, query_encoder, document_encoder, index, document_embeddings=None, method="mmr",
                 num_candidates=DEFAULT_NUM_CANDIDATES, max_k=DEFAULT_MAX_K, prf_documents=0, prf_beta=0.5,
                 encoding_chunk_size=DEFAULT_ENCODING_CHUNK_SIZE):
        super().__init__(name="tfsearch_search")
        del document_embeddings  # the index provides its rows (`index.candidates`)
        if method not in ("mmr", "dpp"):
            raise ValueError(f"`method` must be 'mmr' or 'dpp' for an export (aspects need labels), got {method!r}.")
        if isinstance(prf_documents, bool) or int(prf_documents) != prf_documents or prf_documents < 0:
            raise ValueError(f"`prf_documents` must be an integer >= 0 (0: no query expansion), got "
                             f"{prf_documents!r}.")
        if not 0.0 <= float(prf_beta) <= 1.0:
            raise ValueError(f"`prf_beta` must be in [0, 1], got {prf_beta!r}.")
        self.encoding_chunk_size = None if not encoding_chunk_size else check_integer(
            encoding_chunk_size, "encoding_chunk_size")
        num_documents = index.num_documents
        self.num_candidates = int(min(num_candidates, num_documents))
        self.max_k = int(min(max_k, self.num_candidates))
        if self.max_k < 1:
            raise ValueError(f"`index` must hold documents, got an empty index (num_documents={num_documents}).")
        self.query_encoder = query_encoder
        self.document_encoder = document_encoder
        self.index = index
        self.backend = index.backend
        # One re-ranker per depth: a request for k results runs the smallest
        # depth >= k (the greedy loop costs one step per result).
        self.depths = sorted({d for d in (10, 20, 50) if d < self.max_k} | {self.max_k})
        self.rerankers = [DiversityReranker(k=d, method=method, name=f"diversity_reranker_{d}") for d in self.depths]
        self.prf_documents = int(min(prf_documents, num_documents))
        self.prf_beta = float(prf_beta)
        self.prf = (PseudoRelevanceFeedback(self.prf_documents, self.prf_beta, name="pseudo_relevance_feedback")
                    if self.prf_documents else None)
        dim = query_encoder.embedding_dim

        self.encode_query = tf.function(
            lambda queries: {"embeddings": self._encode(self.query_encoder, queries)},
            input_signature=[tf.TensorSpec([None], tf.string, name="queries")])
        self.encode_document = tf.function(
            lambda documents: {"embeddings": self._encode(self.document_encoder, documents)},
            input_signature=[tf.TensorSpec([None], tf.string, name="documents")])
        # `k` and `diversity` may be left out of a request: Python defaults
        # that are tensors become the SignatureDef's `defaults`, which
        # TensorFlow Serving fills in (`tfsearch serve` reads the same values).
        self.default_k = default_k(self.max_k)
        self.default_diversity = DEFAULT_DIVERSITY
        k_default = tf.constant(self.default_k, tf.int32)
        diversity_default = tf.constant(self.default_diversity, tf.float32)

        def search(queries, k=k_default, diversity=diversity_default):
            return self._search(queries, k, diversity)

        def search_embeddings(query_embeddings, k=k_default, diversity=diversity_default):
            return self._search_embeddings(query_embeddings, k, diversity)

        self.search = tf.function(search, input_signature=[
            tf.TensorSpec([None], tf.string, name="queries"),
            tf.TensorSpec([], tf.int32, name="k"),
            tf.TensorSpec([], tf.float32, name="diversity"),
        ])
        self.search_embeddings = tf.function(search_embeddings, input_signature=[
            tf.TensorSpec([None, dim], tf.float32, name="query_embeddings"),
            tf.TensorSpec([], tf.int32, name="k"),
            tf.TensorSpec([], tf.float32, name="diversity"),
        ])

        # The batchable signature: every input has the batch as its first
        # dimension. A tensor default of a `[None]` input is saved with its
        # own shape, `[1]`: TensorFlow Serving fills a missing input with that
        # one element, which the graph applies to every query.
        k_per_query_default = tf.constant([self.default_k], tf.int32)
        diversity_per_query_default = tf.constant([self.default_diversity], tf.float32)

        def search_batchable(queries, k=k_per_query_default, diversity=diversity_per_query_default):
            return self._search_batchable(queries, k, diversity)

        self.search_batchable = tf.function(search_batchable, input_signature=[
            tf.TensorSpec([None], tf.string, name="queries"),
            tf.TensorSpec([None], tf.int32, name="k"),
            tf.TensorSpec([None], tf.float32, name="diversity"),
        ])

    def _encode(self, encoder, texts):
        """`encoder(texts)`, in length-sorted chunks where the encoder allows (`encoding_chunk_size`)."""
        if self.encoding_chunk_size and hasattr(encoder, "encode_tokens") and hasattr(encoder, "tokenizer"):
            return encode_in_length_chunks(encoder, texts, self.encoding_chunk_size)
        return encoder(texts)

    def _expand(self, query_embeddings):
        """Pseudo-relevance feedback: the queries moved towards the mean of their top `prf_documents`."""
        _, positions, documents = self.index.candidates(query_embeddings, self.prf_documents)
        return self.prf(query_embeddings, documents, mask=positions >= 0)  # -1: a slot the index left empty

    def _candidates(self, query_embeddings, k):
        """Checks `k` (scalar or `[batch]`) and returns the candidates `(scores, positions, embeddings, valid)`."""
        tf.debugging.assert_greater_equal(k, 1, message="k must be at least 1")
        tf.debugging.assert_less_equal(k, self.max_k, message=f"k must be at most {self.max_k}")
        if self.prf is not None:
            query_embeddings = self._expand(query_embeddings)
        scores, positions, embeddings = self.index.candidates(query_embeddings, self.num_candidates)
        return scores, positions, embeddings, positions >= 0

    def _reranking(self, candidates, diversity):
        """The branches of `tf.switch_case`, one per re-ranking depth: orders `[batch, max_k]`, -1 padded."""
        scores, _, embeddings, valid = candidates

        def rerank(reranker):
            def run():
                order, _ = reranker(embeddings, scores, mask=valid, diversity=diversity)
                return tf.pad(order, [[0, 0], [0, self.max_k - reranker.k]], constant_values=-1)
            return run

        return [rerank(r) for r in self.rerankers]

    def _search_embeddings(self, query_embeddings, k, diversity):
        candidates = self._candidates(query_embeddings, k)
        scores, positions, _, valid = candidates

        def relevance_order():  # diversity 0: the index's order (what every re-ranker returns then)
            order = tf.where(valid, tf.range(self.num_candidates)[tf.newaxis, :], -1)
            return order[:, :self.max_k]  # max_k <= num_candidates

        depth = tf.reduce_sum(tf.cast(tf.constant(self.depths) < k, tf.int32))  # smallest depth >= k
        order = tf.cond(diversity <= 0.0, relevance_order,
                        lambda: tf.switch_case(depth, self._reranking(candidates, diversity)))
        order = tf.ensure_shape(order, [None, self.max_k])[:, :k]  # rows of the candidate list, -1 past the valid
        return self._results(order, scores, positions)

    def _results(self, order, scores, positions):
        """`{"ids", "scores", "positions"}` of the candidate rows `order` (-1: an empty slot)."""
        found = order >= 0
        safe = tf.maximum(order, 0)
        document_positions = tf.where(found, tf.gather(positions, safe, batch_dims=1), -1)
        relevance = tf.where(found, tf.gather(scores, safe, batch_dims=1), float("-inf"))
        ids = tf.where(found & (document_positions >= 0),
                       tf.gather(self.index.identifiers_tensor, tf.maximum(document_positions, 0)), "")
        return {"ids": ids, "scores": relevance, "positions": document_positions}

    def _search(self, queries, k, diversity):
        return self._search_embeddings(self._encode(self.query_encoder, queries), k, diversity)

    def _per_query(self, value, batch, name):
        """`value` `[batch]`: one value per query, or one value for all (a request that took the default)."""
        size = tf.size(value)
        check = tf.debugging.Assert(
            tf.logical_or(tf.equal(size, 1), tf.equal(size, batch)),
            [f"`{name}` must hold one value per query (or a single value for all of them); values given:", size,
             "queries:", batch])
        with tf.control_dependencies([check]):
            return tf.broadcast_to(value, [batch])

    def _search_batchable(self, queries, k, diversity):
        query_embeddings = self._encode(self.query_encoder, queries)
        batch = tf.shape(query_embeddings)[0]
        k = self._per_query(k, batch, "k")
        diversity = self._per_query(diversity, batch, "diversity")
        candidates = self._candidates(query_embeddings, k)
        scores, positions, _, valid = candidates
        relevance = tf.where(valid, tf.range(self.num_candidates)[tf.newaxis, :], -1)[:, :self.max_k]
        diverse = tf.logical_not(diversity <= 0.0)  # as `search`: diversity 0 (or less) keeps the index's order

        def reranked():
            # One depth for the whole batch, the smallest >= its largest k: greedy
            # selection is prefix-stable, so a row with a smaller k gets the first
            # k of what `search` would re-rank at its own depth.
            depth = tf.reduce_sum(tf.cast(tf.constant(self.depths) < tf.reduce_max(k), tf.int32))
            order = tf.switch_case(depth, self._reranking(candidates, diversity))
            return tf.where(diverse[:, tf.newaxis], order, relevance)

        order = tf.cond(tf.reduce_any(diverse), reranked, lambda: relevance)
        order = tf.ensure_shape(order, [None, self.max_k])
        order = tf.where(tf.range(self.max_k)[tf.newaxis, :] < k[:, tf.newaxis], order, -1)  # past k[i]: empty
        return self._results(order, scores, positions)

    def signatures(self):
        return {
            "serving_default": self.search,
            "search": self.search,
            "search_embeddings": self.search_embeddings,
            "search_batchable": self.search_batchable,
            "encode_query": self.encode_query,
            "encode_document": self.encode_document,
        }
