"""`tfsearch recommend convert-movielens` and `evaluate` end to end through the parser, on tiny data."""

import argparse
import json

import pytest

from tests.conftest import make_tiny_encoder
from tests.recommend.test_movielens import write_ml100k
from tfsearch.cli.recommend import WORD_BUCKETS, add_parser
from tfsearch.recommend.recommender_comparison import ID_MODEL, RESULTS_FILE, TEXT_MODEL
from tfsearch.recommend.synthetic_movielens import write_synthetic_movielens


def parser():
    parser = argparse.ArgumentParser(prog="tfsearch")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    return parser


def run(argv):
    args = parser().parse_args(argv)
    return args.func(args)


def test_convert_movielens(tmp_path, capsys):
    src = write_ml100k(tmp_path / "ml-100k")
    assert run(["recommend", "convert-movielens", str(src), str(tmp_path / "out")]) == 0
    assert "4 items" in capsys.readouterr().out
    assert (tmp_path / "out" / "interactions.tsv").is_file()


def test_flags_are_checked():
    with pytest.raises(SystemExit):
        parser().parse_args(["recommend", "evaluate", "--data", "d", "--diversity", "2"])
    with pytest.raises(SystemExit):
        parser().parse_args(["recommend", "evaluate", "--data", "d", "--epochs", "0"])
    args = parser().parse_args(["recommend", "evaluate", "--data", "d", "--train-encoder", "--min-rating", "0"])
    from tfsearch.cli.recommend import comparison_config

    config = comparison_config(args)
    assert config.user_tower.learning_rate == 5e-5 and config.min_rating is None
    assert config.user_tower.word_buckets is None  # the bag of words belongs to the frozen encoder's head
    default = comparison_config(parser().parse_args(["recommend", "evaluate", "--data", "d"]))
    assert default.user_tower.projection_dim == 128 and default.user_tower.word_buckets == WORD_BUCKETS
    none = comparison_config(parser().parse_args(["recommend", "evaluate", "--data", "d", "--word-buckets", "0",
                                                  "--num-interests", "2"]))
    assert none.user_tower.word_buckets is None and none.user_tower.num_interests == 2


def test_evaluate_end_to_end(tmp_path, capsys):
    write_synthetic_movielens(tmp_path / "ml", num_users=24, num_items=40, seed=1, mean_ratings=20)
    assert run(["recommend", "convert-movielens", str(tmp_path / "ml"), str(tmp_path / "data")]) == 0
    make_tiny_encoder().save_to_directory(tmp_path / "encoder")
    code = run(["recommend", "evaluate", "--data", str(tmp_path / "data"), "--model", str(tmp_path / "encoder"),
                "--output", str(tmp_path / "out"), "--max-context", "3", "--epochs", "1", "--batch-size", "16",
                "--num-interests", "2", "--id-epochs-choices", "1,2", "--id-dim", "8", "--diversity", "0,0.5",
                "--max-length", "16", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert TEXT_MODEL in printed and ID_MODEL in printed and "alpha_nDCG@10" in printed
    report = json.loads((tmp_path / "out" / RESULTS_FILE).read_text())
    for name in (TEXT_MODEL, ID_MODEL):
        metrics = report["models"][name]["metrics"]
        assert set(metrics) >= {"R@10", "R@100", "nDCG@10", "alpha_nDCG@10"}
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
        assert [row["diversity"] for row in report["models"][name]["tradeoff"]] == [0.0, 0.5]
    assert report["split"]["test_users"] == 24
    selection = report["models"][ID_MODEL]["training"]["epoch_selection"]
    assert set(selection["validation_R@100_by_epochs"]) == {"1", "2"} and selection["epochs"] in (1, 2)
    training = report["models"][TEXT_MODEL]["training"]["config"]
    assert training["logq_correction"] is True and training["num_interests"] == 2
    assert training["word_buckets"] == WORD_BUCKETS
    groups = report["models"][TEXT_MODEL]["by_item_frequency"]
    assert sum(g["held_out_items"] for g in groups.values()) == 24
    assert (tmp_path / "out" / "comparison.md").is_file()


def test_evaluate_reports_bad_data(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(ValueError, match="corpus.jsonl"):
        run(["recommend", "evaluate", "--data", str(tmp_path / "data"), "--no-progress"])
