import json

import pytest

from tests.conftest import make_tiny_encoder
from tests.data.test_beir import write_beir
from tfsearch.eval.trec import read_trec_run
from tfsearch.hybrid import evaluate_hybrid

CORPUS = [
    {"_id": "d1", "title": "Cats", "text": "Cats sit on mats."},
    {"_id": "d2", "title": "", "text": "Dogs bark at the mailman."},
    {"_id": "d3", "title": "Bread", "text": "A piece of fresh bread."},
    {"_id": "d4", "title": "Search", "text": "Searching with TensorFlow."},
    {"_id": "d5", "title": "", "text": "The man is eating bread and cheese."},
]
QUERIES = [{"_id": "q1", "text": "cats"}, {"_id": "q2", "text": "eating bread"}, {"_id": "q3", "text": "tensorflow"}]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td5\t1\nq3\td4\t2\n"


@pytest.fixture(scope="module")
def encoder():
    return make_tiny_encoder()


@pytest.fixture
def data(tmp_path):
    return write_beir(tmp_path / "data", corpus=CORPUS, queries=QUERIES, qrels=QRELS)


@pytest.mark.parametrize("fusion", ["rrf", "linear"])
def test_dense_bm25_and_fused_runs_side_by_side(encoder, data, tmp_path, fusion):
    out = tmp_path / "out"
    result = evaluate_hybrid(encoder, data, fusion=fusion, rrf_k=60, fusion_weight=0.3, output_dir=out, top_k=4,
                             progress=False)
    assert list(result.metrics) == ["dense", "bm25", "fused"]
    # BM25 finds each query's exact term: every relevant document first.
    assert result.metrics["bm25"]["nDCG@10"] == pytest.approx(1.0)
    assert result.runs["bm25"]["q3"] == {"d4": pytest.approx(result.runs["bm25"]["q3"]["d4"])}  # one match only
    assert all(len(ranking) <= 4 for ranking in result.runs["fused"].values())
    table = result.format_table().splitlines()
    assert table[0].split() == ["measure", "dense", "bm25", "fused"] and table[2].startswith("nDCG@10")
    summary = json.loads((out / "metrics.json").read_text())
    assert summary == json.loads(json.dumps(result.metrics))
    for name, folder in (("dense", "dense"), ("bm25", "bm25"), ("fused", "fused")):
        assert json.loads((out / folder / "metrics.json").read_text()) == pytest.approx(result.metrics[name])
        assert read_trec_run(out / folder / "run.trec").keys() == result.runs[name].keys()
    info = json.loads((out / "info.json").read_text())
    assert info["fusion"] == fusion and (info["rrf_k"] == 60 if fusion == "rrf" else info["fusion_weight"] == 0.3)
    assert not [p for p in out.rglob(".*")]  # no temporary files left


def test_prf_alone_and_fused(encoder, data, tmp_path):
    result = evaluate_hybrid(encoder, data, fusion=None, prf_documents=2, prf_beta=0.5, top_k=5, progress=False)
    assert list(result.metrics) == ["dense", "dense+prf"]
    # beta = 0 expands nothing: the PRF run is the dense run.
    same = evaluate_hybrid(encoder, data, fusion="rrf", prf_documents=2, prf_beta=0.0, top_k=5, progress=False,
                           output_dir=tmp_path / "out")
    assert list(same.metrics) == ["dense", "dense+prf", "bm25", "fused"]
    for q in same.runs["dense"]:
        assert list(same.runs["dense+prf"][q]) == list(same.runs["dense"][q])
    assert (tmp_path / "out" / "dense_prf" / "run.trec").is_file()


@pytest.mark.parametrize("kwargs, message", [
    ({"fusion": "max"}, "`fusion` must be one of"),
    ({"fusion": None}, "Nothing beyond dense retrieval"),
    ({"prf_documents": -1}, r"`prf_documents` must be an integer >= 0 \(0: no query expansion\), got -1"),
    ({"prf_documents": 2, "prf_beta": 2.0}, r"`prf_beta` must be in \[0, 1\]"),
    ({"fusion": "linear", "fusion_weight": -0.5}, r"`fusion_weight` must be in \[0, 1\]"),
    ({"measures": ["nDCGG@10"]}, "Unknown measure"),
])
def test_bad_settings_fail_before_any_work(encoder, data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate_hybrid(encoder, data, progress=False, **kwargs)
