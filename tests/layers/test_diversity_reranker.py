import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.layer_contract import (
    assert_config_round_trip,
    assert_saved_model_reloads_in_fresh_process,
    assert_xla_compiles,
)
from tests.layers import numpy_rerankers
from tfsearch.layers import METHODS, DiversityReranker

# Objective gap under which two candidates count as tied in float32 (the layer)
# versus float64 (the reference). DPP's log of small residuals amplifies
# rounding, hence its wider band.
TIE_TOLERANCE = {"mmr": 1e-5, "dpp": 1e-3, "aspects": 1e-5}


def random_inputs(seed, batch, n, dim, lengths=None, num_aspects=3):
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(batch, n, dim)).astype(np.float32)
    scores = rng.uniform(-1.0, 1.0, size=(batch, n)).astype(np.float32)
    if lengths is None:
        lengths = rng.integers(0, n + 1, size=batch)
    mask = np.arange(n)[None, :] < np.asarray(lengths)[:, None]
    aspects = rng.integers(-1, num_aspects, size=(batch, n)).astype(np.int32)
    return embeddings, scores, mask, aspects


def reference(method, embeddings, scores, mask, diversity, k, aspects, layer):
    if method == "mmr":
        return numpy_rerankers.mmr(embeddings, scores, mask, diversity, k)
    if method == "dpp":
        return numpy_rerankers.dpp(embeddings, scores, mask, diversity, k, epsilon=layer.epsilon)
    weights = numpy_rerankers.one_hot_aspects(aspects) if aspects.ndim == 1 else aspects
    return numpy_rerankers.xquad(scores, mask, diversity, k, weights, temperature=layer.temperature)


def assert_same_selection(method, layer, embeddings, scores, mask, diversity, aspects):
    """The layer picks what the reference picks, step by step.

    Where the two differ, the reference must show a float near-tie between the
    two candidates at that step (and later steps are then not comparable).
    Returns the number of such near-ties.
    """
    positions, adjusted = layer(embeddings, scores, mask=mask, diversity=diversity, aspects=aspects)
    positions, adjusted = positions.numpy(), adjusted.numpy()
    near_ties = 0
    for q in range(len(scores)):
        ref_positions, ref_adjusted, choices = reference(
            method, embeddings[q], scores[q], mask[q], diversity[q], layer.k, aspects[q], layer
        )
        for step, (got, want) in enumerate(zip(positions[q], ref_positions)):
            if got != want:
                assert got in choices[step], (q, step, got, want)
                gap = abs(choices[step][got] - choices[step][want])
                assert gap <= TIE_TOLERANCE[method], (q, step, got, want, gap)
                near_ties += 1
                break
            if want == -1:
                assert adjusted[q, step] == -np.inf
            else:
                np.testing.assert_allclose(adjusted[q, step], ref_adjusted[step], rtol=1e-4, atol=1e-4)
    return near_ties


# --- against the numpy references -------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31 - 1),
    batch=st.integers(1, 4),
    n=st.integers(1, 12),
    dim=st.integers(1, 6),
    k=st.integers(1, 14),
    diversity=st.lists(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)), min_size=4, max_size=4),
)
def test_matches_numpy_reference(method, seed, batch, n, dim, k, diversity):
    embeddings, scores, mask, aspects = random_inputs(seed, batch, n, dim)
    layer = DiversityReranker(k=k, method=method)
    assert_same_selection(method, layer, embeddings, scores, mask, np.float32(diversity[:batch]), aspects)


@pytest.mark.parametrize("method", METHODS)
def test_matches_reference_at_scale(method):
    # 32 queries, 100 candidates of dimension 32, ragged lengths, a diversity grid.
    embeddings, scores, mask, aspects = random_inputs(7, 32, 100, 32, num_aspects=8)
    diversity = np.linspace(0.0, 1.0, 32).astype(np.float32)
    layer = DiversityReranker(k=10, method=method)
    assert assert_same_selection(method, layer, embeddings, scores, mask, diversity, aspects) == 0


