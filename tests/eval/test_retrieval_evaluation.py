import json

import numpy as np
import pytest

from tests.data.test_beir import write_beir
from tfsearch.eval.retrieval_evaluation import evaluate_retrieval


def test_end_to_end_with_tiny_encoder(tiny_encoder, tmp_path):
    data = write_beir(tmp_path / "data")
    result = evaluate_retrieval(tiny_encoder, data, split="test", output_dir=tmp_path / "out", top_k=2,
                                progress=False)
    assert set(result.metrics) == {"nDCG@10", "R@100", "RR@10", "AP@100", "ILD@10"}
    assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == result.metrics
    lines = (tmp_path / "out" / "run.trec").read_text().splitlines()
    assert len(lines) == 2 * 2  # two queries, top 2
    assert "measure" in result.format_table()
    info = json.loads((tmp_path / "out" / "info.json").read_text())
    assert info["num_documents"] == 3 and info["num_queries"] == 2


def test_diversity_metrics_beside_relevance(tiny_encoder):
    from tfsearch.data import demo_dataset
    from tfsearch.eval.diversity_metrics import aspect_metrics, intra_list_diversity

    data = demo_dataset()
    result = evaluate_retrieval(tiny_encoder, data, top_k=10, progress=False, aspect_field="subtopic")
    assert list(result.metrics)[-3:] == ["ILD@10", "alpha_nDCG@10", "coverage@10"]
    # Same values as the metric functions applied to the run by hand.
    aspects = {d: doc.metadata["subtopic"] for d, doc in data.corpus().items()}
    expected = aspect_metrics(data.qrels("test"), aspects, result.run, k=10)
    assert result.metrics["alpha_nDCG@10"] == pytest.approx(expected["alpha_nDCG@10"])
    from tfsearch.models.batch_encoding import encode_texts

    corpus = data.corpus()
    ranked = [sorted(docs, key=lambda d: -docs[d]) for docs in result.run.values()]
    # One encoding call for all the lists (one call per list retraces per length), then split by list.
    embedded = encode_texts(tiny_encoder, [corpus[d].contents() for ids in ranked for d in ids], progress=False)
    lists = np.split(embedded, np.cumsum([len(ids) for ids in ranked])[:-1])
    assert result.metrics["ILD@10"] == pytest.approx(intra_list_diversity(lists, k=10), abs=1e-4)
    with pytest.raises(ValueError, match="colour"):
        evaluate_retrieval(tiny_encoder, data, top_k=10, progress=False, aspect_field="colour")


@pytest.mark.slow
def test_scifact_zero_shot_ndcg(pretrained_dir, scifact_dir, tmp_path):
    from tfsearch.models.bert_encoder import BertEncoder

    encoder = BertEncoder.from_pretrained(str(pretrained_dir))
    result = evaluate_retrieval(encoder, scifact_dir, split="test", output_dir=tmp_path, progress=False)
    print(f"SciFact test: {result.metrics}")
    # Published BEIR figure for all-MiniLM-L6-v2 on SciFact: nDCG@10 = 0.645.
    assert result.metrics["nDCG@10"] == pytest.approx(0.645, abs=0.01)
