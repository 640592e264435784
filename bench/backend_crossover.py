"""The corpus size from which tuned ScaNN beats exact search by a margin: `backend="auto"`'s threshold.

Synthetic unit vectors of dimension 384 from a Gaussian mixture with 1,000
centres (bench/ann.py's `gaussian_mixture`: closer to text embeddings than
uniform vectors), the corpus of each size a prefix of one draw. At each size:

- exact: `BruteForceIndex` float32 (TensorFlow matmul + top_k);
- ScaNN: `build_index(backend="scann")` at the default target
  (`DEFAULT_TARGET_RECALL`), tuned on 256 other queries from the mixture;

both timed on 64-query batches (the ids looked up in-graph, as served), at
least 3 batches and 1.5 s each. The crossover is the smallest size from which
ScaNN's queries/s are at least `MARGIN` times exact's at every larger size
measured: ScaNN gives up exactness, takes a build and tuning of seconds to
minutes where exact takes none, and needs a TensorFlow Serving build with its
ops, and on 2 shared cores timings move by 20-30 % between runs, so a ratio
under about 1.5 would be noise; 2x is a clear win worth those costs.

Writes `bench/results/backend_crossover.json`, atomically.

Usage:
    python bench/backend_crossover.py [--sizes 10000,30000,100000,300000] [--threads 2]
"""

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from ann import gaussian_mixture  # noqa: E402
from bench_common import RESULTS, import_tensorflow, machine_description, write_result  # noqa: E402

K = 10
BATCH = 64
MARGIN = 2.0


def queries_per_second(search, queries, min_batches=3, min_seconds=1.5):
    """Batched throughput of `search` over 64-query batches (after one warm-up batch)."""
    batches = [queries[i : i + BATCH] for i in range(0, len(queries) - BATCH + 1, BATCH)]
    search(batches[0])
    done, start = 0, time.perf_counter()
    while done < min_batches or time.perf_counter() - start < min_seconds:
        search(batches[done % len(batches)])
        done += 1
    return done * BATCH / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,30000,100000,300000")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(RESULTS / "backend_crossover.json"))
    args = parser.parse_args()
    tf = import_tensorflow(args.threads)

    from tfsearch.index.brute_force_index import BruteForceIndex
    from tfsearch.index.index_building import AUTO_SCANN_MIN_DOCUMENTS, build_index
    from tfsearch.index.scann_tuning import DEFAULT_TARGET_RECALL, exact_neighbours, recall_at_k

    sizes = sorted(int(s) for s in args.sizes.split(","))
    pool, queries = gaussian_mixture(max(sizes), 256 + 640, seed=0)
    tuning, timing = queries[:256], queries[256:]
    points = []
    for n in sizes:
        docs, ids = pool[:n], [str(i) for i in range(n)]
        exact_index = BruteForceIndex(k=K).index(docs, ids)
        exact_qps = queries_per_second(lambda q: exact_index(tf.constant(q), K), timing)
        del exact_index
        start = time.perf_counter()
        index, report = build_index(docs, ids, backend="scann", k=K, target_recall=DEFAULT_TARGET_RECALL,
                                    tuning_queries=tuning)
        build_seconds = time.perf_counter() - start
        scann_qps = queries_per_second(lambda q: index(tf.constant(q), K), timing)
        found = np.array([[int(i) for i in row] for row in index.search(timing, K)[1]])
        del index
        built = report["built"][-1]
        point = {"num_documents": n, "exact_qps": round(exact_qps), "scann_qps": round(scann_qps),
                 "ratio": round(scann_qps / exact_qps, 2),
                 "scann": {"num_leaves": report["num_leaves"], "num_leaves_to_search": built["num_leaves_to_search"],
                           "num_reordering_candidates": built["num_reordering_candidates"],
                           "tuning_recall": round(built["recall"], 4),
                           "recall_timing_queries": round(recall_at_k(found, exact_neighbours(docs, timing, K)), 4),
                           "build_and_tuning_seconds": round(build_seconds, 1)}}
        points.append(point)
        print(point, flush=True)
    crossover = None
    for i, point in enumerate(points):
        if all(p["ratio"] >= MARGIN for p in points[i:]):
            crossover = point["num_documents"]
            break
    result = {
        "machine": machine_description(),
        "threads": args.threads,
        "k": K,
        "batch": BATCH,
        "dim": 384,
        "data": "Gaussian mixture, 1,000 centres, unit vectors (bench/ann.py gaussian_mixture, seed 0)",
        "target_recall": DEFAULT_TARGET_RECALL,
        "margin": MARGIN,
        "points": points,
        "crossover_num_documents": crossover,
    }
    write_result(args.output, result)
    print(f"crossover (ScaNN >= {MARGIN}x exact from here on): {crossover}; "
          f"AUTO_SCANN_MIN_DOCUMENTS is {AUTO_SCANN_MIN_DOCUMENTS}; wrote {args.output}")


if __name__ == "__main__":
    main()
