"""Closed-loop load on loopback against `tfsearch serve` with the SciFact index: batching, gRPC, cache, switches.

Builds (once; cached in bench/.cache/serve) the exact SciFact index with the
pretrained model, exports it afresh (so that the run measures the graph the
code makes now: `export` in the result) at `--precision` (default auto:
bfloat16 where the processor has it natively, float32 elsewhere), then starts
`tfsearch serve` in its own process for each server set-up and measures, in
one run:

1. **Batching off and on, REST and gRPC, 1, 4 and 16 clients**: each client
   is a thread with a keep-alive connection of its own (REST: `POST
   /v1/models/scifact:predict`) or a channel of its own (gRPC: TensorFlow
   Serving's `PredictionService/Predict` through the `tensorflow-serving-api`
   stub; gRPC's channels to one address share one HTTP/2 connection, its
   global subchannel pool, as the threads of one client process sharing a
   channel do) sending one query (k 10, diversity 0.3) at a time for
   `--seconds`: throughput, p50 and p99 latency, errors (any
   answer but 200 / OK), the server's resident memory, and the CPU time per
   request of the server process and of this one, the load generator
   (`/proc/PID/stat`: on a machine with few cores the two share them, so
   the client's cost lowers the server's throughput). Batching off is
   `--max-batch-size 0` (each request its own signature call, in a thread
   of its own), with `tfsearch serve`'s thread default (one intra-op
   thread per call on a CPU) and with TensorFlow's
   (`--tensorflow-intra-op-parallelism 0`, TensorFlow Serving's default),
   and, where the export is not float32, with a float32 export too
   (`off_float32_export`, one intra-op thread), whose answers the export's
   are compared with (`precision`: embedding cosine, top-10 overlap); on
   is `tfsearch serve`'s default (the export's `batching_params.pbtxt`
   batch size and `--batch-timeout-micros`). Then the `search_batchable`
   signature alone, in-process with no server, by batch size, with as many
   calls side by side as cores (`signature_alone`): what batching could
   gain at most, with either thread setting, and with one thread from an
   export without the encoding chunks (`--encoding-chunk-size 0`). The
   three server set-ups are measured in `--rounds` (2: in order, then in
   reverse), each cell pooling
   its rounds, so that the machine's drift over the run weighs on all alike;
   one client's latency, off and on, is measured again with both servers
   running and their cells alternating (`one_client_side_by_side`: the
   target is a difference of a millisecond or two).
2. **Cache**: 16 REST clients draw queries from 1,000 distinct SciFact
   queries with Zipf-distributed popularity (exponent `--zipf`), against a
   server without and with `--cache-size 10000`: throughput, p50, hit rate
   (the server's Prometheus counters).
3. **Version switches under load**: 16 clients on `/search` while a new
   version is published twice (a copy of the served version, written under
   a temporary name and renamed, as `tfsearch export` does): failed requests,
   the slowest request, and the versions that answered; and the Python
   objects a loaded version holds, as the server loads it and by
   `tf.saved_model.load` (`python_objects_per_version`).

Writes `bench/results/serve.json` and, beside it, `serve.png` (part 1's
throughput and p50 by clients, with the signature alone's ceiling), both
atomically; `docs/benchmarks.md` quotes and shows them. `--plot RESULT`
draws the PNG of an earlier result file again; `--switches-only` runs part 3
alone (after the export) and writes only its figures to `--output`.

Usage:
    python bench/serve.py [--seconds 8] [--rounds 2] [--precision auto] [--data ../shared/data/scifact]
    python bench/serve.py --plot bench/results/serve_epyc_avx512.json
"""

import argparse
import http.client
import json
import os
import pathlib
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    CACHE,
    REPO,
    RESULTS,
    SCIFACT,
    calls_side_by_side,
    cosine_summary,
    cpu_seconds,
    import_tensorflow,
    machine_description,
    percentiles,
    rss_bytes,
    write_result,
)

from tfsearch.cli.arg_types import positive_int  # noqa: E402
from tfsearch.cli.common import PRECISIONS  # noqa: E402

