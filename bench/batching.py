"""Queries/s and latency of the `search_batchable` signature by batch size, to choose `batching_params.pbtxt`.

Builds an exact index of the demo corpus (`tfsearch.data.DEMO_DIR`, 288
documents) with the pretrained encoder (`--tiny`: the random tiny test
encoder instead), exports it with `export_search_model`, loads the
SavedModel and runs its `search_batchable` signature on batches of 1, 2,
4, ..., 64 demo queries (k=10, diversity 0.3: MMR re-ranking, the usual
request), each size for `--seconds` after one warm-up call. What a batch
costs is what TensorFlow Serving's batching session pays for it, without
the server's RPC and queueing.

From the measurement it derives the values `DEFAULT_BATCHING_PARAMETERS`
(`tfsearch/export/saved_model_export.py`) holds:
- `max_batch_size`: the measured batch size with the most queries/s among
  those whose median latency stays within `--budget-ms`;
- `allowed_batch_sizes`: the powers of two up to it;
- `batch_timeout_micros`: half the median latency of a single query (a
  query never waits for company longer than half its own cost);
- `num_batch_threads`: the machine's cores.

Writes `bench/results/batching.json` (atomically).

Usage:
    python bench/batching.py [--tiny] [--seconds 2] [--budget-ms 100] [--threads 0]
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import RESULTS, import_tensorflow, machine_description, percentiles, write_result  # noqa: E402

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


def read_jsonl(path):
    return [json.loads(line) for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def choose_parameters(rows, budget_ms, cores):
    """`DEFAULT_BATCHING_PARAMETERS`-shaped values from the measured `rows` (see the module's docstring)."""
    within = [row for row in rows if row["p50_ms"] <= budget_ms] or rows[:1]
    max_batch_size = max(within, key=lambda row: row["queries_per_second"])["batch_size"]
    single = next(row for row in rows if row["batch_size"] == 1)
    return {
        "max_batch_size": max_batch_size,
        "batch_timeout_micros": int(round(single["p50_ms"] * 1000 / 2, -2)),
        "num_batch_threads": cores,
        "max_enqueued_batches": 100,
        "allowed_batch_sizes": [n for n in BATCH_SIZES if n <= max_batch_size],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the random tiny test encoder, not the pretrained one")
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent at each batch size")
    parser.add_argument("--budget-ms", type=float, default=100.0, help="latency budget of one batch (median)")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: TensorFlow's default)")
    parser.add_argument("--output", default=str(RESULTS / "batching.json"))
    args = parser.parse_args()

    tf = import_tensorflow(args.threads)
    from tfsearch.data import DEMO_DIR
    from tfsearch.export import export_search_model
    from tfsearch.index import BruteForceIndex

    if args.tiny:
        from tests.conftest import make_tiny_encoder

        encoder, model = make_tiny_encoder(), "tiny random test encoder (tests.conftest.make_tiny_encoder)"
    else:
        from tfsearch.models import BertEncoder

        encoder, model = BertEncoder.from_pretrained(), "pretrained default (all-MiniLM-L6-v2)"
    corpus = read_jsonl(DEMO_DIR / "corpus.jsonl")
    queries = [q["text"] for q in read_jsonl(DEMO_DIR / "queries.jsonl")]
    texts = [f"{d.get('title', '')} {d['text']}".strip() for d in corpus]
    embeddings = tf.concat([encoder(tf.constant(texts[i:i + 64])) for i in range(0, len(texts), 64)], 0).numpy()
    index = BruteForceIndex(k=10).index(embeddings, [d["_id"] for d in corpus])
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        version_dir, _ = export_search_model(encoder, index, pathlib.Path(folder) / "demo")
        search = tf.saved_model.load(str(version_dir)).signatures["search_batchable"]
        for batch_size in BATCH_SIZES:
            batch = tf.constant([queries[i % len(queries)] for i in range(batch_size)])
            k, diversity = tf.fill([batch_size], 10), tf.fill([batch_size], 0.3)
            search(queries=batch, k=k, diversity=diversity)  # warm-up: the first call of a shape traces
            seconds, start = [], time.perf_counter()
            while time.perf_counter() - start < args.seconds or len(seconds) < 3:
                began = time.perf_counter()
                search(queries=batch, k=k, diversity=diversity)["ids"].numpy()
                seconds.append(time.perf_counter() - began)
            total = sum(seconds)
            row = {"batch_size": batch_size, "calls": len(seconds), **percentiles(seconds),
                   "queries_per_second": round(batch_size * len(seconds) / total, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    cores = os.cpu_count()
    result = {
        "benchmark": "search_batchable by batch size (bench/batching.py)",
        "command": " ".join(["python", "bench/batching.py", *sys.argv[1:]]),
        "machine": machine_description(),
        "tensorflow_threads": args.threads or "default",
        "encoder": model,
        "corpus": f"demo ({len(corpus)} documents), exact index, num_candidates 100, max_k 100",
        "request": {"k": 10, "diversity": 0.3, "method": "mmr"},
        "seconds_per_batch_size": args.seconds,
        "latency_budget_ms": args.budget_ms,
        "by_batch_size": rows,
        "chosen_batching_parameters": choose_parameters(rows, args.budget_ms, cores),
    }
    write_result(args.output, result)
    print(json.dumps(result["chosen_batching_parameters"]))


if __name__ == "__main__":
    main()
