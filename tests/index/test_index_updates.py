"""Live updates: exact and int8 equal a fresh build; ScaNN keeps its recall; deletes stay deleted."""

import json

import numpy as np
import pytest

from tests.index.test_scann_index import mixture
from tfsearch.embeddings.embedding_shards import write_embedding_shards
from tfsearch.index import BruteForceIndex, EncoderMismatchError, ScannIndex, ScannParams, load_index
from tfsearch.index.index_updates import (check_update, rebalance_decision, update_index,
                                          update_index_folder)
from tfsearch.index.scann_tuning import exact_neighbours, recall_at_k


def updated_corpus(ids, embeddings, add_ids, add_embeddings, delete_ids):
    """The corpus after an update, as a fresh build would see it: {id: row}."""
    corpus = dict(zip(ids, embeddings))
    corpus.update(zip(add_ids, add_embeddings))
    for i in delete_ids:
        del corpus[i]
    return corpus


@pytest.fixture(scope="module")
def small():
    embeddings = mixture(400, dim=16)
    ids = [f"doc{i}" for i in range(400)]
    add = mixture(60, dim=16, seed=5)
    add_ids = [f"doc{i}" for i in range(0, 60, 2)] + [f"new{i}" for i in range(30)]  # 30 replaced, 30 new
    delete_ids = [f"doc{i}" for i in range(101, 161)]
    return embeddings, ids, add, add_ids, delete_ids, mixture(50, dim=16, seed=9)


@pytest.mark.parametrize("quantization", [None, "int8"])
def test_exact_and_int8_updates_equal_a_fresh_build(small, quantization):
    embeddings, ids, add, add_ids, delete_ids, queries = small
    index = BruteForceIndex(k=10, quantization=quantization).index(embeddings, ids)
    new, report = update_index(index, add_ids, add, delete_ids)
    assert (report["added"], report["replaced"], report["deleted"]) == (30, 30, 60)
    assert report["num_documents"] == new.num_documents == 400 + 30 - 60
    corpus = updated_corpus(ids, embeddings, add_ids, add, delete_ids)
    fresh = BruteForceIndex(k=10, quantization=quantization).index(np.stack(list(corpus.values())), list(corpus))
    # Replaced rows stay in place, deleted ones go, new ones are appended.
    assert new.identifiers[:2] == ["doc0", "doc1"] and new.identifiers[-30:] == [f"new{i}" for i in range(30)]
    if quantization == "int8":  # codes quantised over all rows, as a fresh build does
        np.testing.assert_array_equal(new._code_scale.numpy(), fresh._code_scale.numpy())
    scores, found = new.search(queries)
    fresh_scores, fresh_found = fresh.search(queries)
    np.testing.assert_allclose(scores, fresh_scores, atol=1e-6)
    assert found == fresh_found
    assert index.num_documents == 400  # the input index is not changed


def test_checks_come_before_any_change(small):
    embeddings, ids, add, add_ids, delete_ids, _ = small
    index = BruteForceIndex(k=10).index(embeddings, ids)
    with pytest.raises(ValueError, match=r"2 id\(s\) to delete are not in the index: 'nope', 'gone'"):
        check_update(index, delete_ids=["doc1", "nope", "gone"])
    with pytest.raises(ValueError, match="both added and deleted: 'doc0'"):
        check_update(index, ["doc0"], add[:1], ["doc0"])
    with pytest.raises(ValueError, match="more than once: 'x'"):
        check_update(index, ["x", "x"], add[:2])
    with pytest.raises(ValueError, match=r"must be \[1, 16\]"):
        check_update(index, ["x"], add[:2])
    with pytest.raises(ValueError, match="every document"):
        check_update(index, delete_ids=ids)


def test_rebalance_rule():
    # REBALANCE_FRACTION = 0.05: 51 > 0.05 x 1,000 = 50 rebalances, 50 does not.
    assert rebalance_decision(51, 1000) == (True, "51 rows updated since training > 0.05 x 1,000 documents: "
                                                  "rebalanced")
    assert not rebalance_decision(50, 1000)[0]
    assert rebalance_decision(0, 1000, "always")[0] and not rebalance_decision(10**6, 10, "never")[0]


