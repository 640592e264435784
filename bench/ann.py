"""Approximate nearest neighbours: tfsearch's ScaNN and exact backends against Faiss HNSW.

Three distributions, each in one run on the same machine (`--distribution`, all by default):
(a) `mixture`: 1,000,000 unit vectors of dimension 384 drawn from a Gaussian
    mixture with 1,000 well-separated centres and isotropic noise (full intrinsic
    dimension), and 1,000 held-out queries from the same mixture;
(b) `text_like`: 1,000,000 unit vectors of dimension 384 from `text_like_mixture`:
    1,000 overlapping clusters, each spread in its own 20-dimensional subspace,
    centres on a 64-dimensional power-law latent, a shared mean direction;
    calibrated so that, drawn at SciFact's size, its nearest-neighbour cosines and
    PCA spectrum resemble SciFact's MiniLM embeddings (`neighbour_statistics`,
    reported for every distribution and, for the synthetic ones, at SciFact's size);
(c) `scifact`: the SciFact corpus embedded by all-MiniLM-L6-v2 (cached in
    bench/.cache after the first run) with its 300 test queries, where the
    nDCG@10 of `evaluate_retrieval` through each index is reported too.

For each backend and each point of its parameter sweep: recall@10 against exact
search, queries per second batched (all queries in one call) and one at a time
(a sample), and build time. Peak resident memory while building is sampled and
compared with the size of the raw float32 embeddings (the growth during the
build, beyond the input matrix the caller already holds).

- `tfsearch_exact`: `BruteForceIndex` (TensorFlow matmul + top_k);
- `tfsearch_exact_int8`: `BruteForceIndex(quantization="int8")` (int8 scan,
  exact re-scoring of a shortlist of 100);
- `tfsearch_scann`: `ScannIndex` (tfrs' ScaNN layer), one build, the sweep over
  leaves searched and re-ordering size by per-call overrides (the same TF op);
- `tfsearch_scann_tuned`: `build_index(..., backend="scann", target_recall=0.95)`,
  tuned on 500 other queries, then measured on the benchmark queries;
- `faiss_hnsw`: `faiss.IndexHNSWFlat(d, 32, METRIC_INNER_PRODUCT)`, sweep over efSearch.

Writes `bench/results/ann.json` and `bench/results/ann.png` (recall against
queries per second), atomically.

Usage:
    python bench/ann.py [--distribution mixture,text_like,scifact] [--num-documents 1000000] [--threads 2]
"""

import argparse
import gc
import json
import pathlib
import sys
import threading
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    CACHE,
    RESULTS,
    SCIFACT,
    cached_embeddings,
    import_tensorflow,
    machine_description,
    rss_bytes,
    write_result,
)

K = 10
DISTRIBUTIONS = ("mixture", "text_like", "scifact")


# --- memory ------------------------------------------------------------------------


class PeakMemory:
    """Samples resident memory every 50 ms inside a `with` block."""

    def __enter__(self):
        self.start = rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth(self):
        return self.peak - self.start


# --- data ----------------------------------------------------------------------------


def gaussian_mixture(num_documents, num_queries, dim=384, centres=1000, spread=0.6, seed=0):
    """Unit vectors: a random unit centre plus Gaussian noise of norm about `spread`, normalised."""
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, dim)).astype(np.float32)
    middle /= np.linalg.norm(middle, axis=1, keepdims=True)

    def draw(n):
        out = np.empty((n, dim), np.float32)
        for start in range(0, n, 100_000):  # bounded temporaries
            m = min(100_000, n - start)
            x = middle[rng.integers(0, centres, m)] + spread * rng.normal(size=(m, dim)).astype(np.float32) / np.sqrt(dim)
            out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    return draw(num_documents), draw(num_queries)


TEXT_LIKE = {"latent": 64, "alpha": 1.0, "span": 160, "local": 20, "centres": 1000, "width": 0.9,
             "width_sigma": 0.2, "noise": 0.15, "mean": 0.5, "query_noise": 1.3}


