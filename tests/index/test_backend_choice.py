"""`backend="auto"`: exact search below the measured crossover, ScaNN from it, and why."""

import json

import pytest

from tests.index.test_scann_index import mixture
from tfsearch.index import BACKENDS, BruteForceIndex, ScannIndex, build_index, index_building
from tfsearch.index.index_building import AUTO_SCANN_MIN_DOCUMENTS, choose_backend
from tfsearch.index.scann_tuning import DEFAULT_TARGET_RECALL


def test_auto_is_a_backend_and_the_threshold_points_at_its_measurement():
    assert BACKENDS == ("auto", "brute_force", "scann")
    measured = json.loads((index_building.pathlib.Path(__file__).resolve().parents[2] / "bench" / "results"
                           / "backend_crossover.json").read_text())
    assert measured["crossover_num_documents"] == AUTO_SCANN_MIN_DOCUMENTS
    assert measured["target_recall"] == DEFAULT_TARGET_RECALL


def test_auto_picks_exact_below_the_threshold_and_scann_at_it():
    below = choose_backend(AUTO_SCANN_MIN_DOCUMENTS - 1)
    assert below["backend"] == "brute_force" and below["requested"] == "auto"
    assert below["reason"] == (f"{AUTO_SCANN_MIN_DOCUMENTS - 1:,} documents < {AUTO_SCANN_MIN_DOCUMENTS:,} (crossover "
                               "measured in bench/results/backend_crossover.json): exact search")
    at = choose_backend(AUTO_SCANN_MIN_DOCUMENTS)
    assert at["backend"] == "scann" and at["reason"].endswith("ScaNN") and ">=" in at["reason"]
    assert choose_backend(10, "scann")["backend"] == "scann"
    assert choose_backend(10**9, "brute_force")["reason"] == "brute_force requested"


def test_the_example_line_of_the_issue():
    assert choose_backend(5183)["reason"].startswith("5,183 documents < ")


def test_int8_is_exact_search_only():
    assert choose_backend(10, quantization="int8")["backend"] == "brute_force"
    with pytest.raises(ValueError, match="request backend brute_force for int8"):
        choose_backend(AUTO_SCANN_MIN_DOCUMENTS, quantization="int8")
    with pytest.raises(ValueError, match="applies to the brute_force backend"):
        choose_backend(10, "scann", quantization="int8")
    with pytest.raises(ValueError, match="must be one of"):
        choose_backend(10, "hnsw")


def test_build_index_auto_reports_its_choice(monkeypatch):
    embeddings, ids = mixture(600, seed=3), [f"d{i}" for i in range(600)]
    index, report = build_index(embeddings, ids, backend="auto", k=5)
    assert isinstance(index, BruteForceIndex) and report == {"choice": choose_backend(600)}
    monkeypatch.setattr(index_building, "AUTO_SCANN_MIN_DOCUMENTS", 500)
    index, report = build_index(embeddings, ids, backend="auto", k=5, tuning_queries=mixture(50, seed=4))
    assert isinstance(index, ScannIndex)
    assert report["choice"]["backend"] == "scann" and report["choice"]["threshold"] == 500
    assert report["target_recall"] == DEFAULT_TARGET_RECALL  # the default target
    assert report["built_recall"] > 0.9
