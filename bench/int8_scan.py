"""The int8 exact backend's scan in bfloat16 and in float32, against the float32 exact scan, on this machine.

`BruteForceIndex(quantization="int8")` scans int8 codes for a shortlist and
re-scores it exactly; the scan multiplies in bfloat16 where the processor
computes it natively (AVX512-BF16, AMX-BF16) and in float32 elsewhere
(`tfsearch.index.brute_force_index.int8_scan_dtype`). This measures both
arithmetic paths (forced through `INT8_SCAN_DTYPE`) and the float32 index on
random unit vectors, checks that every path returns the float32 exact
results, and records what "auto" picks here.

Writes `bench/results/int8_scan.json` (atomically) and prints a summary.

Usage:
    python bench/int8_scan.py [--documents 100000] [--dim 384] [--queries 64] [--repeats 5] [--threads 2]
"""

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import RESULTS, import_tensorflow, machine_description, write_result  # noqa: E402


def measure(index, queries, k, repeats):
    """`(seconds per batch: median of repeats after one warm-up, (scores, positions))`."""
    import numpy as np

    result = index.top_k_positions(queries, k)  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = index.top_k_positions(queries, k)
        result[0].numpy()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)), (result[0].numpy(), result[1].numpy())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
    parser.add_argument("--output", default=str(RESULTS / "int8_scan.json"))
    args = parser.parse_args(argv)

    import_tensorflow(args.threads)
    import numpy as np

    from tfsearch.index import brute_force_index
    from tfsearch.index.brute_force_index import BruteForceIndex
    from tfsearch.utils.precision import choose_policy, cpu_flags

    rng = np.random.default_rng(0)
    documents = rng.standard_normal((args.documents, args.dim)).astype(np.float32)
    documents /= np.linalg.norm(documents, axis=1, keepdims=True)
    # Queries near documents, so that the top k stands out as with real embeddings.
    queries = documents[rng.choice(args.documents, args.queries, replace=False)] + \
        0.5 * rng.standard_normal((args.queries, args.dim)).astype(np.float32) / np.sqrt(args.dim)
    ids = [str(i) for i in range(args.documents)]

    exact_seconds, (exact_scores, exact_positions) = measure(BruteForceIndex(k=args.k).index(documents, ids),
                                                             queries, args.k, args.repeats)
    int8 = BruteForceIndex(k=args.k, quantization="int8").index(documents, ids)
    policy, reason = choose_policy(cpu_flags())
    results = {
        "documents": args.documents, "dim": args.dim, "queries": args.queries, "k": args.k,
        "shortlist": max(100, 10 * args.k), "threads": args.threads, "repeats": args.repeats,
        "machine": machine_description(),
        "auto_scan_dtype": brute_force_index.int8_scan_dtype("auto").name, "auto_reason": reason,
        "command": "python bench/int8_scan.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "float32_exact": {"ms_per_batch": round(exact_seconds * 1e3, 2),
                          "queries_per_second": round(args.queries / exact_seconds, 1)},
    }
    for dtype in ("float32", "bfloat16"):
        brute_force_index.INT8_SCAN_DTYPE = dtype
        try:
            seconds, (scores, positions) = measure(int8, queries, args.k, args.repeats)
        finally:
            brute_force_index.INT8_SCAN_DTYPE = "auto"
        results[f"int8_scan_{dtype}"] = {
            "ms_per_batch": round(seconds * 1e3, 2),
            "queries_per_second": round(args.queries / seconds, 1),
            "speedup_vs_float32_exact": round(exact_seconds / seconds, 2),
            "same_positions_as_float32_exact": bool((positions == exact_positions).all()),
            "same_scores_as_float32_exact": bool(np.array_equal(scores, exact_scores)),
        }
    results["bfloat16_over_float32_scan_speed"] = round(
        results["int8_scan_float32"]["ms_per_batch"] / results["int8_scan_bfloat16"]["ms_per_batch"], 2)
    write_result(args.output, results)
    for name in ("float32_exact", "int8_scan_float32", "int8_scan_bfloat16"):
        print(f"{name:20s} {results[name]['ms_per_batch']:8.2f} ms / {args.queries} queries", flush=True)
    print(f"auto scans in {results['auto_scan_dtype']} here ({reason}; auto precision {policy or 'float32'})")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
