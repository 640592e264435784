import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tfsearch.index.scann_index import ScannIndex
from tfsearch.index.scann_tuning import ScannParams, exact_neighbours, recall_at_k


def mixture(n, dim=32, centres=20, seed=0):
    """Unit vectors around `centres` random centres (clustered, like text embeddings)."""
    rng = np.random.default_rng(seed)
    middle = np.random.default_rng(1234).normal(size=(centres, dim))
    x = middle[rng.integers(0, centres, n)] + 0.6 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus():
    embeddings = mixture(3000)
    ids = [f"doc{i}" for i in range(len(embeddings))]
    queries = mixture(200, seed=1)
    return embeddings, ids, queries


def positions(found):
    return [[int(d[3:]) for d in row] for row in found]


def test_recall_against_exact_search(corpus):
    embeddings, ids, queries = corpus
    index = ScannIndex(k=10, params=ScannParams(num_leaves=50, num_leaves_to_search=10,
                                                num_reordering_candidates=100)).index(embeddings, ids)
    scores, found = index.search(queries)
    assert scores.shape == (200, 10)
    recall = recall_at_k(positions(found), exact_neighbours(embeddings, queries, 10))
    assert recall >= 0.9, recall
    # Scores are the exact inner products of the documents returned (re-ordered exactly).
    rows = np.asarray(positions(found))
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, embeddings[rows]), atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first


def test_default_parameters_and_more_results_than_reordered(corpus):
    embeddings, ids, queries = corpus
    index = ScannIndex(k=10).index(embeddings, ids)
    assert index.params.num_leaves == 55  # round(sqrt(3000))
    assert index.params.num_leaves_to_search == 3 and index.params.num_reordering_candidates == 100
    # 3 of 55 leaves hold about 160 documents (k-means varies): asking for 500 gives those found,
    # each once, scores -inf beyond them (ScaNN itself pads with document 0).
    scores, found = index.search(queries[:5], k=500)
    for row, row_scores in zip(found, scores):
        assert 10 <= len(row) < 500 and len(set(row)) == len(row) and "" not in row
        assert np.isfinite(row_scores[: len(row)]).all() and np.isneginf(row_scores[len(row):]).all()
    wide = ScannIndex(k=10, params=ScannParams(num_leaves=55, num_leaves_to_search=55,
                                               num_reordering_candidates=100)).index(embeddings, ids)
    _, found = wide.search(queries[:5], k=150)  # more than the 100 re-ordered candidates
    assert all(len(set(row)) == 150 for row in found)


def test_save_load_round_trip(corpus, tmp_path):
    embeddings, ids, queries = corpus
    index = ScannIndex(k=10).index(embeddings, ids)
    scores, found = index.search(queries)
    index.save(tmp_path / "index", metadata={"encoder_fingerprint": "abc"})
    loaded, metadata = ScannIndex.load(tmp_path / "index")
    assert metadata == {"encoder_fingerprint": "abc"}
    again_scores, again = loaded.search(queries)
    assert again == found
    np.testing.assert_allclose(again_scores, scores, atol=1e-6)
    assert loaded.params == index.params and loaded.num_documents == 3000
    meta = json.loads((tmp_path / "index" / "index.json").read_text())
    assert meta["format"] == "tfsearch.scann.v1" and meta["embedding_dim"] == 32
    with pytest.raises(FileExistsError):
        index.save(tmp_path / "index")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_bad_input_is_refused(corpus):
    embeddings, ids, _ = corpus
    with pytest.raises(ValueError, match="identifiers"):
        ScannIndex().index(embeddings, ids[:-1])
    with pytest.raises(ValueError, match="unique"):
        ScannIndex().index(embeddings[:2], ["a", "a"])
    index = ScannIndex().index(embeddings, ids)
    with pytest.raises(ValueError, match=r"\[num_queries, 32\]"):
        index.search(np.zeros([2, 5], np.float32))
    with pytest.raises(ValueError, match="empty"):
        ScannIndex().search(np.zeros([1, 32], np.float32))


