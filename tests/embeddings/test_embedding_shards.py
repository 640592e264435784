"""The shard-set format: TFRecord shards of (id, embedding) and a manifest written last."""

import json

import numpy as np
import pytest

from tfsearch.embeddings.embedding_shards import (
    MANIFEST_FILE,
    SHARDS_FORMAT,
    ShardSetError,
    iter_embedding_batches,
    make_manifest,
    partition_of,
    read_embeddings,
    read_manifest,
    serialize_embedding,
    shard_name,
    write_embedding_shards,
)


def _rows(count=10, dim=4, seed=0):
    embeddings = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return [f"d{i}" for i in range(count)], embeddings


def test_round_trip_keeps_ids_rows_and_order(tmp_path):
    ids, embeddings = _rows(10)
    manifest = write_embedding_shards(tmp_path / "set", ids, embeddings, "f" * 16, num_shards=3, model="tiny")

    # 10 rows in 3 shards: np.linspace(0, 10, 4) -> bounds 0, 3, 6, 10 -> 3, 3 and 4 rows.
    assert [s["path"] for s in manifest["shards"]] == [shard_name(i, 3) for i in range(3)]
    assert manifest["count"] == 10 and manifest["embedding_dim"] == 4 and manifest["model"] == "tiny"
    assert manifest["format"] == SHARDS_FORMAT and manifest["encoder_fingerprint"] == "f" * 16
    read_ids, read_rows = read_embeddings(tmp_path / "set")
    assert read_ids == ids
    np.testing.assert_array_equal(read_rows, embeddings)


def test_batches_stream_in_manifest_order(tmp_path):
    ids, embeddings = _rows(7)
    write_embedding_shards(tmp_path / "set", ids, embeddings, "f" * 16, num_shards=2)
    # Batches of 3 over shards of 3 and 4 rows: a batch may span two shards (one record stream).
    sizes = [len(batch_ids) for batch_ids, _ in iter_embedding_batches(tmp_path / "set", batch_size=3)]
    assert sizes == [3, 3, 1]


def test_shard_name_follows_beam_naming():
    assert shard_name(1, 4) == "embeddings-00001-of-00004.tfrecord"