SERVE_CACHE = CACHE / "serve"
MODEL = "scifact"
CLIENT_COUNTS = (1, 4, 16)
LOAD_MODES = {  # `tfsearch serve`'s flags for each server set-up of part 1
    "off": ("--max-batch-size", "0"),
    # TensorFlow's own thread defaults (one intra-op thread per core), as TensorFlow Serving runs by default.
    "off_tensorflow_threads": ("--max-batch-size", "0", "--tensorflow-intra-op-parallelism", "0"),
    "on": (),
}
# Where the export computes in bfloat16, batching off is measured on a float32 export as well (one intra-op
# thread): a lone query is not slowed by bfloat16's weight layout there, so the best batching-off figure counts.
FLOAT32_MODE = "off_float32_export"
K, DIVERSITY = 10, 0.3


def tfsearch(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-m", "tfsearch.cli", *args], cwd=REPO, env=env, check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`tfsearch serve` in its own process, REST and gRPC on free ports."""

    def __init__(self, base, *flags):
        self.port, self.grpc_port = free_port(), free_port()
        self.flags = list(flags)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tfsearch.cli", "serve", "--model-base-path", str(base), "--port", str(self.port),
             "--grpc-port", str(self.grpc_port), "--poll-seconds", "0.5", *flags],
            cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while True:
            try:
                if RestClient(self.port).get(f"/v1/models/{MODEL}")[0] == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tfsearch serve {' '.join(flags)} did not start: {self.process.stderr.read()}")
            time.sleep(0.5)

    def warm_up(self, pick_query, seconds=3):
        """4 REST clients for `seconds`: the first calls of each shape, before anything is measured."""
        closed_loop(lambda: RestClient(self.port), 4, seconds, pick_query)

    def rss(self):
        return rss_bytes(self.process.pid)

    def metric(self, name, **labels):
        """The sum of a Prometheus sample's values over the series matching `labels`."""
        from prometheus_client.parser import text_string_to_metric_families

        _, text = RestClient(self.port).get("/monitoring/prometheus/metrics")
        return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)


class RestClient:
    """One keep-alive HTTP connection."""

    def __init__(self, port):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path):
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        return response.status, response.read().decode("utf-8")

    def predict(self, query):
        body = json.dumps({"inputs": {"queries": [query], "k": K, "diversity": DIVERSITY}})
        self.connection.request("POST", f"/v1/models/{MODEL}:predict", body=body,
                                headers={"Content-Type": "application/json"})
        response = self.connection.getresponse()
        response.read()
        return response.status == 200

    def search(self, query):
        """`(ok, model_version)` of one `/search`."""
        status, text = self.get("/search?" + urllib.parse.urlencode({"q": query, "k": K, "diversity": DIVERSITY}))
        return status == 200, json.loads(text).get("model_version") if status == 200 else None


class GrpcClient:
    """One gRPC channel with TensorFlow Serving's `PredictionService` stub.

    The channels of a process to one address share one HTTP/2 connection
    (gRPC's global subchannel pool): the RPCs of several clients are
    streams on it.
    """

    def __init__(self, port):
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        self._tf, self._predict_pb2 = tf, predict_pb2
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self._k = tf.make_tensor_proto(K, dtype=tf.int32)
        self._diversity = tf.make_tensor_proto(DIVERSITY, dtype=tf.float32)
        self._requests = {}

    def predict(self, query):
        import grpc

        request = self._requests.get(query)
        if request is None:  # built once per query: the client's own cost stays out of the server's way
            request = self._requests[query] = self._predict_pb2.PredictRequest()
            request.model_spec.name = MODEL
            request.inputs["queries"].CopyFrom(self._tf.make_tensor_proto([query], dtype=self._tf.string))
            request.inputs["k"].CopyFrom(self._k)
            request.inputs["diversity"].CopyFrom(self._diversity)
        try:
            self.stub.Predict(request, timeout=60)
            return True
        except grpc.RpcError:
            return False


