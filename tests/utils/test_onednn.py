import os
import platform
import subprocess
import sys

import pytest

from tfsearch.utils.onednn import ONEDNN_VARIABLE, choose_onednn, configure_onednn
from tfsearch.utils.precision import cpu_flags

ZEN3 = "fpu sse4_2 avx f16c fma avx2 bmi2 sha_ni vaes vpclmulqdq"
ZEN4 = ZEN3 + " avx512f avx512bw avx512vl avx512_vnni avx512_bf16"
SKYLAKE = "fpu sse4_2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl"
CASCADE_LAKE = SKYLAKE + " avx512_vnni"
ALDER_LAKE = "fpu sse4_2 avx avx2 fma avx_vnni"
SAPPHIRE_RAPIDS = CASCADE_LAKE + " avx512_bf16 amx_bf16 amx_tile amx_int8"
SANDY_BRIDGE = "fpu sse4_2 avx"

CASES = [
    # (machine, cpu flags, platform.machine(), the user's value, what tfsearch sets, words of the reason)
    ("AMD Zen 3 (AVX2 and FMA only)", ZEN3, "x86_64", None, "1", "turns it on"),
    ("Intel Skylake (AVX-512 without VNNI)", SKYLAKE, "x86_64", None, "1", "turns it on"),
    ("Windows names the machine AMD64", ZEN3, "AMD64", None, "1", "turns it on"),
    ("AMD Zen 4 (AVX512-VNNI)", ZEN4, "x86_64", None, None, "by itself"),
    ("Intel Cascade Lake (AVX512-VNNI)", CASCADE_LAKE, "x86_64", None, None, "by itself"),
    ("Intel Alder Lake (AVX-VNNI)", ALDER_LAKE, "x86_64", None, None, "by itself"),
    ("Intel Sapphire Rapids (AMX)", SAPPHIRE_RAPIDS, "x86_64", None, None, "by itself"),
    ("Sandy Bridge (no AVX2)", SANDY_BRIDGE, "x86_64", None, None, "without AVX2"),
    ("ARM (Graviton)", "fp asimd sve", "aarch64", None, None, "not an x86-64"),
    ("no flags known", "", "x86_64", None, None, "without AVX2"),
    ("the user turned it off", ZEN3, "x86_64", "0", None, "set by the user"),
    ("the user turned it on", SAPPHIRE_RAPIDS, "x86_64", "1", None, "set by the user"),
]


@pytest.mark.parametrize("name,flags,machine,user_value,value,reason_words", CASES, ids=[case[0] for case in CASES])
def test_onednn_is_turned_on_only_where_tensorflow_leaves_it_off(name, flags, machine, user_value, value,
                                                                 reason_words):
    chosen, reason = choose_onednn(set(flags.split()), machine, user_value)
    assert chosen == value, name
    assert reason_words in reason
    assert "\n" not in reason


def test_configure_sets_the_variable_and_keeps_a_users_value():
    environ = {}
    assert configure_onednn(environ, set(ZEN3.split()), "x86_64")[0] == "1"
    assert environ == {ONEDNN_VARIABLE: "1"}
    environ = {ONEDNN_VARIABLE: "0"}
    assert configure_onednn(environ, set(ZEN3.split()), "x86_64")[0] is None
    assert environ == {ONEDNN_VARIABLE: "0"}
    environ = {}
    assert configure_onednn(environ, set(CASCADE_LAKE.split()), "x86_64")[0] is None
    assert environ == {}


def _tensorflow_onednn_after(code, environ):
    """Runs `code`, then imports TensorFlow in a fresh process; returns whether its oneDNN kernels are on."""
    script = code + ("\nimport tensorflow\nfrom tensorflow.python.util import _pywrap_util_port\n"
                     "print(_pywrap_util_port.IsMklEnabled())\n")
    env = {k: v for k, v in os.environ.items() if k != ONEDNN_VARIABLE}
    env.update(environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64") or not {"avx2", "fma"} <= cpu_flags(),
                    reason="needs an x86-64 CPU with AVX2 and FMA")
def test_after_import_tfsearch_tensorflow_uses_onednn_on_this_cpu_and_the_user_can_turn_it_off():
    # Whatever TensorFlow's own default on this CPU, `import tfsearch` first leaves its oneDNN kernels on ...
    assert _tensorflow_onednn_after("import tfsearch", {})
    # ... the variable that tfsearch sets on a Zen 3 is the one TensorFlow reads ...
    assert _tensorflow_onednn_after(f"from tfsearch.utils.onednn import configure_onednn\n"
                                    f"configure_onednn(cpu_flags={set(ZEN3.split())!r}, machine='x86_64')", {})
    # ... and a user's TF_ENABLE_ONEDNN_OPTS=0 wins.
    assert not _tensorflow_onednn_after("import tfsearch", {ONEDNN_VARIABLE: "0"})