def test_aspect_weights_match_reference():
    # Multi-label aspects given as weights [batch, n, num_aspects].
    rng = np.random.default_rng(3)
    embeddings, scores, mask, _ = random_inputs(3, 6, 20, 4)
    weights = (rng.uniform(size=(6, 20, 5)) < 0.4).astype(np.float32)
    layer = DiversityReranker(k=8, method="aspects")
    diversity = np.float32([0.0, 0.2, 0.5, 0.7, 0.9, 1.0])
    assert assert_same_selection("aspects", layer, embeddings, scores, mask, diversity, weights) == 0


# --- worked examples -----------------------------------------------------------

# Three candidates: 0 and 1 point almost the same way, 2 is orthogonal to 0.
EMBEDDINGS = np.float32([[[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]])
SCORES = np.float32([[0.9, 0.8, 0.5]])


def test_mmr_worked_example():
    layer = DiversityReranker(k=3, method="mmr")
    positions, adjusted = layer(EMBEDDINGS, SCORES, diversity=np.float32([0.5]))
    # Step 1: the highest score, candidate 0; reported (1 - 0.5) * 0.9 = 0.45.
    # Step 2: cos(1, 0) = 0.8 and cos(2, 0) = 0:
    #   candidate 1: 0.5 * 0.8 - 0.5 * 0.8 = 0.0; candidate 2: 0.5 * 0.5 - 0 = 0.25 -> 2.
    # Step 3: candidate 1, max(cos(1, 0), cos(1, 2)) = max(0.8, 0.6) -> 0.0.
    np.testing.assert_array_equal(positions, [[0, 2, 1]])
    np.testing.assert_allclose(adjusted, [[0.45, 0.25, 0.0]], atol=1e-6)


def test_dpp_worked_example():
    layer = DiversityReranker(k=3, method="dpp")
    positions, adjusted = layer(EMBEDDINGS, SCORES, diversity=np.float32([0.5]))
    # Residual variances start at 1 (unit vectors): gains 0.5 * s, pick 0 (0.45).
    # Given {0}: residual of 1 is 1 - 0.8^2 = 0.36, of 2 is 1 - 0^2 = 1:
    #   candidate 1: 0.4 + 0.5 * ln 0.36 = -0.1108; candidate 2: 0.25 + 0 = 0.25 -> 2.
    # Given {0, 2} (an orthonormal basis of the plane) candidate 1's residual is
    # 0, clamped at epsilon = 1e-4: 0.4 + 0.5 * ln 1e-4 = -4.2052.
    np.testing.assert_array_equal(positions, [[0, 2, 1]])
    np.testing.assert_allclose(adjusted, [[0.45, 0.25, 0.4 + 0.5 * math.log(1e-4)]], atol=1e-4)


def test_xquad_worked_example():
    # Scores 0.9, 0.8, 0.5 at temperature 1: P(i|q) = softmax = exp(0.9), exp(0.8), exp(0.5)
    # / sum = 2.4596, 2.2255, 1.6487 / 6.3338 = 0.3883, 0.3514, 0.2603.
    # Aspects: candidates 0 and 1 share aspect 7, candidate 2 has aspect 3:
    #   P(7|q) = 0.7397, P(3|q) = 0.2603; P(0|7) = 0.5250, P(1|7) = 0.4750, P(2|3) = 1.
    # Step 1, nothing covered: (1 - d) p_i + d P(a_i|q) P(i|a_i) = p_i -> candidate 0 (0.3883).
    # Step 2, aspect 7's novelty is 1 - 0.5250 = 0.4750:
    #   diversity 0.9: 1: 0.1*0.3514 + 0.9*0.3514*0.4750 = 0.1854; 2: 0.2603 -> 2, then 1.
    #   diversity 0.3: 1: 0.7*0.3514 + 0.3*0.3514*0.4750 = 0.2961; 2: 0.2603 -> 1, then 2.
    layer = DiversityReranker(k=3, method="aspects", temperature=1.0)
    aspects = np.int32([[7, 7, 3]])
    positions, adjusted = layer(EMBEDDINGS, SCORES, diversity=np.float32([0.9]), aspects=aspects)
    np.testing.assert_array_equal(positions, [[0, 2, 1]])
    np.testing.assert_allclose(adjusted, [[0.3883, 0.2603, 0.1854]], atol=1e-4)
    positions, adjusted = layer(EMBEDDINGS, SCORES, diversity=np.float32([0.3]), aspects=aspects)
    np.testing.assert_array_equal(positions, [[0, 1, 2]])
    np.testing.assert_allclose(adjusted, [[0.3883, 0.2961, 0.2603]], atol=1e-4)


# --- edge cases ------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_diversity_zero_is_relevance_order(method):
    rng = np.random.default_rng(11)
    embeddings, _, _, aspects = random_inputs(11, 5, 40, 8)
    # Distinct scores (at least 0.01 apart) so that the softmax keeps them apart.
    scores = np.stack([rng.permutation(40) for _ in range(5)]).astype(np.float32) / 100.0
    positions, _ = DiversityReranker(k=40, method=method)(
        embeddings, scores, diversity=np.zeros(5, np.float32), aspects=aspects
    )
    np.testing.assert_array_equal(positions, np.argsort(-scores, axis=1, kind="stable"))


@pytest.mark.parametrize("method", METHODS)
def test_ties_go_to_the_lower_position(method):
    # Identical candidates: every method must return them in position order.
    embeddings = np.ones((1, 5, 3), np.float32)
    scores = np.full((1, 5), 0.5, np.float32)
    aspects = np.zeros((1, 5), np.int32)
    for diversity in (0.0, 0.5, 1.0):
        positions, _ = DiversityReranker(k=5, method=method)(
            embeddings, scores, diversity=np.float32([diversity]), aspects=aspects
        )
        np.testing.assert_array_equal(positions, [[0, 1, 2, 3, 4]])


def test_mmr_diversity_one_first_pick_is_highest_score():
    # At diversity 1 relevance plays no part after the first pick: candidate 2
    # (score 0.5) has the highest score, then the least similar to it follows.
    embeddings = np.float32([[[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]])
    scores = np.float32([[0.1, 0.2, 0.5]])
    positions, _ = DiversityReranker(k=3, method="mmr")(embeddings, scores, diversity=np.float32([1.0]))
    # cos(0, 2) = 0.6 < cos(1, 2) = 0.8 -> 0 next; then 1.
    np.testing.assert_array_equal(positions, [[2, 0, 1]])


@pytest.mark.parametrize("method", METHODS)
def test_ragged_masks_and_k_beyond_valid(method):
    embeddings, scores, _, aspects = random_inputs(5, 3, 6, 4)
    mask = np.array([[True] * 6, [True, True, False, False, False, False], [False] * 6])
    embeddings[~mask] = np.nan  # padding may hold anything
    scores[~mask] = np.inf
    positions, adjusted = DiversityReranker(k=8, method=method)(
        embeddings, scores, mask=mask, diversity=np.float32([0.3, 0.3, 0.3]), aspects=aspects
    )
    positions, adjusted = positions.numpy(), adjusted.numpy()
    assert sorted(positions[0, :6]) == list(range(6)) and list(positions[0, 6:]) == [-1, -1]
    assert sorted(positions[1, :2]) == [0, 1] and (positions[1, 2:] == -1).all()
    assert (positions[2] == -1).all() and np.isneginf(adjusted[2]).all()
    assert np.isfinite(adjusted[positions >= 0]).all()
    assert np.isneginf(adjusted[positions < 0]).all()


def test_scalar_and_default_diversity():
    embeddings, scores, mask, _ = random_inputs(2, 4, 10, 4, lengths=[10] * 4)
    layer = DiversityReranker(k=5, diversity=0.4)
    per_query, _ = layer(embeddings, scores, diversity=np.full(4, 0.4, np.float32))
    scalar, _ = layer(embeddings, scores, diversity=0.4)
    default, _ = layer(embeddings, scores)
    np.testing.assert_array_equal(per_query, scalar)
    np.testing.assert_array_equal(per_query, default)
    clipped, _ = layer(embeddings, scores, diversity=7.0)  # clipped to 1
    at_one, _ = layer(embeddings, scores, diversity=1.0)
    np.testing.assert_array_equal(clipped, at_one)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="method"):
        DiversityReranker(method="mmmr")
    with pytest.raises(ValueError, match="`k` must"):
        DiversityReranker(k=0)
    with pytest.raises(ValueError, match="diversity"):
        DiversityReranker(diversity=1.5)
    with pytest.raises(ValueError, match="temperature"):
        DiversityReranker(temperature=0.0)
    with pytest.raises(ValueError, match="block_size"):
        DiversityReranker(block_size=0)
    embeddings, scores, _, _ = random_inputs(0, 1, 3, 2)
    with pytest.raises(ValueError, match="needs the `aspects`"):
        DiversityReranker(method="aspects")(embeddings, scores)
    with pytest.raises(ValueError, match="`aspects` must be"):
        DiversityReranker(method="aspects")(embeddings, scores, aspects=np.float32([[1.0, 2.0, 3.0]]))


@pytest.mark.parametrize("method", METHODS)
def test_blocks_do_not_change_results(method):
    # 11 queries: whole blocks, a last block overlapping the one before, one
    # query per block; when the batch size is unknown, the padded path (blocks
    # 1, 3, 4) and the batch as it is (no more queries than a block: 11, None).
    embeddings, scores, mask, aspects = random_inputs(13, 11, 20, 8)
    diversity = np.linspace(0, 1, 11).astype(np.float32)
    expected = DiversityReranker(k=6, method=method, block_size=64)(
        embeddings, scores, mask=mask, diversity=diversity, aspects=aspects
    )
    specs = [tf.TensorSpec([None, 20, 8]), tf.TensorSpec([None, 20]), tf.TensorSpec([None, 20], tf.bool),
             tf.TensorSpec([None]), tf.TensorSpec([None, 20], tf.int32)]
    for block_size in (1, 3, 4, 11, None):
        layer = DiversityReranker(k=6, method=method, block_size=block_size)

        def call(e, s, m, d, a):
            return layer(e, s, mask=m, diversity=d, aspects=a)

        args = (embeddings, scores, mask, diversity, aspects)
        for fn in (call, tf.function(call, jit_compile=True), tf.function(call, input_signature=specs),
                   tf.function(call, input_signature=specs, jit_compile=True)):
            positions, adjusted = fn(*args)
            np.testing.assert_array_equal(positions, expected[0], err_msg=f"block_size={block_size}")
            np.testing.assert_allclose(adjusted, expected[1], atol=1e-5)


# --- layer contract ----------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_config_round_trip(method):
    layer = DiversityReranker(k=4, method=method, diversity=0.25, temperature=0.2, epsilon=1e-5, block_size=8,
                              name="rerank")
    embeddings, scores, mask, aspects = random_inputs(1, 2, 7, 3)
    clone = assert_config_round_trip(
        layer, call=lambda l: l(embeddings, scores, mask=mask, aspects=aspects)
    )
    assert clone.get_config()["method"] == method


@pytest.mark.parametrize("method", METHODS)
def test_xla_compiles(method):
    embeddings, scores, mask, aspects = random_inputs(9, 8, 50, 16)
    diversity = np.linspace(0, 1, 8).astype(np.float32)
    layer = DiversityReranker(k=10, method=method)

    def call(embeddings, scores, mask, diversity, aspects):
        return layer(embeddings, scores, mask=mask, diversity=diversity, aspects=aspects)

    compiled = assert_xla_compiles(call, embeddings, scores, mask, diversity, aspects, atol=1e-5)
    np.testing.assert_array_equal(compiled[0], call(embeddings, scores, mask, diversity, aspects)[0])


@pytest.mark.parametrize("method", METHODS)
def test_saved_model_with_diversity_input_reloads_in_fresh_process(method, tmp_path):
    layer = DiversityReranker(k=4, method=method, block_size=2)  # 3 queries: a padded block

    class Reranking(tf.Module):
        def __init__(self):
            super().__init__()
            self.reranker = layer

        @tf.function(input_signature=[
            tf.TensorSpec([None, None, None], tf.float32, name="embeddings"),
            tf.TensorSpec([None, None], tf.float32, name="scores"),
            tf.TensorSpec([None, None], tf.bool, name="mask"),
            tf.TensorSpec([None], tf.float32, name="diversity"),
            tf.TensorSpec([None, None], tf.int32, name="aspects"),
        ], jit_compile=True)
        def rerank(self, embeddings, scores, mask, diversity, aspects):
            positions, adjusted = self.reranker(embeddings, scores, mask=mask, diversity=diversity,
                                                aspects=aspects)
            return {"positions": positions, "adjusted_scores": adjusted}

    module = Reranking()
    embeddings, scores, mask, aspects = random_inputs(4, 3, 9, 5, lengths=[9, 5, 9])
    diversity = np.float32([0.0, 0.5, 1.0])  # each request chooses its balance
    expected = module.rerank(embeddings, scores, mask, diversity, aspects)
    export_dir = tmp_path / "rerank"
    tf.saved_model.save(module, str(export_dir), signatures={"rerank": module.rerank})
    assert_saved_model_reloads_in_fresh_process(
        module, export_dir, "rerank",
        {"embeddings": embeddings, "scores": scores, "mask": mask, "diversity": diversity, "aspects": aspects},
        {"positions": expected["positions"].numpy(), "adjusted_scores": expected["adjusted_scores"].numpy()},
    )


def test_runs_under_mirrored_strategy():
    # Two logical CPU devices must be configured before TensorFlow starts, so
    # this runs in its own process.
    script = textwrap.dedent(
        """
        import os
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import numpy as np
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from tfsearch.layers import DiversityReranker

        rng = np.random.default_rng(0)
        embeddings = rng.normal(size=(8, 30, 16)).astype(np.float32)
        scores = rng.normal(size=(8, 30)).astype(np.float32)
        diversity = np.linspace(0, 1, 8).astype(np.float32)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            layer = DiversityReranker(k=5, method="mmr")
        dataset = tf.data.Dataset.from_tensor_slices((embeddings, scores, diversity)).batch(8)
        batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

        @tf.function(jit_compile=True)
        def step(e, s, d):
            return layer(e, s, diversity=d)[0]

        per_replica = strategy.run(step, args=batch)
        positions = np.concatenate([t.numpy() for t in strategy.experimental_local_results(per_replica)])
        expected = layer(embeddings, scores, diversity=diversity)[0].numpy()
        np.testing.assert_array_equal(positions, expected)
        print("replicas", len(strategy.experimental_local_results(per_replica)))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "replicas 2" in proc.stdout


def test_registered_as_a_keras_serializable():
    layer = DiversityReranker(k=3, method="dpp", diversity=0.5, name="rerank")
    config = tf.keras.layers.serialize(layer)
    assert config["registered_name"] == "tfsearch>DiversityReranker"
    assert tf.keras.utils.get_registered_object("tfsearch>DiversityReranker") is DiversityReranker
    clone = tf.keras.layers.deserialize(config)
    assert type(clone) is DiversityReranker and clone.get_config() == layer.get_config()
