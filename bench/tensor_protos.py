"""What the gRPC front end pays to read a search request's TensorProtos and to write its answer's.

`tfsearch.serving.tensor_protos` against TensorFlow's `tf.make_ndarray` and
`tf.make_tensor_proto`, for what a `Predict` on `search` carries:

1. **Inputs**: `queries` (1 or 16 strings), `k` (an int32 scalar) and
   `diversity` (a float32 scalar), as clients write them with
   `tf.make_tensor_proto`: `flat_values` against
   `tf.make_ndarray(proto).reshape(-1).tolist()`.
2. **Outputs**: `ids` (bytes), `scores` (float32) and `positions` (int32),
   `[1, 10]` and `[16, 10]`: `to_tensor_proto` against
   `tf.make_tensor_proto`.

Each figure is the median over `--repeats` of the mean microseconds per set
(all three tensors), in this process, one thread. The protos are checked
equal first.

Writes `bench/results/tensor_protos.json` (atomically); `docs/benchmarks.md`
quotes it.

Usage:
    python bench/tensor_protos.py [--calls 2000] [--repeats 5]
"""

import argparse
import json
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import RESULTS, import_tensorflow, machine_description, write_result  # noqa: E402

K = 10
QUERY = "what causes inflammation of the airways in asthma patients"  # about SciFact's median length


def microseconds(function, calls, repeats):
    """Median over `repeats` of the mean microseconds of `function()` over `calls` calls."""
    function()
    means = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        means.append((time.perf_counter() - start) / calls * 1e6)
    return round(statistics.median(means), 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=str(RESULTS / "tensor_protos.json"))
    args = parser.parse_args(argv)
    tf = import_tensorflow(1)
    from tfsearch.serving.tensor_protos import flat_values, to_tensor_proto

    result = {}
    for queries in (1, 16):
        inputs = {"queries": (tf.make_tensor_proto([QUERY] * queries, dtype=tf.string), tf.string, queries),
                  "k": (tf.make_tensor_proto(K, dtype=tf.int32), tf.int32, 1),
                  "diversity": (tf.make_tensor_proto(0.3, dtype=tf.float32), tf.float32, 1)}
        rng = np.random.default_rng(0)
        outputs = {"ids": np.array([[f"doc{i}".encode() for i in rng.integers(0, 5183, K)] for _ in range(queries)],
                                   object),
                   "scores": rng.random((queries, K), np.float32),
                   "positions": rng.integers(0, 5183, (queries, K)).astype(np.int32)}
        for proto, dtype, count in inputs.values():
            assert flat_values(proto, dtype, count) == tf.make_ndarray(proto).reshape(-1).tolist()
        for array in outputs.values():
            assert to_tensor_proto(array) == tf.make_tensor_proto(array)
        row = {
            "inputs_make_ndarray_us": microseconds(
                lambda: [tf.make_ndarray(p).reshape(-1).tolist() for p, _, _ in inputs.values()],
                args.calls, args.repeats),
            "inputs_flat_values_us": microseconds(
                lambda: [flat_values(*spec) for spec in inputs.values()], args.calls, args.repeats),
            "outputs_make_tensor_proto_us": microseconds(
                lambda: [tf.make_tensor_proto(a) for a in outputs.values()], args.calls, args.repeats),
            "outputs_to_tensor_proto_us": microseconds(
                lambda: [to_tensor_proto(a) for a in outputs.values()], args.calls, args.repeats),
        }
        result[f"{queries}_queries"] = row
        print(f"{queries:2d} queries: " + ", ".join(f"{key} {value}" for key, value in row.items()), flush=True)
    result.update(command="python bench/tensor_protos.py " + " ".join(argv or sys.argv[1:]), k=K,
                  machine=machine_description())
    write_result(args.output, result)
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