def text_like_mixture(num_documents, num_queries, dim=384, seed=0, **overrides):
    """Unit vectors with overlapping clusters of low local dimension, calibrated on SciFact's MiniLM embeddings.

    The model (its parameters are drawn first from `seed`, so every size shares them):
    `centres` cluster centres `m + A g`, with `g` a `latent`-dimensional Gaussian whose
    variances fall as `i ** -alpha` and `A` a random orthonormal `dim x latent` map, `m` a common
    direction of norm `mean` (text embeddings share one: a random pair's cosine is about 0.1);
    each point is its cluster's centre plus a Gaussian in the cluster's own random
    `local`-dimensional subspace (inside one `span`-dimensional subspace shared by all
    clusters), of scale `width` times a per-cluster log-normal factor (`width_sigma`), plus
    isotropic noise of norm about `noise`, then normalised. Clusters overlap (a document's
    10th neighbour is often in another cluster). Queries come from the same model with their
    spread and noise scaled by `query_noise` (SciFact's claims lie a little farther from their
    nearest abstracts than abstracts from each other). `TEXT_LIKE` holds the calibrated
    parameters; `neighbour_statistics` compares the result with SciFact's at SciFact's size.
    """
    p = dict(TEXT_LIKE, **overrides)
    rng = np.random.default_rng(seed)
    latent, local, centres = p["latent"], p["local"], p["centres"]
    a, _ = np.linalg.qr(rng.normal(size=(dim, latent)))
    scale = np.arange(1, latent + 1) ** (-p["alpha"] / 2)
    scale /= np.sqrt((scale ** 2).sum())
    middle = (rng.normal(size=(centres, latent)) * scale) @ a.T
    common = rng.normal(size=dim)
    middle += common * (p["mean"] / np.linalg.norm(common))
    span, _ = np.linalg.qr(rng.normal(size=(dim, p["span"])))
    basis = ((rng.normal(size=(centres, local, p["span"])) / np.sqrt(p["span"])) @ span.T).astype(np.float32)
    width = (p["width"] * np.exp(p["width_sigma"] * rng.normal(size=centres))).astype(np.float32)
    middle = middle.astype(np.float32)

    def draw(n, extra):
        out = np.empty((n, dim), np.float32)
        for start in range(0, n, 10_000):  # bounded temporaries (the gathered bases: 10,000 x local x dim)
            m = min(10_000, n - start)
            idx = rng.integers(0, centres, m)
            u = rng.normal(size=(m, local)).astype(np.float32) / np.sqrt(local)
            x = middle[idx] + (extra * width[idx])[:, None] * np.einsum("kl,kld->kd", u, basis[idx])
            x += extra * p["noise"] * rng.normal(size=(m, dim)).astype(np.float32) / np.sqrt(dim)
            out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    return draw(num_documents, 1.0), draw(num_queries, p["query_noise"])


