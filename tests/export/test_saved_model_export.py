import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO, make_tiny_encoder
from tfsearch.export import (DEFAULT_ENCODING_CHUNK_SIZE, ExportAuditError, audit_ops, export_search_model,
                             signature_defaults, versions)
from tfsearch.export.op_audit import check_audit
from tfsearch.index import BruteForceIndex

DOCS = ["the cat sat on the mat", "a dog is eating food", "a piece of bread", "tensor flow search",
        "hello world", "the man is eating bread", "cat and dog", "naive cafe food"]
IDS = [f"d{i}" for i in range(len(DOCS))]
QUERIES = ["the cat", "eating bread", "hello"]


@pytest.fixture(scope="module")
def encoder():
    return make_tiny_encoder()


@pytest.fixture(scope="module")
def embeddings(encoder):
    return encoder(tf.constant(DOCS)).numpy()


def run_fresh(script, *imports):
    """Runs `script` in a new Python process that imports only TensorFlow, TF Text and `imports`."""
    code = "import json, sys\nimport tensorflow as tf\nimport tensorflow_text\n" + "".join(
        f"import {name}\n" for name in imports) + textwrap.dedent(script)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tfsearch" not in proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def search_in_fresh_process(version_dir, *imports):
    return run_fresh(f"""
        assert "tfsearch" not in sys.modules
        model = tf.saved_model.load({str(version_dir)!r})
        search = model.signatures["serving_default"]
        out = search(queries=tf.constant({QUERIES!r}), k=tf.constant(3), diversity=tf.constant(0.0))
        diverse = search(queries=tf.constant({QUERIES!r}), k=tf.constant(3), diversity=tf.constant(1.0))
        encoded = model.signatures["encode_query"](queries=tf.constant({QUERIES!r}))["embeddings"]
        print(json.dumps({{"ids": out["ids"].numpy().astype(str).tolist(), "scores": out["scores"].numpy().tolist(),
                          "positions": out["positions"].numpy().tolist(),
                          "diverse": diverse["ids"].numpy().astype(str).tolist(),
                          "signatures": sorted(model.signatures), "encoded": encoded.numpy().tolist()}}))
        """, *imports)


def test_brute_force_export_serves_in_a_fresh_tensorflow_process(encoder, embeddings, tmp_path):
    index = BruteForceIndex(k=3).index(embeddings, IDS)
    version_dir, audit = export_search_model(encoder, index, tmp_path / "tiny", num_candidates=6, max_k=5)
    assert version_dir == tmp_path / "tiny" / "1" and versions(tmp_path / "tiny") == [1]
    # Stock TensorFlow Serving has TensorFlow and TF Text ops: nothing else may be in the graph.
    assert audit["allowed"] and not audit["unknown"] and not audit["scann"]
    assert set(audit["custom_ops"]) == set(audit["tensorflow_text"]) and audit["namespaces"] == []
    assert json.loads((version_dir / "assets.extra" / "op_audit.json").read_text()) == audit
    assert (version_dir / "assets.extra" / "tf_serving_warmup_requests").stat().st_size > 0
    got = search_in_fresh_process(version_dir)
    scores, ids = index.search(encoder(tf.constant(QUERIES)).numpy(), k=3)
    assert got["ids"] == ids  # the same top k as tfsearch in-process
    np.testing.assert_allclose(got["scores"], scores, atol=1e-5)
    assert got["positions"] == [[IDS.index(d) for d in row] for row in ids]
    assert got["diverse"] != got["ids"]  # the balance is a request input
    np.testing.assert_allclose(got["encoded"], encoder(tf.constant(QUERIES)).numpy(), atol=1e-5)
    assert {"serving_default", "search", "encode_query", "encode_document"} <= set(got["signatures"])


