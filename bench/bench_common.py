"""What the benchmark scripts share: paths, TensorFlow set-up, the machine, result files, an embedding cache.

Imported by the scripts of `bench/` (run as `python bench/NAME.py`, so that
this folder is on `sys.path`); importing it puts the repository on `sys.path`
too, for `tfsearch`. Nothing here imports TensorFlow until asked
(`import_tensorflow`).
"""

import contextlib
import importlib.metadata
import json
import os
import pathlib
import platform
import subprocess
import sys
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
SCIFACT = REPO.parent / "shared" / "data" / "scifact"  # the default `--data` of the benchmarks
CACHE = HERE / ".cache"
RESULTS = HERE / "results"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# CPU features that decide TensorFlow's and numpy's kernels (oneDNN, XLA CPU).
_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile")
# /proc/cpuinfo keys of the CPU's identity, by their names in `machine_description()["cpu_id"]`.
_CPU_ID_FIELDS = {"vendor_id": "vendor", "cpu family": "family", "model": "model", "stepping": "stepping"}


# What `--emulate-cpu` limits each library's kernels to, and the CPU flags such a CPU has.
EMULATIONS = {
    "avx2": {
        "environment": {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
        "flags": ("sse4_2", "avx", "f16c", "fma", "avx2"),
        "cpu": "AVX2 and FMA only (AMD Zen 3 class)",
    },
}


def emulation_environment(emulation):
    """`(variables, reason)`: what a process needs to run as the emulated CPU of `EMULATIONS`.

    The kernel limits, and `TF_ENABLE_ONEDNN_OPTS` as `import tfsearch` sets it
    on such a CPU (given explicitly: TensorFlow's own default follows this
    machine's flags, not the emulated ones).
    """
    from tfsearch.utils.onednn import ONEDNN_VARIABLE, choose_onednn

    value, why = choose_onednn(set(emulation["flags"]), "x86_64")
    return {**emulation["environment"], ONEDNN_VARIABLE: value or "0"}, why


def import_tensorflow(threads, intra_op_threads=None):
    """Imports tfsearch (Keras 2 routing) and TensorFlow limited to `threads` CPU threads; returns `tf`.

    Args:
        threads: int. Inter-op threads, and intra-op threads unless given; 0
            keeps TensorFlow's default.
        intra_op_threads: int or None. Intra-op threads when not `threads`
            (1: one thread per call, `tfsearch.utils.cpu_threads`).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tfsearch  # noqa: F401  (before anything touches tf.keras)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads if intra_op_threads is None else intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    return tf


def _package_version(*names):
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(name)
    return None


def _cpu_info():
    """`(model name, [relevant flags], {vendor, family, model, stepping})` of the first CPU in /proc/cpuinfo (Linux);
    elsewhere the platform's processor, no flags and an empty dict."""
    fields, flags = {}, []
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = (part.strip() for part in line.partition(":"))
                if not key and fields:
                    break  # the first processor's block ends
                if key == "flags":
                    flags = value.split()
                elif key in _CPU_ID_FIELDS or key == "model name":
                    fields.setdefault(key, value)
    relevant = sorted({f for f in flags if f in _CPU_FLAGS or f.startswith(("avx512", "amx"))})
    cpu_id = {name: int(fields[key]) if fields[key].isdigit() else fields[key]
              for key, name in _CPU_ID_FIELDS.items() if key in fields}
    return fields.get("model name") or platform.processor() or platform.machine(), relevant, cpu_id


def machine_description():
    """The machine a result was measured on, for the result file.

    Returns:
        dict: `processor` and `machine` (as `platform` reports them),
        `cpu_model`, `cpu_flags` (the SIMD and matrix extensions that choose
        the kernels: avx2, avx512*, amx*, ...), `cpu_id` (`vendor`,
        `family`, `model`, `stepping`: a virtual machine may name every AMD
        part "AMD EPYC", and the family tells Zen 4, 25, from Zen 5, 26),
        `cpus` (`os.cpu_count()`),
        `python`, the installed `tensorflow` and `numpy` versions (read
        from the package metadata: TensorFlow is not imported), and
        `auto_precision`: what `"auto"` picks on this CPU (`{"policy",
        "reason"}`, from the CPU flags; accelerators are not queried), and
        `onednn`: TensorFlow's oneDNN setting (`{"TF_ENABLE_ONEDNN_OPTS":
        the variable after `import tfsearch`, or None for TensorFlow's
        default, "reason"}`, see `tfsearch.utils.onednn`).

    Example:
    ```python
    machine_description()
    # {"processor": "x86_64", "machine": "x86_64", "cpu_model": "Intel(R) Xeon(R) ...",
    #  "cpu_flags": ["amx_bf16", ..., "avx2", "avx512f", ...],
    #  "cpu_id": {"vendor": "GenuineIntel", "family": 6, "model": 143, "stepping": 8}, "cpus": 2, "python": "3.11.7",
    #  "tensorflow": "2.20.0", "numpy": "2.2.6",
    #  "auto_precision": {"policy": "mixed_bfloat16", "reason": "CPU with AMX-BF16"},
    #  "onednn": {"TF_ENABLE_ONEDNN_OPTS": None, "reason": "TensorFlow turns oneDNN on by itself ..."}}
    ```
    """
    from tfsearch.utils.onednn import ONEDNN_VARIABLE, choose_onednn
    from tfsearch.utils.precision import choose_policy, cpu_flags

    model, flags, cpu_id = _cpu_info()
    policy, reason = choose_policy(cpu_flags())
    onednn_value = os.environ.get(ONEDNN_VARIABLE)
    # Why the variable has its value: decided as `import tfsearch` did, before it was set.
    _, onednn_reason = choose_onednn(cpu_flags(), platform.machine())
    return {
        "processor": platform.processor() or platform.machine(),
        "machine": platform.machine(),
        "cpu_model": model,
        "cpu_flags": flags,
        "cpu_id": cpu_id,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": _package_version("tensorflow", "tensorflow-cpu", "tf-nightly"),
        "numpy": _package_version("numpy"),
        "auto_precision": {"policy": policy or "float32", "reason": reason},
        "onednn": {ONEDNN_VARIABLE: onednn_value, "reason": onednn_reason},
    }


def write_result(path, result):
    """Writes `result` as indented JSON, with a final newline, atomically (a reader never sees half a file)."""
    from tfsearch.utils.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(result, indent=2) + "\n")


