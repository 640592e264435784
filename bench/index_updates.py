"""Recall drift of a ScaNN index under live updates (pybind upsert/delete), without and with a rebalance.

What `REBALANCE_FRACTION` (tfsearch/index/index_updates.py, `rebalance="auto"`)
is chosen from. Synthetic clustered unit vectors (100 overlapping Gaussian
clusters, noise `--noise` around each centre). An update of a fraction f of
the documents replaces 0.6 f of them and inserts 0.2 f, both with vectors of a
shifted distribution (half of the clusters move: new topics; `--no-shift`
keeps the indexed distribution), and deletes 0.2 f. Measured: recall@10
against exact search, on 250 queries of each distribution, of the updated
index (partitions kept), of a fresh build over the same corpus, and of the
updated index rebalanced; means over `--seeds` builds. `drift` is fresh minus
updated: how much recall an update costs while the tree is not retrained.

Writes `bench/results/index_updates.json`, atomically.

Usage:
    python bench/index_updates.py [--documents 20000] [--dim 64] [--fractions 0.05,0.1,0.2,0.3,0.5] [--seeds 3]
"""

import argparse
import dataclasses
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import RESULTS, import_tensorflow, machine_description, write_result  # noqa: E402

K = 10
CENTRES = 100


def sample(rng, centres, n, noise):
    x = centres[rng.integers(0, len(centres), n)] + noise * rng.normal(size=(n, centres.shape[1]))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def recall(index, ids, rows, queries):
    from tfsearch.index.scann_tuning import exact_neighbours, recall_at_k

    position = {i: r for r, i in enumerate(ids)}
    _, found = index.search(queries, K)
    return recall_at_k([[position[i] for i in row] for row in found], exact_neighbours(rows, queries, K))


def one_run(fraction, seed, args):
    """recall of the updated, fresh and rebalanced indexes, and the seconds of each step, for one seed."""
    from tfsearch.index import ScannIndex
    from tfsearch.index.index_updates import update_index
    from tfsearch.index.scann_tuning import default_scann_params

    rng = np.random.default_rng(seed)
    old_centres = rng.normal(size=(CENTRES, args.dim))
    new_centres = old_centres.copy()
    if args.shift:
        new_centres[: CENTRES // 2] = rng.normal(size=(CENTRES // 2, args.dim))
    x, ids = sample(rng, old_centres, args.documents, args.noise), [f"d{i}" for i in range(args.documents)]
    params = default_scann_params(args.documents, K)
    index = ScannIndex(k=K, params=params).index(x, ids)
    m = int(fraction * args.documents)
    chosen = [ids[i] for i in rng.permutation(args.documents)[: int(0.8 * m)]]
    replaced, deleted = chosen[: int(0.6 * m)], chosen[int(0.6 * m):]
    add_ids = replaced + [f"n{i}" for i in range(m - len(chosen))]
    add = sample(rng, new_centres, len(add_ids), args.noise)
    start = time.perf_counter()
    updated, _ = update_index(index, add_ids, add, deleted, rebalance="never")
    update_seconds = time.perf_counter() - start
    start = time.perf_counter()
    rebalanced, _ = update_index(updated, rebalance="always")
    rebalance_seconds = time.perf_counter() - start
    corpus = dict(zip(ids, x))
    corpus.update(zip(add_ids, add))
    for i in deleted:
        del corpus[i]
    new_ids, rows = list(corpus), np.stack(list(corpus.values()))
    queries = np.concatenate([sample(rng, old_centres, 250, args.noise), sample(rng, new_centres, 250, args.noise)])
    start = time.perf_counter()
    fresh = ScannIndex(k=K, params=params).index(rows, new_ids)
    fresh_seconds = time.perf_counter() - start
    return {"recall_before": recall(index, ids, x, queries[:250]),
            "recall_updated": recall(updated, new_ids, rows, queries),
            "recall_fresh": recall(fresh, new_ids, rows, queries),
            "recall_rebalanced": recall(rebalanced, new_ids, rows, queries),
            "update_seconds": update_seconds, "rebalance_seconds": rebalance_seconds,
            "fresh_build_seconds": fresh_seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--noise", type=float, default=1.2)
    parser.add_argument("--no-shift", dest="shift", action="store_false",
                        help="updates from the indexed distribution itself")
    parser.add_argument("--fractions", default="0.05,0.1,0.2,0.3,0.5")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(RESULTS / "index_updates.json"))
    args = parser.parse_args()
    import_tensorflow(args.threads)
    from tfsearch.index.index_updates import REBALANCE_FRACTION
    from tfsearch.index.scann_tuning import default_scann_params

    points = []
    for fraction in (float(f) for f in args.fractions.split(",")):
        runs = [one_run(fraction, seed, args) for seed in range(args.seeds)]
        mean = {key: float(np.mean([run[key] for run in runs])) for key in runs[0]}
        point = {"updated_fraction": fraction,
                 **{key: round(value, 4 if key.startswith("recall") else 2) for key, value in mean.items()},
                 "drift": round(mean["recall_fresh"] - mean["recall_updated"], 4)}
        points.append(point)
        print(point, flush=True)
    result = {
        "machine": machine_description(),
        "threads": args.threads,
        "k": K,
        "documents": args.documents,
        "dim": args.dim,
        "data": f"{CENTRES} Gaussian clusters, noise {args.noise}, unit vectors; updates from "
                + ("a shifted distribution (half the clusters moved)" if args.shift else "the same distribution"),
        "seeds": args.seeds,
        "params": dataclasses.asdict(default_scann_params(args.documents, K)),
        "rebalance_fraction": REBALANCE_FRACTION,
        "points": points,
    }
    write_result(args.output, result)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
