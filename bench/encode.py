"""Corpus-encoding throughput: tfsearch vs sentence-transformers on the same texts.

Measures, on the whole SciFact corpus (title + " " + text, 256-token limit):
- documents per second for tfsearch (float32, the precision `"auto"` picks
  on this machine -- bfloat16 where native -- and bfloat16 with `--bf16`),
  with its length-aware batching, including tokenisation; each with one
  TensorFlow intra-op thread per call and `--threads` batches side by side
  (`tfsearch.utils.cpu_threads`), and the precision "auto" picks also with
  `--threads` intra-op threads, one batch at a time (TensorFlow's default
  threading: `tfsearch_<precision>_intra_op_<threads>`);
- the same for sentence-transformers (CPU torch) when it is installed
  (`make bench` installs it), with the same thread count;
- single-query latency (p50, p90) for both;
- the cosine between the two libraries' embeddings of every document.

Every library and setting runs in its own process, so that each reads its
kernel settings (TensorFlow's `TF_ENABLE_ONEDNN_OPTS`, oneDNN's ISA limit)
afresh.

`--emulate-cpu avx2` measures on this machine what an AVX2-only CPU (AMD Zen 3)
would run: oneDNN (TensorFlow's and torch's), MKL and torch's own kernels are
limited to AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`, `MKL_ENABLE_INSTRUCTIONS=AVX2`,
`ATEN_CPU_CAPABILITY=avx2`), precision "auto" decides from the flags of such a
CPU (float32), and tfsearch is measured twice: with the oneDNN setting that
`tfsearch.utils.onednn` makes there (on) and with TensorFlow's own default
there (off, as before that module). Caches, clocks and the XLA JIT (which
compiles for the host) are still this machine's, so the result file says
`emulated` and the docs keep it apart from a real AVX2 machine's figures.

Writes `bench/results/encode.json` (atomically; `encode_emulated_avx2.json`
with `--emulate-cpu avx2`) and prints a summary.

Usage:
    python bench/encode.py [--data ../shared/data/scifact] [--limit N] [--threads 2] [--bf16]
                           [--precision auto|float32] [--emulate-cpu avx2]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    EMULATIONS,
    RESULTS,
    SCIFACT,
    emulation_environment,
    import_tensorflow,
    machine_description,
    percentiles,
    run_in_subprocess,
    write_result,
)

_VARIANT_NAMES = {None: "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


def load_texts(data_dir, limit=None):
    from tfsearch.data.beir import BeirDataset

    data = BeirDataset(data_dir)
    docs = [doc.contents() for doc in data.iter_corpus()]
    queries = [q.text for q in data.queries().values()]
    return (docs[:limit] if limit else docs), queries


# --- tfsearch (one process per variant) ---------------------------------------


def run_tfsearch(docs, queries, threads, batch_size, dtype, intra_op_threads):
    tf = import_tensorflow(threads, intra_op_threads)
    from tensorflow.python.util import _pywrap_util_port

    from tfsearch.data.pipelines import texts_dataset
    from tfsearch.models.batch_encoding import encode_dataset
    from tfsearch.models.bert_encoder import BertEncoder

    encoder = BertEncoder.from_pretrained(dtype=dtype)
    ids = [str(i) for i in range(len(docs))]
    # Warm-up: trace the function once on a small batch (not timed).
    # With one intra-op thread per call, `threads` batches run side by side (what `encode_dataset` does by
    # itself when the process may use `threads` cores).
    parallel = max(1, threads // intra_op_threads)
    encode_dataset(encoder, texts_dataset(ids[:batch_size], docs[:batch_size]), batch_size=batch_size, progress=False)
    # Timed from here: tokenisation and encoding both count.
    start, cpu_start = time.perf_counter(), os.times()
    _, embeddings = encode_dataset(encoder, texts_dataset(ids, docs), batch_size=batch_size, total=len(docs),
                                   description=f"tfsearch {_VARIANT_NAMES.get(dtype, dtype)}",
                                   num_parallel_batches=parallel)
    seconds, cpu_end = time.perf_counter() - start, os.times()

    single = tf.function(lambda t: encoder(t), input_signature=[tf.TensorSpec([None], tf.string)])
    single(tf.constant(queries[:1]))
    latencies = []
    for query in queries[:200]:
        t0 = time.perf_counter()
        single(tf.constant([query])).numpy()
        latencies.append(time.perf_counter() - t0)
    user, system = cpu_end.user - cpu_start.user, cpu_end.system - cpu_start.system
    return embeddings, {"documents_per_second": round(len(docs) / seconds, 2), "seconds": round(seconds, 1),
                        "single_query": percentiles(latencies),
                        "tensorflow_threads": {"intra_op": intra_op_threads, "inter_op": threads,
                                               "batches_side_by_side": parallel},
                        "onednn": bool(_pywrap_util_port.IsMklEnabled()),
                        "kernel_cpu_share": round(system / max(user + system, 1e-9), 3)}


def tfsearch_worker(spec):
    """`--worker SPEC`: one tfsearch variant in this process; embeddings to a .npy, the result as the last line."""
    import numpy as np

    docs = json.loads(pathlib.Path(spec["docs"]).read_text())
    queries = json.loads(pathlib.Path(spec["queries"]).read_text())
    embeddings, result = run_tfsearch(docs, queries, spec["threads"], spec["batch_size"], spec["dtype"],
                                      spec["intra_op_threads"])
    np.save(spec["out"], embeddings.astype(np.float32))
    print(json.dumps(result))


def run_tfsearch_variant(spec, environment):
    """Runs `tfsearch_worker` in a fresh process with `environment` added; `(embeddings, result)`."""
    import numpy as np

    env = dict(os.environ, **environment)
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], stdout=subprocess.PIPE, env=env,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the tfsearch variant {spec['dtype'] or 'float32'} failed with exit code {proc.returncode}")
    return np.load(spec["out"]), json.loads(proc.stdout.strip().splitlines()[-1])


# --- sentence-transformers (own process) -------------------------------------

ST_SCRIPT = r"""
import json, os, sys, time
import numpy as np
import torch
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
from sentence_transformers import SentenceTransformer
docs = json.load(open(args["docs"]))
queries = json.load(open(args["queries"]))
model = SentenceTransformer(args["model"], device="cpu")
model.max_seq_length = 256
model.encode(docs[: args["batch_size"]], batch_size=args["batch_size"])
start, cpu_start = time.perf_counter(), os.times()
emb = model.encode(docs, batch_size=args["batch_size"], normalize_embeddings=True, show_progress_bar=True)
seconds, cpu_end = time.perf_counter() - start, os.times()
lat = []
for q in queries[:200]:
    t0 = time.perf_counter(); model.encode([q], normalize_embeddings=True); lat.append(time.perf_counter() - t0)
