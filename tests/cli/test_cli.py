"""The command line, run as users run it (a subprocess where start-up matters)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import make_tiny_encoder
from tests.data.test_beir import write_beir
from tfsearch import cli


def run_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "tfsearch.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def run_in_process(capsys, *args):
    """`cli.main(args)` in this process, answered like `run_cli` (saves a TensorFlow start-up per call)."""
    capsys.readouterr()
    returncode = cli.main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, returncode, out.out, out.err)


@pytest.mark.parametrize("command", [[], ["quickstart"], ["data"], ["data", "check"], ["evaluate"], ["index"],
                                     ["index", "build"], ["search"], ["train"], ["export"], ["serve"],
                                     ["recommend"], ["recommend", "convert-movielens"], ["recommend", "evaluate"]])
def test_help_on_every_subcommand(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: tfsearch" in capsys.readouterr().out


def test_recommend_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    assert cli.main(["recommend", "convert-movielens", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "missing" in capsys.readouterr().err


def test_data_check_exit_codes(tmp_path, capsys):
    good = write_beir(tmp_path / "good")
    assert cli.main(["data", "check", str(good)]) == 0
    assert "Verdict: usable" in capsys.readouterr().out
    bad = write_beir(tmp_path / "bad", qrels="query-id\tcorpus-id\tscore\nq1\tnope\t1\n")
    assert cli.main(["data", "check", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["usable"] is False and "nope" in report["errors"][0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["evaluate", "--data", "/no/such/folder"], "not a folder"),
        (["evaluate", "--data", "{good}", "--split", "dev"], "no qrels for split 'dev'"),
        (["evaluate", "--data", "{good}", "--measures", "nDCGG@10"], "Unknown measure"),
        (["evaluate", "--data", "{good}", "--model", "/no/such/model"], "neither a folder nor a known preset"),
    ],
)
def test_evaluate_bad_input_is_a_clear_error(tmp_path, capsys, args, message):
    good = write_beir(tmp_path / "good")
    args = [a.replace("{good}", str(good)) for a in args]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("tfsearch evaluate: error:") and message in err
    assert not (tmp_path / "out").exists()


def test_bad_numbers_are_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["evaluate", "--data", "x", "--top-k", "0"])
    assert info.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err


def test_evaluate_with_a_saved_tiny_model(tiny_encoder, tmp_path):
    model = tiny_encoder.save_to_directory(tmp_path / "model")
    data = write_beir(tmp_path / "data")
    proc = run_cli("evaluate", "--data", str(data), "--model", str(model), "--output", str(tmp_path / "out"),
                   "--top-k", "3", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "nDCG@10" in proc.stdout
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(metrics) == {"nDCG@10", "R@100", "RR@10", "AP@100", "ILD@10"}
    assert len((tmp_path / "out" / "run.trec").read_text().splitlines()) == 6


def test_evaluate_rerank_tradeoff_with_a_saved_tiny_model(tiny_encoder, tmp_path):
    from tfsearch.data import DEMO_DIR

    model = tiny_encoder.save_to_directory(tmp_path / "model")
    out = tmp_path / "out"
    proc = run_cli("evaluate", "--data", str(DEMO_DIR), "--model", str(model), "--output", str(out),
                   "--rerank", "mmr", "--diversity", "0,0.5,1", "--candidates", "10", "--rerank-k", "3",
                   "--aspect-field", "subtopic", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "alpha_nDCG@3" in proc.stdout and "reproduces the retrieval order exactly: True" in proc.stdout
    payload = json.loads((out / "tradeoff.json").read_text())
    assert [row["diversity"] for row in payload["rows"]] == [0.0, 0.5, 1.0]
    assert (out / "tradeoff.png").is_file() and (out / "tradeoff.md").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rerank", "mmr", "--diversity", "0,2"], "in [0, 1]"),
        (["--rerank", "mmr", "--diversity", "a,b"], "in [0, 1]"),
        (["--rerank", "maximal"], "invalid choice"),
    ],
)
def test_bad_rerank_arguments_are_rejected_by_the_parser(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["evaluate", "--data", "x", *args])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_rerank_aspects_without_a_field_is_a_clear_error(tmp_path, capsys):
    good = write_beir(tmp_path / "good")
    assert cli.main(["evaluate", "--data", str(good), "--rerank", "aspects"]) == 2
    assert "needs an aspect field" in capsys.readouterr().err


# The float32 brute_force index is exercised by `evaluate` without --index.
@pytest.mark.parametrize("backend, quantization", [("brute_force", "int8"), ("scann", "none")])
def test_index_build_search_and_evaluate_through_the_index(backend, quantization, tiny_encoder, tmp_path,
                                                        capsys):
    from tfsearch.data import DEMO_DIR

    model = tiny_encoder.save_to_directory(tmp_path / "model")
    index = tmp_path / "index"
    proc = run_cli("index", "build", "--data", str(DEMO_DIR), "--model", str(model), "--backend", backend,
                   "--quantization", quantization, "--output", str(index), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    flavour = backend if quantization == "none" else f"{backend} ({quantization})"
    assert f"Wrote {flavour} index of 288 documents" in proc.stdout
    meta = json.loads((index / "index.json").read_text())
    assert meta["metadata"]["model"] == str(model) and len(meta["metadata"]["encoder_fingerprint"]) == 16
    if backend == "scann":
        assert "ScaNN:" in proc.stdout and meta["metadata"]["tuning"]["built_recall"] > 0

    proc = run_in_process(capsys, "search", "--index", str(index), "--query", "planets and stars", "-k", "3")
    assert proc.returncode == 0, proc.stderr
    assert "Query: planets and stars" in proc.stdout and "  3. " in proc.stdout

    prf = ["--prf-documents", "2", "--prf-beta", "0.3"] if backend == "brute_force" else []
    proc = run_in_process(capsys, "export", "--index", str(index), "--output", str(tmp_path / "saved" / "demo"),
                          "--max-k", "20", *prf)
    assert proc.returncode == 0, proc.stderr
    assert f"Wrote {tmp_path / 'saved' / 'demo' / '1'} ({backend}, float32 encoder;" in proc.stdout
    assert ("expands each query with its top 2 documents (beta 0.3)" in proc.stdout) == bool(prf)
    export_info = json.loads((tmp_path / "saved" / "demo" / "1" / "tfsearch_export.json").read_text())
    assert export_info["prf_documents"] == (2 if prf else 0)
    assert ("TensorFlow Serving build with ScaNN's ops" in proc.stdout) == (backend == "scann")
    assert (tmp_path / "saved" / "demo" / "1" / "saved_model.pb").is_file()
    assert (tmp_path / "saved" / "demo" / "1" / "batching_params.pbtxt").is_file()
    proc = run_in_process(capsys, "export", "--index", str(index), "--output", str(tmp_path / "saved" / "demo"),
                          "--max-k", "20", "--for-batching", "--precision", "bfloat16")
    assert proc.returncode == 0, proc.stderr
    assert "signature search_batchable" in proc.stdout and "bfloat16 encoder" in proc.stdout
    export_info = json.loads((tmp_path / "saved" / "demo" / "2" / "tfsearch_export.json").read_text())
    assert export_info["max_k"] == 20 and export_info["precision"] == "bfloat16"

    proc = run_in_process(capsys, "evaluate", "--data", str(DEMO_DIR), "--model", str(model), "--index", str(index),
                          "--top-k", "20", "--no-progress", "--output", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "nDCG@10" in proc.stdout

    # Built with the tiny model; the queries would be embedded by another one.
    other = make_tiny_encoder(seed=5)
    other_dir = other.save_to_directory(tmp_path / "other")
    proc = run_in_process(capsys, "search", "--index", str(index), "--query", "x", "--model", str(other_dir))
    assert proc.returncode == 2 and "was built with encoder" in proc.stderr

    proc = run_in_process(capsys, "index", "build", "--data", str(DEMO_DIR), "--model", str(model),
                          "--output", str(index))
    assert proc.returncode == 2 and "already exists" in proc.stderr


def test_evaluate_hybrid_rrf_on_a_tiny_beir_folder(tiny_encoder, tmp_path):
    model = tiny_encoder.save_to_directory(tmp_path / "model")
    data = write_beir(tmp_path / "data")
    out = tmp_path / "out"
    proc = run_cli("evaluate", "--data", str(data), "--model", str(model), "--output", str(out), "--top-k", "3",
                   "--hybrid", "rrf", "--rrf-k", "10", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith("measure"))
    assert header.split() == ["measure", "dense", "bm25", "fused"]  # one table, the runs side by side
    summary = json.loads((out / "metrics.json").read_text())
    assert list(summary) == ["dense", "bm25", "fused"] and set(summary["fused"]) == {"nDCG@10", "R@100", "RR@10",
                                                                                       "AP@100"}
    assert summary["bm25"]["nDCG@10"] == 1.0  # "cats" and "dogs" are exact (stemmed) matches
    for name in ("dense", "bm25", "fused"):
        assert json.loads((out / name / "metrics.json").read_text()) == summary[name]
        assert (out / name / "run.trec").read_text().strip()
    assert json.loads((out / "info.json").read_text())["rrf_k"] == 10.0


def test_evaluate_linear_fusion_with_prf_in_process(tiny_encoder, tmp_path, capsys):
    model = tiny_encoder.save_to_directory(tmp_path / "model")
    data = write_beir(tmp_path / "data")
    out = tmp_path / "out"
    assert cli.main(["evaluate", "--data", str(data), "--model", str(model), "--output", str(out), "--top-k", "3",
                     "--hybrid", "linear", "--fusion-weight", "0.7", "--prf-documents", "2", "--prf-beta", "0.4",
                     "--no-progress"]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("measure"))
    assert header.split() == ["measure", "dense", "dense+prf", "bm25", "fused"]
    info = json.loads((out / "info.json").read_text())
    assert (info["fusion"], info["fusion_weight"], info["prf_documents"], info["prf_beta"]) == ("linear", 0.7, 2, 0.4)
    assert (out / "dense_prf" / "run.trec").is_file()


@pytest.mark.parametrize("args, message", [
    (["--hybrid", "rrf", "--fusion-weight", "0.3"], "--fusion-weight applies to --hybrid linear only"),
    (["--hybrid", "linear", "--rrf-k", "5"], "--rrf-k applies to --hybrid rrf only"),
    (["--prf-beta", "0.3"], "--prf-beta needs --prf-documents"),
    (["--hybrid", "rrf", "--rerank", "mmr"], "--rerank cannot be combined"),
    (["--prf-documents", "2", "--aspect-field", "topic"], "--aspect-field is not supported"),
])
def test_bad_hybrid_combinations_are_clear_errors(tmp_path, capsys, args, message):
    good = write_beir(tmp_path / "good")
    assert cli.main(["evaluate", "--data", str(good), "--output", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tfsearch evaluate: error:") and message in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--hybrid", "max"], "invalid choice"),
    (["--hybrid", "rrf", "--rrf-k", "-1"], "expected a number >= 0"),
    (["--hybrid", "linear", "--fusion-weight", "1.5"], "expected a number in [0, 1]"),
    (["--prf-documents", "-2"], "expected an integer >= 0"),
    (["--prf-documents", "2", "--prf-beta", "x"], "expected a number in [0, 1]"),
])
def test_bad_hybrid_numbers_are_rejected_by_the_parser(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["evaluate", "--data", "x", *args])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_index_and_search_bad_input(tmp_path, capsys):
    assert cli.main(["search", "--index", str(tmp_path), "--query", "x"]) == 2
    assert "not a tfsearch index folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["index", "build", "--data", "x", "--output", "y", "--target-recall", "1.5"])
    assert "(0, 1]" in capsys.readouterr().err


@pytest.mark.slow
def test_quickstart_with_the_pretrained_model(pretrained_dir, tmp_path):
    proc = run_cli("quickstart", "--no-progress", "--output", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Query: how do astronomers find planets around other stars" in proc.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # The demo topics are clearly separated: the pretrained model ranks them well.
    assert metrics["nDCG@10"] > 0.8
