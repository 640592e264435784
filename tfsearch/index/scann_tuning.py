"""ScaNN parameters: defaults that scale with the corpus, and tuning to a recall target."""

import dataclasses
import math
import time

import numpy as np

# The recall@k target of a ScaNN build given no judged queries to check nDCG@10
# on: the lowest target measured to keep SciFact's nDCG@10 within 0.005 of exact
# search in all nine builds of three runs (`python bench/scann_target.py`,
# bench/results/scann_target.json, docs/benchmarks.md). 0.95 lost up to 0.029.
DEFAULT_TARGET_RECALL = 0.99


@dataclasses.dataclass
class ScannParams:
    """Parameters of a ScaNN searcher (tree partitioning + asymmetric hashing + re-ordering).

    Attributes:
        num_leaves: partitions of the corpus (k-means tree).
        num_leaves_to_search: partitions scored per query.
        num_reordering_candidates: candidates re-scored exactly (None: no re-ordering).
        dimensions_per_block: asymmetric-hashing quantisation: dimensions per
            4-bit code (2 is ScaNN's default; higher compresses more).
        training_iterations: k-means iterations building the tree.
    """

    num_leaves: int
    num_leaves_to_search: int
    num_reordering_candidates: int = None
    dimensions_per_block: int = 2
    training_iterations: int = 12


def default_scann_params(num_documents, k=10):
    """Starting parameters for a corpus of `num_documents` (a few thousand to tens of millions).

    `num_leaves` ~ sqrt(n) (ScaNN's guidance: leaves of about sqrt(n) points),
    searching about 5% of them (at least 2), and re-ordering `max(100, 10 k)`
    candidates exactly.

    Example:
    ```python
    default_scann_params(1_000_000)
    # ScannParams(num_leaves=1000, num_leaves_to_search=50, num_reordering_candidates=100, ...)
    ```
    """
    if num_documents < 1:
        raise ValueError(f"`num_documents` must be positive, got {num_documents}.")
    num_leaves = max(1, min(num_documents, int(round(math.sqrt(num_documents)))))
    return ScannParams(
        num_leaves=num_leaves,
        num_leaves_to_search=max(1, min(num_leaves, max(2, int(math.ceil(0.05 * num_leaves))))),
        num_reordering_candidates=max(100, 10 * k),
    )


@dataclasses.dataclass
class TuningPoint:
    """One measured setting: recall@k against exact search and batched queries per second."""

    num_leaves_to_search: int
    num_reordering_candidates: int
    dimensions_per_block: int
    recall: float
    queries_per_second: float


@dataclasses.dataclass
class TuningReport:
    """What `tune_scann` measured and chose."""

    target_recall: float
    k: int
    num_queries: int
    num_leaves: int
    chosen: TuningPoint
    target_met: bool
    points: list
    build_seconds: float

    def to_dict(self):
        return dataclasses.asdict(self)


