"""TensorFlow's oneDNN kernels on every x86-64 CPU with AVX2 and FMA, not only on the newest ones.

TensorFlow's Linux packages turn their oneDNN kernels on by default only for
CPUs with AVX512-VNNI, AVX512-BF16, AVX-VNNI or AMX (`DefaultOneDnnPolicy` in
`tensorflow/core/util/port.cc`). On the others, AMD Zen 2/Zen 3 and Intel
Skylake among them, matrix products fall back to Eigen, which allocates fresh
memory for every intermediate tensor; a BERT encoder then spends a large share
of its CPU time in the kernel, zeroing new pages. oneDNN itself runs well on
those CPUs (it is TensorFlow's default on Windows for every x86-64 CPU).

`import tfsearch` therefore sets `TF_ENABLE_ONEDNN_OPTS=1` on such a CPU,
before TensorFlow reads it, unless the user set the variable (their value
always wins). Measured with `python bench/encode.py --emulate-cpu avx2`
(docs/benchmarks.md#emulated-avx2-only-cpu).

| CPU                                             | `TF_ENABLE_ONEDNN_OPTS`    |
|-------------------------------------------------|----------------------------|
| x86-64 with AVX-VNNI, AVX512-VNNI/BF16 or AMX   | TensorFlow's default (on)  |
| other x86-64 with AVX2 and FMA (Zen 3, Skylake) | set to `1` by tfsearch     |
| x86-64 without AVX2 or FMA, or not x86-64       | TensorFlow's default       |
| any, with the variable already set              | the user's value           |

TensorFlow reads the variable once, when it is imported: import tfsearch
first (the `tfsearch` command does), or set the variable yourself.
"""

import logging
import os
import platform
import sys

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
# The CPU flags (Linux /proc/cpuinfo names) with which TensorFlow turns oneDNN on by itself.
TENSORFLOW_ONEDNN_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
# The flags oneDNN's fast x86 kernels need at least.
REQUIRED_FLAGS = ("avx2", "fma")
_X86_64 = ("x86_64", "amd64")

logger = logging.getLogger("tfsearch")


def choose_onednn(cpu_flags=(), machine="x86_64", user_value=None):
    """What tfsearch sets `TF_ENABLE_ONEDNN_OPTS` to on a machine, from its facts alone (nothing is queried).

    Args:
        cpu_flags: iterable of str, the CPU's flags
            (`tfsearch.utils.precision.cpu_flags()`).
        machine: str. `platform.machine()`, e.g. `"x86_64"` or `"aarch64"`.
        user_value: str or None. The variable's value when the user set it.

    Returns:
        `(value, reason)`: `"1"` where tfsearch turns oneDNN on, or None where
        it leaves the variable alone; and a one-line reason.

    Example:
    ```python
    choose_onednn({"avx2", "fma"})  # ("1", "x86-64 CPU with AVX2 and FMA, without ...")
    choose_onednn({"avx2", "fma", "avx512_vnni"})  # (None, "TensorFlow turns oneDNN on by itself ...")
    ```
    """
    if user_value is not None:
        return None, f"{ONEDNN_VARIABLE}={user_value} was set by the user"
    if str(machine).lower() not in _X86_64:
        return None, f"not an x86-64 CPU ({machine}): TensorFlow's default"
    flags = set(cpu_flags)
    if flags & set(TENSORFLOW_ONEDNN_FLAGS):
        return None, "TensorFlow turns oneDNN on by itself for this CPU (VNNI, BF16 or AMX)"
    if not set(REQUIRED_FLAGS) <= flags:
        return None, "x86-64 CPU without AVX2 and FMA: TensorFlow's default"
    return "1", ("x86-64 CPU with AVX2 and FMA, without VNNI, BF16 or AMX, where TensorFlow leaves "
                 "oneDNN off: tfsearch turns it on")


def configure_onednn(environ=None, cpu_flags=None, machine=None):
    """Sets `TF_ENABLE_ONEDNN_OPTS=1` where `choose_onednn` says so; called by `import tfsearch`.

    Args:
        environ: the mapping to update; `os.environ` by default.
        cpu_flags: the CPU's flags; read from `/proc/cpuinfo` by default.
        machine: `platform.machine()` by default.

    Returns:
        `(value, reason)` of `choose_onednn`.
    """
    from tfsearch.utils.precision import cpu_flags as read_cpu_flags

    environ = os.environ if environ is None else environ
    value, reason = choose_onednn(read_cpu_flags() if cpu_flags is None else cpu_flags,
                                  platform.machine() if machine is None else machine, environ.get(ONEDNN_VARIABLE))
    if value is not None:
        environ[ONEDNN_VARIABLE] = value  # also reaches subprocesses, e.g. Beam workers
        if environ is os.environ and "tensorflow" in sys.modules:
            logger.info("TensorFlow was imported before tfsearch, so its oneDNN kernels stay off on this CPU; "
                        "import tfsearch first, or set %s=1 before starting Python.", ONEDNN_VARIABLE)
    return value, reason