def test_versions_count_up_and_k_is_checked(encoder, embeddings, tmp_path):
    index = BruteForceIndex(k=3).index(embeddings, IDS)
    export_search_model(encoder, index, tmp_path / "m", num_candidates=4, max_k=2)
    (tmp_path / "m" / ".tmp-leftover").mkdir()  # an interrupted export: ignored
    second, _ = export_search_model(encoder, index, tmp_path / "m", num_candidates=4, max_k=2)
    assert second.name == "2" and versions(tmp_path / "m") == [1, 2]
    model = tf.saved_model.load(str(second))
    with pytest.raises(tf.errors.InvalidArgumentError, match="k must be at most 2"):
        model.signatures["search"](queries=tf.constant(["x"]), k=tf.constant(3), diversity=tf.constant(0.0))
    info = json.loads((second / "tfsearch_export.json").read_text())
    assert info["flavour"] == "brute_force" and info["max_k"] == 2
    assert info["encoding_chunk_size"] == DEFAULT_ENCODING_CHUNK_SIZE
    assert info["precision"] == "float32"


def test_a_mixed_precision_encoder_is_exported_with_its_weights_in_bfloat16(tmp_path):
    from tfsearch.models.bert_encoder import BertEncoder

    path = make_tiny_encoder().save_to_directory(tmp_path / "encoder")
    mixed = BertEncoder.from_pretrained(str(path), dtype="mixed_bfloat16")
    index = BruteForceIndex(k=3).index(mixed(tf.constant(DOCS)).numpy(), IDS)
    version_dir, _ = export_search_model(mixed, index, tmp_path / "m", num_candidates=6, max_k=5)
    assert json.loads((version_dir / "tfsearch_export.json").read_text())["precision"] == "bfloat16"
    # The SavedModel stores the backbone's weights cast once (no float32 copy to cast on every call).
    stored = tf.train.load_checkpoint(str(version_dir / "variables" / "variables")).get_variable_to_dtype_map()
    encoder_weights = [dtype for name, dtype in stored.items() if name.startswith("query_encoder/")]
    assert encoder_weights and set(encoder_weights) == {tf.bfloat16}
    # It answers as the encoder's inference copy does in-process (to bfloat16's rounding: the export
    # encodes in length-sorted chunks, which sums in another order).
    served = mixed.inference_copy()
    model = tf.saved_model.load(str(version_dir))
    encoded = model.signatures["encode_query"](queries=tf.constant(QUERIES))["embeddings"].numpy()
    np.testing.assert_allclose(encoded, served(tf.constant(QUERIES)).numpy(), atol=1e-3)
    out = model.signatures["search"](queries=tf.constant(QUERIES), k=tf.constant(3), diversity=tf.constant(0.0))
    assert out["ids"].numpy().astype(str).tolist() == index.search(served(tf.constant(QUERIES)).numpy(), k=3)[1]


def test_k_and_diversity_are_optional_inputs_with_stored_defaults(encoder, embeddings, tmp_path):
    index = BruteForceIndex(k=3).index(embeddings, IDS)
    version_dir, _ = export_search_model(encoder, index, tmp_path / "m", num_candidates=6, max_k=5)
    # TensorFlow Serving fills inputs missing from a request with SignatureDef.defaults:
    # k = min(10, max_k) = 5, diversity = 0 (pure relevance).
    defaults = signature_defaults(version_dir)
    for name in ("serving_default", "search", "search_embeddings"):
        assert defaults[name] == {"k": 5, "diversity": 0.0}
    assert "encode_query" not in defaults
    model = tf.saved_model.load(str(version_dir))
    out = model.signatures["serving_default"](queries=tf.constant(QUERIES), **{
        name: tf.constant(value) for name, value in defaults["serving_default"].items()})
    _, ids = index.search(encoder(tf.constant(QUERIES)).numpy(), k=5)
    assert out["ids"].numpy().astype(str).tolist() == ids