np.save(args["out"], emb.astype(np.float32))
user, system = cpu_end.user - cpu_start.user, cpu_end.system - cpu_start.system
print(json.dumps({"seconds": seconds, "latencies": lat, "torch": torch.__version__,
                  "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                  "kernel_cpu_share": round(system / max(user + system, 1e-9), 3)}))
"""


def run_sentence_transformers(docs, queries, threads, batch_size, workdir, environment):
    import numpy as np

    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        return None, {"skipped": "sentence-transformers is not installed (run `make bench`)"}
    from tfsearch.models.presets import preset_dir

    args = {"threads": threads, "batch_size": batch_size, "model": str(preset_dir()), "docs": str(workdir / "docs.json"),
            "queries": str(workdir / "queries.json"), "out": str(workdir / "st.npy")}
    result, skipped = run_in_subprocess(ST_SCRIPT, args, threads, environment)
    if skipped:
        return None, skipped
    import sentence_transformers as st

    return np.load(workdir / "st.npy"), {
        "documents_per_second": round(len(docs) / result["seconds"], 2), "seconds": round(result["seconds"], 1),
        "single_query": percentiles(result["latencies"]), "version": st.__version__, "torch": result["torch"],
        "cpu_capability": result["cpu_capability"], "kernel_cpu_share": result["kernel_cpu_share"],
    }


def variants(args, flags, emulation):
    """`[(result name, dtype, extra environment, intra-op threads)]`: the tfsearch settings to measure.

    Every setting runs with one intra-op thread per call and `--threads` batches side by side
    (`tfsearch.utils.cpu_threads`); the precision "auto" picks runs a second time with `--threads` intra-op
    threads and one batch at a time (TensorFlow's default threading), as `<name>_intra_op_<threads>`.
    """
    from tfsearch.utils.onednn import ONEDNN_VARIABLE
    from tfsearch.utils.precision import choose_policy

    policy, reason = choose_policy(flags)
    print(f"precision: auto picks {policy or 'float32'} ({reason})", flush=True)
    dtypes = [None] + (["mixed_bfloat16"] if args.bf16 else [])
    if args.precision == "auto" and policy not in dtypes:
        dtypes.append(policy)
    environment = {}
    if emulation is not None:  # the oneDNN setting only: `main` adds the kernel limits to every process
        variables, why = emulation_environment(emulation)
        environment = {ONEDNN_VARIABLE: variables[ONEDNN_VARIABLE]}
        print(f"oneDNN on the emulated CPU: {environment[ONEDNN_VARIABLE]} ({why})", flush=True)
    chosen = []
    for dtype in dtypes:
        name = "tfsearch_" + _VARIANT_NAMES[dtype]
        chosen.append((name, dtype, environment, 1))
        if emulation is not None:
            chosen.append((name + "_tensorflow_default_kernels", dtype, {ONEDNN_VARIABLE: "0"}, 1))
        if dtype == policy and args.threads > 1:
            chosen.append((f"{name}_intra_op_{args.threads}", dtype, environment, args.threads))
    return chosen


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SCIFACT), help="BEIR folder (default: ../shared/data/scifact)")
    parser.add_argument("--limit", type=int, help="encode only the first N documents")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for both libraries (default: 2)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bf16", action="store_true", help="also measure tfsearch with bfloat16 compute")
    parser.add_argument("--precision", choices=["auto", "float32"], default="auto",
                        help="auto (default): also measure the precision tfsearch picks on this machine "
                             "(bfloat16 where native); float32: float32 only, unless --bf16")
    parser.add_argument("--emulate-cpu", choices=sorted(EMULATIONS),
                        help="limit every library's kernels to this instruction set (see the module docstring)")
    parser.add_argument("--output", help="result file (default: bench/results/encode.json, or "
                                         "encode_emulated_avx2.json with --emulate-cpu avx2)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return tfsearch_worker(json.loads(args.worker))
    from tfsearch.utils.precision import cpu_flags

    emulation = EMULATIONS.get(args.emulate_cpu)
    output = args.output or str(RESULTS / ("encode.json" if emulation is None else
                                           f"encode_emulated_{args.emulate_cpu}.json"))
    flags = set(emulation["flags"]) if emulation else cpu_flags()
    environment = dict(emulation["environment"]) if emulation else {}

    docs, queries = load_texts(args.data, args.limit)
    print(f"{len(docs)} documents, {len(queries)} queries, {args.threads} threads, batch {args.batch_size}")
    results = {"data": str(args.data), "documents": len(docs), "threads": args.threads, "batch_size": args.batch_size,
               "machine": machine_description(),
               "command": "python bench/encode.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    if emulation:
        from tfsearch.utils.precision import choose_policy

        policy, reason = choose_policy(flags)
        results["emulated_cpu"] = {"cpu": emulation["cpu"], "flags": sorted(flags), "environment": environment,
                                   "auto_precision": {"policy": policy or "float32", "reason": reason}}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        (workdir / "docs.json").write_text(json.dumps(docs))
        (workdir / "queries.json").write_text(json.dumps(queries))
        st_embeddings, results["sentence_transformers"] = run_sentence_transformers(
            docs, queries, args.threads, args.batch_size, workdir, environment)
        for name, dtype, extra, intra_op_threads in variants(args, flags, emulation):
            spec = {"docs": str(workdir / "docs.json"), "queries": str(workdir / "queries.json"),
                    "threads": args.threads, "batch_size": args.batch_size, "dtype": dtype,
                    "intra_op_threads": intra_op_threads, "out": str(workdir / f"{name}.npy")}
            embeddings, results[name] = run_tfsearch_variant(spec, {**environment, **extra})
            results[name]["environment"] = extra
            if st_embeddings is not None:
                cosines = (embeddings * st_embeddings).sum(axis=1)
                results[name]["cosine_vs_sentence_transformers"] = {
                    "min": round(float(cosines.min()), 6), "mean": round(float(cosines.mean()), 6)}
                results[name]["speedup_vs_sentence_transformers"] = round(
                    results[name]["documents_per_second"] / results["sentence_transformers"]["documents_per_second"], 2)

    write_result(output, results)
    print(json.dumps(results, indent=2))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
