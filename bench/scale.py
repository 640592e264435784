"""The cost curve: corpus encoding on Beam, and index build, memory, queries/s and updates against N.

Two parts, one run, every ratio against a baseline measured in the same run:

1. Encoding (real texts): the first `--encode-documents` SciFact documents
   (title + text, written as a BEIR `corpus.jsonl` into bench/.cache/scale),
   embedded by all-MiniLM-L6-v2 at the precision `"auto"` picks on this CPU
   (resolved once, recorded), batch 64:
   - in-process: `BertEncoder.from_pretrained` + `encode_dataset` (the baseline);
   - `encode_corpus` (what `tfsearch encode` runs) on Beam's DirectRunner
     in-process (no pipeline options), and multi-process with 1 and 2
     workers (`--direct_num_workers N --direct_running_mode multi_processing`),
     the 2 workers also with `TF_NUM_INTRAOP_THREADS=1` and
     `TF_NUM_INTEROP_THREADS=1` (each worker's TensorFlow takes every core by
     default: on a machine with as many cores as workers they compete).
   Each is also run on the first `--startup-documents` documents, so that the
   fixed start-up cost (pipeline start, worker processes, model load, first
   trace) and the marginal rate are separated: marginal documents/s =
   (M - m) / (t_M - t_m), fixed = t_M - M / marginal. Every Beam run's
   embeddings are compared with the in-process ones (minimum cosine).
2. Index (synthetic vectors): for each N of `--sizes`, unit vectors of
   dimension 384 from bench/ann.py's `text_like_mixture` (overlapping clusters
   of low local dimension, calibrated on SciFact's MiniLM embeddings; or
   `--distribution mixture`: `gaussian_mixture`), each corpus a prefix of one
   draw, for exact float32 (`BruteForceIndex`), exact int8
   (`BruteForceIndex(quantization="int8")`) and ScaNN (`build_index(...,
   backend="scann", target_recall=0.95)`, tuned on 256 other queries). Each
   (N, backend) runs in its own process (`--child`), so that its memory is
   clean:
   - build seconds, and peak resident memory growth over the resident size
     before the build (the input matrix is already held; `ru_maxrss` and a
     50 ms sampler), per vector and over the input matrix; the memory the
     built index keeps; for ScaNN the bytes per vector of each file of its
     serialised pybind searcher (`hashed_dataset.npy`: the asymmetric-hashing
     codes; `dataset.npy`: the float32 rows it re-orders with;
     `datapoint_to_token.npy`: each row's partition);
   - queries/s on 64-query batches (after a warm-up batch, at least 3 batches
     and 1.5 s) and recall@10 against exact search on 640 held-out queries;
   - an update of 1% of the documents (0.5% new, 0.25% replaced with new
     vectors, 0.25% deleted) through `tfsearch.index.index_updates.update_index`
     (rebalance `"auto"`: 1% is under its threshold, so ScaNN keeps its
     partitions), against a full rebuild over the updated corpus (exact and
     int8: `BruteForceIndex.index`; ScaNN: the same parameters, a new tree,
     no tuning), with recall@10 after the update and after the rebuild.
   Log-log slopes (`np.polyfit` of log10 y on log10 N) summarise how each
   figure grows.

Writes `bench/results/scale.json` (after each part and each index point) and
`bench/results/scale.png` (2 x 2 log-log panels: build seconds, peak memory,
queries/s, update and rebuild seconds), atomically.

Usage:
    python bench/scale.py [--sizes 10000,100000,1000000] [--encode-documents 1000] [--threads 2]
                          [--distribution text_like] [--skip-encoding] [--skip-index]
"""

import argparse
import gc
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    CACHE,
    RESULTS,
    SCIFACT,
    import_tensorflow,
    machine_description,
    rss_bytes,
    write_result,
)

K = 10
BATCH = 64
DIM = 384
TARGET_RECALL = 0.95
NUM_TUNING, NUM_TIMING = 256, 640
# An update of 1% of the documents: new, replaced (same id, new vector), deleted.
UPDATE = {"add": 0.005, "replace": 0.0025, "delete": 0.0025}
BACKENDS = ("exact", "int8", "scann")
SCALE_CACHE = CACHE / "scale"
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def _workers(n):
    return ["--direct_num_workers", str(n), "--direct_running_mode", "multi_processing"]


