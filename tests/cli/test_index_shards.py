"""`tfsearch index build --embeddings` (an index from shards, no texts) and `tfsearch index update`."""

import json

import numpy as np
import pytest

from tests.cli.test_cli import run_in_process
from tests.conftest import make_tiny_encoder
from tfsearch.data import DEMO_DIR
from tfsearch.embeddings.embedding_shards import partition_of, write_embedding_shards
from tfsearch.index import load_index, merge_top_k


@pytest.fixture(scope="module")
def demo_shards(tmp_path_factory):
    """The demo corpus encoded in this process by a saved tiny encoder, written as a shard set of 3 shards."""
    from tfsearch.data.beir import BeirDataset
    from tfsearch.data.pipelines import corpus_dataset
    from tfsearch.models.batch_encoding import encode_dataset, encode_texts
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.models.fingerprint import model_fingerprint

    tmp_path = tmp_path_factory.mktemp("demo_shards")
    model = str(make_tiny_encoder().save_to_directory(tmp_path / "model"))
    encoder = BertEncoder.from_pretrained(model)
    ids, embeddings = encode_dataset(encoder, corpus_dataset(DEMO_DIR), progress=False)
    manifest = write_embedding_shards(tmp_path / "shards", ids, embeddings, model_fingerprint(encoder), num_shards=3,
                                      model=model, max_length=None, precision="float32", source=str(DEMO_DIR))
    queries = [q.text for q in BeirDataset(DEMO_DIR).queries().values()]
    return model, manifest, encode_texts(encoder, queries), ids, embeddings


@pytest.mark.parametrize("quantization", ["none", "int8"])
def test_an_index_from_shards_gives_the_top_10_of_one_from_the_beir_folder(demo_shards, tmp_path, capsys,
                                                                          quantization):
    model, manifest, queries, _, _ = demo_shards
    flags = ["--backend", "brute_force", "--quantization", quantization, "--no-progress"]
    proc = run_in_process(capsys, "index", "build", "--embeddings", manifest["folder"], "--output",
                          str(tmp_path / "from_shards"), *flags)
    assert proc.returncode == 0, proc.stderr
    assert "index of 288 documents" in proc.stdout
    proc = run_in_process(capsys, "index", "build", "--data", str(DEMO_DIR), "--model", model, "--precision",
                          "float32", "--output", str(tmp_path / "from_data"), *flags)
    assert proc.returncode == 0, proc.stderr
    from_shards, built = load_index(tmp_path / "from_shards")
    from_data, built_from_data = load_index(tmp_path / "from_data")
    assert built["encoder_fingerprint"] == built_from_data["encoder_fingerprint"]
    assert built["model"] == model and built["data"] == str(DEMO_DIR) and built["embeddings"] == manifest["folder"]
    assert from_shards.search(queries, 10)[1] == from_data.search(queries, 10)[1]


