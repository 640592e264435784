import json
import re

import numpy as np
import pytest

from tests.index.test_scann_index import mixture
from tfsearch.index import BruteForceIndex, EncoderMismatchError, ScannIndex, build_index, exportable_index, load_index


@pytest.fixture(scope="module")
def corpus():
    embeddings = mixture(2000, seed=6)
    return embeddings, [f"d{i}" for i in range(len(embeddings))], mixture(100, seed=7)


def test_brute_force_backend(corpus, tmp_path):
    embeddings, ids, queries = corpus
    index, report = build_index(embeddings, ids, backend="brute_force", k=5)
    assert isinstance(index, BruteForceIndex) and report is None
    index.save(tmp_path / "bf", metadata={"encoder_fingerprint": "e1"})
    loaded, meta = load_index(tmp_path / "bf", encoder_fingerprint="e1")
    assert isinstance(loaded, BruteForceIndex) and meta["encoder_fingerprint"] == "e1"
    assert loaded.search(queries, 5)[1] == index.search(queries, 5)[1]


def test_int8_brute_force_backend(corpus, tmp_path):
    embeddings, ids, queries = corpus
    exact, _ = build_index(embeddings, ids, backend="brute_force", k=10)
    index, _ = build_index(embeddings, ids, backend="brute_force", k=10, quantization="int8")
    assert index.quantization == "int8"
    index.save(tmp_path / "int8")
    loaded, _ = load_index(tmp_path / "int8")
    assert loaded.quantization == "int8" and loaded.search(queries)[1] == index.search(queries)[1]
    # 2,000 documents, shortlist of 100: the exact top 10 is always in it here.
    assert index.search(queries)[1] == exact.search(queries)[1]
    with pytest.raises(ValueError, match="applies to the brute_force backend"):
        build_index(embeddings, ids, backend="scann", quantization="int8")


def test_scann_backend_is_tuned_and_checked(corpus, tmp_path):
    embeddings, ids, queries = corpus
    index, report = build_index(embeddings, ids, backend="scann", k=10, target_recall=0.9, tuning_queries=queries)
    assert isinstance(index, ScannIndex)
    assert report["built_recall"] >= 0.9 and report["built"][-1]["recall"] == report["built_recall"]
    json.dumps(report)  # stored in index.json
    index.save(tmp_path / "scann", metadata={"encoder_fingerprint": "e1", "tuning": report})
    loaded, meta = load_index(tmp_path / "scann", encoder_fingerprint="e1")
    assert loaded.search(queries)[1] == index.search(queries)[1]
    assert meta["tuning"]["target_recall"] == 0.9


def test_mismatched_encoder_is_refused(corpus, tmp_path):
    embeddings, ids, _ = corpus
    BruteForceIndex().index(embeddings, ids).save(tmp_path / "bf", metadata={"encoder_fingerprint": "e1"})
    with pytest.raises(EncoderMismatchError, match="built with encoder e1.*encoder e2"):
        load_index(tmp_path / "bf", encoder_fingerprint="e2")
    load_index(tmp_path / "bf")  # no check asked for


def test_bad_folders_and_backends(tmp_path, corpus):
    embeddings, ids, _ = corpus
    with pytest.raises(FileNotFoundError, match="not a tfsearch index"):
        load_index(tmp_path)
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "index.json").write_text(json.dumps({"format": "faiss.v9"}))
    with pytest.raises(ValueError, match="unknown format"):
        load_index(tmp_path / "odd")
    with pytest.raises(ValueError, match="backend"):
        build_index(embeddings, ids, backend="hnsw")
    assert np.isfinite(embeddings).all()


def test_exportable_index(corpus, tmp_path):
    embeddings, ids, queries = corpus[0][:500], corpus[1][:500], corpus[2][:3]
    BruteForceIndex().index(embeddings, ids).save(tmp_path / "bf")
    loaded, _ = load_index(tmp_path / "bf")
    assert exportable_index(loaded) is loaded
    ScannIndex(k=10).index(embeddings, ids).save(tmp_path / "scann")
    loaded, _ = load_index(tmp_path / "scann")
    exportable = exportable_index(loaded)
    assert isinstance(exportable, ScannIndex) and exportable.params == loaded.params
    assert exportable.candidates(queries, 5)[1].shape == (3, 5)
    (tmp_path / "scann" / "embeddings.npy").unlink()  # as an index built before embeddings were saved
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'scann'} holds no document embeddings")):
        exportable_index(load_index(tmp_path / "scann")[0])
    with pytest.raises(ValueError, match="This index holds no document embeddings"):
        exportable_index(BruteForceIndex())