def neighbour_statistics(docs, queries, k=K, sample=2000, seed=0):
    """What the calibration compares: nearest-neighbour cosines, the PCA spectrum, intrinsic dimension.

    - `query_top1` / `query_top10`: percentiles (10, 50, 90) of each query's highest and 10th
      highest cosine to the corpus;
    - `doc_top1` / `doc_top10`: the same for `sample` documents against the rest of the corpus;
    - `pca_cumulative`: the share of the variance in the first 1, 2, ..., 128 principal
      components (of `sample` * 10 documents at most), and `pca_dims_for_90pct`;
    - `participation_ratio`: (sum of the PCA variances)^2 / sum of their squares;
    - `twonn_dimension`: the TwoNN estimate of intrinsic dimension (Facco et al. 2017) from the
      distances to each sampled document's first and second neighbours;
    - `mean_norm`: the norm of the mean vector; `random_pair_cosine`: percentiles over random pairs.
    """
    rng = np.random.default_rng(seed)
    pct = lambda x: [round(float(v), 3) for v in np.percentile(x, [10, 50, 90])]  # noqa: E731

    def top(rows, exclude=None):
        out = np.empty((len(rows), k), np.float32)
        for start in range(0, len(rows), 100):
            scores = rows[start : start + 100] @ docs.T
            if exclude is not None:
                scores[np.arange(len(scores)), exclude[start : start + 100]] = -2.0
            part = np.partition(-scores, k, axis=1)[:, :k]
            out[start : start + 100] = -np.sort(part, axis=1)
        return out

    q = top(queries[:1000])
    picks = rng.choice(len(docs), min(sample, len(docs)), replace=False)
    d = top(docs[picks], exclude=picks)
    pca_rows = docs[rng.choice(len(docs), min(10 * sample, len(docs)), replace=False)].astype(np.float64)
    variance = np.linalg.svd(pca_rows - pca_rows.mean(0), compute_uv=False) ** 2
    cumulative = np.cumsum(variance) / variance.sum()
    r = np.sqrt(np.maximum(2 - 2 * d[:, :2].astype(np.float64), 1e-12))
    pairs = rng.integers(0, len(docs), (2000, 2))
    return {"num_documents": len(docs), "num_queries": int(min(len(queries), 1000)),
            "query_top1": pct(q[:, 0]), "query_top10": pct(q[:, k - 1]),
            "doc_top1": pct(d[:, 0]), "doc_top10": pct(d[:, k - 1]),
            "pca_cumulative": {str(n): round(float(cumulative[n - 1]), 3) for n in (1, 2, 4, 8, 16, 32, 64, 128)},
            "pca_dims_for_90pct": int(np.searchsorted(cumulative, 0.9) + 1),
            "participation_ratio": round(float(variance.sum() ** 2 / (variance ** 2).sum()), 1),
            "twonn_dimension": round(float(len(r) / np.sum(np.log(r[:, 1] / r[:, 0]))), 1),
            "mean_norm": round(float(np.linalg.norm(docs.mean(0))), 3),
            "random_pair_cosine": pct(np.einsum("ij,ij->i", docs[pairs[:, 0]], docs[pairs[:, 1]]))}


def exact_top_k(embeddings, queries, k=K, batch=100):
    out = np.empty((len(queries), k), np.int64)
    for start in range(0, len(queries), batch):
        scores = queries[start : start + batch] @ embeddings.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[start : start + batch] = np.take_along_axis(top, order, axis=1)
    return out


def recall(found, exact):
    return float(np.mean([len(set(map(int, f)) & set(map(int, e))) / len(e) for f, e in zip(found, exact)]))


def timed(fn, queries, single_sample):
    fn(queries[:16])  # warm-up (traces, allocations)
    start = time.perf_counter()
    found = fn(queries)
    batched = len(queries) / (time.perf_counter() - start)
    sample = queries[:single_sample]
    start = time.perf_counter()
    for q in range(len(sample)):
        fn(sample[q : q + 1])
    single = len(sample) / (time.perf_counter() - start)
    return found, batched, single


# --- backends ------------------------------------------------------------------------


def bench_exact(embeddings, queries, exact, single_sample, quantization=None):
    from tfsearch.index.brute_force_index import BruteForceIndex

    with PeakMemory() as memory:
        start = time.perf_counter()
        index = BruteForceIndex(k=K, quantization=quantization).index(embeddings,
                                                                      np.arange(len(embeddings)).astype(str))
        build = time.perf_counter() - start

    def search(q):
        return index.top_k_positions(q, K)[1].numpy()

    found, batched, single = timed(search, queries, single_sample)
    name = "tfsearch_exact" + ("" if quantization is None else f"_{quantization}")
    params = {} if quantization is None else {"quantization": quantization, "shortlist": max(100, 10 * K)}
    return [{"backend": name, "params": params, "recall": recall(found, exact), "qps_batched": batched,
             "qps_single": single, "build_seconds": build, "build_peak_bytes": memory.growth}]


