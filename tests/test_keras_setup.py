"""tfsearch selects Keras 2 itself, and refuses clearly when Keras 3 is already bound."""

import os
import subprocess
import sys


def run_python(code):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_import_selects_tf_keras_without_the_user_setting_anything():
    proc = run_python("import tfsearch, tensorflow as tf; print(tf.keras.__name__)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("tf_keras")


def test_works_after_tensorflow_was_imported_first():
    proc = run_python("import tensorflow as tf; import tfsearch; print(tf.keras.__name__)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("tf_keras")


def test_clear_error_when_keras_3_is_already_active():
    proc = run_python(
        "import tensorflow as tf\n"
        "tf.keras.layers  # binds Keras 3\n"
        "try:\n"
        "    import tfsearch\n"
        "except ImportError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Keras3ActiveError")
    assert "TF_USE_LEGACY_KERAS=1" in proc.stdout and "Import tfsearch before" in proc.stdout
