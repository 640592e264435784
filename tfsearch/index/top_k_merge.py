"""Merging the top-k of index partitions into one top-k: what a client of N partition models does.

A corpus too large for one index is split by id into N partitions
(`tfsearch index build --embeddings SET --partition I/N`, with
`tfsearch.embeddings.embedding_shards.partition_of`), each exported and served
as its own model. A query goes to every partition; each answers its own top-k;
`merge_top_k` keeps the k best of the N lists. With exact search the merge is
the top-k of the whole corpus: a document in the global top-k is in its own
partition's top-k, since that partition holds fewer better documents.

The scores of different partitions are comparable because every partition is
built from the same shard set, embedded by one document encoder (the
manifest's `encoder_fingerprint`, recorded in each partition's `index.json`),
and queried with the same query encoder: they are inner products in one
embedding space. Do not merge partitions built from different shard sets.

This module needs numpy only, no TensorFlow and no other tfsearch module, so
that a client can use it where TensorFlow is not installed (importing it
through the `tfsearch.index` package does import TensorFlow; copy the file,
or load it by path, in such a client).
"""

import numpy as np

__all__ = ["merge_top_k"]


def _as_text(identifier):
    if identifier is None:
        return ""
    if isinstance(identifier, (bytes, np.bytes_)):
        return bytes(identifier).decode("utf-8")
    return str(identifier)


def _as_score(value):
    return float("-inf") if value is None else float(value)


def _rows(result, position):
    """`(scores [b, w] float32, ids [b, w] object)` of one partition's answer, padded to its widest row."""
    if isinstance(result, dict):
        result = (result["scores"], result["ids"])
    try:
        scores, ids = result
    except (TypeError, ValueError):
        raise ValueError(f"`results[{position}]` must be a pair (scores, ids) or a dict with 'scores' and 'ids', "
                         f"got {type(result).__name__}.") from None
    score_rows = [[_as_score(v) for v in np.ravel(np.asarray(row, dtype=object))] for row in scores]
    id_rows = [[_as_text(v) for v in np.ravel(np.asarray(row, dtype=object))] for row in ids]
    if len(score_rows) != len(id_rows) or any(len(s) != len(i) for s, i in zip(score_rows, id_rows)):
        raise ValueError(f"`results[{position}]`: scores and ids differ in shape "
                         f"({[len(s) for s in score_rows]} against {[len(i) for i in id_rows]}).")
    width = max((len(row) for row in score_rows), default=0)
    # float32, as the models score: a REST answer's decimal and a gRPC answer's float32 of one score then agree.
    padded_scores = np.full((len(score_rows), width), -np.inf, np.float32)
    padded_ids = np.full((len(id_rows), width), "", dtype=object)
    for row, (s, i) in enumerate(zip(score_rows, id_rows)):
        padded_scores[row, :len(s)] = s
        padded_ids[row, :len(i)] = i
    return padded_scores, padded_ids


def merge_top_k(results, k):
    """The `k` best results of each query over several partitions' top-k lists, best first.

    Args:
        results: list, in partition order, of each partition's answer for the
            same `b` queries: `(scores, ids)` with `scores` float `[b, k_i]`
            (best first) and `ids` `[b, k_i]` of str, as
            `BruteForceIndex.search` / `ScannIndex.search` return them (numpy
            scores, list of lists of ids), or the same as TensorFlow Serving
            answers: REST `:predict` outputs (nested lists, `{"scores": ...,
            "ids": ...}` dicts accepted, a null score is -inf) or gRPC tensors
            through `tf.make_ndarray` (ids as bytes, decoded as UTF-8).
            `k_i` may differ between partitions and be below `k`, and rows may
            be ragged (ScaNN can return fewer than asked); a slot with score
            -inf, NaN or null, or with an empty id, is padding and ignored.
            Scores are compared as float32 (what the indexes compute), so
            the same score answered over REST (a decimal) and over gRPC (a
            float32) ties.
        k: int >= 1. Results per query.

    Returns:
        `(scores, ids)`: float32 numpy `[b, k]` and a list of `b` lists of `k`
        str, best first. Where fewer than `k` results were found in all the
        partitions together, the remaining slots hold score -inf and id ""
        (as an export's padding). Equal scores keep the partition order, then
        each partition's rank (a stable sort), so the merge is deterministic.
        An id answered by more than one partition (not possible for
        partitions of one shard set) is kept once, at its best place.

    Raises:
        ValueError: no results, partitions answering different numbers of
            queries, scores and ids of different shapes, or `k` < 1.

    Example:
    ```python
    part0 = (np.array([[0.9, 0.5]]), [["a", "b"]])
    part1 = (np.array([[0.7, -np.inf]]), [["c", ""]])   # one result, then padding
    merge_top_k([part0, part1], k=3)
    # (array([[0.9, 0.7, 0.5]], dtype=float32), [["a", "c", "b"]])
    ```
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"`k` must be an integer >= 1, got {k!r}.")
    if not results:
        raise ValueError("`results` is empty: merge the answers of at least one partition.")
    parts = [_rows(result, position) for position, result in enumerate(results)]
    sizes = {len(scores) for scores, _ in parts}
    if len(sizes) != 1:
        raise ValueError(f"The partitions answered different numbers of queries: "
                         f"{[len(scores) for scores, _ in parts]}.")
    num_queries = sizes.pop()
    scores = np.concatenate([s for s, _ in parts], axis=1)  # [b, sum k_i], partition order then rank
    ids = np.concatenate([i for _, i in parts], axis=1)
    valid = (scores > -np.inf) & (ids != "")  # NaN compares False
    ranked = np.where(valid, scores, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")  # descending; ties keep their column order
    merged_scores = np.full((num_queries, int(k)), -np.inf, np.float32)
    merged_ids = []
    for row in range(num_queries):
        kept, seen = [], set()
        for column in order[row]:
            if len(kept) == k or not valid[row, column]:
                break
            if ids[row, column] not in seen:
                seen.add(ids[row, column])
                kept.append(column)
        merged_scores[row, :len(kept)] = scores[row, kept]
        merged_ids.append([ids[row, c] for c in kept] + [""] * (int(k) - len(kept)))
    return merged_scores, merged_ids
