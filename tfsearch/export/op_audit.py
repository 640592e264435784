"""Which ops an export's graphs use, and which runtime can run them."""

import json
import subprocess
import sys

FLAVOURS = ("brute_force", "scann")

_REGISTRY_SCRIPT = r"""
import json, sys
ops = json.loads(sys.argv[1])
from tensorflow.python.framework import op_def_registry
import tensorflow  # noqa: F401
core = [op for op in ops if op_def_registry.get(op) is not None]
import tensorflow_text  # noqa: F401
text = [op for op in ops if op not in core and op_def_registry.get(op) is not None]
scann = []
if sys.argv[2] == "scann":
    import scann as _scann  # noqa: F401
    from scann.scann_ops.py import scann_ops  # noqa: F401  (loads the op library)
    scann = [op for op in ops if op not in core and op not in text and op_def_registry.get(op) is not None]
print(json.dumps({"core": core, "tensorflow_text": text, "scann": scann}))
"""


class ExportAuditError(ValueError):
    """An export uses ops that its flavour's serving runtime does not have."""


def saved_model_ops(export_dir):
    """The op types of every graph and function of a SavedModel folder, sorted."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(f"{export_dir}/saved_model.pb", "rb") as f:
        proto.ParseFromString(f.read())
    ops = set()
    for meta_graph in proto.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return sorted(ops)


def audit_ops(ops, flavour):
    """Classifies `ops` by the library that registers them, in a fresh Python process.

    The process imports what stock TensorFlow Serving links (TensorFlow, then
    TensorFlow Text) and, for the `scann` flavour, ScaNN's op library.

    Returns:
        dict: `core`, `tensorflow_text`, `scann` (op lists), `namespaces`
        (the `Namespace>` prefixes seen), `custom_ops` (everything outside core
        TensorFlow), `unknown` (registered by none of them) and `allowed` (bool).
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"`flavour` must be one of {FLAVOURS}, got {flavour!r}.")
    proc = subprocess.run([sys.executable, "-c", _REGISTRY_SCRIPT, json.dumps(list(ops)), flavour],
                          capture_output=True, text=True, env=_quiet_env())
    if proc.returncode != 0:
        raise RuntimeError(f"The op audit could not run: {proc.stderr.strip().splitlines()[-1:]}")
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    known = set(found["core"]) | set(found["tensorflow_text"]) | set(found["scann"])
    unknown = sorted(set(ops) - known)
    return {
        "flavour": flavour,
        "core": sorted(found["core"]),
        "tensorflow_text": sorted(found["tensorflow_text"]),
        "scann": sorted(found["scann"]),
        "custom_ops": sorted(set(ops) - set(found["core"])),
        "namespaces": sorted({op.split(">")[0] for op in ops if ">" in op}),
        "unknown": unknown,
        "allowed": not unknown and (flavour == "scann" or not found["scann"]),
    }


def check_audit(audit):
    """Raises `ExportAuditError` naming the ops the flavour's runtime lacks."""
    if audit["allowed"]:
        return
    outside = audit["unknown"] + (audit["scann"] if audit["flavour"] == "brute_force" else [])
    runtime = ("stock TensorFlow Serving (TensorFlow and TensorFlow Text ops)" if audit["flavour"] == "brute_force"
               else "TensorFlow Serving built with ScaNN's ops")
    raise ExportAuditError(f"The export uses ops that {runtime} does not have: {', '.join(sorted(outside))}.")


def _quiet_env():
    import os

    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_USE_LEGACY_KERAS": "1"}
