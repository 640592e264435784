import numpy as np
import pytest
import tensorflow as tf

from tests.helpers.layer_contract import (
    assert_config_round_trip,
    assert_saved_model_reloads_in_fresh_process,
    assert_xla_compiles,
)
from tfsearch.index import brute_force_index
from tfsearch.index.brute_force_index import BruteForceIndex, int8_scan_dtype, quantize_int8

DOCS = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.8, 0.6]], np.float32)
IDS = ["a", "b", "c", "d"]
QUANTIZATIONS = pytest.mark.parametrize("quantization", [None, "int8"])


def numpy_top_k(queries, docs, ids, k):
    scores = queries @ docs.T
    # Stable sort on -score keeps the lower position first on ties.
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), [[ids[i] for i in row] for row in order]


@QUANTIZATIONS
def test_worked_example(quantization):
    index = BruteForceIndex(k=2, quantization=quantization).index(DOCS, IDS)
    scores, ids = index(tf.constant([[1.0, 0.0]]))
    # Scores against a, b, c, d: 1.0, 0.0, 0.6, 0.8 -> a (1.0), d (0.8).
    np.testing.assert_allclose(scores.numpy(), [[1.0, 0.8]])
    assert ids.numpy().tolist() == [[b"a", b"d"]]


@QUANTIZATIONS
def test_ties_keep_lower_position_first(quantization):
    index = BruteForceIndex(k=3, quantization=quantization).index(np.array([[1, 0], [1, 0], [0, 1]], np.float32), ["x", "y", "z"])
    _, ids = index.search(np.array([[1, 0]], np.float32))
    assert ids == [["x", "y", "z"]]


@pytest.mark.parametrize("k", [1, 3, 50])
@pytest.mark.parametrize("num_docs", [1, 7, 300])
@QUANTIZATIONS
def test_matches_numpy_reference(k, num_docs, quantization):
    rng = np.random.default_rng(num_docs + k)
    docs = rng.normal(size=(num_docs, 8)).astype(np.float32)
    queries = rng.normal(size=(5, 8)).astype(np.float32)
    ids = [f"d{i}" for i in range(num_docs)]
    # int8: a shortlist of 100 (of 300 documents) holds the exact top 50 of these queries.
    scores, got = BruteForceIndex(quantization=quantization).index(docs, ids).search(queries, k=k)
    expected_scores, expected = numpy_top_k(queries, docs, ids, min(k, num_docs))
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
    assert got == expected


def test_search_in_steps_equals_one_shot(monkeypatch):
    import tfsearch.index.brute_force_index as module

    rng = np.random.default_rng(0)
    docs, queries = rng.normal(size=(50, 4)).astype(np.float32), rng.normal(size=(23, 4)).astype(np.float32)
    index = BruteForceIndex(k=5).index(docs, [str(i) for i in range(50)])
    one_shot = index.search(queries)
    monkeypatch.setattr(module, "_MAX_SCORES_PER_STEP", 100)  # two queries per step
    stepped = index.search(queries)
    np.testing.assert_allclose(one_shot[0], stepped[0], rtol=1e-6)
    assert one_shot[1] == stepped[1]


@QUANTIZATIONS
def test_xla_with_static_k(quantization):
    index = BruteForceIndex(k=2, quantization=quantization).index(DOCS, IDS)
    scores = assert_xla_compiles(lambda q: index.top_k_positions(q, 3), tf.constant([[0.0, 1.0]]))[0]
    assert scores.shape == [1, 3]


@QUANTIZATIONS
def test_tensor_k_is_clamped_to_corpus_size(quantization):
    index = BruteForceIndex(quantization=quantization).index(DOCS, IDS)
    scores, ids = tf.function(lambda q, k: index(q, k))(tf.constant([[0.0, 1.0]]), tf.constant(10))
    assert scores.shape == [1, 4] and ids.numpy()[0, 0] == b"b"


def test_config_round_trip():
    assert_config_round_trip(BruteForceIndex(k=7, name="exact"))
    assert_config_round_trip(BruteForceIndex(k=7, quantization="int8", num_reordering_candidates=20))


@QUANTIZATIONS
def test_save_and_load(tmp_path, quantization):
    index = BruteForceIndex(k=3, quantization=quantization).index(DOCS, IDS)
    index.save(tmp_path / "idx", metadata={"encoder": "tiny"})
    restored, metadata = BruteForceIndex.load(tmp_path / "idx")
    assert metadata == {"encoder": "tiny"} and restored.k == 3 and restored.identifiers == IDS
    assert restored.quantization == quantization
    np.testing.assert_allclose(restored.search(DOCS)[0], index.search(DOCS)[0])
    assert restored.search(DOCS)[1] == index.search(DOCS)[1]
    with pytest.raises(FileExistsError):
        index.save(tmp_path / "idx")
    # No temporary folders are left behind.
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]


