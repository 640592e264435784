"""encode_corpus on Beam's in-process DirectRunner: the same embeddings as in-process encoding, atomic commits."""

import json

import numpy as np
import pytest

from tests.conftest import make_tiny_encoder
from tests.data.test_beir import write_beir
from tfsearch.data.beir import BeirFormatError
from tfsearch.embeddings import encode_corpus, read_embeddings, read_manifest
from tfsearch.embeddings.beam_encoding import corpus_files

DOCS = [{"_id": f"d{i}", "title": ["Cats", "", "Search"][i % 3],
         "text": " ".join(["the cat sat on the mat"] * (i % 4 + 1)) + f" piece {i}"} for i in range(12)]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return str(make_tiny_encoder(sequence_length=24).save_to_directory(tmp_path_factory.mktemp("m") / "tiny"))


def in_process(model, data):
    from tfsearch.data.pipelines import corpus_dataset
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.models.batch_encoding import encode_dataset

    return encode_dataset(BertEncoder.from_pretrained(model, dtype="float32"), corpus_dataset(data), progress=False)


def assert_same_embeddings(manifest, ids, embeddings):
    got_ids, got = read_embeddings(manifest)
    order = {i: n for n, i in enumerate(got_ids)}
    assert sorted(got_ids) == sorted(ids)
    got = got[[order[i] for i in ids]]
    cosines = np.sum(got * embeddings, axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(embeddings, axis=1)
    assert cosines.min() >= 0.9999


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_encodes_a_beir_folder_like_the_in_process_encoder(tmp_path, tiny_model):
    from tfsearch.models.bert_encoder import BertEncoder
    from tfsearch.models.fingerprint import model_fingerprint

    data = write_beir(tmp_path / "beir", corpus=DOCS)
    manifest = encode_corpus(data, tmp_path / "emb", model=tiny_model, precision="float32", batch_size=4,
                             num_shards=2, progress=False)
    assert_same_embeddings(manifest, *in_process(tiny_model, data))
    assert manifest["count"] == 12 and manifest["embedding_dim"] == 16
    assert manifest["encoder_fingerprint"] == model_fingerprint(BertEncoder.from_pretrained(tiny_model))
    assert (manifest["model"], manifest["precision"], manifest["source"]) == (tiny_model, "float32", str(data))
    assert manifest["pipeline"]["runner"] == "DirectRunner" and manifest["max_length"] is None
    assert [s["path"] for s in manifest["shards"]] == ["embeddings-00000-of-00002.tfrecord",
                                                       "embeddings-00001-of-00002.tfrecord"]
    assert sorted(p.name for p in (tmp_path / "emb").iterdir()) == sorted(
        ["manifest.json"] + [s["path"] for s in manifest["shards"]])  # no staging or progress files
    assert leftovers(tmp_path) == []
    assert read_manifest(tmp_path / "emb")["count"] == 12
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        encode_corpus(data, tmp_path / "emb", model=tiny_model, progress=False)


def test_a_glob_of_jsonl_shards(tmp_path, tiny_model):
    data = write_beir(tmp_path / "beir", corpus=DOCS)
    shards = tmp_path / "shards"
    shards.mkdir()
    for n in range(3):
        (shards / f"corpus-{n}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS[n::3]))
    (shards / "notes.txt").write_text("not matched\n")
    assert len(corpus_files(str(shards / "corpus-*.jsonl"))) == 3
    manifest = encode_corpus(str(shards / "corpus-*.jsonl"), tmp_path / "emb", model=tiny_model,
                             precision="float32", progress=True)
    assert_same_embeddings(manifest, *in_process(tiny_model, data))


def test_a_malformed_line_late_in_the_corpus_fails_and_leaves_no_output(tmp_path, tiny_model):
    corpus = DOCS[:10] + ['{"_id": "d10", "title": "cut off', DOCS[11]]
    data = write_beir(tmp_path / "beir", corpus=corpus)
    with pytest.raises(ValueError, match=r"corpus.jsonl:11: malformed JSON.*nothing was written"):
        encode_corpus(data, tmp_path / "emb", model=tiny_model, progress=False)
    assert not (tmp_path / "emb").exists()
    assert leftovers(tmp_path) == []  # the temporary folder is gone, with its shards and staging files
    assert not list(tmp_path.rglob("manifest.json"))


@pytest.mark.parametrize("write, error, message", [
    (lambda root: None, FileNotFoundError, "neither a BEIR folder nor a glob that matches a file"),
    (lambda root: root.mkdir(), BeirFormatError, "missing corpus.jsonl"),
    (lambda root: write_beir(root, corpus=["{not json"]), BeirFormatError, "corpus.jsonl:1: malformed JSON"),
    (lambda root: write_beir(root, corpus=[""]), BeirFormatError, "holds no documents"),
])
def test_unreadable_input_is_refused_before_anything_is_written(tmp_path, write, error, message):
    write(tmp_path / "in")
    with pytest.raises(error, match=message):
        encode_corpus(str(tmp_path / "in"), tmp_path / "emb", model="/no/such/model", progress=False)
    assert not (tmp_path / "emb").exists() and leftovers(tmp_path) == []


def test_refuses_bad_settings_before_loading_a_model(tmp_path):
    data = write_beir(tmp_path / "beir", corpus=DOCS)
    with pytest.raises(ValueError, match="`num_shards` must be"):
        encode_corpus(data, tmp_path / "emb", num_shards=-1)
    with pytest.raises(FileNotFoundError, match="`--export` .* is not a folder"):
        encode_corpus(data, tmp_path / "emb", export=tmp_path / "nope")
    assert not (tmp_path / "emb").exists()


def test_encodes_with_an_exports_encode_document_signature(tmp_path, tiny_model):
    import tensorflow as tf

    from tfsearch.embeddings.beam_encoding import export_fingerprint
    from tfsearch.models.bert_encoder import BertEncoder

    encoder = BertEncoder.from_pretrained(tiny_model, dtype="float32")
    module = tf.Module()
    module.encoder = encoder
    module.encode_document = tf.function(lambda documents: {"embeddings": encoder(documents)},
                                         input_signature=[tf.TensorSpec([None], tf.string, name="documents")])
    version = tmp_path / "saved_models" / "demo" / "1"
    tf.saved_model.save(module, str(version), signatures={"encode_document": module.encode_document})
    assert export_fingerprint(version) is None
    (version / "tfsearch_export.json").write_text(json.dumps({"metadata": {"encoder_fingerprint": "0123abcd"}}))
    assert export_fingerprint(version) == "0123abcd"

    data = write_beir(tmp_path / "beir", corpus=DOCS)
    manifest = encode_corpus(data, tmp_path / "emb", export=version, progress=False)
    assert_same_embeddings(manifest, *in_process(tiny_model, data))
    assert (manifest["export"], manifest["model"], manifest["precision"]) == (str(version), None, "as exported")
    assert manifest["encoder_fingerprint"] == "0123abcd"
    with pytest.raises(ValueError, match="token limit is fixed"):
        encode_corpus(data, tmp_path / "emb2", export=version, max_length=8, progress=False)


def test_dataflow_needs_cloud_paths(tmp_path):
    data = write_beir(tmp_path / "beir", corpus=DOCS)
    with pytest.raises(ValueError, match="DataflowRunner workers cannot read or write this machine's files"):
        encode_corpus(data, tmp_path / "emb", pipeline_args=["--runner", "DataflowRunner"])
    assert not (tmp_path / "emb").exists()