def test_loading_without_scann_is_an_actionable_error(corpus, tmp_path):
    embeddings, ids, _ = corpus
    ScannIndex().index(embeddings[:500], ids[:500]).save(tmp_path / "index")
    script = textwrap.dedent(f"""
        import sys
        sys.modules["scann"] = None  # as if scann were not installed
        import tfsearch
        from tfsearch.index.scann_index import ScannIndex
        try:
            ScannIndex.load({str(tmp_path / "index")!r})
        except ImportError as e:
            print("ImportError:", e)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert "ImportError:" in proc.stdout, proc.stderr[-2000:]
    assert "pip install scann==1.4.2" in proc.stdout and "brute_force" in proc.stdout


def test_query_tower_plus_scann_savedmodel_reloads_in_fresh_process(tmp_path):
    from tests.conftest import make_tiny_encoder

    encoder = make_tiny_encoder()
    docs = ["the cat sat on the mat", "a dog is eating food", "search with tensor flow", "hello world",
            "the man is eating bread", "a piece of bread"] * 20
    ids = [f"d{i}" for i in range(len(docs))]
    index = ScannIndex(k=3, params=ScannParams(num_leaves=4, num_leaves_to_search=4,
                                               num_reordering_candidates=10)).index(encoder(tf.constant(docs)), ids)

    class Search(tf.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.index = encoder, index.layer

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="queries")])
        def search(self, queries):
            scores, found = self.index(self.encoder(queries), k=3)
            return {"scores": scores, "ids": found}

    module = Search()
    queries = ["cat on a mat", "eating bread"]
    expected = module.search(tf.constant(queries))
    export = tmp_path / "search"
    tf.saved_model.save(module, str(export), signatures={"serving_default": module.search},
                        options=tf.saved_model.SaveOptions(namespace_whitelist=["Scann"]))
    script = textwrap.dedent(f"""
        import json
        import tensorflow as tf
        import tensorflow_text  # TF Text ops (the tokenizer)
        import scann  # registers the Scann ops
        fn = tf.saved_model.load({str(export)!r}).signatures["serving_default"]
        out = fn(queries=tf.constant({queries!r}))
        print(json.dumps([[i.decode() for i in row] for row in out["ids"].numpy()]))
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_USE_LEGACY_KERAS", None)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == [[i.decode() for i in row] for row in expected["ids"].numpy()]


def test_per_call_overrides_trade_speed_for_recall(corpus):
    embeddings, ids, queries = corpus
    index = ScannIndex(k=10, params=ScannParams(num_leaves=50, num_leaves_to_search=2,
                                                num_reordering_candidates=20)).index(embeddings, ids)
    exact = exact_neighbours(embeddings, queries, 10)
    narrow = recall_at_k(positions(index.search(queries)[1]), exact)
    wide = recall_at_k(positions(index.search(queries, leaves_to_search=50, num_reordering_candidates=200)[1]),
                       exact)
    assert wide > narrow and wide >= 0.99


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint8])
def test_searcher_assets_are_read_whole_into_aligned_memory(dtype, tmp_path):
    from tfsearch.index.scann_index import _read_npy_tensor

    # Over 1 MiB: read into 64-byte-aligned memory that the tensor shares.
    array = np.arange(700 * 512, dtype=np.int64).reshape(700, 512).astype(dtype)
    np.save(tmp_path / "a.npy", array)
    np.testing.assert_array_equal(_read_npy_tensor(tmp_path / "a.npy").numpy(), array)
    np.save(tmp_path / "small.npy", array[:3])
    np.testing.assert_array_equal(_read_npy_tensor(tmp_path / "small.npy").numpy(), array[:3])
    for name in ("a.npy", "small.npy"):
        with open(tmp_path / name, "r+b") as f:
            f.truncate((tmp_path / name).stat().st_size - 1)
        with pytest.raises(ValueError, match="truncated"):
            _read_npy_tensor(tmp_path / name)


def test_build_time_check_matches_what_the_layer_returns(corpus):
    embeddings, ids, queries = corpus[0], corpus[1], corpus[2]
    params = ScannParams(num_leaves=20, num_leaves_to_search=3, num_reordering_candidates=30)
    index = ScannIndex(k=10, params=params).index(embeddings, ids, check_queries=queries)
    _, found = index.search(queries)
    row_of = {d: i for i, d in enumerate(ids)}
    assert np.asarray(index.check_positions).tolist() == [[row_of[d] for d in row] for row in found]


def test_candidates_are_the_in_graph_interface(corpus, tmp_path):
    embeddings, ids, queries = corpus[0][:500], corpus[1][:500], corpus[2][:4]
    index = ScannIndex(k=10, params=ScannParams(num_leaves=10, num_leaves_to_search=10,
                                                num_reordering_candidates=50)).index(embeddings, ids)
    scores, positions, rows = tf.function(lambda q: index.candidates(q, 20))(tf.constant(queries))
    assert scores.shape == (4, 20) and positions.dtype == tf.int32 and rows.shape == (4, 20, 32)
    _, found = index.search(queries, k=20)
    assert positions.numpy().tolist() == positions_of(found, ids)
    np.testing.assert_allclose(rows.numpy(), embeddings[positions.numpy()])
    assert tf.gather(index.identifiers_tensor, positions).numpy().astype(str).tolist() == found
    # One leaf of ten holds fewer than 200 documents: the slots left are -1 with score -inf.
    narrow = ScannIndex(k=10, params=ScannParams(num_leaves=10, num_leaves_to_search=1,
                                                 num_reordering_candidates=50)).index(embeddings, ids)
    scores, positions, _ = narrow.candidates(tf.constant(queries), 200)
    assert positions.shape == (4, 200) and (positions.numpy() == -1).any()
    assert np.isneginf(scores.numpy()[positions.numpy() < 0]).all()
    assert np.isfinite(scores.numpy()[positions.numpy() >= 0]).all()
    assert index.exportable() is index
    # A loaded index answers through its own SavedModel: `exportable` rebuilds the layer.
    index.save(tmp_path / "index")
    loaded, _ = ScannIndex.load(tmp_path / "index")
    assert loaded.identifiers_tensor is None and loaded.folder == tmp_path / "index"
    with pytest.raises(ValueError, match="exportable"):
        loaded.candidates(tf.constant(queries), 20)
    rebuilt = loaded.exportable()
    assert rebuilt.params == index.params and rebuilt.candidates(tf.constant(queries), 20)[1].shape == (4, 20)


def positions_of(found, ids):
    row_of = {d: i for i, d in enumerate(ids)}
    return [[row_of[d] for d in row] for row in found]