def test_no_manifest_is_not_a_shard_set(tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        read_manifest(tmp_path / "half")


def test_a_changed_shard_is_refused(tmp_path):
    ids, embeddings = _rows(5)
    manifest = write_embedding_shards(tmp_path / "set", ids, embeddings, "f" * 16)
    shard = tmp_path / "set" / manifest["shards"][0]["path"]
    shard.write_bytes(shard.read_bytes()[:-5])  # truncated
    with pytest.raises(ShardSetError, match="bytes, the manifest says"):
        read_manifest(tmp_path / "set")


def test_a_missing_shard_is_named(tmp_path):
    ids, embeddings = _rows(5)
    manifest = write_embedding_shards(tmp_path / "set", ids, embeddings, "f" * 16)
    (tmp_path / "set" / manifest["shards"][0]["path"]).unlink()
    with pytest.raises(FileNotFoundError, match="listed in .* but missing"):
        read_manifest(tmp_path / "set")


def test_a_foreign_manifest_is_refused(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / MANIFEST_FILE).write_text(json.dumps({"format": "something.else"}))
    with pytest.raises(ShardSetError, match="is not a 'tfsearch.embeddings.v1' manifest"):
        read_manifest(tmp_path / "set" / MANIFEST_FILE)


def _hand_written_set(folder, records, count, dim):
    import tensorflow as tf

    folder.mkdir()
    with tf.io.TFRecordWriter(str(folder / "part.tfrecord")) as writer:
        for identifier, vector in records:
            writer.write(serialize_embedding(identifier, vector))
    size = (folder / "part.tfrecord").stat().st_size
    manifest = make_manifest(count, dim, [{"path": "part.tfrecord", "bytes": size}], "f" * 16)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_count_differing_from_the_manifest_is_an_error(tmp_path):
    _hand_written_set(tmp_path / "set", [("a", [1.0, 0.0]), ("b", [0.0, 1.0])], count=3, dim=2)
    with pytest.raises(ShardSetError, match="hold 2 embeddings, the manifest says 3"):
        list(iter_embedding_batches(tmp_path / "set"))


def test_more_rows_than_the_manifest_are_refused_before_overflowing(tmp_path):
    _hand_written_set(tmp_path / "set", [("a", [1.0, 0.0]), ("b", [0.0, 1.0])], count=1, dim=2)
    with pytest.raises(ShardSetError, match="more than the manifest's 1"):
        read_embeddings(tmp_path / "set")


def test_wrong_dimension_is_an_error(tmp_path):
    _hand_written_set(tmp_path / "set", [("a", [1.0, 0.0, 0.0])], count=1, dim=2)
    with pytest.raises(ShardSetError, match="embedding_dim 2"):
        read_embeddings(tmp_path / "set")


def test_duplicate_ids_are_named(tmp_path):
    _hand_written_set(tmp_path / "set", [("a", [1.0, 0.0]), ("a", [0.0, 1.0])], count=2, dim=2)
    with pytest.raises(ShardSetError, match="'a' occurs more than once"):
        read_embeddings(tmp_path / "set")


def test_writing_is_atomic_and_refuses_an_existing_folder(tmp_path):
    ids, embeddings = _rows(3)
    write_embedding_shards(tmp_path / "set", ids, embeddings, "f" * 16)
    with pytest.raises(FileExistsError):
        write_embedding_shards(tmp_path / "set", ids, embeddings, "f" * 16)
    write_embedding_shards(tmp_path / "set", ids[:2], embeddings[:2], "f" * 16, overwrite=True)
    assert read_manifest(tmp_path / "set")["count"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]  # no temporary folder left behind


def test_bad_arguments(tmp_path):
    ids, embeddings = _rows(3)
    with pytest.raises(ValueError, match="one id per row"):
        write_embedding_shards(tmp_path / "a", ids[:2], embeddings, "f" * 16)
    with pytest.raises(ValueError, match="at least 1"):
        write_embedding_shards(tmp_path / "b", ids, embeddings, "f" * 16, num_shards=0)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_partition_keeps_the_ids_that_hash_to_it_in_shard_order(tmp_path):
    ids, embeddings = _rows(40)
    write_embedding_shards(tmp_path / "set", ids, embeddings, "f" * 16, num_shards=3)
    for partition in ((0, 1), (1, 4)):
        kept = [row for row, i in enumerate(ids) if partition_of(i, partition[1]) == partition[0]]
        part_ids, part_rows = read_embeddings(tmp_path / "set", batch_size=7, partition=partition)
        assert part_ids == [ids[row] for row in kept]
        np.testing.assert_array_equal(part_rows, embeddings[kept])
    assert read_embeddings(tmp_path / "set", partition=(0, 1))[0] == ids


@pytest.mark.parametrize("partition, message", [
    ((3, 3), "0 <= i < n"), ((-1, 3), "0 <= i < n"), ((1, 0), "n >= 1"), ((0.0, 2), "integers"), (3, "a pair"),
])
def test_bad_partitions_are_refused(tmp_path, partition, message):
    ids, embeddings = _rows(3)
    write_embedding_shards(tmp_path / "set", ids, embeddings, "f" * 16)
    with pytest.raises(ValueError, match=message):
        read_embeddings(tmp_path / "set", partition=partition)


def test_a_partition_checks_duplicates_and_counts(tmp_path):
    # "a" twice: a duplicate within its own partition (an id always hashes to one partition).
    _hand_written_set(tmp_path / "dup", [("a", [1.0, 0.0]), ("a", [0.0, 1.0])], count=2, dim=2)
    with pytest.raises(ShardSetError, match="'a' occurs more than once"):
        read_embeddings(tmp_path / "dup", partition=(partition_of("a", 2), 2))
    _hand_written_set(tmp_path / "more", [("a", [1.0, 0.0]), ("b", [0.0, 1.0])], count=1, dim=2)
    with pytest.raises(ShardSetError, match="more than the manifest's 1"):
        read_embeddings(tmp_path / "more", partition=(0, 2))
    _hand_written_set(tmp_path / "fewer", [("a", [1.0, 0.0])], count=2, dim=2)
    with pytest.raises(ShardSetError, match="hold 1 embeddings, the manifest says 2"):
        read_embeddings(tmp_path / "fewer", partition=(0, 2))
    _hand_written_set(tmp_path / "dim", [("a", [1.0, 0.0, 0.0])], count=1, dim=2)
    with pytest.raises(ShardSetError, match="embedding_dim 2"):
        read_embeddings(tmp_path / "dim", partition=(partition_of("a", 2), 2))


def test_shards_that_change_between_the_two_passes_are_refused(tmp_path, monkeypatch):
    from tfsearch.embeddings import embedding_shards

    ids, embeddings = _rows(2)
    write_embedding_shards(tmp_path / "set", ids, embeddings, "f" * 16)
    # The id pass sees another order than the embedding pass that follows it (a set rewritten in between).
    monkeypatch.setattr(embedding_shards, "_iter_raw_ids",
                        lambda manifest, batch_size: iter([np.array([b"d1", b"d0"], dtype=object)]))
    with pytest.raises(ShardSetError, match="changed while partition 0/1 was read"):
        read_embeddings(tmp_path / "set", partition=(0, 1))