def closed_loop(make_client, clients, seconds, pick_query, call="predict", stop=None, latencies_out=None,
                server_pid=None):
    """`clients` threads, each with its own client, calling back to back for `seconds`; the figures.

    With `stop` (a `threading.Event`), they call until it is set instead.
    With `latencies_out` (a list), every request's seconds are appended to it.
    With `server_pid`, the figures add the CPU time per request of the
    server and of this process (the load generator), counted while the
    clients call (after they connected).
    """
    latencies = [[] for _ in range(clients)]
    errors = [0] * clients
    answers = [[] for _ in range(clients)]
    ready, go = threading.Barrier(clients + 1), threading.Event()
    stop_at = [None]

    def run(c):
        client, rng = make_client(), random.Random(c)
        ready.wait()  # every client connected before the clock starts
        go.wait()
        while not stop.is_set() if stop is not None else time.perf_counter() < stop_at[0]:
            query = pick_query(rng)
            start = time.perf_counter()
            try:
                result = getattr(client, call)(query)
            except (OSError, http.client.HTTPException):
                result, client = False, make_client()
            latencies[c].append(time.perf_counter() - start)
            ok = result[0] if isinstance(result, tuple) else result
            errors[c] += not ok
            if isinstance(result, tuple):
                answers[c].append(result[1])

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    cpu_before = (cpu_seconds(server_pid), cpu_seconds()) if server_pid is not None else None
    start = time.perf_counter()
    stop_at[0] = start + seconds if seconds is not None else None
    go.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    flat = [x for per_client in latencies for x in per_client]
    if latencies_out is not None:
        latencies_out.extend(flat)
    figures = figures_of(clients, flat, elapsed, sum(errors))
    if cpu_before is not None:
        figures["server_cpu_seconds"] = round(cpu_seconds(server_pid) - cpu_before[0], 3)
        figures["load_generator_cpu_seconds"] = round(cpu_seconds() - cpu_before[1], 3)
    return figures, [a for per_client in answers for a in per_client]


def figures_of(clients, latencies, seconds, errors):
    """The figures of a closed loop: requests, throughput, errors, max, p50 and p99 of `latencies` (seconds)."""
    return {"clients": clients, "requests": len(latencies), "seconds": round(seconds, 2),
            "requests_per_second": round(len(latencies) / seconds, 1), "errors": errors,
            "max_ms": round(max(latencies) * 1000, 1), **percentiles(latencies, (50, 99))}


class PooledCell:
    """One cell measured in several rounds: every round's requests pooled into one set of figures."""

    def __init__(self):
        self.latencies, self.seconds, self.errors, self.rounds = [], 0.0, 0, []
        self.cpu = {"server_cpu_seconds": 0.0, "load_generator_cpu_seconds": 0.0}

    def measure(self, make_client, clients, seconds, pick_query, round_figure, server_pid=None):
        """Runs one round (`closed_loop`), keeps its `round_figure` (a figures key); returns its figures."""
        figures, _ = closed_loop(make_client, clients, seconds, pick_query, latencies_out=self.latencies,
                                 server_pid=server_pid)
        self.seconds += figures["seconds"]
        self.errors += figures["errors"]
        self.rounds.append(figures[round_figure])
        for key in self.cpu:
            self.cpu[key] += figures.get(key, 0.0)
        return figures

    def figures(self, clients, rounds_key):
        """The pooled figures; with CPU counted, the CPU ms per request of the server and the load generator."""
        figures = {**figures_of(clients, self.latencies, self.seconds, self.errors), rounds_key: self.rounds}
        if self.cpu["server_cpu_seconds"] and self.latencies:
            for key, value in self.cpu.items():
                figures[key.replace("_seconds", "_ms_per_request")] = round(value * 1000 / len(self.latencies), 2)
        return figures


def load_grid(bases, queries, seconds, rounds=2):
    """Part 1: `{"off"|"off_tensorflow_threads"|"on"|...: {"rest"|"grpc": {clients: figures}}}`, memory.

    `bases` maps each set-up (a `LOAD_MODES` key, or `FLOAT32_MODE`) to the
    model base path its server serves.

    The set-ups are measured in `rounds`, in order and then in reverse
    (off, off with TensorFlow's threads, on, on, ..., off), each round with a
    fresh server, so that a machine whose speed drifts over the minutes of a
    run (these VMs' does, by up to a fifth) weighs on every set-up alike. A
    cell's figures pool its rounds' requests; `rounds_requests_per_second`
    keeps each round's throughput, the spread. Memory is that of each set-up's
    first server, before and after its cells.
    """
    pooled, memory = {}, {}
    pick = lambda rng: rng.choice(queries)  # noqa: E731
    for round_number in range(rounds):
        order = list(bases)
        for mode in order if round_number % 2 == 0 else order[::-1]:
            server = Server(bases[mode], *LOAD_MODES.get(mode, LOAD_MODES["off"]))
            try:
                server.warm_up(pick)
                memory.setdefault(mode, {"before_bytes": server.rss()})
                for protocol, make in (("rest", lambda: RestClient(server.port)),
                                       ("grpc", lambda: GrpcClient(server.grpc_port))):
                    for clients in CLIENT_COUNTS:
                        cell = pooled.setdefault((mode, protocol, clients), PooledCell())
                        figures = cell.measure(make, clients, seconds, pick, "requests_per_second",
                                               server_pid=server.process.pid)
                        print(f"round {round_number + 1}, batching {mode}, {protocol}, {clients:2d} clients: "
                              f"{figures['requests_per_second']:7.1f} requests/s, p50 {figures['p50_ms']} ms, "
                              f"p99 {figures['p99_ms']} ms, {figures['errors']} errors", flush=True)
                memory[mode].setdefault("after_bytes", server.rss())
            finally:
                server.stop()
    grid = {}
    for (mode, protocol, clients), cell in pooled.items():
        grid.setdefault(mode, {}).setdefault(protocol, {})[str(clients)] = cell.figures(
            clients, "rounds_requests_per_second")
    return grid, memory