@pytest.fixture(scope="module")
def clustered():
    embeddings = mixture(4000, dim=32)
    return embeddings, [f"doc{i}" for i in range(4000)], mixture(200, dim=32, seed=1)


PARAMS = ScannParams(num_leaves=60, num_leaves_to_search=6, num_reordering_candidates=100)


def scann_recall(index, corpus_ids, corpus_rows, queries):
    """recall@10 of `index` against exact search over the corpus it should hold."""
    position = {i: r for r, i in enumerate(corpus_ids)}
    _, found = index.search(queries, 10)
    return recall_at_k([[position[i] for i in row] for row in found], exact_neighbours(corpus_rows, queries, 10))


def test_scann_update_keeps_recall_and_deleted_ids_never_come_back(clustered, tmp_path):
    embeddings, ids, queries = clustered
    index = ScannIndex(k=10, params=PARAMS).index(embeddings, ids)
    # 10% of the documents: 5% replaced (new vectors), 2.5% inserted, 2.5% deleted.
    rng = np.random.default_rng(3)
    chosen = [ids[i] for i in rng.permutation(4000)[:300]]
    replaced, deleted = chosen[:200], chosen[200:]
    add_ids = replaced + [f"new{i}" for i in range(100)]
    add = mixture(300, dim=32, seed=11)
    # A mixed upsert (existing and new ids in one call), then deletes.
    new, report = update_index(index, add_ids, add, deleted, rebalance="never")
    assert (report["added"], report["replaced"], report["deleted"]) == (100, 200, 100)
    assert not report["rebalanced"] and report["updates_since_training"] == 400
    corpus = updated_corpus(ids, embeddings, add_ids, add, deleted)
    assert sorted(new.identifiers) == sorted(corpus)
    # The rows follow the searcher's order (a delete moves the last row into the freed slot).
    np.testing.assert_array_equal(np.asarray(new.embeddings), np.stack([corpus[i] for i in new.identifiers]))
    # ScaNN's partitioning differs from one build to the next (on one machine, recall@10 of single builds
    # ranged over 0.9945-0.9995 here; a CI machine gave 0.989 against a fresh build's 1.0), so the
    # comparison is of means over three builds each, the first build's update included.
    rows = np.stack(list(corpus.values()))
    updated = [new] + [update_index(ScannIndex(k=10, params=PARAMS).index(embeddings, ids), add_ids, add, deleted,
                                    rebalance="never")[0] for _ in range(2)]
    fresh = [ScannIndex(k=10, params=PARAMS).index(rows, list(corpus)) for _ in range(3)]
    recall = np.mean([scann_recall(i, list(corpus), rows, queries) for i in updated])
    fresh_recall = np.mean([scann_recall(i, list(corpus), rows, queries) for i in fresh])
    assert recall >= fresh_recall - 0.01, (recall, fresh_recall)
    # Replaced documents are found with their new vectors.
    _, found = new.search(add[:20], 1)
    assert [row[0] for row in found] == add_ids[:20]

    # Saved and loaded: the saved searcher is what answers, and what an export serves (no retraining).
    new.save(tmp_path / "updated")
    loaded, _ = ScannIndex.load(tmp_path / "updated")
    assert loaded.updates_since_training == 400 and loaded.identifiers == new.identifiers
    exportable = loaded.exportable()
    _, deleted_queries = exportable.search(embeddings[[ids.index(i) for i in deleted]], 500)
    assert not set(deleted) & {i for row in deleted_queries for i in row}
    assert exportable.search(queries)[1] == new.search(queries)[1] == loaded.search(queries)[1]

    # A second update of the loaded index, past the rule's fraction: rebalanced.
    again, report = update_index(loaded, delete_ids=new.identifiers[:500])
    assert report["rebalanced"] and report["updates_since_training"] == 0 and again.num_documents == 3500


