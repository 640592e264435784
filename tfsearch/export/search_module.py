"""The exported search graph: strings in, document ids out, with the retrieval and re-ranking layers inside."""

import tensorflow as tf

from tfsearch.index.brute_force_index import BruteForceIndex
from tfsearch.layers.diversity_reranker import DiversityReranker
from tfsearch.layers.pseudo_relevance_feedback import PseudoRelevanceFeedback


class SearchModule(tf.Module):
    """A `tf.Module` whose functions become the export's signatures.

    - `encode_query(queries)`: string `[batch]` -> `{"embeddings": [batch, dim]}`;
    - `encode_document(documents)`: string `[batch]` -> `{"embeddings": [batch, dim]}`;
    - `search(queries, k=min(10, max_k), diversity=0.0)`: string `[batch]`,
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

    Args:
        query_encoder: `BertEncoder` of the queries.
        document_encoder: `BertEncoder` of the documents (may be the same).
        index: a built `BruteForceIndex` (core TF ops) or `ScannIndex`
            (needs ScaNN's ops where it is served).
        document_embeddings: float `[num_documents, dim]`, the rows of the
            index; needed with ScaNN (its layer does not expose them), read
            from the index otherwise.
        method: re-ranking method, `"mmr"` or `"dpp"`.
        num_candidates: int. Candidates re-ranked per query.
        max_k: int. The largest `k` a request may ask for.
        prf_documents: int >= 0. Feedback documents of the in-graph query
            expansion (0, the default: off).
        prf_beta: float in [0, 1]. Weight of the feedback documents' mean.

    Example:
    ```python
    module = SearchModule(encoder, encoder, BruteForceIndex().index(doc_embeddings, doc_ids))
    out = module.search(tf.constant(["query"]), tf.constant(10), tf.constant(0.3))
    # out["ids"]: [1, 10] strings; tf.saved_model.save(module, path, signatures=module.signatures())
    expanding = SearchModule(encoder, encoder, index, prf_documents=3, prf_beta=0.5)  # search, expand, search
    ```
    """

    def __init__(self, query_encoder, document_encoder, index, document_embeddings=None, method="mmr",
                 num_candidates=100, max_k=100, prf_documents=0, prf_beta=0.5):
        super().__init__(name="tfsearch_search")
        if method not in ("mmr", "dpp"):
            raise ValueError(f"method must be 'mmr' or 'dpp' for an export (aspects need labels), got {method!r}")
        if isinstance(prf_documents, bool) or int(prf_documents) != prf_documents or prf_documents < 0:
            raise ValueError(f"prf_documents must be an integer >= 0 (0: no query expansion), got {prf_documents!r}")
        if not 0.0 <= float(prf_beta) <= 1.0:
            raise ValueError(f"prf_beta must be in [0, 1], got {prf_beta!r}")
        num_documents = index.num_documents
        self.num_candidates = int(min(num_candidates, num_documents))
        self.max_k = int(min(max_k, self.num_candidates))
        if self.max_k < 1:
            raise ValueError("The index is empty.")
        self.query_encoder = query_encoder
        self.document_encoder = document_encoder
        self.index = index
        self.backend = "brute_force" if isinstance(index, BruteForceIndex) else "scann"
        if self.backend == "scann":
            if document_embeddings is None:
                raise ValueError("A ScaNN export needs `document_embeddings` for the re-ranking layer.")
            self.document_embeddings = tf.Variable(tf.convert_to_tensor(document_embeddings, tf.float32),
                                                   trainable=False, name="document_embeddings")
            ids = tf.constant(index.identifiers)
            self.position_of = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(ids, tf.range(num_documents, dtype=tf.int32)), default_value=-1)
            self.scann_layer = index.layer
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
            lambda queries: {"embeddings": self.query_encoder(queries)},
            input_signature=[tf.TensorSpec([None], tf.string, name="queries")])
        self.encode_document = tf.function(
            lambda documents: {"embeddings": self.document_encoder(documents)},
            input_signature=[tf.TensorSpec([None], tf.string, name="documents")])
        # `k` and `diversity` may be left out of a request: Python defaults
        # that are tensors become the SignatureDef's `defaults`, which
        # TensorFlow Serving fills in (`tfsearch serve` reads the same values).
        self.default_k = min(10, self.max_k)
        default_k, default_diversity = tf.constant(self.default_k, tf.int32), tf.constant(0.0, tf.float32)

        def search(queries, k=default_k, diversity=default_diversity):
            return self._search(queries, k, diversity)

        def search_embeddings(query_embeddings, k=default_k, diversity=default_diversity):
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

    def _candidates(self, query_embeddings):
        """`(scores [b, n], positions [b, n] int32, embeddings [b, n, d])` of the top `num_candidates`."""
        n = self.num_candidates
        if self.backend == "brute_force":
            scores, positions = self.index.top_k_positions(query_embeddings, n)
            embeddings = tf.gather(self.index._embeddings, positions)
            return scores, tf.cast(positions, tf.int32), embeddings
        scores, ids = self.scann_layer(query_embeddings, k=n)
        # The ScaNN op leaves the candidate axis unknown; the re-ranker needs it static.
        scores, ids = tf.ensure_shape(scores, [None, n]), tf.ensure_shape(ids, [None, n])
        positions = self.position_of.lookup(ids)  # -1 where ScaNN could not fill a slot
        embeddings = tf.gather(self.document_embeddings, tf.maximum(positions, 0))
        return scores, positions, embeddings

    def _expand(self, query_embeddings):
        """Pseudo-relevance feedback: the queries moved towards the mean of their top `prf_documents`."""
        m = self.prf_documents
        if self.backend == "brute_force":
            _, positions = self.index.top_k_positions(query_embeddings, m)
            return self.prf(query_embeddings, tf.gather(self.index._embeddings, positions))
        _, ids = self.scann_layer(query_embeddings, k=m)
        positions = self.position_of.lookup(tf.ensure_shape(ids, [None, m]))  # -1: a slot ScaNN left empty
        documents = tf.gather(self.document_embeddings, tf.maximum(positions, 0))
        return self.prf(query_embeddings, documents, mask=positions >= 0)

    def _search_embeddings(self, query_embeddings, k, diversity):
        tf.debugging.assert_greater_equal(k, 1, message="k must be at least 1")
        tf.debugging.assert_less_equal(k, self.max_k, message=f"k must be at most {self.max_k}")
        if self.prf is not None:
            query_embeddings = self._expand(query_embeddings)
        scores, positions, embeddings = self._candidates(query_embeddings)
        valid = positions >= 0

        def rerank(reranker):
            def run():
                order, _ = reranker(embeddings, scores, mask=valid, diversity=diversity)
                return tf.pad(order, [[0, 0], [0, self.max_k - reranker.k]], constant_values=-1)
            return run

        def relevance_order():  # diversity 0: the index's order (what every re-ranker returns then)
            order = tf.where(valid, tf.range(self.num_candidates)[tf.newaxis, :], -1)
            return order[:, :self.max_k]  # max_k <= num_candidates

        depth = tf.reduce_sum(tf.cast(tf.constant(self.depths) < k, tf.int32))  # smallest depth >= k
        order = tf.cond(diversity <= 0.0, relevance_order,
                        lambda: tf.switch_case(depth, [rerank(r) for r in self.rerankers]))
        order = tf.ensure_shape(order, [None, self.max_k])[:, :k]  # rows of the candidate list, -1 past the valid
        found = order >= 0
        safe = tf.maximum(order, 0)
        document_positions = tf.where(found, tf.gather(positions, safe, batch_dims=1), -1)
        relevance = tf.where(found, tf.gather(scores, safe, batch_dims=1), float("-inf"))
        identifiers = self.index._identifiers if self.backend == "brute_force" else self.scann_layer._identifiers
        ids = tf.where(found & (document_positions >= 0),
                       tf.gather(identifiers, tf.maximum(document_positions, 0)), "")
        return {"ids": ids, "scores": relevance, "positions": document_positions}

    def _search(self, queries, k, diversity):
        return self._search_embeddings(self.query_encoder(queries), k, diversity)

    def signatures(self):
        return {
            "serving_default": self.search,
            "search": self.search,
            "search_embeddings": self.search_embeddings,
            "encode_query": self.encode_query,
            "encode_document": self.encode_document,
        }
