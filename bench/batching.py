"""Queries/s and latency of the `search_batchable` signature by batch size, to choose `batching_params.pbtxt`.

Builds an exact index of the demo corpus (`tfsearch.data.DEMO_DIR`, 288
documents) with the pretrained encoder (`--tiny`: the random tiny test
encoder instead), exports it with `export_search_model`, loads the
SavedModel and runs its `search_batchable` signature on batches of 1, 2,
4, ..., 64 SciFact queries (`--queries`: those of another BEIR queries file;
the demo's when SciFact is absent; k=10, diversity 0.3: MMR re-ranking, the
usual request), each size for `--seconds` after one warm-up call, with
`--concurrency` calls side by side (default: the cores), as the batching
session's `num_batch_threads` run batches, and one intra-op thread per call
on a CPU (`--intra-op-threads`; `tfsearch serve`'s default there). What a
batch costs is what TensorFlow Serving's batching session pays for it,
without the server's RPC and queueing.

From the measurement it derives the values `DEFAULT_BATCHING_PARAMETERS`
(`tfsearch/export/saved_model_export.py`) holds:
- `max_batch_size`: the measured batch size with the most queries/s among
  those whose median latency stays within `--budget-ms`;
- `allowed_batch_sizes`: the powers of two up to it;
- `batch_timeout_micros`: on a CPU 0 (TensorFlow Serving's batching guide
  starts a CPU-only server there, "keeping in mind that 0 may be the optimal
  value"; `bench/serve_settings.py` measured it best through `tfsearch
  serve`: each batch thread has a core, and a batch that waits leaves it
  idle); with a GPU, half the median latency of a single query (a query
  never waits for company longer than half its own cost);
- `num_batch_threads`: `--concurrency`.

Writes `bench/results/batching.json` (atomically).

Usage:
    python bench/batching.py [--tiny] [--seconds 2] [--budget-ms 100] [--concurrency N] [--intra-op-threads 1]
        [--queries ../shared/data/scifact/queries.jsonl]
"""

import argparse
import json
import pathlib
import sys
import tempfile

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    RESULTS,
    SCIFACT,
    calls_side_by_side,
    import_tensorflow,
    machine_description,
    write_result,
)

from tfsearch.cli.arg_types import non_negative_int, positive_int  # noqa: E402

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


def read_jsonl(path):
    return [json.loads(line) for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def choose_parameters(rows, budget_ms, concurrency, accelerator):
    """`DEFAULT_BATCHING_PARAMETERS`-shaped values from the measured `rows` (see the module's docstring)."""
    within = [row for row in rows if row["p50_ms"] <= budget_ms] or rows[:1]
    max_batch_size = max(within, key=lambda row: row["queries_per_second"])["batch_size"]
    single = next(row for row in rows if row["batch_size"] == 1)
    return {
        "max_batch_size": max_batch_size,
        "batch_timeout_micros": int(round(single["p50_ms"] * 1000 / 2, -2)) if accelerator else 0,
        "num_batch_threads": concurrency,
        "max_enqueued_batches": 100,
        "allowed_batch_sizes": [n for n in BATCH_SIZES if n <= max_batch_size],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the random tiny test encoder, not the pretrained one")
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent at each batch size")
    parser.add_argument("--budget-ms", type=float, default=100.0, help="latency budget of one batch (median)")
    parser.add_argument("--concurrency", type=positive_int, default=None,
                        help="calls side by side, the num_batch_threads chosen (default: the cores)")
    parser.add_argument("--intra-op-threads", type=non_negative_int, default=None,
                        help="TensorFlow intra-op threads per call (default: 1 on a CPU; 0: TensorFlow's choice)")
    parser.add_argument("--queries", default=str(SCIFACT / "queries.jsonl"),
                        help="a BEIR queries.jsonl whose texts to search (default: SciFact's, the benchmarks' data; "
                             "the demo's when absent): the batch size that pays depends on their lengths")
    parser.add_argument("--output", default=str(RESULTS / "batching.json"))
    args = parser.parse_args()

    tf = import_tensorflow(0)
    from tfsearch.utils.cpu_threads import available_cores, has_accelerator, use_one_intra_op_thread

    if args.intra_op_threads is None:
        use_one_intra_op_thread()  # what `tfsearch serve` does (TensorFlow's choice kept with a GPU)
    else:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    accelerator = has_accelerator()
    concurrency = args.concurrency or available_cores()
    from tfsearch.data import DEMO_DIR
    from tfsearch.export import export_search_model
    from tfsearch.index import BruteForceIndex
    from tfsearch.serving.saved_model_session import SavedModelSession

    if args.tiny:
        from tests.conftest import make_tiny_encoder

        encoder, model = make_tiny_encoder(), "tiny random test encoder (tests.conftest.make_tiny_encoder)"
    else:
        from tfsearch.models import BertEncoder

        encoder, model = BertEncoder.from_pretrained(), "pretrained default (all-MiniLM-L6-v2)"
    corpus = read_jsonl(DEMO_DIR / "corpus.jsonl")
    queries_file = pathlib.Path(args.queries)
    if not queries_file.exists() and args.queries == parser.get_default("queries"):
        queries_file = DEMO_DIR / "queries.jsonl"
    queries = [q["text"] for q in read_jsonl(queries_file)]
    texts = [f"{d.get('title', '')} {d['text']}".strip() for d in corpus]
    embeddings = tf.concat([encoder(tf.constant(texts[i:i + 64])) for i in range(0, len(texts), 64)], 0).numpy()
    index = BruteForceIndex(k=10).index(embeddings, [d["_id"] for d in corpus])
    with tempfile.TemporaryDirectory() as folder:
        version_dir, _ = export_search_model(encoder, index, pathlib.Path(folder) / "demo")
        search = SavedModelSession(version_dir).signatures["search_batchable"]  # as `tfsearch serve` loads it

        def call(n, offset):
            batch = [queries[(offset + i) % len(queries)] for i in range(n)]
            search(queries=batch, k=np.full(n, 10, np.int32), diversity=np.full(n, 0.3, np.float32))

        rows = calls_side_by_side(call, BATCH_SIZES, args.seconds, concurrency)
        for row in rows:
            print(json.dumps(row), flush=True)
    result = {
        "benchmark": "search_batchable by batch size (bench/batching.py)",
        "command": " ".join(["python", "bench/batching.py", *sys.argv[1:]]),
        "machine": machine_description(),
        "tensorflow_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or "default",
        "concurrency": concurrency,
        "accelerator": accelerator,
        "encoder": model,
        "corpus": f"demo ({len(corpus)} documents), exact index, num_candidates 100, max_k 100",
        "queries": f"{queries_file.parent.name}/{queries_file.name} ({len(queries)})",
        "request": {"k": 10, "diversity": 0.3, "method": "mmr"},
        "seconds_per_batch_size": args.seconds,
        "latency_budget_ms": args.budget_ms,
        "by_batch_size": rows,
        "chosen_batching_parameters": choose_parameters(rows, args.budget_ms, concurrency, accelerator),
    }
    write_result(args.output, result)
    print(json.dumps(result["chosen_batching_parameters"]))


if __name__ == "__main__":
    main()
