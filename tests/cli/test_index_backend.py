"""`tfsearch index build`: `--backend auto` is the default, says what it chose and why."""

import json

import pytest

from tests.cli.test_cli import run_in_process
from tfsearch.cli import build_parser
from tfsearch.index import index_building


def test_auto_is_the_default_backend_and_the_target_defaults_to_the_checked_one():
    args = build_parser().parse_args(["index", "build", "--data", "d", "--output", "o"])
    assert args.backend == "auto" and args.target_recall is None and args.judged_split is None


def test_default_build_of_a_small_corpus_is_exact_and_says_why(tiny_encoder, tmp_path, capsys):
    from tfsearch.data import DEMO_DIR

    model = tiny_encoder.save_to_directory(tmp_path / "model")
    proc = run_in_process(capsys, "index", "build", "--data", str(DEMO_DIR), "--model", str(model),
                          "--output", str(tmp_path / "index"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert (f"Backend: 288 documents < {index_building.AUTO_SCANN_MIN_DOCUMENTS:,} (crossover measured in "
            "bench/results/backend_crossover.json): exact search") in proc.stdout
    assert "Wrote brute_force index of 288 documents" in proc.stdout
    meta = json.loads((tmp_path / "index" / "index.json").read_text())
    assert meta["format"] == "tfsearch.brute_force.v1"
    assert meta["metadata"]["backend_choice"]["backend"] == "brute_force"


def test_auto_scann_with_judged_queries_checks_ndcg(tiny_encoder, tmp_path, capsys, monkeypatch):
    from tfsearch.data import DEMO_DIR

    monkeypatch.setattr(index_building, "AUTO_SCANN_MIN_DOCUMENTS", 200)
    model = tiny_encoder.save_to_directory(tmp_path / "model")
    out = tmp_path / "index"
    proc = run_in_process(capsys, "index", "build", "--data", str(DEMO_DIR), "--model", str(model),
                          "--output", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "Backend: 288 documents >= 200" in proc.stdout and "Wrote scann index of 288 documents" in proc.stdout
    assert "held-out judged test queries" in proc.stdout and "nDCG@10 check: target recall" in proc.stdout
    guard = json.loads((out / "index.json").read_text())["metadata"]["tuning"]["ndcg_guard"]
    assert guard["split"] == "test" and guard["num_held_out"] == 24 and guard["tried"]

    # int8 is exact search: an error, before encoding, where auto picks ScaNN.
    proc = run_in_process(capsys, "index", "build", "--data", str(DEMO_DIR), "--model", str(model),
                          "--output", str(tmp_path / "int8"), "--quantization", "int8")
    assert proc.returncode == 2 and "request backend brute_force for int8" in proc.stderr


@pytest.mark.parametrize("flags", [["--judged-split", "none"], ["--target-recall", "0.9"]])
def test_scann_without_the_check_uses_a_fixed_target(flags, tiny_encoder, tmp_path, capsys):
    from tfsearch.data import DEMO_DIR

    model = tiny_encoder.save_to_directory(tmp_path / "model")
    proc = run_in_process(capsys, "index", "build", "--data", str(DEMO_DIR), "--model", str(model), "--backend",
                          "scann", "--output", str(tmp_path / "index"), "--no-progress", *flags)
    assert proc.returncode == 0, proc.stderr
    target = "0.9" if "--target-recall" in flags else "0.99"
    assert f"Tuning ScaNN for recall@10 >= {target} on 48 queries" in proc.stdout
    assert "Backend: scann requested" in proc.stdout and "nDCG@10 check" not in proc.stdout


def test_unknown_judged_split_is_a_clear_error(tiny_encoder, tmp_path, capsys):
    from tfsearch.data import DEMO_DIR

    model = tiny_encoder.save_to_directory(tmp_path / "model")
    proc = run_in_process(capsys, "index", "build", "--data", str(DEMO_DIR), "--model", str(model), "--backend",
                          "scann", "--output", str(tmp_path / "index"), "--judged-split", "dev")
    assert proc.returncode == 2 and "--judged-split dev" in proc.stderr
