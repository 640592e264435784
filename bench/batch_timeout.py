"""`--batch-timeout-micros` under 16 clients, REST and gRPC, with the servers side by side.

One `tfsearch serve` process per timeout (the SciFact export of
`bench/serve.py`, built there first; every other flag at its default), all
running at once, and their cells interleaved: for `--rounds` rounds (in
order, then in reverse), each server gets 16 closed-loop REST clients and
then 16 gRPC clients for `--seconds` (one query per request, k 10,
diversity 0.3, as `bench/serve.py`). Each cell pools its rounds:
throughput, p50, p99, errors, the server's and the load generator's CPU
time per request, and the mean queries per signature call
(`tfsearch_batch_size`). A batch waits for company only while another
batch runs (`RequestBatcher`), so a lone client is not measured here: it
pays no wait.

Writes `bench/results/batch_timeout.json` (atomically).

Usage:
    python bench/batch_timeout.py [--timeouts 0,1000,2000] [--rounds 4] [--seconds 5]
"""

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import serve  # noqa: E402
from bench_common import RESULTS, SCIFACT, machine_description, write_result  # noqa: E402

CLIENTS = 16


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SCIFACT))
    parser.add_argument("--timeouts", default="0,1000,2000", help="comma-separated --batch-timeout-micros values")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--output", default=str(RESULTS / "batch_timeout.json"))
    args = parser.parse_args(argv)
    timeouts = [int(t) for t in args.timeouts.split(",")]
    base = serve.SERVE_CACHE / "saved_models" / serve.MODEL
    if not base.is_dir():
        raise SystemExit("run `python bench/serve.py` first: it builds the SciFact export this script serves")
    queries = list(dict.fromkeys(json.loads(line)["text"]
                                 for line in open(pathlib.Path(args.data) / "queries.jsonl", encoding="utf-8")))
    pick = lambda rng: rng.choice(queries)  # noqa: E731
    servers = {}
    cells, batches = {}, {}
    try:
        for timeout in timeouts:
            servers[timeout] = serve.Server(base, "--batch-timeout-micros", str(timeout))
            servers[timeout].warm_up(pick)
        for round_number in range(args.rounds):
            for timeout in timeouts if round_number % 2 == 0 else timeouts[::-1]:
                server = servers[timeout]
                for protocol, make in (("rest", lambda: serve.RestClient(server.port)),
                                       ("grpc", lambda: serve.GrpcClient(server.grpc_port))):
                    before = (server.metric("tfsearch_batch_size_sum"), server.metric("tfsearch_batch_size_count"))
                    cell = cells.setdefault((timeout, protocol), serve.PooledCell())
                    figures = cell.measure(make, CLIENTS, args.seconds, pick, "requests_per_second",
                                           server_pid=server.process.pid)
                    counted = batches.setdefault((timeout, protocol), [0.0, 0.0])
                    counted[0] += server.metric("tfsearch_batch_size_sum") - before[0]
                    counted[1] += server.metric("tfsearch_batch_size_count") - before[1]
                    print(f"round {round_number + 1}, --batch-timeout-micros {timeout}, {protocol}: "
                          f"{figures['requests_per_second']} requests/s, p50 {figures['p50_ms']} ms", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    results = {}
    for (timeout, protocol), cell in cells.items():
        figures = cell.figures(CLIENTS, "rounds_requests_per_second")
        queries_in, calls = batches[(timeout, protocol)]
        figures["mean_queries_per_call"] = round(queries_in / calls, 2) if calls else None
        results.setdefault(str(timeout), {})[protocol] = figures
        print(f"--batch-timeout-micros {timeout}, {protocol}: {figures['requests_per_second']} requests/s, p50 "
              f"{figures['p50_ms']} ms, server CPU {figures['server_cpu_ms_per_request']} ms per request, "
              f"{figures['mean_queries_per_call']} queries per call", flush=True)
    write_result(args.output, {"batch_timeout_micros": results, "clients": CLIENTS, "rounds": args.rounds,
                               "seconds": args.seconds,
                               "command": "python bench/batch_timeout.py " + " ".join(argv or sys.argv[1:]),
                               "machine": machine_description()})
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