@QUANTIZATIONS
def test_saved_model_signature_in_fresh_process(tmp_path, quantization):
    index = BruteForceIndex(k=2, quantization=quantization).index(DOCS, IDS)
    module = tf.Module()
    module.index = index

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="queries"),
                                  tf.TensorSpec([], tf.int32, name="k")])
    def search(queries, k):
        scores, ids = index(queries, k)
        return {"scores": scores, "ids": ids}

    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"search": search})
    assert_saved_model_reloads_in_fresh_process(
        module, tmp_path / "sm", "search", {"queries": [[1.0, 0.0]], "k": 2},
        {"scores": [[1.0, 0.8]], "ids": np.array([[b"a", b"d"]], dtype=object)},
    )


@pytest.mark.parametrize(
    "embeddings, ids, message",
    [
        (np.zeros([0, 2]), [], "non-empty"),
        (np.zeros([2]), ["a", "b"], "non-empty"),
        (np.zeros([2, 2]), ["a"], "2 embeddings but 1 identifiers"),
        (np.zeros([2, 2]), ["a", "a"], "unique"),
        (np.array([[np.nan, 0.0]]), ["a"], "NaN"),
    ],
)
def test_bad_index_input(embeddings, ids, message):
    with pytest.raises(ValueError, match=message):
        BruteForceIndex().index(embeddings, ids)


def test_bad_queries_and_empty_index():
    with pytest.raises(ValueError, match="index is empty"):
        BruteForceIndex()(tf.constant([[1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"must be \[num_queries, 2\]"):
        BruteForceIndex().index(DOCS, IDS).search(np.zeros([3, 5]))
    with pytest.raises(ValueError, match="positive"):
        BruteForceIndex(k=0)
    with pytest.raises(ValueError, match="quantization"):
        BruteForceIndex(quantization="int4")
    with pytest.raises(ValueError, match="num_reordering_candidates"):
        BruteForceIndex(quantization="int8", num_reordering_candidates=0)


def test_int8_codes_worked_example():
    codes, scale = quantize_int8(np.array([[0.0, 1.0], [1.0, -1.0]]))
    # Dimension 0 spans [0, 1]: offset 0.5, scale 1/254; 0 -> -127, 1 -> 127.
    # Dimension 1 spans [-1, 1]: offset 0, scale 2/254; 1 -> 127, -1 -> -127.
    assert codes.dtype == np.int8 and codes.tolist() == [[-127, 127], [127, -127]]
    np.testing.assert_allclose(scale, [1 / 254, 2 / 254], rtol=1e-6)


def test_int8_codes_reconstruct_within_half_a_step():
    x = np.random.default_rng(0).normal(size=(1000, 16)).astype(np.float32)
    codes, scale = quantize_int8(x)
    offset = (x.max(0) + x.min(0)) / 2
    assert np.abs(codes.astype(np.int32)).max() <= 127
    assert np.all(np.abs(offset + scale * codes - x) <= scale / 2 + 1e-6)


def test_int8_recall_and_exact_scores():
    rng = np.random.default_rng(1)
    docs = rng.normal(size=(20_000, 64)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = docs[:100] + 0.3 * rng.normal(size=(100, 64)).astype(np.float32)
    ids = [str(i) for i in range(len(docs))]
    exact_scores, exact = BruteForceIndex(k=10).index(docs, ids).search(queries)
    scores, found = BruteForceIndex(k=10, quantization="int8").index(docs, ids).search(queries)
    recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)])
    assert recall >= 0.99
    # Whatever is found is scored exactly (float32 re-scoring, not the codes).
    rows = np.array([[int(i) for i in row] for row in found])
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, docs[rows]), rtol=1e-5, atol=1e-6)
    # A shortlist of exactly k still returns k documents, best first.
    small = BruteForceIndex(k=10, quantization="int8", num_reordering_candidates=10).index(docs, ids)
    small_scores, small_found = small.search(queries)
    assert all(len(row) == 10 for row in small_found) and np.all(np.diff(small_scores, axis=1) <= 0)