def bench_scann_tuned(embeddings, queries, exact, single_sample, tuning_queries, target=0.95):
    """The auto-tuned build, as `tfsearch index build --backend scann` makes it."""
    from tfsearch.index.index_building import build_index

    ids = np.arange(len(embeddings)).astype(str)
    with PeakMemory() as memory:
        start = time.perf_counter()
        index, report = build_index(embeddings, ids, backend="scann", k=K, target_recall=target,
                                    tuning_queries=tuning_queries)
        build = time.perf_counter() - start
    del ids

    def search(q):
        return np.array([[int(i) for i in row] + [-1] * (K - len(row)) for row in index.search(q, K)[1]])

    found, batched, single = timed(search, queries, single_sample)
    built = report["built"][-1]
    point = {"backend": "tfsearch_scann_tuned",
             "params": {"num_leaves": report["num_leaves"], "leaves_to_search": built["num_leaves_to_search"],
                        "reorder": built["num_reordering_candidates"], "target_recall": target,
                        "tuning_recall": built["recall"], "rebuilds": len(report["built"]) - 1},
             "recall": recall(found, exact), "qps_batched": batched, "qps_single": single,
             "build_seconds": build, "build_peak_bytes": memory.growth}
    print(f"  scann auto-tuned for {target}: {point['params']}, recall {point['recall']:.4f}, "
          f"{batched:,.0f} qps batched, build {build:.0f} s", flush=True)
    return [point]


def bench_scann(embeddings, queries, exact, single_sample, leaves_grid, reorder_grid, params=None):
    import tensorflow as tf

    from tfsearch.index.scann_index import ScannIndex
    from tfsearch.index.scann_tuning import default_scann_params

    params = params or default_scann_params(len(embeddings), K)
    ids = np.arange(len(embeddings)).astype(str)
    with PeakMemory() as memory:
        start = time.perf_counter()
        index = ScannIndex(k=K, params=params).index(embeddings, ids)
        build = time.perf_counter() - start
    del ids
    gc.collect()
    points = []
    for leaves in [v for v in leaves_grid if v <= params.num_leaves]:
        for reorder in reorder_grid:
            def search(q, leaves=leaves, reorder=reorder):
                _, found = index(tf.constant(q), K, leaves_to_search=leaves, num_reordering_candidates=reorder)
                return np.array([[int(i) if i else -1 for i in row] for row in found.numpy()])  # "": not found

            found, batched, single = timed(search, queries, single_sample)
            points.append({"backend": "tfsearch_scann", "params": {"num_leaves": params.num_leaves,
                                                                    "leaves_to_search": leaves, "reorder": reorder},
                           "recall": recall(found, exact), "qps_batched": batched, "qps_single": single,
                           "build_seconds": build, "build_peak_bytes": memory.growth})
            print(f"  scann leaves {leaves:>4} reorder {reorder:>4}: recall {points[-1]['recall']:.4f} "
                  f"{batched:>10,.0f} qps batched {single:>8,.0f} single", flush=True)
    return points


