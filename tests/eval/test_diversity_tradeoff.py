import json

import numpy as np
import pytest

from tfsearch.data import demo_dataset
from tfsearch.eval.diversity_tradeoff import TradeoffConfig, diversity_tradeoff
from tfsearch.eval.retrieval_evaluation import evaluate_retrieval


@pytest.fixture(scope="module")
def demo_tradeoff(tmp_path_factory):
    from tests.conftest import make_tiny_encoder

    encoder = make_tiny_encoder()
    config = TradeoffConfig(method="mmr", diversities=(0.0, 0.5, 1.0), candidates=30, k=5, aspect_field="subtopic")
    output = tmp_path_factory.mktemp("tradeoff")
    result = diversity_tradeoff(encoder, demo_dataset(), config=config, output_dir=output, progress=False)
    return encoder, result, output


def test_diversity_zero_reproduces_retrieval(demo_tradeoff):
    encoder, result, _ = demo_tradeoff
    assert result.info["identical_at_zero"] is True
    # Same metric values as plain exact retrieval cut at 5.
    plain = evaluate_retrieval(encoder, demo_dataset(), top_k=5, measures=["nDCG@5", "R@5"], progress=False)
    zero = result.rows[0]
    assert zero["diversity"] == 0.0
    assert zero["nDCG@5"] == pytest.approx(plain.metrics["nDCG@5"], abs=1e-9)
    assert zero["R@5"] == pytest.approx(plain.metrics["R@5"], abs=1e-9)
    for query_id, docs in plain.run.items():
        ranked = sorted(docs, key=lambda d: -docs[d])
        assert sorted(result.runs[0.0][query_id], key=lambda d: -result.runs[0.0][query_id][d]) == ranked


def test_rows_measures_and_direction(demo_tradeoff):
    _, result, _ = demo_tradeoff
    assert [r["diversity"] for r in result.rows] == [0.0, 0.5, 1.0]
    assert result.measures == ["nDCG@5", "R@5", "ILD@5", "alpha_nDCG@5", "coverage@5"]
    ild = [r["ILD@5"] for r in result.rows]
    # MMR at diversity 1 picks the least similar candidate at every step.
    assert ild[2] > ild[0]
    for row in result.rows:
        assert all(0.0 <= row[m] <= 1.0 for m in ("nDCG@5", "R@5", "alpha_nDCG@5", "coverage@5"))
        assert 0.0 <= row["ILD@5"] <= 2.0


def test_outputs_are_written(demo_tradeoff):
    _, result, output = demo_tradeoff
    payload = json.loads((output / "tradeoff.json").read_text())
    assert payload["rows"] == result.rows and payload["info"]["method"] == "mmr"
    table = (output / "tradeoff.md").read_text().splitlines()
    assert table[0].startswith("| diversity | nDCG@5") and len(table) == 2 + 3
    assert (output / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = sorted(p.name for p in (output / "runs").iterdir())
    assert runs == ["diversity_0.00.trec", "diversity_0.50.trec", "diversity_1.00.trec"]
    lines = (output / "runs" / "diversity_0.50.trec").read_text().splitlines()
    assert len(lines) == 48 * 5  # 48 demo queries, 5 results each
    assert not [p for p in output.rglob("*.tmp")]


@pytest.mark.parametrize("method", ["dpp", "aspects"])
def test_other_methods(method, tiny_encoder):
    config = TradeoffConfig(method=method, diversities=(0.0, 1.0), candidates=20, k=5, aspect_field="subtopic")
    result = diversity_tradeoff(tiny_encoder, demo_dataset(), config=config, progress=False)
    assert result.info["identical_at_zero"] is True
    assert len(result.rows) == 2 and np.isfinite(result.rows[1]["ILD@5"])


def test_config_is_checked():
    with pytest.raises(ValueError, match="method"):
        TradeoffConfig(method="random")
    with pytest.raises(ValueError, match="diversities"):
        TradeoffConfig(diversities=(0.0, 1.5))
    with pytest.raises(ValueError, match="k <= candidates"):
        TradeoffConfig(k=20, candidates=10)
    with pytest.raises(ValueError, match="aspect field"):
        TradeoffConfig(method="aspects")


def test_unknown_aspect_field_is_a_clear_error(tiny_encoder):
    config = TradeoffConfig(aspect_field="colour", candidates=20, k=5)
    with pytest.raises(ValueError, match="colour"):
        diversity_tradeoff(tiny_encoder, demo_dataset(), config=config, progress=False)