def test_scann_from_shards_is_tuned_on_document_embeddings(demo_shards, tmp_path, capsys):
    _, manifest, _, _, _ = demo_shards
    proc = run_in_process(capsys, "index", "build", "--embeddings", manifest["folder"] + "/manifest.json",
                          "--backend", "scann", "--output", str(tmp_path / "scann"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert ("Tuning ScaNN for recall@10 >= 0.99 on 288 sampled document embeddings (the shards hold no queries; "
            "the default target, measured on SciFact)") in proc.stdout
    assert (tmp_path / "scann" / "scann_searcher" / "scann_assets.pbtxt").is_file()
    assert not (tmp_path / "scann" / "scann_searcher" / "scann_docids.pkl").exists()


def test_data_or_embeddings_exactly_one(demo_shards, tmp_path, capsys):
    _, manifest, _, _, _ = demo_shards
    for sources in ([], ["--data", str(DEMO_DIR), "--embeddings", manifest["folder"]]):
        with pytest.raises(SystemExit) as info:
            run_in_process(capsys, "index", "build", *sources, "--output", str(tmp_path / "x"))
        assert info.value.code == 2
        assert "one of the arguments --data --embeddings is required" in capsys.readouterr().err or sources
    proc = run_in_process(capsys, "index", "build", "--embeddings", manifest["folder"], "--model", "m",
                          "--output", str(tmp_path / "x"))
    assert proc.returncode == 2 and "--model: not used with --embeddings" in proc.stderr


def test_build_from_shards_update_and_export(demo_shards, tmp_path, capsys):
    model, manifest, queries, ids, embeddings = demo_shards
    proc = run_in_process(capsys, "index", "build", "--embeddings", manifest["folder"], "--output",
                          str(tmp_path / "v1"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    # Replace 10 documents with other documents' vectors, add 5 new ones, delete 20.
    add = write_embedding_shards(tmp_path / "add", ids[:10] + [f"new{i}" for i in range(5)], embeddings[-15:],
                                 manifest["encoder_fingerprint"])
    (tmp_path / "gone.txt").write_text("\n".join(ids[100:120]) + "\n")
    proc = run_in_process(capsys, "index", "update", "--index", str(tmp_path / "v1"), "--add", add["folder"],
                          "--delete", str(tmp_path / "gone.txt"), "--output", str(tmp_path / "v2"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert ("Wrote brute_force index of 273 documents to " in proc.stdout
            and "(from 288: 5 added, 10 replaced, 20 deleted;" in proc.stdout)
    index, built = load_index(tmp_path / "v2")
    assert index.num_documents == 273 and built["updates"][0]["add_kind"] == "manifest"

    # Unknown ids to delete: an error, nothing written.
    (tmp_path / "unknown.txt").write_text("nope\n")
    proc = run_in_process(capsys, "index", "update", "--index", str(tmp_path / "v2"), "--delete",
                          str(tmp_path / "unknown.txt"), "--output", str(tmp_path / "v3"))
    assert proc.returncode == 2 and "not in the index: 'nope'" in proc.stderr and not (tmp_path / "v3").exists()

    # A corpus.jsonl is encoded with the index's own encoder (the model in index.json).
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"_id": "fresh", "title": "", "text": "the cat sat"}) + "\n")
    proc = run_in_process(capsys, "index", "update", "--index", str(tmp_path / "v2"), "--add",
                          str(tmp_path / "corpus.jsonl"), "--output", str(tmp_path / "v3"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "(from 273: 1 added, 0 replaced, 0 deleted;" in proc.stdout

    # `tfsearch export` takes an index from shards (updated twice): the encoder comes from its metadata.
    base = tmp_path / "saved" / "demo"
    proc = run_in_process(capsys, "export", "--index", str(tmp_path / "v3"), "--output", str(base), "--max-k", "20")
    assert proc.returncode == 0, proc.stderr
    assert f"Wrote {base / '1'} (brute_force, float32 encoder;" in proc.stdout  # float32 unless --precision


def test_partitions_of_the_shards_merge_to_the_whole_index(demo_shards, tmp_path, capsys):
    _, manifest, queries, ids, _ = demo_shards
    flags = ["--embeddings", manifest["folder"], "--backend", "brute_force", "--no-progress"]
    proc = run_in_process(capsys, "index", "build", *flags, "--output", str(tmp_path / "whole"))
    assert proc.returncode == 0, proc.stderr
    answers = []
    for part in range(3):
        proc = run_in_process(capsys, "index", "build", *flags, "--partition", f"{part}/3", "--output",
                              str(tmp_path / f"part-{part}"))
        assert proc.returncode == 0, proc.stderr
        expected = [i for i in ids if partition_of(i, 3) == part]
        assert (f"Partition {part}/3 (blake2b-64 mod n of the id): {len(expected):,} of 288 documents\n"
                "Backend: brute_force requested") in proc.stdout
        index, built = load_index(tmp_path / f"part-{part}")
        assert index.identifiers == expected
        assert built["partition"] == {"index": part, "count": 3, "hash": "blake2b-64 mod n"}
        assert built["encoder_fingerprint"] == manifest["encoder_fingerprint"]
        answers.append(index.search(queries, 10))
    whole, built = load_index(tmp_path / "whole")
    assert "partition" not in built
    scores, merged = merge_top_k(answers, 10)
    expected_scores, expected_ids = whole.search(queries, 10)
    assert merged == expected_ids
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("value", ["3/3", "1/0", "-1/3", "1", "a/b"])
def test_a_bad_partition_is_a_usage_error(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as info:  # refused while parsing: the shard set is not opened
        run_in_process(capsys, "index", "build", "--embeddings", str(tmp_path / "set"), f"--partition={value}",
                       "--output", str(tmp_path / "x"))
    assert info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("tfsearch index build: error: argument --partition: expected I/N") and value in error
    assert not (tmp_path / "x").exists()


def test_partition_needs_embeddings(tmp_path, capsys):
    proc = run_in_process(capsys, "index", "build", "--data", str(DEMO_DIR), "--partition", "0/2", "--output",
                          str(tmp_path / "x"))
    assert proc.returncode == 2 and not (tmp_path / "x").exists()
    assert proc.stderr.strip() == ("tfsearch index: error: --partition: only with --embeddings (a shard set is "
                                   "split by id; --data is not).")