def one_client_side_by_side(base, queries, seconds, rounds=4):
    """One client's latency with batching off and on, both servers running, cells alternating.

    The one-client target is a difference of about a millisecond, which a
    VM's drift between the minutes of part 1 can exceed: here the two
    servers run at once (idle but for the one being measured) and their
    one-client cells alternate, `rounds` times, the order flipping each round.

    Returns:
        `{"off"|"on": {"rest"|"grpc": figures}}`, each pooling its rounds'
        requests, with `rounds_p50_ms` (each round's p50).
    """
    pick = lambda rng: rng.choice(queries)  # noqa: E731
    servers = {mode: Server(base, *LOAD_MODES[mode]) for mode in ("off", "on")}
    pooled = {}
    try:
        for server in servers.values():
            server.warm_up(pick)
        for round_number in range(rounds):
            for mode in ("off", "on") if round_number % 2 == 0 else ("on", "off"):
                server = servers[mode]
                for protocol, make in (("rest", lambda: RestClient(server.port)),
                                       ("grpc", lambda: GrpcClient(server.grpc_port))):
                    pooled.setdefault((mode, protocol), PooledCell()).measure(make, 1, seconds, pick, "p50_ms")
    finally:
        for server in servers.values():
            server.stop()
    result = {}
    for (mode, protocol), cell in pooled.items():
        result.setdefault(mode, {})[protocol] = cell.figures(1, "rounds_p50_ms")
        print(f"one client, side by side, batching {mode}, {protocol}: p50 {result[mode][protocol]['p50_ms']} ms "
              f"(rounds {cell.rounds})", flush=True)
    return result


def cache_workload(base, queries, seconds, exponent, cache_size=10_000, distinct=1000):
    """Part 2: Zipf-popular queries without and with the result cache."""
    pool = queries[:distinct]
    weights = [1.0 / (rank + 1) ** exponent for rank in range(len(pool))]
    cumulative, total = [], 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    pick = lambda rng: pool[min(len(pool) - 1, _bisect(cumulative, rng.random() * total))]  # noqa: E731
    result = {"distinct_queries": len(pool), "zipf_exponent": exponent, "clients": 16}
    for name, flags in (("without_cache", ()), ("with_cache", ("--cache-size", str(cache_size)))):
        server = Server(base, *flags)
        try:
            figures, _ = closed_loop(lambda: RestClient(server.port), 16, seconds, pick)
            hits = server.metric("tfsearch_cache_lookups_total", result="hit")
            misses = server.metric("tfsearch_cache_lookups_total", result="miss")
            figures["cache_hit_rate"] = round(hits / (hits + misses), 3) if hits + misses else None
            result[name] = figures
            print(f"Zipf {exponent}, {name}: {figures['requests_per_second']} requests/s, p50 {figures['p50_ms']} ms, "
                  f"hit rate {figures['cache_hit_rate']}", flush=True)
        finally:
            server.stop()
    result["throughput_ratio"] = round(result["with_cache"]["requests_per_second"]
                                       / result["without_cache"]["requests_per_second"], 2)
    return result


def _bisect(cumulative, value):
    import bisect

    return bisect.bisect_left(cumulative, value)


