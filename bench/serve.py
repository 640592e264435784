"""Closed-loop load on loopback against `tfsearch serve` with the SciFact index.

Builds (once; cached in bench/.cache/serve) the exact SciFact index with the
pretrained model and its SavedModel export, starts `tfsearch serve` in its own
process, then measures:
- one client, one request at a time: latency of `GET /search` (k=10,
  diversity 0.3) and of TensorFlow Serving's `POST /v1/models/scifact:predict`,
  HTTP included (p50, p90, p99);
- `--clients` concurrent clients with keep-alive connections, each sending
  `--requests` `GET /search` requests back to back: throughput, p50 and p99
  latency, errors (any answer other than 200);
- the server's resident memory before and after the load, and sampled every
  2 s during it: growth over the last three quarters of the load (after the
  16 connections' threads and buffers exist) tells a leak from warm-up.

Writes `bench/results/serve.json` (atomically).

Usage:
    python bench/serve.py [--clients 16] [--requests 2000] [--data ../shared/data/scifact]
"""

import argparse
import http.client
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    CACHE,
    REPO,
    RESULTS,
    SCIFACT,
    machine_description,
    percentiles,
    rss_bytes,
    write_result,
)

SERVE_CACHE = CACHE / "serve"


def tfsearch(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-m", "tfsearch.cli", *args], cwd=REPO, env=env, check=True)


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, port):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path):
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        response.read()
        return response.status

    def post(self, path, body):
        self.connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = self.connection.getresponse()
        response.read()
        return response.status


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SCIFACT))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000, help="requests per client")
    parser.add_argument("--single", type=int, default=500, help="requests of the one-client latency runs")
    parser.add_argument("--output", default=str(RESULTS / "serve.json"))
    args = parser.parse_args(argv)

    index, base = SERVE_CACHE / "index", SERVE_CACHE / "saved_models" / "scifact"
    if not (index / "index.json").is_file():
        tfsearch("index", "build", "--data", args.data, "--output", str(index), "--no-progress", "--overwrite")
    if not base.is_dir() or not any(p.name.isdigit() for p in base.iterdir()):
        tfsearch("export", "--index", str(index), "--output", str(base))
    from tfsearch.data.beir import BeirDataset

    queries = [q.text for q in BeirDataset(args.data).queries("test").values()]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "tfsearch.cli", "serve", "--model-base-path", str(base),
                               "--port", str(port)], cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if Client(port).get("/v1/models/scifact") == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("tfsearch serve did not start")
            time.sleep(0.5)

        def search_path(i):
            return "/search?" + urllib.parse.urlencode({"q": queries[i % len(queries)], "k": 10, "diversity": 0.3})

        client = Client(port)
        for i in range(50):  # warm-up
            client.get(search_path(i))
        memory_before = rss_bytes(server.pid)

        single = {}
        for name, call in (
            ("search", lambda i: client.get(search_path(i))),
            ("predict", lambda i: client.post("/v1/models/scifact:predict", {
                "inputs": {"queries": [queries[i % len(queries)]], "k": 10, "diversity": 0.3}})),
        ):
            latencies, errors = [], 0
            for i in range(args.single):
                start = time.perf_counter()
                errors += call(i) != 200
                latencies.append(time.perf_counter() - start)
            single[name] = {**percentiles(latencies, (50, 90, 99)), "errors": errors, "requests": args.single}
            print(f"one client, {name}: p50 {single[name]['p50_ms']} ms, p99 {single[name]['p99_ms']} ms", flush=True)

        latencies = [[] for _ in range(args.clients)]
        errors = [0] * args.clients

        def run(c):
            connection = Client(port)
            for i in range(args.requests):
                start = time.perf_counter()
                try:
                    ok = connection.get(search_path(c * args.requests + i)) == 200
                except (OSError, http.client.HTTPException):
                    ok, connection = False, Client(port)
                latencies[c].append(time.perf_counter() - start)
                errors[c] += not ok

        threads = [threading.Thread(target=run, args=(c,)) for c in range(args.clients)]
        samples, sampling = [], threading.Event()

        def sample():
            while not sampling.wait(2.0):
                samples.append((round(time.perf_counter() - start, 1), rss_bytes(server.pid)))

        start = time.perf_counter()
        for thread in threads:
            thread.start()
        sampler = threading.Thread(target=sample)
        sampler.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        sampling.set()
        sampler.join()
        memory_after = rss_bytes(server.pid)
        total = args.clients * args.requests
        load = {"clients": args.clients, "requests": total, "seconds": round(elapsed, 1),
                "requests_per_second": round(total / elapsed, 1), "errors": sum(errors),
                **percentiles([x for per_client in latencies for x in per_client], (50, 90, 99))}
        print(f"{args.clients} clients x {args.requests}: {load['requests_per_second']} requests/s, p50 "
              f"{load['p50_ms']} ms, p99 {load['p99_ms']} ms, {load['errors']} errors", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)

    quarter = next((rss for t, rss in samples if t >= elapsed / 4), memory_before)
    result = {"single_client": single, "load": load,
              "server_memory": {"before_bytes": memory_before, "after_bytes": memory_after,
                                "growth_bytes": memory_after - memory_before,
                                "at_first_quarter_bytes": quarter,
                                "growth_over_last_three_quarters_bytes": memory_after - quarter,
                                "samples_seconds_bytes": samples},
              "cpus": os.cpu_count(), "machine": machine_description(), "documents": 5183}
    print(f"server memory: {memory_before / 1e6:.0f} MB before, {quarter / 1e6:.0f} MB a quarter into the load, "
          f"{memory_after / 1e6:.0f} MB after")
    write_result(args.output, result)
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