def test_folder_update_records_it_and_refuses_other_encoders(small, tmp_path):
    embeddings, ids, add, add_ids, delete_ids, _ = small
    BruteForceIndex(k=10).index(embeddings, ids).save(tmp_path / "index", metadata={"encoder_fingerprint": "f1"})
    shards = write_embedding_shards(tmp_path / "add", add_ids, add, encoder_fingerprint="f1")
    (tmp_path / "gone.txt").write_text("\n".join(delete_ids) + "\n")
    before = sorted(p.name for p in (tmp_path / "index").iterdir())
    record = update_index_folder(tmp_path / "index", tmp_path / "v2", add=shards["folder"],
                                 delete=tmp_path / "gone.txt")
    assert (record["added"], record["replaced"], record["deleted"], record["add_kind"]) == (30, 30, 60, "manifest")
    meta = json.loads((tmp_path / "v2" / "index.json").read_text())
    assert meta["metadata"]["encoder_fingerprint"] == "f1" and meta["metadata"]["updates"] == [record]
    assert load_index(tmp_path / "v2")[0].num_documents == 370
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == before  # the input is not changed

    other = write_embedding_shards(tmp_path / "other", ["z"], add[:1], encoder_fingerprint="f2")
    with pytest.raises(EncoderMismatchError, match="encoder f2, but the index was built with encoder f1"):
        update_index_folder(tmp_path / "index", tmp_path / "v3", add=other["folder"])
    (tmp_path / "unknown.txt").write_text("doc1\nnot-there\n")
    with pytest.raises(ValueError, match="'not-there'"):
        update_index_folder(tmp_path / "index", tmp_path / "v3", delete=tmp_path / "unknown.txt")
    assert not (tmp_path / "v3").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".v3")]  # no temporary folder left


def test_a_partition_takes_only_its_own_ids(small, tmp_path):
    from tfsearch.embeddings.embedding_shards import partition_of, read_embeddings

    embeddings, ids, add, add_ids, delete_ids, _ = small
    whole = write_embedding_shards(tmp_path / "all", ids, embeddings, encoder_fingerprint="f1")
    # Partition 1 of 3, as `tfsearch index build --embeddings all --partition 1/3` makes it.
    part_ids, part_rows = read_embeddings(whole, partition=(1, 3))
    BruteForceIndex(k=10).index(part_rows, part_ids).save(
        tmp_path / "part", metadata={"encoder_fingerprint": "f1", "partition": {"index": 1, "count": 3}})
    shards = write_embedding_shards(tmp_path / "add", add_ids, add, encoder_fingerprint="f1")
    (tmp_path / "gone.txt").write_text("\n".join(delete_ids) + "\n")  # ids of every partition
    record = update_index_folder(tmp_path / "part", tmp_path / "v2", add=shards["folder"],
                                 delete=tmp_path / "gone.txt")
    mine = {i for i in add_ids + delete_ids if partition_of(i, 3) == 1}
    assert record["added"] + record["replaced"] + record["deleted"] == len(mine)
    assert record["other_partitions_skipped"] == {"delete": sum(partition_of(i, 3) != 1 for i in delete_ids)}
    # The result is partition 1 of the updated corpus: an update of the whole, then the same split.
    corpus = updated_corpus(ids, embeddings, add_ids, add, delete_ids)
    expected = sorted(i for i in corpus if partition_of(i, 3) == 1)
    assert sorted(load_index(tmp_path / "v2")[0].identifiers) == expected


def test_old_scann_folders_without_a_searcher_are_refused(clustered, tmp_path):
    import shutil

    embeddings, ids, _ = clustered
    ScannIndex(k=10, params=PARAMS).index(embeddings[:500], ids[:500]).save(tmp_path / "index")
    shutil.rmtree(tmp_path / "index" / "scann_searcher")  # as written before the searcher was kept
    loaded, _ = ScannIndex.load(tmp_path / "index")
    assert loaded.searcher_dir is None and loaded.exportable().num_documents == 500  # rebuilt, as before
    with pytest.raises(ValueError, match="rebuild it with `tfsearch index build`"):
        update_index(loaded, delete_ids=["doc1"])