def version_switches(base, queries, switches=2, settle_seconds=10, timeout_seconds=300):
    """Part 3: 16 clients on `/search` while new versions are published; failures and the slowest request.

    Each new version is published once the previous one answers, and the
    load goes on `settle_seconds` after the last switch.
    """
    work = SERVE_CACHE / "switching" / MODEL
    shutil.rmtree(work.parent, ignore_errors=True)
    shutil.copytree(latest_version(base), work / "1")
    server = Server(work)
    published, stop = [], threading.Event()

    def served_version():
        _, text = RestClient(server.port).get(f"/v1/models/{MODEL}")
        return int(json.loads(text)["model_version_status"][0]["version"])

    def publish():
        try:
            for version in range(2, switches + 2):
                time.sleep(settle_seconds)
                tmp = work / f".tmp-{version}"
                shutil.copytree(work / "1", tmp)
                os.rename(tmp, work / str(version))  # what `tfsearch export` does: a reader never sees half of it
                at = time.perf_counter()
                while served_version() != version and time.perf_counter() - at < timeout_seconds:
                    time.sleep(0.2)
                published.append({"version": version, "published_at_seconds": round(at - start, 1),
                                  "served_after_seconds": round(time.perf_counter() - at, 1)})
            time.sleep(settle_seconds)
        finally:
            stop.set()

    try:
        start = time.perf_counter()
        publisher = threading.Thread(target=publish)
        publisher.start()
        figures, versions_seen = closed_loop(lambda: RestClient(server.port), 16, None,
                                             lambda rng: rng.choice(queries), call="search", stop=stop)
        publisher.join()
        figures["switches"] = published
        figures["versions_answering"] = sorted({v for v in versions_seen if v is not None})
        print(f"version switches: {figures['errors']} errors of {figures['requests']}, slowest {figures['max_ms']} ms, "
              f"versions {figures['versions_answering']}, {published}", flush=True)
    finally:
        server.stop()
        shutil.rmtree(work.parent, ignore_errors=True)
    return figures


SIGNATURE_BATCH_SIZES = (1, 2, 4, 8, 16)


def signature_alone(base, intra_op_threads, seconds=2.0, concurrency=None):
    """What the export's `search_batchable` does in-process, with no server: the ceiling batching can reach.

    Runs in a child process (TensorFlow's threads are set before it starts):
    for each batch size, `concurrency` threads (default: the cores, as many
    as `tfsearch serve`'s batch threads or batching-off calls can use) call
    the signature back to back for `seconds` on SciFact queries (k 10,
    diversity 0.3). `intra_op_threads` 0 is TensorFlow's default.

    Returns:
        `{"intra_op_threads", "concurrency", "rows": [{"batch_size", "calls",
        "p50_ms", "p90_ms", "queries_per_second"}], "batching_gain"}`
        (`bench_common.calls_side_by_side`'s rows), the gain being
        the best row's queries/s over batch size 1's (both with `concurrency`
        calls side by side).
    """
    command = [sys.executable, str(pathlib.Path(__file__).resolve()), "--signature-alone", str(base),
               "--intra-op-threads", str(intra_op_threads), "--seconds", str(seconds),
               "--concurrency", str(concurrency or os.cpu_count())]
    done = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def _signature_alone_child(base, intra_op_threads, seconds, concurrency, data):
    import_tensorflow(0, intra_op_threads=intra_op_threads)
    from tfsearch.serving.saved_model_session import SavedModelSession

    signature = SavedModelSession(latest_version(base)).signatures["search_batchable"]  # as the server loads it
    queries = [json.loads(line)["text"] for line in open(pathlib.Path(data) / "queries.jsonl", encoding="utf-8")]

    def call(n, offset):
        picked = [queries[(offset + i) % len(queries)] for i in range(n)]
        signature(queries=picked, k=np.full(n, K, np.int32), diversity=np.full(n, DIVERSITY, np.float32))

    rows = calls_side_by_side(call, SIGNATURE_BATCH_SIZES, seconds, concurrency)
    best = max(rows, key=lambda row: row["queries_per_second"])
    print(json.dumps({"intra_op_threads": intra_op_threads, "concurrency": concurrency, "rows": rows,
                      "batching_gain": round(best["queries_per_second"] / rows[0]["queries_per_second"], 2)}))


