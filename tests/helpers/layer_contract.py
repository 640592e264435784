"""Shared checks of the Keras layer contract, used by every layer's tests.

- `assert_config_round_trip`: `from_config(get_config())` rebuilds an
  equivalent object (same config; same outputs once weights are copied).
- `assert_xla_compiles`: the call runs under `tf.function(jit_compile=True)`
  and agrees with eager execution.
- `assert_saved_model_reloads_in_fresh_process`: a SavedModel with a named
  signature loads in a new Python process that imports only TensorFlow and
  TF Text (as TensorFlow Serving would) and gives the same outputs.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf


def assert_config_round_trip(layer, call=None, atol=1e-6):
    config = layer.get_config()
    json.dumps(config)  # must be JSON-serialisable
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    if call is not None:
        expected = call(layer)
        clone_out = call(clone)  # builds the clone's weights
        clone.set_weights(layer.get_weights())
        clone_out = call(clone)
        tf.nest.map_structure(
            lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol), expected, clone_out
        )
    return clone


def assert_xla_compiles(fn, *args, atol=1e-5):
    eager = fn(*args)
    compiled = tf.function(fn, jit_compile=True)(*args)
    tf.nest.map_structure(
        lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol), eager, compiled
    )
    return compiled


def assert_saved_model_reloads_in_fresh_process(module, export_dir, signature_name, inputs, expected, atol=1e-5):
    """Saves `module` and checks its signature's outputs in a fresh process.

    Args:
        module: a `tf.Module` carrying `signatures[signature_name]` via `tf.saved_model.save(..., signatures=)`.
        export_dir: where to save.
        signature_name: name of the signature to call.
        inputs: dict of name -> python/numpy value.
        expected: dict of output name -> numpy array.
    """
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        import tensorflow as tf
        import tensorflow_text  # registers the TF Text ops, as TF Serving builds do
        loaded = tf.saved_model.load({str(export_dir)!r})
        fn = loaded.signatures[{signature_name!r}]
        inputs = json.loads(sys.stdin.read())
        out = fn(**{{k: tf.constant(v) for k, v in inputs.items()}})
        def plain(v):
            v = np.asarray(v)
            if v.dtype.kind in "SO":
                return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(v).tolist() if v.size else v.tolist()
            return v.tolist()
        print(json.dumps({{k: plain(v) for k, v in out.items()}}))
        """
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_USE_LEGACY_KERAS", None)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps({k: np.asarray(v).tolist() for k, v in inputs.items()}),
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, value in expected.items():
        value = np.asarray(value)
        if value.dtype.kind in "SO":
            assert outputs[name] == _decode(value.tolist()), (name, outputs[name])
        else:
            np.testing.assert_allclose(np.asarray(outputs[name]), value, atol=atol)
    return outputs


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value.decode("utf-8") if isinstance(value, bytes) else value