def release_freed_memory():
    """Returns memory freed by ScaNN's C++ searchers to the OS (glibc keeps it otherwise), so that
    the next build does not stack on top of the last one. A no-op where glibc is not the allocator."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def exact_neighbours(embeddings, queries, k, batch_size=None):
    """Positions of the exact top `k` by inner product, `[num_queries, k]` (numpy).

    Queries are scored in batches of at most 2^26 scores (256 MB) unless
    `batch_size` says otherwise.
    """
    embeddings = np.asarray(embeddings, np.float32)
    batch_size = batch_size or max(1, (1 << 26) // max(1, len(embeddings)))
    result = []
    for start in range(0, len(queries), batch_size):
        scores = np.asarray(queries[start : start + batch_size], np.float32) @ embeddings.T
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        result.append(np.take_along_axis(top, order, axis=1))
    return np.concatenate(result)


def recall_at_k(found, exact):
    """Mean fraction of the exact top k found, `found` and `exact` `[num_queries, k]`."""
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)]))


def tune_scann(embeddings, queries, k=10, target_recall=DEFAULT_TARGET_RECALL, num_leaves=None,
               dimensions_per_block=(2,), leaves_to_search=None, reordering=None, progress=False, exact=None):
    """Chooses ScaNN parameters reaching `target_recall` at the highest throughput.

    Builds one ScaNN searcher (pybind API, the same algorithm as the TF op) per
    quantisation setting and measures every (leaves to search, re-ordering size)
    point on the sample queries, batched, against exact search.

    Args:
        embeddings: `[num_documents, dim]` float32.
        queries: `[num_queries, dim]` sample queries (a few hundred suffice).
        k: int. Recall is recall@k.
        target_recall: float in (0, 1] (default `DEFAULT_TARGET_RECALL`).
        num_leaves: int or None (`default_scann_params`).
        dimensions_per_block: quantisation settings to try.
        leaves_to_search: leaves-to-search values to try, or None (a geometric
            grid from 1 to all the leaves).
        reordering: re-ordering sizes to try, or None (`k` to `50 k`).
        progress: bool. Print each point.
        exact: the queries' exact top-k positions if already computed
            (`exact_neighbours`), or None.

    Returns:
        `(ScannParams, TuningReport)`. When no point reaches the target, the
        most accurate one is chosen and `report.target_met` is False.
    """
    import scann

    embeddings = np.ascontiguousarray(embeddings, np.float32)
    queries = np.ascontiguousarray(queries, np.float32)
    num_documents = len(embeddings)
    k = min(k, num_documents)
    defaults = default_scann_params(num_documents, k)
    num_leaves = num_leaves or defaults.num_leaves
    if leaves_to_search is None:
        leaves_to_search = sorted({max(1, min(num_leaves, int(round(v))))
                                   for v in np.geomspace(1, num_leaves, num=12)})
    if reordering is None:
        reordering = sorted({min(num_documents, r) for r in (k, 2 * k, 5 * k, 10 * k, 20 * k, 50 * k)})
    exact = exact_neighbours(embeddings, queries, k) if exact is None else np.asarray(exact)

    points, build_seconds = [], 0.0
    for block in dimensions_per_block:
        start = time.perf_counter()
        searcher = (
            scann.scann_ops_pybind.builder(embeddings, k, "dot_product")
            # Built as tfrs' ScaNN layer builds it, so that the layer gets the same tree.
            .tree(num_leaves=num_leaves, num_leaves_to_search=max(leaves_to_search),
                  training_iterations=defaults.training_iterations)
            .score_ah(block)
            .reorder(max(reordering))
            .build()
        )
        build_seconds += time.perf_counter() - start
        for leaves in leaves_to_search:
            for reorder in reordering:
                searcher.search_batched_parallel(queries[:8], k, reorder, leaves)  # warm-up
                start = time.perf_counter()
                found, _ = searcher.search_batched_parallel(queries, k, reorder, leaves)
                seconds = time.perf_counter() - start
                point = TuningPoint(leaves, reorder, block, recall_at_k(np.asarray(found), exact),
                                    len(queries) / max(seconds, 1e-9))
                points.append(point)
                if progress:
                    print(f"  leaves {leaves:>5} reorder {reorder:>5} block {block}: recall@{k} "
                          f"{point.recall:.4f}, {point.queries_per_second:,.0f} queries/s", flush=True)
        del searcher
        release_freed_memory()

    reaching = [p for p in points if p.recall >= target_recall]
    if reaching:
        chosen = max(reaching, key=lambda p: (p.queries_per_second, p.recall))
    else:
        chosen = max(points, key=lambda p: (p.recall, p.queries_per_second))
    params = ScannParams(num_leaves=num_leaves, num_leaves_to_search=chosen.num_leaves_to_search,
                         num_reordering_candidates=chosen.num_reordering_candidates,
                         dimensions_per_block=chosen.dimensions_per_block)
    report = TuningReport(target_recall=target_recall, k=k, num_queries=len(queries), num_leaves=num_leaves,
                          chosen=chosen, target_met=bool(reaching), points=points,
                          build_seconds=round(build_seconds, 2))
    return params, report


def format_tuning_report(report):
    """One line saying what a ScaNN build chose and reached (printed by `tfsearch index build`).

    Args:
        report: dict, the report of `build_index(..., backend="scann")`:
            `TuningReport.to_dict()` with `built`, one entry per searcher built
            (the last is the index's).

    Returns:
        str: the leaves, leaves searched and re-ordering size of the index,
        its recall@k on the tuning queries, the tuning searcher's recall and
        throughput, and whether the target was missed.

    Example:
    ```python
    format_tuning_report({"num_leaves": 72, "k": 10, "target_recall": 0.95,
                          "chosen": {"recall": 0.96, "queries_per_second": 12345.0},
                          "built": [{"num_leaves_to_search": 4, "num_reordering_candidates": 100, "recall": 0.955}]})
    # "ScaNN: 72 leaves, searching 4, re-ordering 100; recall@10 on the tuning queries 0.9550
    #  (tuning searcher: 0.9600 at 12,345 queries/s batched)"
    ```
    """
    chosen, built = report["chosen"], report["built"][-1]
    return (f"ScaNN: {report['num_leaves']} leaves, searching {built['num_leaves_to_search']}, re-ordering "
            f"{built['num_reordering_candidates']}; recall@{report['k']} on the tuning queries "
            f"{built['recall']:.4f} (tuning searcher: {chosen['recall']:.4f} at "
            f"{chosen['queries_per_second']:,.0f} queries/s batched)"
            + ("" if built["recall"] >= report["target_recall"] else f"; target {report['target_recall']} not reached"))