def test_ops_outside_the_flavour_are_refused():
    allowed = audit_ops(["MatMul", "FastBertNormalize"], "brute_force")
    assert allowed["allowed"] and allowed["tensorflow_text"] == ["FastBertNormalize"]
    refused = audit_ops(["MatMul", "Scann>ScannSearchBatched"], "brute_force")
    assert not refused["allowed"] and refused["namespaces"] == ["Scann"]
    with pytest.raises(ExportAuditError, match=r"stock TensorFlow Serving.*Scann>ScannSearchBatched"):
        check_audit(refused)


def test_scann_export_serves_where_scann_ops_are_loaded(encoder, tmp_path):
    from tfsearch.index.scann_index import ScannIndex
    from tfsearch.index.scann_tuning import ScannParams

    # ScaNN's asymmetric hashing trains 16 centres per block: it needs more documents than DOCS.
    docs = [f"{a} {b}" for a in DOCS for b in ("cat", "dog", "bread", "world", "search")]
    ids = [f"x{i}" for i in range(len(docs))]
    doc_embeddings = encoder(tf.constant(docs)).numpy()
    index = ScannIndex(k=3, params=ScannParams(num_leaves=2, num_leaves_to_search=2,
                                               num_reordering_candidates=40)).index(doc_embeddings, ids)
    version_dir, audit = export_search_model(encoder, index, tmp_path / "s", document_embeddings=doc_embeddings,
                                             num_candidates=6, max_k=5)
    assert audit["allowed"] and audit["scann"] and "Scann" in audit["namespaces"]
    assert "ScaNN" in json.loads((version_dir / "tfsearch_export.json").read_text())["serving"]
    got = search_in_fresh_process(version_dir, "scann")
    _, ids = index.search(encoder(tf.constant(QUERIES)).numpy(), k=3)
    assert got["ids"] == ids


