"""Graph-compiled diversity re-ranking: MMR, greedy DPP and xQuAD-style aspects."""

import tensorflow as tf

METHODS = ("mmr", "dpp", "aspects")


class DiversityReranker(tf.keras.layers.Layer):
    """Re-ranks candidate lists to balance relevance and diversity, in-graph.

    Greedy selection of `k` results per query among `n` candidates, batched over
    queries and written with core TensorFlow ops only, so that it runs under
    `tf.function(jit_compile=True)`, inside a SavedModel signature (TensorFlow
    Serving) and under a distribution strategy. The balance is a per-query input:
    each request can choose its own.

    Methods (`method=`), with `d` the query's `diversity` and `s` the scores:
    - `"mmr"`, maximal marginal relevance (Carbonell and Goldstein, SIGIR 1998):
      pick the candidate maximising `(1 - d) * s_i - d * max_{j selected}
      cos(e_i, e_j)`; the first pick is the highest score. Each candidate keeps
      a running maximum of its similarity to the selected set, so a step costs
      O(n * dim) and the whole selection O(k * n * dim).
    - `"dpp"`: greedy MAP inference for a determinantal point process with the
      quality/diversity kernel `L = diag(q) S diag(q)`, `S_ij = cos(e_i, e_j)`,
      `q_i = exp(alpha * s_i)` and `alpha = (1 - d) / (2 d)` (Chen, Zhang and
      Zhou, NeurIPS 2018, section 4.1), with their incremental Cholesky updates
      (O(k * n * (dim + k))). Scaled by `d`, the log-determinant gain of adding
      candidate i is `(1 - d) * s_i + d * log(r_i)`, where `r_i` is i's residual
      variance given the selected set (clamped below at `epsilon`).
    - `"aspects"`: xQuAD (Santos, Macdonald and Ounis, WWW 2010) over the
      candidates' categorical aspects (category, brand, genre, source):
      `(1 - d) * P(i|q) + d * sum_a P(a|q) P(i|a) prod_{j selected} (1 - P(j|a))`,
      where `P(i|q)` is the softmax of the scores over the valid candidates at
      `temperature`, `P(a|q)` the relevance mass of the candidates carrying
      aspect a, and `P(i|a)` candidate i's share of that mass. Needs `aspects`.

    At `diversity=0` every method returns the candidates in relevance order.
    Ties are broken deterministically: the lower candidate position wins.
    Computation is in float32 whatever the layer's dtype policy.

    Args:
        k: int. Results returned per query.
        method: str. `"mmr"`, `"dpp"` or `"aspects"`.
        diversity: float in [0, 1]. The balance used when a call passes none
            (0 = pure relevance).
        temperature: float > 0. `"aspects"` only: softmax temperature turning
            scores into `P(i|q)` (0.1 suits cosine scores).
        epsilon: float > 0. `"dpp"` only: residual variance below which a
            candidate counts as fully redundant (no Cholesky update from it).
        **kwargs: `tf.keras.layers.Layer` arguments (`name`, ...).

    Call arguments:
        embeddings: float tensor `[batch_size, num_candidates, embedding_dim]`;
            cosine similarity is used, so they need not be normalised.
        scores: float tensor `[batch_size, num_candidates]`, relevance scores.
        mask: optional bool tensor `[batch_size, num_candidates]`, True for valid
            candidates (lists of different lengths). Default: all valid.
        diversity: optional float tensor `[batch_size]` (or a scalar), clipped
            to [0, 1]. Default: the constructor's `diversity`.
        aspects: `"aspects"` only. Either int ids `[batch_size, num_candidates]`
            (one aspect per candidate, negative for none; any integers, no
            vocabulary needed) or float weights `[batch_size, num_candidates,
            num_aspects]` (multi-label, e.g. multi-hot genres).

    Returns:
        `(positions, adjusted_scores)`: int32 `[batch_size, k]` candidate
        positions in selection order, and float32 `[batch_size, k]` values of the
        method's objective when each was picked (for MMR's first pick, its
        redundancy counts as 0). When a query has fewer than `k` valid candidates
        the remaining slots hold position -1 and score -inf.

    Example:
    ```python
    reranker = tfsearch.layers.DiversityReranker(k=2, method="mmr")
    embeddings = tf.constant([[[1.0, 0.0], [0.99, 0.14], [0.0, 1.0]]])
    scores = tf.constant([[0.9, 0.85, 0.5]])
    positions, _ = reranker(embeddings, scores, diversity=tf.constant([0.0]))
    # [[0, 1]]: relevance order
    positions, _ = reranker(embeddings, scores, diversity=tf.constant([0.5]))
    # [[0, 2]]: candidate 1 nearly duplicates candidate 0
    ```
    """

    def __init__(self, k=10, method="mmr", diversity=0.3, temperature=0.1, epsilon=1e-4, **kwargs):
        super().__init__(**kwargs)
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if int(k) != k or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if not 0.0 <= float(diversity) <= 1.0:
            raise ValueError(f"diversity must be in [0, 1], got {diversity!r}")
        if float(temperature) <= 0.0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        if float(epsilon) <= 0.0:
            raise ValueError(f"epsilon must be positive, got {epsilon!r}")

        # === Config ===
        self.k = int(k)
        self.method = method
        self.diversity = float(diversity)
        self.temperature = float(temperature)
        self.epsilon = float(epsilon)

    def call(self, embeddings, scores, mask=None, diversity=None, aspects=None):
        embeddings = tf.convert_to_tensor(embeddings)
        embeddings = tf.cast(embeddings, tf.float32)
        scores = tf.cast(tf.convert_to_tensor(scores), tf.float32)
        valid = tf.ones_like(scores, tf.bool) if mask is None else tf.cast(mask, tf.bool)
        # Padding may hold anything (NaN included): zero it before arithmetic.
        scores = tf.where(valid, scores, 0.0)
        embeddings = tf.where(valid[:, :, None], tf.math.l2_normalize(embeddings, axis=-1), 0.0)

        if diversity is None:
            diversity = tf.constant(self.diversity, tf.float32)
        diversity = tf.clip_by_value(tf.cast(diversity, tf.float32), 0.0, 1.0)
        diversity = tf.broadcast_to(tf.reshape(diversity, [-1, 1]), tf.shape(scores))

        if self.method == "mmr":
            step, update, state = self._mmr(embeddings, scores, diversity)
        elif self.method == "dpp":
            step, update, state = self._dpp(embeddings, scores, diversity)
        else:
            if aspects is None:
                raise ValueError('method="aspects" needs the `aspects` argument (ids or weights per candidate).')
            step, update, state = self._aspects(scores, valid, diversity, aspects)
        return self._greedy(step, update, state, valid)

    def compute_mask(self, inputs, mask=None):
        return None  # `mask` marks valid candidates; outputs carry no mask.

    # --- greedy selection shared by the methods ------------------------------

    def _greedy(self, objective, update, state, valid):
        """Runs `k` greedy steps.

        `objective(step, state)` returns `(choose, report)`, both `[batch, n]`:
        the values maximised and the values reported as adjusted scores.
        `update(step, state, picked)` returns the state after picking `picked`
        (`[batch]` positions, always in range).
        """
        batch_size, num_candidates = tf.shape(valid)[0], tf.shape(valid)[1]
        positions_row = tf.range(num_candidates)[None, :]
        slots = tf.range(self.k)[None, :]
        minus_inf = tf.constant(float("-inf"))

        def body(step, selected, positions, adjusted, state):
            choose, report = objective(step, state)
            available = valid & ~selected
            masked = tf.where(available, choose, minus_inf)
            best = tf.reduce_max(masked, axis=1, keepdims=True)
            winners = available & tf.equal(masked, best)
            picked = tf.reduce_min(tf.where(winners, positions_row, num_candidates), axis=1)
            found = tf.reduce_any(available, axis=1)
            picked = tf.minimum(picked, num_candidates - 1)
            value = tf.gather(report, picked, axis=1, batch_dims=1)

            slot = tf.equal(slots, step) & found[:, None]
            positions = tf.where(slot, picked[:, None], positions)
            adjusted = tf.where(slot, value[:, None], adjusted)
            selected = selected | (tf.equal(positions_row, picked[:, None]) & found[:, None])
            return step + 1, selected, positions, adjusted, update(step, state, picked)

        loop_vars = (
            tf.constant(0),
            tf.zeros_like(valid),
            tf.fill([batch_size, self.k], -1),
            tf.fill([batch_size, self.k], minus_inf),
            state,
        )
        _, _, positions, adjusted, _ = tf.while_loop(
            lambda step, *_: step < self.k, body, loop_vars, maximum_iterations=self.k
        )
        return positions, adjusted

    # --- methods -------------------------------------------------------------

    def _mmr(self, embeddings, scores, diversity):
        def objective(step, max_similarity):
            report = (1.0 - diversity) * scores - diversity * max_similarity
            return tf.where(tf.equal(step, 0), scores, report), report

        def update(step, max_similarity, picked):
            chosen = tf.gather(embeddings, picked, axis=1, batch_dims=1)  # [batch, dim]
            similarity = tf.einsum("bnd,bd->bn", embeddings, chosen)
            return tf.where(tf.equal(step, 0), similarity, tf.maximum(max_similarity, similarity))

        return objective, update, tf.zeros_like(scores)

    def _dpp(self, embeddings, scores, diversity):
        epsilon = tf.constant(self.epsilon, tf.float32)

        def objective(step, state):
            _, residual = state
            gain = (1.0 - diversity) * scores + diversity * tf.math.log(tf.maximum(residual, epsilon))
            return gain, gain

        def update(step, state, picked):
            factors, residual = state  # [batch, n, k], [batch, n]
            chosen = tf.gather(embeddings, picked, axis=1, batch_dims=1)
            similarity = tf.einsum("bnd,bd->bn", embeddings, chosen)  # S_ji
            chosen_factors = tf.gather(factors, picked, axis=1, batch_dims=1)  # c_j, [batch, k]
            chosen_residual = tf.gather(residual, picked, axis=1, batch_dims=1)  # d_j^2
            usable = chosen_residual > epsilon
            e = (similarity - tf.einsum("bnk,bk->bn", factors, chosen_factors)) / tf.sqrt(
                tf.maximum(chosen_residual, epsilon)
            )[:, None]
            e = tf.where(usable[:, None], e, 0.0)
            column = tf.cast(tf.equal(tf.range(self.k), step), tf.float32)
            return factors + e[:, :, None] * column[None, None, :], residual - tf.square(e)

        batch_size, num_candidates = tf.shape(scores)[0], tf.shape(scores)[1]
        factors = tf.zeros([batch_size, num_candidates, self.k])
        # diag(S): exactly 1 for a unit vector (not its rounded squared norm, so
        # that at diversity 1 the first step is an exact tie), 0 for padding.
        residual = tf.cast(tf.reduce_any(tf.not_equal(embeddings, 0.0), axis=-1), tf.float32)
        return objective, update, (factors, residual)

    def _aspects(self, scores, valid, diversity, aspects):
        membership = self._aspect_membership(aspects, valid)  # [batch, n, num_aspects]
        logits = tf.where(valid, scores / self.temperature, float("-inf"))
        top = tf.reduce_max(logits, axis=1, keepdims=True)
        logits = logits - tf.where(tf.math.is_finite(top), top, 0.0)  # a query with no valid candidate
        weights = tf.where(valid, tf.exp(logits), 0.0)
        relevance = tf.math.divide_no_nan(weights, tf.reduce_sum(weights, axis=1, keepdims=True))  # P(i|q)
        mass = relevance[:, :, None] * membership  # [batch, n, a]
        aspect_mass = tf.reduce_sum(mass, axis=1)  # [batch, a]
        aspect_given_query = tf.math.divide_no_nan(aspect_mass, tf.reduce_sum(aspect_mass, axis=1, keepdims=True))
        item_given_aspect = tf.math.divide_no_nan(mass, aspect_mass[:, None, :])  # P(i|a)
        weighted = item_given_aspect * aspect_given_query[:, None, :]

        def objective(step, novelty):
            coverage = tf.einsum("bna,ba->bn", weighted, novelty)
            value = (1.0 - diversity) * relevance + diversity * coverage
            return value, value

        def update(step, novelty, picked):
            chosen = tf.gather(item_given_aspect, picked, axis=1, batch_dims=1)  # [batch, a]
            return novelty * (1.0 - chosen)

        return objective, update, tf.ones_like(aspect_given_query)

    @staticmethod
    def _aspect_membership(aspects, valid):
        """`[batch, n, num_aspects]` float membership from ids or weights."""
        aspects = tf.convert_to_tensor(aspects)
        if aspects.shape.rank == 3:
            return tf.where(valid[:, :, None], tf.cast(aspects, tf.float32), 0.0)
        if aspects.shape.rank != 2 or not aspects.dtype.is_integer:
            raise ValueError(
                "aspects must be int ids [batch, num_candidates] or float weights "
                f"[batch, num_candidates, num_aspects]; got {aspects.dtype.name} of rank {aspects.shape.rank}"
            )
        # One column per distinct id, at the position of its first candidate:
        # no vocabulary and a static width (num_candidates), as XLA needs.
        has = valid & (aspects >= 0)
        same = tf.equal(aspects[:, :, None], aspects[:, None, :]) & has[:, :, None] & has[:, None, :]
        positions = tf.range(tf.shape(aspects)[1])
        earlier = positions[None, :] < positions[:, None]  # earlier[i, j]: j < i
        first = ~tf.reduce_any(same & earlier[None], axis=2)  # no earlier candidate shares its id
        return tf.cast(same & first[:, None, :], tf.float32)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "k": self.k,
                "method": self.method,
                "diversity": self.diversity,
                "temperature": self.temperature,
                "epsilon": self.epsilon,
            }
        )
        return config