def precision_agreement(base, float32_base):
    """How close the export's answers stay to a float32 export's, on every SciFact query (in a child process).

    Returns:
        `{"precision", "queries", "embedding_cosine": {"min", "mean"},
        "top10_overlap": {"diversity 0.0", "diversity 0.3"}}`: the cosine
        between the two exports' `encode_query` embeddings, and the mean share
        of the float32 export's top 10 (`search_batchable`) that the export
        returns too.
    """
    command = [sys.executable, str(pathlib.Path(__file__).resolve()), "--agreement-child", str(base),
               str(float32_base)]
    done = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def _agreement_child(base, float32_base, data):
    import_tensorflow(0)
    from tfsearch.serving.saved_model_session import SavedModelSession

    queries = [json.loads(line)["text"] for line in open(pathlib.Path(data) / "queries.jsonl", encoding="utf-8")]
    models = [SavedModelSession(latest_version(folder)) for folder in (base, float32_base)]
    step = 64
    embeddings = [np.concatenate([model.signatures["encode_query"](queries=queries[i:i + step])["embeddings"]
                                  for i in range(0, len(queries), step)]) for model in models]
    overlap = {}
    for diversity in (0.0, DIVERSITY):
        ids = [np.concatenate([model.signatures["search_batchable"](
            queries=queries[i:i + step], k=np.full(len(queries[i:i + step]), K, np.int32),
            diversity=np.full(len(queries[i:i + step]), diversity, np.float32))["ids"][:, :K]
            for i in range(0, len(queries), step)]) for model in models]
        overlap[f"diversity {diversity}"] = round(float(np.mean(
            [len(set(a) & set(b)) / K for a, b in zip(ids[0], ids[1])])), 4)
    info = json.loads((latest_version(base) / "tfsearch_export.json").read_text())
    print(json.dumps({"precision": info.get("precision"), "queries": len(queries),
                      "embedding_cosine": cosine_summary(*embeddings),
                      "top10_overlap": overlap}))


def python_objects_per_version(base):
    """Python objects a loaded SciFact version holds: as `tfsearch serve` loads it, and by `tf.saved_model.load`.

    What Python's garbage collector walks in each full collection for every
    version loaded, and frees when a version is dropped. Counted in a child
    process (`gc.get_objects()` after a collection, before and after each
    load), after one load that makes TensorFlow's own first-use objects.

    Returns:
        `{"saved_model_session": int, "tf_saved_model_load": int}`.
    """
    command = [sys.executable, str(pathlib.Path(__file__).resolve()), "--objects-child", str(base)]
    done = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def _objects_child(base):
    import gc

    import_tensorflow(0)
    import tensorflow as tf

    from tfsearch.serving.saved_model_session import SavedModelSession

    folder = latest_version(base)
    SavedModelSession(folder).close()  # TensorFlow's first-use objects (and the op libraries), before counting
    kept, counts = [], {}
    for name, load in (("saved_model_session", SavedModelSession), ("tf_saved_model_load", tf.saved_model.load)):
        gc.collect()
        before = len(gc.get_objects())
        kept.append(load(str(folder)))
        gc.collect()
        counts[name] = len(gc.get_objects()) - before
    print(json.dumps(counts))