# name, pipeline options, environment of the worker processes
BEAM_CONFIGS = (
    ("beam_in_process", [], {}),
    ("beam_1_worker", _workers(1), {}),
    ("beam_2_workers", _workers(2), {}),
    ("beam_2_workers_1_thread_each", _workers(2), ONE_THREAD),
)


def log_slope(xs, ys):
    """The slope of log10 y against log10 x (None with fewer than two positive points)."""
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None and y > 0]
    if len(pts) < 2:
        return None
    return round(float(np.polyfit(np.log10([p[0] for p in pts]), np.log10([p[1] for p in pts]), 1)[0]), 3)


# --- part 1: encoding ----------------------------------------------------------------


def write_corpus(data, count):
    """The first `count` documents of the BEIR folder `data`, as `bench/.cache/scale/scifact-COUNT/corpus.jsonl`."""
    path = SCALE_CACHE / f"scifact-{count}" / "corpus.jsonl"
    if not path.is_file():
        from tfsearch.utils.atomic import atomic_write_text

        lines = []
        with open(pathlib.Path(data) / "corpus.jsonl", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    lines.append(line if line.endswith("\n") else line + "\n")
                    if len(lines) == count:
                        break
        if len(lines) < count:
            raise SystemExit(f"{data} holds {len(lines)} documents, fewer than --encode-documents {count}.")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "".join(lines))
    return path


def two_sizes(small, large, seconds_small, seconds_large):
    """Marginal documents/s and fixed seconds from two runs of `small` and `large` documents."""
    if seconds_large <= seconds_small:
        return None, None
    marginal = (large - small) / (seconds_large - seconds_small)
    return round(marginal, 2), round(seconds_large - large / marginal, 1)


