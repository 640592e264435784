"""Diversity re-ranking speed: the XLA-compiled layer vs numpy MMR, same inputs, same run.

For each candidate count n (default 100 and 1,000), on a batch of 1,000
queries with k = 10, embedding dimension 384 and a per-query diversity drawn
uniformly from [0, 1], times:
- `layer_xla`: `tfsearch.layers.DiversityReranker(method="mmr")` under
  `tf.function(jit_compile=True)`, the whole batch in one call (compilation
  timed separately), and one query per call (serving latency);
- `numpy_langchain`: the formulation LangChain's `maximal_marginal_relevance`
  uses: at every step, cosine similarities of all candidates to the whole
  selected set are recomputed (norms included), then a Python loop over the
  candidates takes the best MMR value;
- `numpy_vectorised`: the same recomputation, with the loop vectorised per step;
- `numpy_running_max`: numpy with the layer's running-maximum formulation.
The numpy versions run one query at a time with one BLAS thread (as the issue
specifies); TensorFlow uses `--tf-threads` (default: all cores).
Every method must select exactly the same candidates as the layer; mismatches
are counted and reported.

Candidates are drawn around each query (unit vectors at a spread typical of
retrieved lists), relevance scores are their cosine with the query.

Writes `bench/results/rerank.json` (atomically) and prints a table.

Usage:
    python bench/rerank.py [--queries 1000] [--candidates 100 1000] [--repeats 5] [--tf-threads N]
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread for numpy, before numpy loads
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import RESULTS, import_tensorflow, machine_description, write_result  # noqa: E402


# --- numpy baselines (one query at a time) -------------------------------------


def cosine_similarity(x, y):
    """Row-wise cosine matrix, recomputing norms, as LangChain's helper does."""
    x_norm = np.linalg.norm(x, axis=1)
    y_norm = np.linalg.norm(y, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        similarity = np.dot(x, y.T) / np.outer(x_norm, y_norm)
    similarity[np.isnan(similarity) | np.isinf(similarity)] = 0.0
    return similarity


def mmr_langchain(embeddings, scores, diversity, k):
    """Recompute similarities to the selected set every step; loop over candidates."""
    relevance_weight = 1.0 - diversity
    selected = [int(np.argmax(scores))]
    while len(selected) < min(k, len(scores)):
        best_score, best = -np.inf, -1
        similarity_to_selected = cosine_similarity(embeddings, embeddings[selected])
        for i, score in enumerate(scores):
            if i in selected:
                continue
            redundancy = max(similarity_to_selected[i])
            value = relevance_weight * score - diversity * redundancy
            if value > best_score:
                best_score, best = value, i
        selected.append(best)
    return selected


def mmr_vectorised(embeddings, scores, diversity, k):
    """Recompute similarities to the selected set every step, vectorised per step."""
    selected = [int(np.argmax(scores))]
    while len(selected) < min(k, len(scores)):
        redundancy = cosine_similarity(embeddings, embeddings[selected]).max(axis=1)
        values = (1.0 - diversity) * scores - diversity * redundancy
        values[selected] = -np.inf
        selected.append(int(np.argmax(values)))
    return selected


def mmr_running_max(embeddings, scores, diversity, k):
    """Running maximum of each candidate's similarity to the selected set."""
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    selected = [int(np.argmax(scores))]
    redundancy = unit @ unit[selected[0]]
    while len(selected) < min(k, len(scores)):
        values = (1.0 - diversity) * scores - diversity * redundancy
        values[selected] = -np.inf
        pick = int(np.argmax(values))
        selected.append(pick)
        np.maximum(redundancy, unit @ unit[pick], out=redundancy)
    return selected


BASELINES = {
    "numpy_langchain": mmr_langchain,
    "numpy_vectorised": mmr_vectorised,
    "numpy_running_max": mmr_running_max,
}


# --- inputs ----------------------------------------------------------------------


def make_inputs(num_queries, num_candidates, dim, seed):
    """Candidates scattered around their query, as a retriever's top n would be."""
    rng = np.random.default_rng(seed)
    queries = rng.normal(size=(num_queries, 1, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=-1, keepdims=True)
    noise = rng.normal(size=(num_queries, num_candidates, dim)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=-1, keepdims=True)
    spread = rng.uniform(0.8, 1.6, size=(num_queries, num_candidates, 1)).astype(np.float32)
    embeddings = queries + spread * noise
    embeddings /= np.linalg.norm(embeddings, axis=-1, keepdims=True)
    scores = np.einsum("qnd,qd->qn", embeddings, queries[:, 0])
    order = np.argsort(-scores, axis=1, kind="stable")  # retrieval order
    embeddings = np.take_along_axis(embeddings, order[:, :, None], axis=1)
    scores = np.take_along_axis(scores, order, axis=1)
    diversity = rng.uniform(0.0, 1.0, size=num_queries).astype(np.float32)
    return embeddings, scores, diversity


# --- timing ----------------------------------------------------------------------


def time_layer(embeddings, scores, diversity, k, repeats, single_queries):
    import tensorflow as tf

    from tfsearch.layers import DiversityReranker

    layer = DiversityReranker(k=k, method="mmr")

    @tf.function(jit_compile=True)
    def rerank(e, s, d):
        return layer(e, s, diversity=d)

    e, s, d = tf.constant(embeddings), tf.constant(scores), tf.constant(diversity)
    start = time.perf_counter()
    positions = rerank(e, s, d)[0].numpy()
    compile_seconds = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        rerank(e, s, d)[0].numpy()
        times.append(time.perf_counter() - start)

    rerank(e[:1], s[:1], d[:1])  # compile for a batch of one
    single = []
    for q in range(min(single_queries, len(scores))):
        one = (e[q : q + 1], s[q : q + 1], d[q : q + 1])
        start = time.perf_counter()
        rerank(*one)[0].numpy()
        single.append(time.perf_counter() - start)
    return positions, {
        "batch_seconds_median": float(np.median(times)),
        "batch_seconds_min": float(np.min(times)),
        "batch_seconds_all": [round(t, 5) for t in times],
        "ms_per_query": float(np.median(times)) / len(scores) * 1e3,
        "compile_seconds": round(compile_seconds, 2),
        "single_query_ms_p50": float(np.percentile(np.asarray(single) * 1e3, 50)),
        "single_query_ms_p90": float(np.percentile(np.asarray(single) * 1e3, 90)),
    }


def divergence(embeddings, scores, diversity, got, want):
    """Where two selections first differ, and the float64 MMR gap between the two picks there."""
    unit = embeddings.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    scores = scores.astype(np.float64)
    for step, (a, b) in enumerate(zip(got, want)):
        if a != b:
            selected = list(want[:step])
            def value(i):
                if not selected:
                    return scores[i]
                return (1 - diversity) * scores[i] - diversity * max(unit[i] @ unit[j] for j in selected)
            return {"step": step, "layer_pick": int(a), "numpy_pick": int(b),
                    "float64_gap": abs(value(a) - value(b))}
    return None


def time_baseline(fn, embeddings, scores, diversity, k, expected, max_queries):
    count = min(max_queries, len(scores))
    picks = []
    start = time.perf_counter()
    for q in range(count):
        picks.append(fn(embeddings[q], scores[q], float(diversity[q]), k))
    seconds = time.perf_counter() - start
    differences = [
        {"query": q, **divergence(embeddings[q], scores[q], float(diversity[q]), list(expected[q]), list(p))}
        for q, p in enumerate(picks) if list(p) != list(expected[q])
    ]
    return {
        "queries_timed": count,
        "ms_per_query": seconds / count * 1e3,
        "batch_seconds_estimate": seconds / count * len(scores),
        "queries_with_different_selection": len(differences),
        # A difference is a float tie when the two picks' MMR values agree to rounding.
        "differences": differences,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--candidates", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of the layer's batch (median kept)")
    parser.add_argument("--single-queries", type=int, default=200, help="one-query calls timed for latency")
    parser.add_argument("--baseline-queries", type=int, default=1000,
                        help="queries run through each numpy baseline (all, by default)")
    parser.add_argument("--tf-threads", type=int, default=0, help="TensorFlow threads (0: TensorFlow's default)")
    parser.add_argument("--output", default=str(RESULTS / "rerank.json"))
    args = parser.parse_args(argv)

    import_tensorflow(args.tf_threads)  # 0: TensorFlow's default

    results = {
        "machine": {**machine_description(), "numpy_blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
                    "tf_threads": args.tf_threads or "default"},
        "settings": {"queries": args.queries, "dim": args.dim, "k": args.k, "diversity": "uniform [0, 1] per query"},
        "runs": [],
    }
    for n in args.candidates:
        embeddings, scores, diversity = make_inputs(args.queries, n, args.dim, seed=n)
        positions, layer = time_layer(embeddings, scores, diversity, args.k, args.repeats, args.single_queries)
        run = {"candidates": n, "layer_xla": layer, "baselines": {}}
        print(f"\nn = {n}: layer {layer['batch_seconds_median'] * 1e3:.1f} ms for {args.queries} queries "
              f"({layer['ms_per_query']:.4f} ms/query; one query per call p50 {layer['single_query_ms_p50']:.2f} ms; "
              f"compile {layer['compile_seconds']} s)", flush=True)
        for name, fn in BASELINES.items():
            baseline = time_baseline(fn, embeddings, scores, diversity, args.k, positions, args.baseline_queries)
            baseline["speedup_of_layer"] = baseline["ms_per_query"] / layer["ms_per_query"]
            run["baselines"][name] = baseline
            gaps = [d["float64_gap"] for d in baseline["differences"]]
            print(f"  {name:<18} {baseline['ms_per_query']:.3f} ms/query  layer is "
                  f"{baseline['speedup_of_layer']:.1f}x faster  different selections: "
                  f"{baseline['queries_with_different_selection']}/{baseline['queries_timed']}"
                  + (f" (largest MMR gap between the two picks: {max(gaps):.1e})" if gaps else ""), flush=True)
        results["runs"].append(run)

    write_result(args.output, results)
    print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