def cosine_summary(a, b, digits=6):
    """`{"min", "mean"}` of the cosines between the rows of two `[n, dim]` arrays, rounded to `digits`."""
    import numpy as np

    cosines = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"min": round(float(cosines.min()), digits), "mean": round(float(cosines.mean()), digits)}


def percentiles(seconds, quantiles=(50, 90)):
    """`{"p50_ms": ..., "p90_ms": ...}`: the `quantiles` of latencies given in seconds, in ms rounded to 0.01."""
    import numpy as np

    ms = np.asarray(seconds) * 1000.0
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 2) for q in quantiles}


def calls_side_by_side(call, batch_sizes, seconds, concurrency):
    """Queries/s and latency of `call(n, offset)` by batch size `n`, with `concurrency` calls running at once.

    As TensorFlow Serving's `num_batch_threads` (or `tfsearch serve`'s batch
    threads) run batches: for each `n`, one warm-up call (a shape's first call
    traces), then `concurrency` threads call back to back for `seconds`, each
    with its own `offset` (so that calls differ).

    Args:
        call: callable `(n, offset)` running one batch of `n` queries.
        batch_sizes: ints.
        seconds: float, the time spent at each size.
        concurrency: int, the calls side by side (at least 1).

    Returns:
        list of `{"batch_size", "calls", "p50_ms", "p90_ms",
        "queries_per_second"}`, one per size: the percentiles of single calls,
        the queries/s of all threads together.
    """
    rows = []
    for n in batch_sizes:
        call(n, 0)
        latencies, stop_at = [[] for _ in range(concurrency)], time.perf_counter() + seconds

        def run(thread, n=n, stop_at=stop_at):
            done = latencies[thread]
            while time.perf_counter() < stop_at or not done:
                began = time.perf_counter()
                call(n, 97 * thread + n * len(done))
                done.append(time.perf_counter() - began)

        threads = [threading.Thread(target=run, args=(t,)) for t in range(concurrency)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed, every = time.perf_counter() - start, [s for thread in latencies for s in thread]
        rows.append({"batch_size": n, "calls": len(every), **percentiles(every),
                     "queries_per_second": round(len(every) * n / elapsed, 1)})
    return rows


def rss_bytes(pid="self"):
    """Resident memory of a process (this one by default), in bytes, from /proc (Linux)."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid="self"):
    """CPU time a process (this one by default) has used, user and system, in seconds, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def run_in_subprocess(script, args, threads, environment=None):
    """Runs a sentence-transformers `script` in its own process (`python -c script JSON_ARGS`), offline.

    The script reads its settings from `sys.argv[1]` (JSON) and prints its
    result as the last line of its output (JSON). torch gets `threads`
    threads through `OMP_NUM_THREADS`; the script sets its own too.

    Returns:
        `(result, error)`: the parsed dict and None, or None and a
        `{"skipped": reason}` dict for the result file.
    """
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS=str(threads),
               **(environment or {}))
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(args)], stdout=subprocess.PIPE, env=env,
                          text=True)
    if proc.returncode != 0:
        return None, {"skipped": f"sentence-transformers failed with exit code {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def cached_embeddings(folder, compute):
    """Corpus and query embeddings, computed once by `compute()` and read back from `folder` afterwards.

    The folder holds `doc_ids.txt` and `query_ids.txt` (one id a line),
    `documents.npy` and `queries.npy` (float32), and `done.json` (written
    last, each file atomically: a run stopped half-way computes again).
    Name the folder after everything the embeddings depend on (the
    encoder's fingerprint, the data).

    Args:
        folder: `pathlib.Path`.
        compute: callable returning `(doc_ids, doc_embeddings [n, dim],
            query_ids, query_embeddings [m, dim])`.

    Returns:
        `(doc_ids, doc_embeddings, query_ids, query_embeddings)`: lists of str
        and float32 numpy arrays.
    """
    import time

    import numpy as np

    from tfsearch.utils.atomic import atomic_file, atomic_write_text

    folder = pathlib.Path(folder)
    if (folder / "done.json").is_file():
        doc_ids = (folder / "doc_ids.txt").read_text(encoding="utf-8").split("\n")[:-1]
        query_ids = (folder / "query_ids.txt").read_text(encoding="utf-8").split("\n")[:-1]
        print(f"  embeddings from the cache {folder}", flush=True)
        return doc_ids, np.load(folder / "documents.npy"), query_ids, np.load(folder / "queries.npy")
    start = time.perf_counter()
    doc_ids, doc_embeddings, query_ids, query_embeddings = compute()
    doc_ids, query_ids = [str(d) for d in doc_ids], [str(q) for q in query_ids]
    doc_embeddings = np.asarray(doc_embeddings, np.float32)
    query_embeddings = np.asarray(query_embeddings, np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in (("documents.npy", doc_embeddings), ("queries.npy", query_embeddings)):
        with atomic_file(folder / name, mode="wb") as f:
            np.save(f, array)
    atomic_write_text(folder / "doc_ids.txt", "".join(f"{d}\n" for d in doc_ids))
    atomic_write_text(folder / "query_ids.txt", "".join(f"{q}\n" for q in query_ids))
    atomic_write_text(folder / "done.json", json.dumps({"seconds": round(time.perf_counter() - start, 1)}) + "\n")
    return doc_ids, doc_embeddings, query_ids, query_embeddings