def bench_faiss(embeddings, queries, exact, single_sample, ef_grid):
    import faiss

    with PeakMemory() as memory:
        start = time.perf_counter()
        index = faiss.IndexHNSWFlat(embeddings.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        index.add(embeddings)
        build = time.perf_counter() - start
    points = []
    for ef in ef_grid:
        index.hnsw.efSearch = ef

        def search(q):
            return index.search(q, K)[1]

        found, batched, single = timed(search, queries, single_sample)
        points.append({"backend": "faiss_hnsw", "params": {"M": 32, "efSearch": ef}, "recall": recall(found, exact),
                       "qps_batched": batched, "qps_single": single, "build_seconds": build,
                       "build_peak_bytes": memory.growth})
        print(f"  faiss efSearch {ef:>4}: recall {points[-1]['recall']:.4f} {batched:>10,.0f} qps batched "
              f"{single:>8,.0f} single", flush=True)
        if points[-1]["recall"] >= 0.995:  # larger efSearch only costs speed from here
            break
    return points


# --- summary ------------------------------------------------------------------------


def fastest_at(points, backend, target):
    reaching = [p for p in points if p["backend"] == backend and p["recall"] >= target]
    return max(reaching, key=lambda p: p["qps_batched"]) if reaching else None


def summarise(points, raw_bytes, target=0.95):
    scann = fastest_at(points, "tfsearch_scann", target)
    faiss_point = fastest_at(points, "faiss_hnsw", target)
    exact = fastest_at(points, "tfsearch_exact", 0.0)
    exact_int8 = fastest_at(points, "tfsearch_exact_int8", 0.0)
    tuned = fastest_at(points, "tfsearch_scann_tuned", 0.0)
    summary = {"target_recall": target, "scann": scann, "faiss_hnsw": faiss_point, "exact": exact,
               "exact_int8": exact_int8, "scann_tuned": tuned, "raw_embeddings_bytes": raw_bytes}
    if exact and exact_int8:
        summary["int8_vs_exact_qps"] = exact_int8["qps_batched"] / exact["qps_batched"]
    if tuned and faiss_point:
        summary["scann_tuned_vs_faiss_qps"] = tuned["qps_batched"] / faiss_point["qps_batched"]
    if tuned and exact:
        summary["scann_tuned_vs_exact_qps"] = tuned["qps_batched"] / exact["qps_batched"]
    if scann and faiss_point:
        summary["scann_vs_faiss_qps"] = scann["qps_batched"] / faiss_point["qps_batched"]
    if scann and exact:
        summary["scann_vs_exact_qps"] = scann["qps_batched"] / exact["qps_batched"]
    if scann:
        summary["scann_build_peak_over_raw"] = scann["build_peak_bytes"] / raw_bytes
        # With the input matrix itself (held by the caller through the build).
        summary["scann_build_peak_with_input_over_raw"] = 1 + scann["build_peak_bytes"] / raw_bytes
    if tuned:
        summary["scann_tuned_build_peak_over_raw"] = tuned["build_peak_bytes"] / raw_bytes
    # Where each method wins: every method's best batched QPS at the target, fastest first.
    at_target = {key: summary[key] for key in ("scann_tuned", "scann", "faiss_hnsw", "exact", "exact_int8")
                 if summary[key] and summary[key]["recall"] >= target}
    summary["qps_at_target"] = {key: p["qps_batched"] for key, p in at_target.items()}
    summary["ranking_at_target"] = sorted(at_target, key=lambda key: -at_target[key]["qps_batched"])
    summary["fastest_at_target"] = summary["ranking_at_target"][0] if at_target else None
    return summary


def run_dataset(name, embeddings, queries, args, leaves_grid, reorder_grid, ef_grid, tuning_queries):
    print(f"\n== {name}: {len(embeddings):,} x {embeddings.shape[1]}, {len(queries)} queries", flush=True)
    start = time.perf_counter()
    exact = exact_top_k(embeddings, queries)
    print(f"  ground truth in {time.perf_counter() - start:.1f} s", flush=True)
    points = bench_exact(embeddings, queries, exact, args.single_queries)
    gc.collect()  # each backend's index is freed before the next is built
    print(f"  exact: {points[0]['qps_batched']:,.0f} qps batched, {points[0]['qps_single']:,.0f} single", flush=True)
    points += bench_exact(embeddings, queries, exact, args.single_queries, quantization="int8")
    gc.collect()
    print(f"  exact int8: recall {points[-1]['recall']:.4f}, {points[-1]['qps_batched']:,.0f} qps batched, "
          f"{points[-1]['qps_single']:,.0f} single", flush=True)
    points += bench_scann(embeddings, queries, exact, args.single_queries, leaves_grid, reorder_grid)
    gc.collect()
    points += bench_scann_tuned(embeddings, queries, exact, args.single_queries, tuning_queries)
    gc.collect()
    points += bench_faiss(embeddings, queries, exact, args.single_queries, ef_grid)
    return {"name": name, "num_documents": len(embeddings), "dim": int(embeddings.shape[1]),
            "num_queries": len(queries), "points": points,
            "summary": summarise(points, embeddings.nbytes)}


def scifact_embeddings(data_dir):
    """SciFact corpus and test-query embeddings (all-MiniLM-L6-v2), cached."""
    from tfsearch.data.beir import BeirDataset
    from tfsearch.data.pipelines import corpus_dataset
    from tfsearch.models.batch_encoding import encode_dataset, encode_texts
    from tfsearch.models.bert_encoder import BertEncoder

    data = BeirDataset(data_dir)

    def compute():
        qrels = data.qrels("test")
        queries = data.queries()
        query_ids = [q for q in qrels if q in queries]
        encoder = BertEncoder.from_pretrained()
        doc_ids, docs = encode_dataset(encoder, corpus_dataset(data), total=data.count_documents(),
                                       description="encoding SciFact")
        return doc_ids, docs, query_ids, encode_texts(encoder, [queries[q].text for q in query_ids])

    doc_ids, docs, query_ids, query_embeddings = cached_embeddings(CACHE / "scifact_minilm", compute)
    return data, doc_ids, docs, query_ids, query_embeddings


def scifact_quality(data, doc_ids, docs, query_ids, query_embeddings, target):
    """nDCG@10 (SciFact test) through the exact index, the int8 one, and ScaNN tuned as the CLI tunes it.

    `tfsearch index build` tunes on the dataset's queries; here the test
    queries (recall against exact search only: no relevance judgement is used).
    """
    from tfsearch.eval.metrics import evaluate_run
    from tfsearch.eval.retrieval_evaluation import run_from_search
    from tfsearch.index.index_building import build_index

    qrels = data.qrels("test")
    out = {}
    for name, backend, quantization in (("exact", "brute_force", None), ("exact_int8", "brute_force", "int8"),
                                        ("scann", "scann", None)):
        index, report = build_index(docs, doc_ids, backend=backend, k=10, target_recall=target,
                                    tuning_queries=query_embeddings, quantization=quantization)
        scores, ranked = index.search(query_embeddings, k=10)
        out[name] = evaluate_run(qrels, run_from_search(query_ids, scores, ranked), ["nDCG@10", "R@10"])
        if report:
            out["scann_params"] = {"num_leaves": report["num_leaves"], **report["built"][-1]}
    out["ndcg_difference"] = out["scann"]["nDCG@10"] - out["exact"]["nDCG@10"]
    return out


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfsearch.utils.atomic import atomic_file

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.2), squeeze=False)
    styles = {"tfsearch_scann": ("o-", "tfsearch ScaNN"), "faiss_hnsw": ("s-", "Faiss HNSW32"),
              "tfsearch_exact": ("*", "tfsearch exact"), "tfsearch_exact_int8": ("P", "tfsearch exact int8"),
              "tfsearch_scann_tuned": ("D", "tfsearch ScaNN auto-tuned (0.95)")}
    for ax, result in zip(axes[0], results):
        for backend, (style, label) in styles.items():
            pts = sorted((p for p in result["points"] if p["backend"] == backend), key=lambda p: p["recall"])
            if backend == "tfsearch_scann":  # the best speed reached at each recall (Pareto front)
                front, best = [], 0.0
                for p in sorted(pts, key=lambda p: -p["recall"]):
                    if p["qps_batched"] > best:
                        front.append(p)
                        best = p["qps_batched"]
                pts = sorted(front, key=lambda p: p["recall"])
            ax.plot([p["recall"] for p in pts], [p["qps_batched"] for p in pts], style, label=label, markersize=5)
        ax.axvline(0.95, color="grey", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_xlabel("recall@10 against exact search")
        ax.set_ylabel("queries per second (batched, 2 threads)")
        ax.set_title(f"{result['name']}: {result['num_documents']:,} x {result['dim']}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_file(path, mode="wb") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)


def build_memory_only(args):
    """Peak memory of `build_index(backend="scann", target_recall=0.95)` (tuning and recall check included)."""
    from tfsearch.index.index_building import build_index

    embeddings, queries = gaussian_mixture(args.num_documents, args.num_queries + 500)
    ids = np.arange(len(embeddings)).astype(str)
    with PeakMemory() as memory:
        start = time.perf_counter()
        _, report = build_index(embeddings, ids, backend="scann", k=K, target_recall=0.95,
                                tuning_queries=queries[args.num_queries :])
        seconds = time.perf_counter() - start
    result = {"num_documents": len(embeddings), "raw_embeddings_bytes": embeddings.nbytes,
              "build_peak_bytes": memory.growth, "build_peak_over_raw": memory.growth / embeddings.nbytes,
              "build_seconds": seconds, "built": report["built"]}
    path = RESULTS / "ann_build_memory.json"
    write_result(path, result)
    print(f"auto-tuned ScaNN build: peak growth {result['build_peak_over_raw']:.2f}x the raw embeddings, "
          f"{seconds:.0f} s; wrote {path}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-documents", type=int, default=1_000_000)
    parser.add_argument("--num-queries", type=int, default=1000)
    parser.add_argument("--single-queries", type=int, default=200, help="queries timed one at a time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--distribution", default=",".join(DISTRIBUTIONS),
                        help="comma-separated, of " + ", ".join(DISTRIBUTIONS) + " (default: all); the result "
                             "file keeps the earlier results of the others")
    parser.add_argument("--skip-scifact", action="store_true", help="the same as leaving scifact out of --distribution")
    parser.add_argument("--skip-mixture", action="store_true", help="the same as leaving mixture out of --distribution")
    parser.add_argument("--build-memory-only", action="store_true",
                        help="only measure peak memory of the auto-tuned ScaNN build on the mixture "
                             "(writes bench/results/ann_build_memory.json)")
    parser.add_argument("--data", default=str(SCIFACT))
    parser.add_argument("--output", default=str(RESULTS / "ann.json"))
    args = parser.parse_args(argv)
    started = time.perf_counter()

    import_tensorflow(args.threads)
    import faiss

    faiss.omp_set_num_threads(args.threads)

    if args.build_memory_only:
        return build_memory_only(args)
    output = pathlib.Path(args.output)
    chosen = [d.strip() for d in args.distribution.split(",") if d.strip()]
    unknown = sorted(set(chosen) - set(DISTRIBUTIONS))
    if unknown:
        parser.error(f"unknown --distribution {', '.join(unknown)}: choose from {', '.join(DISTRIBUTIONS)}")
    if args.skip_mixture and "mixture" in chosen:
        chosen.remove("mixture")
    if args.skip_scifact and "scifact" in chosen:
        chosen.remove("scifact")
    earlier = json.loads(output.read_text())["results"] if output.is_file() else []
    results = {r["name"]: r for r in earlier if r["name"] in DISTRIBUTIONS and r["name"] not in chosen}
    num_leaves = max(1, int(round(np.sqrt(args.num_documents))))
    synthetic_leaves = sorted({max(1, int(round(num_leaves * f))) for f in (0.002, 0.003, 0.005, 0.01, 0.02, 0.05)})
    synthetic_ef = [16, 32, 64, 128, 256, 320, 384, 512, 768, 1024, 1536, 2048]  # fine near recall 0.95

    scifact = None
    if chosen:  # the synthetic distributions are compared with SciFact's statistics, at SciFact's size
        scifact = scifact_embeddings(args.data)
        scifact_docs, scifact_queries = scifact[2], scifact[4]
    for name in ("mixture", "text_like"):
        if name not in chosen:
            continue
        generate = gaussian_mixture if name == "mixture" else text_like_mixture
        embeddings, queries = generate(args.num_documents, args.num_queries + 500)
        queries, tuning_queries = queries[: args.num_queries], queries[args.num_queries :]
        result = run_dataset(name, embeddings, queries, args, synthetic_leaves, [50, 100, 200, 400], synthetic_ef,
                             tuning_queries)
        result["generator"] = ({"function": "gaussian_mixture", "centres": 1000, "spread": 0.6} if name == "mixture"
                               else {"function": "text_like_mixture", **TEXT_LIKE})
        result["neighbour_statistics"] = neighbour_statistics(embeddings, queries)
        del embeddings, queries, tuning_queries
        gc.collect()
        if scifact is not None:  # the same model drawn at SciFact's size (5,183 documents, 300 queries)
            small_docs, small_queries = generate(len(scifact_docs), len(scifact_queries))
            result["neighbour_statistics_at_scifact_size"] = neighbour_statistics(small_docs, small_queries)
        results[name] = result

    if "scifact" in chosen:
        data, doc_ids, docs, query_ids, query_embeddings = scifact
        num_leaves = int(round(np.sqrt(len(docs))))
        result = run_dataset("scifact", docs, query_embeddings, args,
                             sorted({1, 2, 3, 4, 6, 8, 12, 16, 24, 36, num_leaves}), [20, 50, 100, 200],
                             [16, 32, 64, 128, 256], query_embeddings)
        result["neighbour_statistics"] = neighbour_statistics(docs, query_embeddings)
        result["quality"] = {}
        for target in (0.95, 0.99):  # nDCG@10 through the index `tfsearch index build` makes for each target
            quality = scifact_quality(data, doc_ids, docs, query_ids, query_embeddings, target)
            result["quality"][f"recall_{target}"] = quality
            print(f"  SciFact (ScaNN tuned for recall@10 >= {target}): nDCG@10 exact {quality['exact']['nDCG@10']:.4f}, "
                  f"ScaNN {quality['scann']['nDCG@10']:.4f} ({quality['ndcg_difference']:+.4f}), "
                  f"int8 {quality['exact_int8']['nDCG@10']:.4f}", flush=True)
        results["scifact"] = result
    results = [results[name] for name in DISTRIBUTIONS if name in results]

    payload = {"threads": args.threads, "k": K, "machine": machine_description(), "distributions_run": chosen,
               "seconds": round(time.perf_counter() - started), "results": results}
    write_result(args.output, payload)
    plot(results, pathlib.Path(args.output).with_suffix(".png"))
    for result in results:
        s = result["summary"]
        print(f"\n{result['name']}: at recall@10 >= {s['target_recall']}:")
        for key in ("scann", "scann_tuned", "faiss_hnsw", "exact", "exact_int8"):
            p = s[key]
            if p:
                print(f"  {key:<11} {p['qps_batched']:>10,.0f} qps batched, recall {p['recall']:.4f}, "
                      f"build {p['build_seconds']:.1f} s, {p['params']}")
        print(f"  fastest at the target: {s.get('fastest_at_target')} (ranking {s.get('ranking_at_target')})")
        for key in ("neighbour_statistics", "neighbour_statistics_at_scifact_size"):
            if key in result:
                print(f"  {key}: {json.dumps(result[key])}")
        for key in ("scann_vs_faiss_qps", "scann_vs_exact_qps", "scann_tuned_vs_faiss_qps", "int8_vs_exact_qps",
                    "scann_build_peak_over_raw", "scann_build_peak_with_input_over_raw"):
            if key in s:
                print(f"  {key}: {s[key]:.2f}")
    print(f"\nWrote {args.output} and {pathlib.Path(args.output).with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