def test_a_killed_export_leaves_no_version(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        import tfsearch, tensorflow as tf
        from tests.conftest import make_tiny_encoder
        from tfsearch.index import BruteForceIndex
        import tfsearch.export.saved_model_export as export
        encoder = make_tiny_encoder()
        index = BruteForceIndex(k=2).index(encoder(tf.constant(["a", "b", "c"])).numpy(), ["a", "b", "c"])
        real = export.audit_ops
        def slow_audit(*args):  # the export is now half-way: SavedModel written, not yet published
            print("saved", flush=True)
            time.sleep(60)
            return real(*args)
        export.audit_ops = slow_audit
        export.export_search_model(encoder, index, {str(tmp_path / "m")!r}, num_candidates=3, max_k=2)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.stdout.readline().strip() == "saved"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    # The half-written SavedModel is there, under a hidden temporary name that no loader takes for a version.
    leftovers = list((tmp_path / "m").iterdir())
    assert leftovers and all(p.name.startswith(".tmp-") for p in leftovers)
    assert (leftovers[0] / "saved_model.pb").is_file()
    assert versions(tmp_path / "m") == []


def test_each_k_runs_the_smallest_reranking_depth_with_the_same_results(encoder, tmp_path):
    docs = [f"{a} {b}" for a in DOCS for b in ("cat", "dog", "bread", "world", "search")]
    index = BruteForceIndex(k=3).index(encoder(tf.constant(docs)).numpy(), [f"x{i}" for i in range(len(docs))])
    version_dir, _ = export_search_model(encoder, index, tmp_path / "m", num_candidates=40, max_k=30)
    search = tf.saved_model.load(str(version_dir)).signatures["search"]
    queries = tf.constant(QUERIES)

    def ids(k, diversity):
        out = search(queries=queries, k=tf.constant(k), diversity=tf.constant(diversity))["ids"].numpy()
        return out.astype(str).tolist()

    # Depths 10, 20, 30: greedy re-ranking is prefix-consistent, so every k
    # gets the first k of the deepest run.
    deepest = ids(30, 0.5)
    for k in (1, 5, 10, 15, 25):
        assert ids(k, 0.5) == [row[:k] for row in deepest]
    assert ids(15, 0.0) == [row[:15] for row in index.search(encoder(queries).numpy(), k=15)[1]]


def expected_prf_search(encoder, index, queries, m, beta, k):
    """In-process reference of search with PRF: top m, numpy Rocchio, search again."""
    query_embeddings = encoder(tf.constant(queries)).numpy()
    _, feedback = index.search(query_embeddings, k=m)
    rows = np.asarray(index.embeddings)[[[index.identifiers.index(d) for d in row] for row in feedback]]
    expanded = (1 - beta) * query_embeddings + beta * rows.mean(axis=1)
    expanded /= np.linalg.norm(expanded, axis=1, keepdims=True)
    return index.search(expanded, k=k)


def test_export_with_pseudo_relevance_feedback_serves_the_same_top_k_in_a_fresh_process(encoder, tmp_path):
    docs = [f"{a} {b}" for a in DOCS for b in ("cat", "dog", "bread", "world", "search")]
    doc_ids = [f"x{i}" for i in range(len(docs))]
    index = BruteForceIndex(k=3).index(encoder(tf.constant(docs)).numpy(), doc_ids)
    version_dir, audit = export_search_model(encoder, index, tmp_path / "prf", num_candidates=10, max_k=5,
                                             prf_documents=3, prf_beta=0.8)
    assert audit["allowed"] and not audit["unknown"]  # still stock TensorFlow Serving
    info = json.loads((version_dir / "tfsearch_export.json").read_text())
    assert info["prf_documents"] == 3 and info["prf_beta"] == 0.8
    got = search_in_fresh_process(version_dir)
    scores, ids = expected_prf_search(encoder, index, QUERIES, m=3, beta=0.8, k=3)
    assert got["ids"] == ids
    np.testing.assert_allclose(got["scores"], scores, atol=1e-5)
    _, plain = index.search(encoder(tf.constant(QUERIES)).numpy(), k=3)
    assert got["ids"] != plain  # the expansion changed some ranking
    assert len(got["diverse"]) == len(QUERIES)  # re-ranking runs after the expansion


def test_prf_with_scann_and_bad_settings(encoder):
    from tfsearch.export import SearchModule
    from tfsearch.index.scann_index import ScannIndex
    from tfsearch.index.scann_tuning import ScannParams

    docs = [f"{a} {b}" for a in DOCS for b in ("cat", "dog", "bread", "world", "search")]
    doc_ids = [f"x{i}" for i in range(len(docs))]
    doc_embeddings = encoder(tf.constant(docs)).numpy()
    index = ScannIndex(k=3, params=ScannParams(num_leaves=2, num_leaves_to_search=2,
                                               num_reordering_candidates=40)).index(doc_embeddings, doc_ids)
    module = SearchModule(encoder, encoder, index, document_embeddings=doc_embeddings, num_candidates=6, max_k=5,
                          prf_documents=2, prf_beta=0.5)
    out = module.search(tf.constant(QUERIES), tf.constant(3), tf.constant(0.0))
    exact = BruteForceIndex(k=3).index(doc_embeddings, doc_ids)
    _, ids = expected_prf_search(encoder, exact, QUERIES, m=2, beta=0.5, k=3)
    assert out["ids"].numpy().astype(str).tolist() == ids  # all leaves searched: ScaNN finds the exact top k
    for kwargs, message in (({"prf_documents": -1}, "`prf_documents` must be an integer >= 0"),
                            ({"prf_documents": 2, "prf_beta": 1.5}, r"`prf_beta` must be in \[0, 1\]")):
        with pytest.raises(ValueError, match=message):
            SearchModule(encoder, encoder, exact, **kwargs)


def test_the_defaults_are_decided_in_one_place():
    from tfsearch.export import DEFAULT_K, DEFAULT_MAX_K, DEFAULT_NUM_CANDIDATES, default_k

    assert (DEFAULT_K, DEFAULT_MAX_K, DEFAULT_NUM_CANDIDATES) == (10, 100, 100)
    assert default_k(DEFAULT_MAX_K) == 10 and default_k(5) == 5
