"""The compute precision chosen from the hardware: bfloat16 only where it is native, float32 elsewhere.

`choose_policy` is a pure function of the machine's facts (CPU flags, the
accelerator, a GPU's compute capability); `resolve_precision` applies it to
the machine at hand (TensorFlow is imported only then) and logs the choice.

| hardware                                        | policy             |
|-------------------------------------------------|--------------------|
| TPU                                             | `"mixed_bfloat16"` |
| GPU of compute capability 8.0 and above         | `"mixed_bfloat16"` |
| GPU of compute capability 7.x (tensor cores)    | `"mixed_float16"` (with loss scaling when training) |
| older GPU                                       | None (float32)     |
| CPU with AVX512-BF16 or AMX-BF16                | `"mixed_bfloat16"` |
| other CPU (e.g. AMD Zen 3, Intel Skylake)       | None (float32)     |

Without native bfloat16, TensorFlow emulates it and the model runs slower
than in float32, so float32 is the fast choice there.
"""

import functools
import logging
import sys

AUTO = "auto"
# The values a user may give: "auto", or a Keras mixed-precision policy (None and "float32" mean float32).
PRECISIONS = (AUTO, None, "float32", "mixed_bfloat16", "mixed_float16")
# CPU flags (Linux /proc/cpuinfo names) that make bfloat16 matrix products native.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")

logger = logging.getLogger("tfsearch")


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU's feature flags as a set of str (Linux `/proc/cpuinfo` names, e.g. `"avx512_bf16"`).

    Returns an empty set where there is no such file (macOS, Windows) or it
    cannot be read.
    """
    if not sys.platform.startswith("linux") and cpuinfo == "/proc/cpuinfo":
        return set()
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        pass
    return set()


def choose_policy(cpu_flags=(), accelerator=None, compute_capability=None):
    """The Keras mixed-precision policy for a machine, from its facts alone (no hardware is queried).

    Args:
        cpu_flags: iterable of str, the CPU's flags (`cpu_flags()`).
        accelerator: None (CPU only), `"gpu"` or `"tpu"`: where the model runs.
        compute_capability: `(major, minor)` of the GPU (`accelerator="gpu"`),
            or None when unknown.

    Returns:
        `(policy, reason)`: `"mixed_bfloat16"`, `"mixed_float16"` or None
        (float32), and a one-line reason, e.g. `"CPU with AVX512-BF16"`.

    Example:
    ```python
    choose_policy({"avx2", "fma"})  # (None, "CPU without AVX512-BF16 or AMX-BF16")
    choose_policy(accelerator="gpu", compute_capability=(8, 0))  # ("mixed_bfloat16", "GPU of compute capability 8.0")
    ```
    """
    if accelerator not in (None, "cpu", "gpu", "tpu"):
        raise ValueError(f"`accelerator` must be None, 'cpu', 'gpu' or 'tpu', got {accelerator!r}.")
    if accelerator == "tpu":
        return "mixed_bfloat16", "TPU (native bfloat16)"
    if accelerator == "gpu":
        if compute_capability is None:
            return None, "GPU of unknown compute capability"
        major, minor = (tuple(compute_capability) + (0,))[:2]
        capability = f"GPU of compute capability {major}.{minor}"
        if (major, minor) >= (8, 0):
            return "mixed_bfloat16", f"{capability} (native bfloat16)"
        if (major, minor) >= (7, 0):
            return "mixed_float16", f"{capability} (float16 tensor cores, no native bfloat16)"
        return None, f"{capability} (no fast half precision)"
    flags = set(cpu_flags)
    if "amx_bf16" in flags:
        return "mixed_bfloat16", "CPU with AMX-BF16"
    if "avx512_bf16" in flags:
        return "mixed_bfloat16", "CPU with AVX512-BF16"
    return None, "CPU without AVX512-BF16 or AMX-BF16"


def check_precision(value, argument="dtype"):
    """`value` if it is one of `PRECISIONS`, else a ValueError naming `argument`, the value and what is allowed."""
    if value not in PRECISIONS:
        allowed = ", ".join(repr(v) for v in PRECISIONS)
        raise ValueError(f"`{argument}` must be one of {allowed}, got {value!r}.")
    return value


def machine_facts():
    """`(cpu_flags, accelerator, compute_capability)` of this machine, for `choose_policy` (imports TensorFlow)."""
    import tensorflow as tf

    flags = cpu_flags()
    if tf.config.list_logical_devices("TPU"):
        return flags, "tpu", None
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        except Exception:  # details are not available on every platform
            capability = None
        return flags, "gpu", capability
    return flags, None, None


def resolve_precision(value=AUTO, argument="dtype", log=True):
    """A user's precision setting as a Keras policy: `"auto"` is decided from this machine.

    Args:
        value: `"auto"`, None or `"float32"` (float32), `"mixed_bfloat16"`
            or `"mixed_float16"`.
        argument: str. The setting's name, for the error message.
        log: bool. Log the choice (logger `"tfsearch"`, INFO) when it was `"auto"`.

    Returns:
        `(policy, reason)`: None (float32), `"mixed_bfloat16"` or
        `"mixed_float16"`, and why (`"as given"` for an explicit value).

    Raises:
        ValueError: `value` is not one of `PRECISIONS`.

    Example:
    ```python
    policy, reason = resolve_precision("auto")  # e.g. ("mixed_bfloat16", "CPU with AMX-BF16")
    resolve_precision("float32")  # (None, "as given")
    ```
    """
    check_precision(value, argument)
    if value != AUTO:
        return (None if value == "float32" else value), "as given"
    policy, reason = choose_policy(*machine_facts())
    if log:
        logger.info("precision: %s (%s)", policy_name(policy), reason)
    return policy, reason


_COMPUTE_DTYPES = {None: "float32", "float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


def policy_name(policy):
    """The compute dtype of a policy for people: `"float32"`, `"bfloat16"` or `"float16"`."""
    return _COMPUTE_DTYPES.get(policy, str(policy))


def policy_of(compute_dtype):
    """The policy that computes in `compute_dtype` (as an index or shard set records it), the inverse of
    `policy_name`: `"bfloat16"` -> `"mixed_bfloat16"`; anything else unknown (None, "as exported") -> `"float32"`."""
    return {name: policy for policy, name in _COMPUTE_DTYPES.items() if policy}.get(compute_dtype, "float32")


@functools.lru_cache(maxsize=None)
def native_bfloat16():
    """Whether this machine computes bfloat16 natively (what `"auto"` would pick as `"mixed_bfloat16"`); cached."""
    return choose_policy(*machine_facts())[0] == "mixed_bfloat16"