def encoding_part(args):
    import_tensorflow(args.threads)
    from tfsearch.data.beir import iter_corpus
    from tfsearch.data.pipelines import texts_dataset
    from tfsearch.embeddings.beam_encoding import encode_corpus
    from tfsearch.embeddings.document_encoder_handler import resolve_encoder_dtype
    from tfsearch.embeddings.embedding_shards import read_embeddings
    from tfsearch.models.batch_encoding import encode_dataset
    from tfsearch.models.bert_encoder import BertEncoder

    dtype = resolve_encoder_dtype("auto")  # once, for every run below
    sizes = {"small": args.startup_documents, "large": args.encode_documents}
    corpora = {name: write_corpus(args.data, n) for name, n in sizes.items()}
    print(f"encoding: {sizes['large']} and {sizes['small']} SciFact documents, precision auto -> {dtype}", flush=True)

    start = time.perf_counter()
    encoder = BertEncoder.from_pretrained(None, dtype=dtype)
    load_seconds = time.perf_counter() - start
    reference, in_process = {}, {"load_seconds": round(load_seconds, 2)}
    # The small corpus first (cold: the process's first forward passes), then the large one and the small
    # one again (warm): the warm pair gives the marginal rate, the cold run the one-time warm-up.
    for name, size in (("small_cold", "small"), ("large", "large"), ("small", "small")):
        docs = list(iter_corpus(corpora[size]))
        start = time.perf_counter()
        ids, embeddings = encode_dataset(encoder, texts_dataset([d.id for d in docs], [d.contents() for d in docs]),
                                         batch_size=BATCH, total=len(docs), progress=False)
        in_process[f"{name}_encode_seconds"] = round(time.perf_counter() - start, 2)
        if name == "large":
            reference = dict(zip(ids, embeddings))
    del encoder
    n, m = sizes["large"], sizes["small"]
    in_process["documents_per_second"] = round(n / in_process["large_encode_seconds"], 2)
    in_process["documents_per_second_with_load"] = round(
        n / (in_process["large_encode_seconds"] + in_process["small_cold_encode_seconds"]
             - in_process["small_encode_seconds"] + load_seconds), 2)
    in_process["marginal_documents_per_second"], fixed_warm = two_sizes(
        m, n, in_process["small_encode_seconds"], in_process["large_encode_seconds"])
    # What a fresh process pays once: the model load and the cold first passes, beyond the marginal rate.
    in_process["fixed_seconds"] = (None if fixed_warm is None else round(
        load_seconds + in_process["small_cold_encode_seconds"] - m / in_process["marginal_documents_per_second"], 1))
    print(f"  in-process: {in_process}", flush=True)

    runs = {"in_process": in_process}
    base = in_process["documents_per_second"]
    for name, pipeline_args, env in BEAM_CONFIGS:
        run = {"pipeline_args": pipeline_args, "worker_environment": env}
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)  # inherited by the worker processes the runner starts
        try:
            for size in ("small", "large"):
                output = SCALE_CACHE / f"encoded-{name}-{size}"
                start = time.perf_counter()
                manifest = encode_corpus(str(corpora[size]), str(output), precision=dtype, batch_size=BATCH,
                                         pipeline_args=pipeline_args, progress=False, overwrite=True)
                run[f"{size}_seconds"] = round(time.perf_counter() - start, 2)
                run[f"{size}_pipeline_seconds"] = manifest["seconds"]  # pipeline.run() only, without the driver's checks
                if size == "large":
                    got_ids, got = read_embeddings(manifest)
                    want = np.stack([reference[i] for i in got_ids])
                    cosine = np.sum(got * want, 1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
                    run["count"], run["min_cosine_to_in_process"] = manifest["count"], round(float(cosine.min()), 6)
                    run["precision"] = manifest["precision"]
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        run["documents_per_second"] = round(n / run["large_seconds"], 2)
        run["vs_in_process"] = round(run["documents_per_second"] / base, 3)
        run["vs_in_process_with_load"] = round(run["documents_per_second"] / in_process["documents_per_second_with_load"], 3)
        run["marginal_documents_per_second"], run["fixed_seconds"] = two_sizes(
            m, n, run["small_seconds"], run["large_seconds"])
        run["marginal_vs_in_process"] = (None if run["marginal_documents_per_second"] is None else round(
            run["marginal_documents_per_second"] / (in_process["marginal_documents_per_second"] or base), 3))
        runs[name] = run
        print(f"  {name}: {run}", flush=True)
    one = runs["beam_1_worker"]
    scaling = {
        "two_vs_one_worker": round(runs["beam_2_workers"]["documents_per_second"] / one["documents_per_second"], 3),
        "two_vs_one_worker_1_thread_each": round(
            runs["beam_2_workers_1_thread_each"]["documents_per_second"] / one["documents_per_second"], 3),
    }
    for key, name in (("two_vs_one_worker_marginal", "beam_2_workers"),
                      ("two_vs_one_worker_1_thread_each_marginal", "beam_2_workers_1_thread_each")):
        a, b = runs[name]["marginal_documents_per_second"], one["marginal_documents_per_second"]
        scaling[key] = None if not a or not b else round(a / b, 3)
    return {"documents": n, "startup_documents": m, "data": "first documents of SciFact's corpus.jsonl (title + text)",
            "model": "all-MiniLM-L6-v2 (default preset)", "precision": dtype, "batch_size": BATCH,
            "runs": runs, "scaling": scaling}


# --- part 2: index -------------------------------------------------------------------


def generator_description(distribution):
    from ann import TEXT_LIKE

    if distribution == "text_like":
        return {"function": "text_like_mixture", "seed": 0, "parameters": dict(TEXT_LIKE)}
    return {"function": "gaussian_mixture", "seed": 0, "centres": 1000, "spread": 0.6}


def _data_paths(distribution, max_n):
    import hashlib

    key = hashlib.sha256(json.dumps(generator_description(distribution), sort_keys=True).encode()).hexdigest()[:8]
    stem = SCALE_CACHE / f"{distribution}-{key}-{max_n}"
    return {"docs": f"{stem}-docs.npy", "additions": f"{stem}-additions.npy", "queries": f"{stem}-queries.npy"}


def make_data(distribution, max_n):
    """Draws (once; cached in bench/.cache/scale) the documents, the rows updates add, and the queries."""
    from ann import gaussian_mixture, text_like_mixture

    paths = _data_paths(distribution, max_n)
    if all(os.path.isfile(p) for p in paths.values()):
        return paths
    from tfsearch.utils.atomic import atomic_file

    extra = int(np.ceil((UPDATE["add"] + UPDATE["replace"]) * max_n)) + 1
    generate = text_like_mixture if distribution == "text_like" else gaussian_mixture
    start = time.perf_counter()
    docs, queries = generate(max_n + extra, NUM_TUNING + NUM_TIMING, dim=DIM, seed=0)
    print(f"drew {max_n + extra:,} + {len(queries)} vectors ({distribution}) in {time.perf_counter() - start:.0f} s",
          flush=True)
    SCALE_CACHE.mkdir(parents=True, exist_ok=True)
    for key, array in (("docs", docs[:max_n]), ("additions", docs[max_n:]), ("queries", queries)):
        with atomic_file(paths[key], mode="wb") as f:
            np.save(f, np.ascontiguousarray(array))
    return paths


def read_rows(path, n):
    """The first `n` rows of a .npy matrix, read into one array (no memory map, whose pages would count as resident)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = header(f)
        if n > shape[0]:
            raise ValueError(f"{path} holds {shape[0]} rows, {n} were asked for")
        out = np.empty((n,) + tuple(shape[1:]), dtype)
        f.readinto(memoryview(out.reshape(-1).view(np.uint8)))
    return out


def recall(found, expected):
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, expected)]))


def child(spec):
    """One (N, backend): build, memory, queries/s, recall, update and rebuild. Prints its result as JSON."""
    from ann import PeakMemory
    from backend_crossover import queries_per_second

    tf = import_tensorflow(spec["threads"])
    from tfsearch.index.brute_force_index import BruteForceIndex
    from tfsearch.index.index_building import build_index
    from tfsearch.index.index_updates import update_index
    from tfsearch.index.scann_index import ScannIndex
    from tfsearch.index.scann_tuning import exact_neighbours, release_freed_memory

    n, backend = spec["num_documents"], spec["backend"]
    n_add, n_replace, n_delete = (int(round(UPDATE[key] * n)) for key in ("add", "replace", "delete"))
    docs = read_rows(spec["paths"]["docs"], n)
    additions = read_rows(spec["paths"]["additions"], n_add + n_replace)
    queries = np.load(spec["paths"]["queries"])
    tuning, timing = queries[:NUM_TUNING], queries[NUM_TUNING:]
    ids = [f"d{i}" for i in range(n)]
    quantization = "int8" if backend == "int8" else None
    gc.collect()
    before = rss_bytes()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    point = {"num_documents": n, "backend": backend, "input_bytes": docs.nbytes}
    with PeakMemory() as sampled:
        start = time.perf_counter()
        if backend == "scann":
            index, report = build_index(docs, ids, backend="scann", k=K, target_recall=spec["target_recall"],
                                        tuning_queries=tuning)
        else:
            index = BruteForceIndex(k=K, quantization=quantization).index(docs, ids)
        point["build_seconds"] = round(time.perf_counter() - start, 3)
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # ru_maxrss is the process's lifetime peak: it says nothing of the build when the build stayed below it.
    peak = max(sampled.peak, maxrss_after if maxrss_after > maxrss_before else 0)
    gc.collect()
    release_freed_memory()
    held = rss_bytes() - before
    point["memory"] = {
        "rss_before_build": before, "maxrss_before_build": maxrss_before, "maxrss_after_build": maxrss_after,
        "sampled_peak": sampled.peak, "peak_growth_bytes": peak - before,
        "peak_growth_per_vector": round((peak - before) / n, 1),
        "peak_growth_over_input": round((peak - before) / docs.nbytes, 3),
        "held_after_build_bytes": held, "held_per_vector": round(held / n, 1),
    }
    if backend == "scann":
        point["scann"] = {"num_leaves": report["num_leaves"], "tuning_seconds": round(report["build_seconds"], 1),
                          "built": report["built"], "target_met": report["target_met"],
                          "chosen": report["chosen"]}
        files = {p.name: p.stat().st_size for p in sorted(pathlib.Path(index.searcher_dir).iterdir()) if p.is_file()}
        point["scann"]["searcher_files_bytes"] = files
        point["scann"]["searcher_bytes_per_vector"] = {name: round(size / n, 2) for name, size in files.items()}
        point["scann"]["searcher_total_bytes_per_vector"] = round(sum(files.values()) / n, 2)
        params = index.params

    def measure(idx, rows_ids, rows):
        expected = [[rows_ids[p] for p in row] for row in exact_neighbours(rows, timing, K)]
        return {"qps": round(queries_per_second(lambda q: idx(tf.constant(q), K), timing)),
                "recall": round(recall(idx.search(timing, K)[1], expected), 4)}

    point.update(measure(index, ids, docs))

    # The update: new ids, replaced ids (new vectors), deleted ids, chosen at random.
    rng = np.random.default_rng(1)
    chosen = rng.choice(n, n_replace + n_delete, replace=False)
    replace_ids = [ids[i] for i in chosen[:n_replace]]
    delete_ids = [ids[i] for i in chosen[n_replace:]]
    add_ids = [f"n{j}" for j in range(n_add)] + replace_ids
    with PeakMemory() as sampled:
        start = time.perf_counter()
        updated, update_report = update_index(index, add_ids, additions, delete_ids, rebalance="auto")
        update_seconds = time.perf_counter() - start
    del index
    gc.collect()
    release_freed_memory()
    new_ids = updated.identifiers
    added = {i: r for r, i in enumerate(add_ids)}
    rows = np.empty((len(new_ids), DIM), np.float32)
    for r, i in enumerate(new_ids):
        rows[r] = additions[added[i]] if i in added else docs[int(i[1:])]
    del docs
    after_update = measure(updated, new_ids, rows)
    del updated
    gc.collect()
    release_freed_memory()
    start = time.perf_counter()
    if backend == "scann":
        fresh = ScannIndex(k=K, params=params).index(rows, new_ids)
    else:
        fresh = BruteForceIndex(k=K, quantization=quantization).index(rows, new_ids)
    rebuild_seconds = time.perf_counter() - start
    after_rebuild = measure(fresh, new_ids, rows)
    point["update"] = {
        "added": update_report["added"], "replaced": update_report["replaced"], "deleted": update_report["deleted"],
        "rebalanced": update_report["rebalanced"], "rebalance_reason": update_report["rebalance_reason"],
        "update_seconds": round(update_seconds, 3), "update_peak_growth_bytes": sampled.growth,
        "rebuild_seconds": round(rebuild_seconds, 3),
        "rebuild": "ScannIndex with the built parameters (a new tree, no tuning)" if backend == "scann"
        else f"BruteForceIndex(quantization={quantization!r}).index",
        "update_over_rebuild": round(update_seconds / rebuild_seconds, 3),
        "update_over_build": round(update_seconds / point["build_seconds"], 3),
        "recall_after_update": after_update["recall"], "qps_after_update": after_update["qps"],
        "recall_after_rebuild": after_rebuild["recall"], "qps_after_rebuild": after_rebuild["qps"],
    }
    print(json.dumps(point), flush=True)


def run_child(spec, timeout):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], stdout=subprocess.PIPE,
                          env=env, text=True, timeout=timeout)
    if proc.returncode != 0:
        return {"num_documents": spec["num_documents"], "backend": spec["backend"],
                "failed": f"exit code {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fits(points):
    """Log-log slopes against N, and seconds per million vectors at the largest N, per backend."""
    out = {}
    for backend in BACKENDS:
        pts = sorted((p for p in points if p["backend"] == backend and "failed" not in p),
                     key=lambda p: p["num_documents"])
        if not pts:
            continue
        ns = [p["num_documents"] for p in pts]
        last = pts[-1]
        out[backend] = {
            "slope_build_seconds": log_slope(ns, [p["build_seconds"] for p in pts]),
            "slope_peak_growth_bytes": log_slope(ns, [p["memory"]["peak_growth_bytes"] for p in pts]),
            "slope_qps": log_slope(ns, [p["qps"] for p in pts]),
            "slope_update_seconds": log_slope(ns, [p["update"]["update_seconds"] for p in pts]),
            "slope_rebuild_seconds": log_slope(ns, [p["update"]["rebuild_seconds"] for p in pts]),
            "build_seconds_per_million_at_largest": round(last["build_seconds"] / last["num_documents"] * 1e6, 1),
            "peak_growth_bytes_per_vector_at_largest": last["memory"]["peak_growth_per_vector"],
            "largest_num_documents": last["num_documents"],
        }
    return out


def index_part(args, write):
    sizes = sorted(int(s) for s in args.sizes.split(","))
    generator = generator_description(args.distribution)  # as drawn (the cache is named after it)
    paths = make_data(args.distribution, max(sizes))
    points = []
    for n in sizes:
        for backend in BACKENDS:
            spec = {"num_documents": n, "backend": backend, "paths": paths, "threads": args.threads,
                    "target_recall": TARGET_RECALL}
            start = time.perf_counter()
            point = run_child(spec, args.child_timeout)
            point["process_seconds"] = round(time.perf_counter() - start, 1)
            points.append(point)
            summary = {key: point.get(key) for key in ("build_seconds", "qps", "recall")}
            if "update" in point:
                summary.update({key: point["update"][key] for key in ("update_seconds", "rebuild_seconds",
                                                                       "recall_after_update", "recall_after_rebuild")})
                summary["peak_growth_over_input"] = point["memory"]["peak_growth_over_input"]
            print(f"  N={n:,} {backend}: {point.get('failed') or summary} ({point['process_seconds']} s)", flush=True)
            write({"points": points, "fits": fits(points)})
    return {"distribution": args.distribution, "generator": generator, "sizes": sizes, "points": points,
            "fits": fits(points)}


def plot(index, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfsearch.utils.atomic import atomic_file

    styles = {"exact": ("o-", "exact float32"), "int8": ("s-", "exact int8"), "scann": ("D-", "ScaNN (recall 0.95)")}
    panels = (("build_seconds", "build seconds (ScaNN: with tuning)"),
              ("peak", "peak memory growth while building (bytes)"),
              ("qps", "queries/s (64-query batches)"),
              ("update", "seconds: 1% update (solid), rebuild (dashed)"))
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (key, label) in zip(axes.reshape(-1), panels):
        for backend, (style, name) in styles.items():
            pts = sorted((p for p in index["points"] if p["backend"] == backend and "failed" not in p),
                         key=lambda p: p["num_documents"])
            ns = [p["num_documents"] for p in pts]
            if key == "peak":
                ax.plot(ns, [p["memory"]["peak_growth_bytes"] for p in pts], style, label=name)
            elif key == "update":
                line, = ax.plot(ns, [p["update"]["update_seconds"] for p in pts], style, label=f"{name}: update")
                ax.plot(ns, [p["update"]["rebuild_seconds"] for p in pts], style[0] + "--", color=line.get_color(),
                        label=f"{name}: rebuild")
            else:
                ax.plot(ns, [p[key] for p in pts], style, label=name)
        if key == "peak":
            ns = sorted({p["num_documents"] for p in index["points"]})
            ax.plot(ns, [n * DIM * 4 for n in ns], ":", color="grey", label="the float32 input")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("documents N (dimension 384)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle(f"tfsearch at scale: {index['distribution']} vectors, 2 threads")
    fig.tight_layout()
    with atomic_file(path, mode="wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--encode-documents", type=int, default=1000)
    parser.add_argument("--startup-documents", type=int, default=32,
                        help="the small corpus that separates fixed start-up cost from the marginal rate")
    parser.add_argument("--distribution", choices=("text_like", "mixture"), default="text_like")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default=str(SCIFACT))
    parser.add_argument("--skip-encoding", action="store_true", help="keep the encoding part of an earlier result file")
    parser.add_argument("--skip-index", action="store_true", help="keep the index part of an earlier result file")
    parser.add_argument("--child-timeout", type=int, default=1800)
    parser.add_argument("--output", default=str(RESULTS / "scale.json"))
    parser.add_argument("--plot", default=str(RESULTS / "scale.png"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0

    started = time.perf_counter()
    previous = {}
    if (args.skip_encoding or args.skip_index) and os.path.isfile(args.output):
        previous = json.loads(pathlib.Path(args.output).read_text())
    result = {
        "command": "python bench/scale.py " + " ".join(argv),
        "machine": machine_description(),
        "threads": args.threads,
        "settings": {"k": K, "batch": BATCH, "dim": DIM, "target_recall": TARGET_RECALL,
                     "tuning_queries": NUM_TUNING, "timing_queries": NUM_TIMING, "update": UPDATE,
                     "encode_documents": args.encode_documents, "startup_documents": args.startup_documents},
        "encoding": previous.get("encoding"),
        "index": previous.get("index"),
    }

    def write(partial_index=None):
        if partial_index is not None:
            result["index"] = {"partial": True, **partial_index}
        result["seconds"] = round(time.perf_counter() - started, 1)
        write_result(args.output, result)

    command = result["command"]
    if not args.skip_encoding:
        result["encoding"] = {"command": command, **encoding_part(args)}
        write()
    if not args.skip_index:
        result["index"] = {"command": command, **index_part(args, write)}
        write()
    if result["index"] and result["index"].get("points"):
        plot(result["index"], args.plot)
    print(f"wrote {args.output} and {args.plot} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