@QUANTIZATIONS
def test_candidates_are_the_in_graph_interface(quantization):
    index = BruteForceIndex(k=2, quantization=quantization).index(DOCS, IDS)
    scores, positions, embeddings = tf.function(lambda q: index.candidates(q, 3))(tf.constant([[1.0, 0.0]]))
    # Scores against a, b, c, d: 1.0, 0.0, 0.6, 0.8 -> a, d, c.
    assert scores.shape == (1, 3) and positions.dtype == tf.int32 and embeddings.shape == (1, 3, 2)
    np.testing.assert_allclose(scores.numpy(), [[1.0, 0.8, 0.6]])
    assert positions.numpy().tolist() == [[0, 3, 2]]
    np.testing.assert_allclose(embeddings.numpy(), DOCS[[[0, 3, 2]]])
    assert tf.gather(index.identifiers_tensor, positions).numpy().tolist() == [[b"a", b"d", b"c"]]
    # More candidates than documents: the slots past the corpus are -1 (score -inf, zero rows).
    scores, positions, embeddings = index.candidates(tf.constant([[1.0, 0.0]]), 6)
    assert positions.numpy().tolist() == [[0, 3, 2, 1, -1, -1]]
    assert np.isneginf(scores.numpy()[0, 4:]).all() and not embeddings.numpy()[0, 4:].any()
    assert index.exportable() is index
    with pytest.raises(ValueError, match="`n` must be a positive Python int"):
        index.candidates(tf.constant([[1.0, 0.0]]), 0)
    assert BruteForceIndex().identifiers_tensor is None


SCAN_PATHS = pytest.mark.parametrize("scan_dtype", ["float32", "bfloat16"])


def _scan_matmul_dtypes(index, dim):
    graph = tf.function(index.top_k_positions).get_concrete_function(tf.TensorSpec([None, dim], tf.float32), 5).graph
    return {op.get_attr("T") for op in graph.get_operations() if op.type in ("MatMul", "BatchMatMulV2")}


@SCAN_PATHS
def test_int8_scan_returns_the_float32_exact_results_on_both_arithmetic_paths(scan_dtype, monkeypatch):
    rng = np.random.default_rng(3)
    docs = rng.normal(size=(5_000, 96)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = docs[:64] + 0.1 * rng.normal(size=(64, 96)).astype(np.float32)
    ids = [str(i) for i in range(len(docs))]
    exact_scores, exact_positions = BruteForceIndex(k=10).index(docs, ids).top_k_positions(queries)
    monkeypatch.setattr(brute_force_index, "INT8_SCAN_DTYPE", scan_dtype)
    index = BruteForceIndex(k=10, quantization="int8").index(docs, ids)
    assert _scan_matmul_dtypes(index, 96) == {getattr(tf, scan_dtype)}  # the path asked for is the one taken
    scores, positions = index.top_k_positions(queries)
    np.testing.assert_array_equal(positions.numpy(), exact_positions.numpy())
    np.testing.assert_allclose(scores.numpy(), exact_scores.numpy(), rtol=1e-6, atol=1e-6)


def test_both_int8_scan_paths_give_identical_results(monkeypatch):
    rng = np.random.default_rng(4)
    docs = rng.normal(size=(3_000, 1024)).astype(np.float32)  # unnormalised, a wide dimension
    queries = rng.normal(size=(32, 1024)).astype(np.float32)
    ids = [str(i) for i in range(len(docs))]
    results = {}
    for scan_dtype in ("float32", "bfloat16"):
        monkeypatch.setattr(brute_force_index, "INT8_SCAN_DTYPE", scan_dtype)
        scores, found = BruteForceIndex(k=10, quantization="int8").index(docs, ids).search(queries)
        results[scan_dtype] = (scores, found)
    np.testing.assert_array_equal(results["float32"][0], results["bfloat16"][0])
    assert results["float32"][1] == results["bfloat16"][1]
    exact_scores, exact = BruteForceIndex(k=10).index(docs, ids).search(queries)
    assert results["float32"][1] == exact


@pytest.mark.parametrize("facts,expected", [(({"avx2", "fma"}, None, None), tf.float32),
                                            (({"avx512f", "avx512_bf16"}, None, None), tf.bfloat16),
                                            (({"avx2", "amx_bf16"}, None, None), tf.bfloat16),
                                            (({"avx2"}, "gpu", (7, 5)), tf.float32),
                                            (({"avx2"}, "gpu", (9, 0)), tf.bfloat16)])
def test_auto_scans_in_bfloat16_only_where_native(facts, expected, monkeypatch):
    from tfsearch.utils import precision

    monkeypatch.setattr(precision, "machine_facts", lambda: facts)
    precision.native_bfloat16.cache_clear()
    try:
        assert int8_scan_dtype() == expected
        assert int8_scan_dtype("float32") == tf.float32 and int8_scan_dtype("bfloat16") == tf.bfloat16
        # Decided from the machine, not saved: the config (and so an index folder) does not name it.
        assert "scan" not in str(BruteForceIndex(quantization="int8").get_config())
    finally:
        precision.native_bfloat16.cache_clear()
    with pytest.raises(ValueError, match=r"`INT8_SCAN_DTYPE` must be one of .*got 'float16'"):
        int8_scan_dtype("float16")