def latest_version(base):
    """The highest numbered version folder under `base`."""
    return max((p for p in pathlib.Path(base).iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def front_end():
    """The HTTP parser and event loop uvicorn picks for `tfsearch serve` in this environment (`"auto"`)."""
    import importlib.util

    import uvicorn

    def present(name):
        return importlib.util.find_spec(name) is not None

    return {"uvicorn": uvicorn.__version__, "http": "httptools" if present("httptools") else "h11",
            "loop": "uvloop" if present("uvloop") else "asyncio"}


SET_UP_LABELS = {"on": "batching on", "off": "batching off", "off_tensorflow_threads": "off, TensorFlow's threads",
                 FLOAT32_MODE: "off, float32 export"}


def plot(result, path):
    """`path` (PNG): part 1's throughput and p50 by clients, each set-up and protocol, with the signature's ceiling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    from tfsearch.utils.atomic import atomic_file

    fig, (throughput, latency) = plt.subplots(1, 2, figsize=(12, 5.2))
    colours = dict(zip(SET_UP_LABELS, ("tab:green", "tab:blue", "tab:grey", "tab:orange")))
    for set_up, protocols in result["load"].items():
        for protocol, style in (("rest", "o-"), ("grpc", "s--")):
            cells = protocols[protocol]
            clients = sorted(cells, key=int)
            label = f"{SET_UP_LABELS.get(set_up, set_up)}, {'REST' if protocol == 'rest' else 'gRPC'}"
            for ax, figure in ((throughput, "requests_per_second"), (latency, "p50_ms")):
                ax.plot([int(c) for c in clients], [cells[c][figure] for c in clients], style,
                        color=colours.get(set_up), label=label, markersize=5)
    alone = result.get("signature_alone", {}).get("one_intra_op_thread", {}).get("rows")  # older files have none
    best = max(alone, key=lambda row: row["queries_per_second"]) if alone else None
    if best is not None:
        throughput.axhline(best["queries_per_second"], color="black", lw=0.8, ls=":",
                           label=f"signature alone, {best['batch_size']} queries per call (the ceiling)")
    for ax, ylabel in ((throughput, "requests/s (one query each)"), (latency, "p50 latency (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 4, 16], ["1", "4", "16"])
        ax.set_xlabel("concurrent clients (closed loop)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    latency.set_yscale("log")
    latency.yaxis.set_major_formatter(ticker.ScalarFormatter())
    latency.yaxis.set_minor_formatter(ticker.NullFormatter())
    latency.set_yticks([5, 10, 20, 50, 100, 200])
    throughput.set_ylim(0, best["queries_per_second"] * 1.15 if best is not None else None)
    handles, labels = throughput.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3, frameon=False)
    machine = result.get("machine", {})
    precision = result.get("export", {}).get("precision")  # not recorded before commit e37b2d4
    fig.suptitle(f"tfsearch serve, SciFact, {machine.get('cpu_model', '?')} ({machine.get('cpus', '?')} cores"
                 f"{f', {precision} export' if precision else ''})", fontsize=10)
    fig.tight_layout(rect=(0, 0.17, 1, 1))  # the legend below the panels
    with atomic_file(path, mode="wb") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)


def distinct_queries(data):
    """The distinct texts of `data`'s `queries.jsonl`, in file order."""
    queries, seen = [], set()
    with open(pathlib.Path(data) / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["text"]
            if text not in seen:
                seen.add(text)
                queries.append(text)
    return queries


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SCIFACT))
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each load measurement")
    parser.add_argument("--rounds", type=positive_int, default=2,
                        help="rounds of part 1, its set-ups in order then in reverse (drift weighs on all alike)")
    parser.add_argument("--zipf", type=float, default=1.0, help="popularity exponent of the cache workload")
    parser.add_argument("--output", default=str(RESULTS / "serve.json"))
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="the export's `tfsearch export --precision` (default: auto, bfloat16 where native)")
    parser.add_argument("--plot", metavar="RESULT", help="only draw the PNG of an earlier result file, beside it")
    parser.add_argument("--switches-only", action="store_true",
                        help="only part 3 (version switches under load, after a fresh export), to --output")
    parser.add_argument("--signature-alone", metavar="BASE", help=argparse.SUPPRESS)  # the child of signature_alone
    parser.add_argument("--objects-child", metavar="BASE", help=argparse.SUPPRESS)  # python_objects_per_version's
    parser.add_argument("--agreement-child", nargs=2, metavar="BASE", help=argparse.SUPPRESS)  # precision_agreement's
    parser.add_argument("--intra-op-threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--cores", type=int, default=os.cpu_count(),
                        help="calls side by side when the signature is measured alone (default: the cores)")
    args = parser.parse_args(argv)
    if args.plot:
        plot(json.loads(pathlib.Path(args.plot).read_text()), pathlib.Path(args.plot).with_suffix(".png"))
        print(f"Wrote {pathlib.Path(args.plot).with_suffix('.png')}")
        return 0
    if args.objects_child:
        return _objects_child(args.objects_child)
    if args.agreement_child:
        return _agreement_child(*args.agreement_child, args.data)
    if args.signature_alone:
        return _signature_alone_child(args.signature_alone, args.intra_op_threads, args.seconds, args.concurrency,
                                      args.data)

    index, base = SERVE_CACHE / "index", SERVE_CACHE / "saved_models" / MODEL
    if not (index / "index.json").is_file():
        tfsearch("index", "build", "--data", args.data, "--output", str(index), "--no-progress", "--overwrite")
    # Exported afresh (about a minute each) so that the run measures the graph the code makes now; once more
    # with the encoding chunks off, to measure the signature alone without them; and in float32 (another
    # folder: its model name is the base path's last part), where the export is not.
    unchunked = SERVE_CACHE / "saved_models" / f"{MODEL}_encoding_chunks_off"
    float32_base = SERVE_CACHE / "saved_models_float32" / MODEL
    for folder, flags in ((base, ("--precision", args.precision)),
                          (unchunked, ("--precision", args.precision, "--encoding-chunk-size", "0"))):
        shutil.rmtree(folder, ignore_errors=True)
        tfsearch("export", "--index", str(index), "--output", str(folder), *flags)
        if args.switches_only:
            break
    export_settings = {key: value for key, value in
                       json.loads((latest_version(base) / "tfsearch_export.json").read_text()).items()
                       if key in ("flavour", "method", "num_candidates", "max_k", "defaults", "encoding_chunk_size",
                                  "precision")}
    queries = distinct_queries(args.data)
    if args.switches_only:
        result = {"version_switches": version_switches(base, queries), "export": export_settings,
                  "settings": {"k": K, "diversity": DIVERSITY}, "front_end": front_end(),
                  "documents": 5183, "cpus": os.cpu_count(), "machine": machine_description()}
        write_result(args.output, result)
        print(f"Wrote {args.output}")
        return 0
    bases = {mode: base for mode in LOAD_MODES}
    agreement = None
    if export_settings["precision"] != "float32":
        shutil.rmtree(float32_base, ignore_errors=True)
        tfsearch("export", "--index", str(index), "--output", str(float32_base), "--precision", "float32")
        bases = {"off": base, "off_tensorflow_threads": base, FLOAT32_MODE: float32_base, "on": base}
        agreement = precision_agreement(base, float32_base)
    grid, memory = load_grid(bases, queries, args.seconds, args.rounds)
    one_client = one_client_side_by_side(base, queries, args.seconds / 2)
    alone = {"one_intra_op_thread": signature_alone(base, 1, seconds=args.seconds / 2, concurrency=args.cores),
             "tensorflow_threads": signature_alone(base, 0, seconds=args.seconds / 2, concurrency=args.cores),
             "one_intra_op_thread_encoding_chunks_off": signature_alone(unchunked, 1, seconds=args.seconds / 2,
                                                                         concurrency=args.cores)}
    cache = cache_workload(base, queries, 2 * args.seconds, args.zipf)
    switching = version_switches(base, queries)
    switching["python_objects_per_version"] = python_objects_per_version(base)

    def ratio(a, b):
        return round(a / b, 2) if b else None

    on, off, off_tf = grid["on"], grid["off"], grid["off_tensorflow_threads"]

    def gain(protocol, baseline):
        return ratio(on[protocol]["16"]["requests_per_second"], baseline[protocol]["16"]["requests_per_second"])

    targets = {
        "rest_16_clients_throughput_on_over_off": gain("rest", off),
        "grpc_16_clients_throughput_on_over_off": gain("grpc", off),
        "rest_16_clients_throughput_on_over_off_tensorflow_threads": gain("rest", off_tf),
        "grpc_16_clients_throughput_on_over_off_tensorflow_threads": gain("grpc", off_tf),
        **({"rest_16_clients_throughput_on_over_off_float32_export": gain("rest", grid[FLOAT32_MODE]),
            "grpc_16_clients_throughput_on_over_off_float32_export": gain("grpc", grid[FLOAT32_MODE])}
           if FLOAT32_MODE in grid else {}),
        # The most batching could gain: the signature alone, batched against one query per call.
        "signature_alone_batching_gain": alone["one_intra_op_thread"]["batching_gain"],
        "signature_alone_batching_gain_tensorflow_threads": alone["tensorflow_threads"]["batching_gain"],
        # One client: the servers side by side, cells alternating (`one_client_side_by_side`).
        "rest_1_client_p50_ms_on": one_client["on"]["rest"]["p50_ms"],
        "rest_1_client_p50_ms_off": one_client["off"]["rest"]["p50_ms"],
        "grpc_1_client_p50_ms_on": one_client["on"]["grpc"]["p50_ms"],
        "grpc_1_client_p50_ms_off": one_client["off"]["grpc"]["p50_ms"],
        "errors": sum(cell["errors"] for mode in grid.values() for proto in mode.values() for cell in proto.values()),
        "grpc_p50_not_above_rest": all(on["grpc"][c]["p50_ms"] <= on["rest"][c]["p50_ms"] for c in on["rest"]),
        "switch_errors": switching["errors"], "switch_slowest_ms": switching["max_ms"],
    }
    result = {"load": grid, "server_memory": memory, "one_client_side_by_side": one_client,
              "signature_alone": alone, "cache": cache, "export": export_settings, "precision": agreement,
              "version_switches": switching,
              "targets": targets,
              "settings": {"k": K, "diversity": DIVERSITY, "seconds": args.seconds, "rounds": args.rounds},
              "front_end": front_end(),
              "documents": 5183, "cpus": os.cpu_count(), "machine": machine_description()}
    write_result(args.output, result)
    plot(result, pathlib.Path(args.output).with_suffix(".png"))
    print(json.dumps(targets, indent=1))
    print(f"Wrote {args.output} and {pathlib.Path(args.output).with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
