"""`tfsearch encode`: Beam options pass through, one-line errors, the demo corpus on 2 DirectRunner workers."""

import time

import numpy as np
import pytest

from tests.cli.test_cli import run_in_process
from tests.conftest import make_tiny_encoder
from tests.data.test_beir import write_beir
from tfsearch import cli
from tfsearch.embeddings import read_embeddings, read_manifest

TWO_WORKERS = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
DEMO = cli.__file__.rsplit("/cli/", 1)[0] + "/data/demo"


def test_help_names_the_beam_options(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["encode", "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for option in ("--direct_num_workers 2 --direct_running_mode multi_processing", "--runner DataflowRunner",
                   "--temp_location gs://", "--export", "--num-shards", "--model"):
        assert option in out


def test_other_commands_still_refuse_unknown_options(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["data", "check", "somewhere", "--direct_num_workers", "2"])
    assert info.value.code == 2
    assert "unrecognized arguments: --direct_num_workers 2" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--data", "/no/such/*.jsonl"], "neither a BEIR folder nor a glob"),
    (["--data", "{demo}", "--model", "m", "--export", "e"], "not both"),
    (["--data", "{demo}", "--model", "/no/such/model"], "neither a folder nor a known preset"),
])
def test_bad_input_is_one_line_with_exit_code_2(tmp_path, capsys, args, message):
    args = [a.replace("{demo}", DEMO) for a in args]
    result = run_in_process(capsys, "encode", *args, "--output", str(tmp_path / "emb"), "--no-progress")
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "emb").exists()


def test_a_worker_failing_on_a_late_malformed_line_leaves_nothing(tmp_path, capsys):
    """Two worker processes; the error a worker meets comes back as one line, and no manifest is written."""
    model = make_tiny_encoder(sequence_length=16).save_to_directory(tmp_path / "tiny")
    corpus = [{"_id": f"d{i}", "text": f"the cat sat {i}"} for i in range(30)] + ['{"_id": "bad", "text": 3}']
    data = write_beir(tmp_path / "beir", corpus=corpus)
    result = run_in_process(capsys, "encode", "--data", str(data), "--output", str(tmp_path / "emb"), "--model",
                            str(model), "--no-progress", *TWO_WORKERS)
    assert result.returncode == 2, result.stderr
    assert "corpus.jsonl:31: field 'text': 'text' must be a string, got int" in result.stderr
    assert "nothing was written" in result.stderr
    assert not (tmp_path / "emb").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert not list(tmp_path.rglob("manifest.json"))


@pytest.mark.slow
def test_demo_corpus_on_two_workers_matches_in_process_encoding(tmp_path, capsys, pretrained_dir):
    """The issue's measure: 2 DirectRunner workers give the same ids and embeddings as in-process encoding."""
    from tfsearch.data.pipelines import corpus_dataset
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.models.batch_encoding import encode_dataset

    started = time.monotonic()
    result = run_in_process(capsys, "encode", "--data", DEMO, "--output", str(tmp_path / "emb"),
                            "--precision", "float32", *TWO_WORKERS)
    beam_seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "Wrote 288 embeddings of 384 floats" in result.stdout
    assert "encoding corpus" in result.stderr  # the progress bar

    encoder = BertEncoder.from_pretrained(dtype="float32")
    started = time.monotonic()
    ids, expected = encode_dataset(encoder, corpus_dataset(DEMO), progress=False)
    local_seconds = time.monotonic() - started
    manifest = read_manifest(tmp_path / "emb")
    got_ids, got = read_embeddings(manifest)
    assert sorted(got_ids) == sorted(ids) and manifest["count"] == 288
    position = {i: n for n, i in enumerate(got_ids)}
    got = got[[position[i] for i in ids]]
    cosines = np.sum(got * expected, axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosines.min() >= 0.9999
    from tfsearch.models.fingerprint import model_fingerprint

    assert manifest["encoder_fingerprint"] == model_fingerprint(encoder)
    assert manifest["pipeline"]["args"][:4] == TWO_WORKERS
    print(f"2 workers: {beam_seconds:.1f} s for the command ({manifest['seconds']} s pipeline, "
          f"{288 / manifest['seconds']:.1f} documents/s); in-process: {local_seconds:.1f} s "
          f"({288 / local_seconds:.1f} documents/s)")
