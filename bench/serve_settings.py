"""`tfsearch serve`'s batching and thread settings side by side: why batching gains what it gains on this machine.

For each set of server flags, one `tfsearch serve` process with the SciFact
export of `bench/serve.py` (built there first), REST predicts of one query
each (k 10, diversity 0.3) from 1 and then 16 closed-loop clients for
`--seconds`: throughput, p50 and p99, the mean queries per signature call
(`tfsearch_batch_size`), and, under 16 clients, the batch queue's depth
sampled every 0.1 s (`tfsearch_batch_queue_depth`): an empty queue while
clients wait means requests wait before the queue, not in it. Then the
signature alone (`serve.signature_alone`: no server, as many calls side by
side as cores), with one intra-op thread per call and with TensorFlow's
default: the most batching could gain on this machine.

Writes `bench/results/serve_settings.json` (atomically).

Usage:
    python bench/serve_settings.py [--seconds 6]
"""

import argparse
import collections
import json
import os
import pathlib
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import serve  # noqa: E402
from bench_common import RESULTS, SCIFACT, machine_description, write_result  # noqa: E402

ONE = ("--tensorflow-intra-op-parallelism", "1")  # one intra-op thread per call (the default on a CPU)
TF_THREADS = ("--tensorflow-intra-op-parallelism", "0")  # TensorFlow's default: one per core
# Every cell names its flags in full, so no label depends on a default of the day.
SETTINGS = {
    "batching off, TensorFlow's threads": ("--max-batch-size", "0", *TF_THREADS),
    "batching off, 1 intra-op thread": ("--max-batch-size", "0", *ONE),
    "16, 2 ms, 2 batch threads, TensorFlow's threads": ("--max-batch-size", "16", "--batch-timeout-micros", "2000",
                                                         "--num-batch-threads", "2", *TF_THREADS),
    "16, 2 ms, 2 batch threads, 1 intra-op thread": ("--max-batch-size", "16", "--batch-timeout-micros", "2000",
                                                      "--num-batch-threads", "2", *ONE),
    "16, 11 ms (the export's file), 2 batch threads, 1 intra-op thread": (
        "--max-batch-size", "16", "--batch-timeout-micros", "11000", "--num-batch-threads", "2", *ONE),
    "16, no wait, 2 batch threads, 1 intra-op thread": ("--max-batch-size", "16", "--batch-timeout-micros", "0",
                                                         "--num-batch-threads", "2", *ONE),
    "8, no wait, 2 batch threads, 1 intra-op thread": ("--max-batch-size", "8", "--batch-timeout-micros", "0",
                                                        "--num-batch-threads", "2", *ONE),
    "16, no wait, 3 batch threads, 1 intra-op thread": ("--max-batch-size", "16", "--batch-timeout-micros", "0",
                                                         "--num-batch-threads", "3", *ONE),
}


def measure(base, queries, flags, seconds):
    pick = lambda rng: rng.choice(queries)  # noqa: E731
    server = serve.Server(base, *flags)
    try:
        server.warm_up(pick, seconds=2)
        figures = {"flags": list(flags)}
        for clients in (1, 16):
            calls, queries_in = (server.metric("tfsearch_batch_size_count"), server.metric("tfsearch_batch_size_sum"))
            depths, stop = [], threading.Event()

            def sample():
                while not stop.wait(0.1):
                    depths.append(int(server.metric("tfsearch_batch_queue_depth")))

            sampler = threading.Thread(target=sample)
            sampler.start()
            cell, _ = serve.closed_loop(lambda: serve.RestClient(server.port), clients, seconds, pick)
            stop.set()
            sampler.join()
            calls = server.metric("tfsearch_batch_size_count") - calls
            cell["mean_queries_per_call"] = round((server.metric("tfsearch_batch_size_sum") - queries_in) / calls, 2)
            cell["queue_depth_samples"] = dict(sorted(collections.Counter(depths).items()))
            figures[str(clients)] = cell
        return figures
    finally:
        server.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SCIFACT))
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--output", default=str(RESULTS / "serve_settings.json"))
    args = parser.parse_args(argv)
    base = serve.SERVE_CACHE / "saved_models" / serve.MODEL
    if not base.is_dir():
        raise SystemExit("run `python bench/serve.py` first: it builds the SciFact export this script serves")
    queries = [json.loads(line)["text"] for line in open(pathlib.Path(args.data) / "queries.jsonl", encoding="utf-8")]
    results = {}
    for name, flags in SETTINGS.items():
        started = time.perf_counter()
        results[name] = figures = measure(base, queries, flags, args.seconds)
        one, many = figures["1"], figures["16"]
        print(f"{name}: 1 client p50 {one['p50_ms']} ms; 16 clients {many['requests_per_second']} requests/s, p50 "
              f"{many['p50_ms']} ms, {many['mean_queries_per_call']} queries per call, queue depth "
              f"{many['queue_depth_samples']} ({time.perf_counter() - started:.0f} s)", flush=True)
    alone = [serve.signature_alone(base, threads, seconds=args.seconds / 2) for threads in (1, 0)]
    for row in alone:
        print(f"signature alone, intra-op threads {row['intra_op_threads'] or 'TensorFlow default'}, "
              f"{row['concurrency']} calls side by side: " + ", ".join(
                  f"batch {r['batch_size']} {r['queries_per_second']} queries/s" for r in row["rows"]), flush=True)
    write_result(args.output, {"settings": results, "signature_alone": alone, "seconds": args.seconds,
                               "cpus": os.cpu_count(), "machine": machine_description()})
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
