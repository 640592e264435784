"""Index partitions: documents split by a stable hash of their id, one index each, the top-k merged by the client."""

import collections

import numpy as np
import pytest

from tfsearch.embeddings.embedding_shards import partition_of, read_embeddings, write_embedding_shards
from tfsearch.index import BruteForceIndex, merge_top_k

NUM_PARTITIONS = 3


@pytest.fixture(scope="module")
def shard_set(tmp_path_factory):
    """300 unit vectors of 8 dimensions, ids d0..d299, in 4 shards; and 20 unit queries."""
    rng = np.random.default_rng(7)
    embeddings = rng.normal(size=(300, 8)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    queries = rng.normal(size=(20, 8)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    ids = [f"d{i}" for i in range(300)]
    manifest = write_embedding_shards(tmp_path_factory.mktemp("partitions") / "set", ids, embeddings, "f" * 16,
                                      num_shards=4)
    return manifest, ids, embeddings, queries


def test_partition_of_is_a_stable_hash():
    # By hand: hashlib.blake2b(b"d0", digest_size=8).digest().hex() == "8a142bb16719e161"; read little-endian it
    # is 0x61e11967b12b148a == 7052946424583623818; mod 4 that is 2 (…18 % 4), mod 3 it is 0 (digit sum 87).
    assert partition_of("d0", 4) == 2 and partition_of("d0", 3) == 0 and partition_of("d0", 1) == 0
    assert partition_of(b"d0", 4) == 2  # the raw `id` feature of a shard hashes the same
    # doc-42: blake2b digest ab996144c4f8f2ff -> 0xfff2f8c4446199ab == 18443076945880127915; mod 4 == 3.
    assert partition_of("doc-42", 4) == 3
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="integer >= 1"):
            partition_of("d0", bad)


def test_partition_of_spreads_ids_evenly():
    counts = collections.Counter(partition_of(f"doc{i}", 4) for i in range(4000))
    assert sorted(counts) == [0, 1, 2, 3]
    assert all(900 <= n <= 1100 for n in counts.values()), counts


def test_partitions_are_disjoint_and_cover_the_set(shard_set):
    manifest, ids, embeddings, _ = shard_set
    rows = dict(zip(ids, embeddings))
    seen = []
    for part in range(NUM_PARTITIONS):
        part_ids, part_rows = read_embeddings(manifest, batch_size=64, partition=(part, NUM_PARTITIONS))
        assert part_ids == [i for i in ids if partition_of(i, NUM_PARTITIONS) == part]  # in shard order
        np.testing.assert_array_equal(part_rows, np.stack([rows[i] for i in part_ids]))
        assert part_rows.dtype == np.float32 and part_rows.flags["C_CONTIGUOUS"]
        seen.extend(part_ids)
    assert len(seen) == len(set(seen)) == len(ids) and set(seen) == set(ids)


def test_merged_top_10_of_the_partitions_is_the_top_10_of_the_whole_set(shard_set):
    """The key property: exact search per partition, merged, equals exact search over everything."""
    manifest, _, _, queries = shard_set
    all_ids, all_rows = read_embeddings(manifest)
    whole = BruteForceIndex(k=10).index(all_rows, all_ids)
    expected_scores, expected_ids = whole.search(queries, 10)
    answers = []
    for part in range(NUM_PARTITIONS):
        part_ids, part_rows = read_embeddings(manifest, partition=(part, NUM_PARTITIONS))
        answers.append(BruteForceIndex(k=10).index(part_rows, part_ids).search(queries, 10))
    scores, ids = merge_top_k(answers, 10)
    assert ids == expected_ids
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-6, atol=1e-6)
    assert scores.dtype == np.float32 and scores.shape == (20, 10)


def test_merge_top_k_by_hand():
    part0 = (np.array([[0.9, 0.5, 0.1], [0.3, 0.2, 0.1]]), [["a", "b", "c"], ["d", "e", "f"]])
    part1 = (np.array([[0.7, -np.inf], [0.8, -np.inf]]), [["g", ""], ["h", ""]])  # one result each, padded
    part2 = ([[0.5], []], [["i"], []])  # ragged: one result for query 0, none for query 1 (ScaNN may do that)
    scores, ids = merge_top_k([part0, part1, part2], 4)
    # Query 0: 0.9 a, 0.7 g, then 0.5 twice: b (partition 0) before i (partition 2).
    # Query 1: 0.8 h, 0.3 d, 0.2 e, 0.1 f; the -inf padding never appears.
    assert ids == [["a", "g", "b", "i"], ["h", "d", "e", "f"]]
    np.testing.assert_array_equal(scores, np.array([[0.9, 0.7, 0.5, 0.5], [0.8, 0.3, 0.2, 0.1]], np.float32))
    # Fewer results than k in all partitions together: -inf and "" fill the row.
    scores, ids = merge_top_k([part1], 3)
    assert ids == [["g", "", ""], ["h", "", ""]]
    assert scores[0, 0] == np.float32(0.7) and np.isneginf(scores[:, 1:]).all()


def test_merge_top_k_takes_tensorflow_serving_answers():
    # REST :predict `outputs` dicts (`tfsearch serve` writes -inf as null) and gRPC arrays (ids as bytes).
    rest = {"scores": [[0.6, None]], "ids": [["x", ""]]}
    grpc = (np.array([[0.8, 0.6]], np.float32), np.array([[b"y", b"z"]], dtype=object))
    scores, ids = merge_top_k([rest, grpc], 3)
    assert ids == [["y", "x", "z"]]  # 0.6 tie: partition 0's x before partition 1's z
    np.testing.assert_array_equal(scores, np.array([[0.8, 0.6, 0.6]], np.float32))


def test_merge_top_k_errors():
    one = (np.array([[0.5]]), [["a"]])
    with pytest.raises(ValueError, match="at least one partition"):
        merge_top_k([], 3)
    with pytest.raises(ValueError, match="integer >= 1"):
        merge_top_k([one], 0)
    with pytest.raises(ValueError, match="different numbers of queries"):
        merge_top_k([one, (np.array([[0.5], [0.4]]), [["b"], ["c"]])], 3)
    with pytest.raises(ValueError, match="differ in shape"):
        merge_top_k([(np.array([[0.5, 0.4]]), [["a"]])], 3)
