"""Where the encoder's time goes: TensorFlow op times of one forward pass, by op type.

The encoder's `encode_tokens` graph (token ids and padding mask in, embedding
out) is frozen and run in a TensorFlow session with full tracing, after the
graph optimisations TensorFlow applies to every `tf.function` (grappler's
remapper and oneDNN rewrites included). For each setting it reports the
step time (mean of `--steps` untraced runs) and, from one traced run, the
time and count of each op type (`_MklNativeFusedMatMul` is a matrix product
with its bias, and GELU where fused; `AddV2`/`Mul` are element-wise passes).

Settings: float32, and bfloat16 compute where the processor has native
bfloat16 (what `"auto"` picks). `--emulate-cpu avx2` limits oneDNN to AVX2 as
`bench/encode.py --emulate-cpu avx2` does (float32 only, since `"auto"` picks
float32 there).

Writes `bench/results/encoder_ops.json` (`encoder_ops_emulated_avx2.json`
with `--emulate-cpu avx2`, or `--output`).

Usage:
    python bench/encoder_ops.py [--batch 64] [--seq 256] [--steps 5] [--threads 2] [--emulate-cpu avx2]
                                [--output FILE]
"""

import argparse
import collections
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    EMULATIONS,
    RESULTS,
    emulation_environment,
    import_tensorflow,
    machine_description,
    write_result,
)

TOP_OPS = 12


def profile(tf, dtype, batch, seq, steps, threads):
    """`{"step_ms", "ops": [{"op", "count", "ms", "share"}]}` for one setting."""
    import numpy as np
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from tfsearch.models.batch_encoding import encode_tokens_function
    from tfsearch.models.bert_encoder import BertEncoder

    encoder = BertEncoder.from_pretrained(dtype=dtype)
    concrete = encode_tokens_function(encoder).get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(frozen.graph.as_graph_def(), name="")
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)
    session = tf.compat.v1.Session(graph=graph, config=config)
    rng = np.random.default_rng(0)
    feed = {frozen.inputs[0].name: rng.integers(1000, 20000, size=[batch, seq]).astype(np.int32),
            frozen.inputs[1].name: np.ones([batch, seq], bool)}
    fetches = [t.name for t in frozen.outputs]
    for _ in range(2):
        session.run(fetches, feed)
    start = time.perf_counter()
    for _ in range(steps):
        session.run(fetches, feed)
    step_ms = (time.perf_counter() - start) / steps * 1000

    options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE, output_partition_graphs=True)
    metadata = tf.compat.v1.RunMetadata()
    session.run(fetches, feed, options=options, run_metadata=metadata)
    op_of = {node.name: node.op for partition in metadata.partition_graphs for node in partition.node}
    micros, counts = collections.Counter(), collections.Counter()
    for device in metadata.step_stats.dev_stats:
        for node in device.node_stats:
            op = op_of.get(node.node_name, node.node_name)
            micros[op] += node.op_end_rel_micros - node.op_start_rel_micros
            counts[op] += 1
    total = sum(micros.values()) or 1
    ops = [{"op": op, "count": counts[op], "ms": round(us / 1000, 2), "share": round(us / total, 3)}
           for op, us in micros.most_common(TOP_OPS)]
    return {"step_ms": round(step_ms, 1), "traced_op_ms": round(total / 1000, 1), "ops": ops}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5, help="untimed warm-up runs are 2; timed runs (default 5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--emulate-cpu", choices=sorted(EMULATIONS))
    parser.add_argument("--output", help="result file (default: bench/results/encoder_ops.json, or "
                                         "encoder_ops_emulated_avx2.json with --emulate-cpu avx2)")
    args = parser.parse_args(argv)
    emulation = EMULATIONS.get(args.emulate_cpu)
    if emulation and any(os.environ.get(k) != v for k, v in emulation["environment"].items()):
        # The kernel limits are read when TensorFlow loads: start again with them set.
        environment = dict(os.environ, **emulation_environment(emulation)[0])
        os.execve(sys.executable, [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:])],
                  environment)

    tf = import_tensorflow(args.threads)
    from tfsearch.utils.precision import choose_policy, cpu_flags

    flags = set(emulation["flags"]) if emulation else cpu_flags()
    policy, reason = choose_policy(flags)
    result = {"batch": args.batch, "seq": args.seq, "threads": args.threads, "machine": machine_description(),
              "command": "python bench/encoder_ops.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "auto_precision": {"policy": policy or "float32", "reason": reason}}
    if emulation:
        result["emulated_cpu"] = {"cpu": emulation["cpu"], "environment": emulation["environment"]}
    for name, dtype in [("float32", None)] + ([("bfloat16", policy)] if policy == "mixed_bfloat16" else []):
        result[name] = profile(tf, dtype, args.batch, args.seq, args.steps, args.threads)
        top = ", ".join(f"{o['op']} {o['share']:.0%}" for o in result[name]["ops"][:5])
        print(f"{name}: {result[name]['step_ms']} ms per [{args.batch}, {args.seq}] batch; {top}", flush=True)
    output = args.output or RESULTS / ("encoder_ops.json" if emulation is None else
                                       f"encoder_ops_emulated_{args.emulate_cpu}.json")
    write_result(output, result)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
