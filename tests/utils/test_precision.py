import logging
import subprocess
import sys

import pytest

from tfsearch.utils import precision
from tfsearch.utils.precision import check_precision, choose_policy, cpu_flags, resolve_precision

ZEN3 = "fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi2 sha_ni vaes vpclmulqdq"
SKYLAKE = "fpu sse4_2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl"
CASCADE_LAKE = SKYLAKE + " avx512_vnni"
COOPER_LAKE = CASCADE_LAKE + " avx512_bf16"
SAPPHIRE_RAPIDS = COOPER_LAKE + " avx512_fp16 amx_bf16 amx_tile amx_int8"

CASES = [
    # (machine, cpu flags, accelerator, compute capability, policy, words of the reason)
    ("AMD Zen 3 (AVX2 only)", ZEN3, None, None, None, "without AVX512-BF16"),
    ("Intel Skylake (AVX-512, no BF16)", SKYLAKE, None, None, None, "without AVX512-BF16"),
    ("Intel Cascade Lake (VNNI, no BF16)", CASCADE_LAKE, None, None, None, "without AVX512-BF16"),
    ("Intel Cooper Lake", COOPER_LAKE, None, None, "mixed_bfloat16", "AVX512-BF16"),
    ("Intel Sapphire Rapids", SAPPHIRE_RAPIDS, None, None, "mixed_bfloat16", "AMX-BF16"),
    ("AMX without the AVX512-BF16 flag", "avx2 amx_bf16", "cpu", None, "mixed_bfloat16", "AMX-BF16"),
    ("no flags known (not Linux)", "", None, None, None, "without"),
    ("GPU P100-like, cc 6.1", ZEN3, "gpu", (6, 1), None, "6.1"),
    ("GPU T4, cc 7.5", ZEN3, "gpu", (7, 5), "mixed_float16", "7.5"),
    ("GPU V100, cc 7.0", ZEN3, "gpu", (7, 0), "mixed_float16", "7.0"),
    ("GPU A100, cc 8.0", ZEN3, "gpu", (8, 0), "mixed_bfloat16", "8.0"),
    ("GPU H100, cc 9.0", SAPPHIRE_RAPIDS, "gpu", (9, 0), "mixed_bfloat16", "9.0"),
    ("GPU of unknown capability", COOPER_LAKE, "gpu", None, None, "unknown"),
    ("TPU (host CPU without BF16)", ZEN3, "tpu", None, "mixed_bfloat16", "TPU"),
]


@pytest.mark.parametrize("machine,flags,accelerator,capability,policy,reason_words", CASES,
                         ids=[case[0] for case in CASES])
def test_the_policy_follows_the_hardware(machine, flags, accelerator, capability, policy, reason_words):
    chosen, reason = choose_policy(set(flags.split()), accelerator, capability)
    assert chosen == policy, machine
    assert reason_words in reason
    assert "\n" not in reason


def test_a_gpu_decides_whatever_the_cpu():
    # The model runs on the GPU: a CPU with AMX does not make a cc 7.5 GPU compute bfloat16.
    assert choose_policy(set(SAPPHIRE_RAPIDS.split()), "gpu", (7, 5))[0] == "mixed_float16"
    assert choose_policy(set(ZEN3.split()), "gpu", (8, 6))[0] == "mixed_bfloat16"


def test_an_unknown_accelerator_is_refused():
    with pytest.raises(ValueError, match=r"`accelerator` must be .*'gpu'.*got 'npu'"):
        choose_policy((), "npu")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 avx512_bf16 amx_bf16\n"
                       "bugs\t\t: spectre_v1\n\nprocessor\t: 1\nflags\t\t: fpu avx2 avx512_bf16 amx_bf16\n")
    assert cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "avx512_bf16", "amx_bf16"}
    assert cpu_flags(str(tmp_path / "missing")) == set()
    (tmp_path / "empty").write_text("")
    assert cpu_flags(str(tmp_path / "empty")) == set()


def test_cpu_flags_elsewhere_than_linux_are_empty(monkeypatch):
    monkeypatch.setattr(precision.sys, "platform", "darwin")
    assert cpu_flags() == set()


@pytest.mark.parametrize("value,policy", [(None, None), ("float32", None), ("mixed_bfloat16", "mixed_bfloat16"),
                                          ("mixed_float16", "mixed_float16")])
def test_explicit_values_are_kept(value, policy, monkeypatch):
    monkeypatch.setattr(precision, "machine_facts", lambda: pytest.fail("an explicit value asks no hardware"))
    assert resolve_precision(value) == (policy, "as given")


@pytest.mark.parametrize("facts,policy", [((set(ZEN3.split()), None, None), None),
                                          ((set(SAPPHIRE_RAPIDS.split()), None, None), "mixed_bfloat16"),
                                          ((set(ZEN3.split()), "gpu", (7, 5)), "mixed_float16")])
def test_auto_is_decided_from_the_machine_and_logged(facts, policy, monkeypatch, caplog):
    monkeypatch.setattr(precision, "machine_facts", lambda: facts)
    with caplog.at_level(logging.INFO, logger="tfsearch"):
        chosen, reason = resolve_precision("auto")
    assert chosen == policy
    assert f"precision: {precision.policy_name(policy)} ({reason})" in caplog.messages


@pytest.mark.parametrize("value", ["bfloat16", "fp32", "AUTO", 16])
def test_an_unknown_value_names_the_argument_the_value_and_what_is_allowed(value):
    with pytest.raises(ValueError) as error:
        resolve_precision(value, argument="mixed_precision")
    message = str(error.value)
    assert message.startswith("`mixed_precision` must be one of ")
    assert f"got {value!r}" in message
    for allowed in ("'auto'", "None", "'float32'", "'mixed_bfloat16'", "'mixed_float16'"):
        assert allowed in message
    assert check_precision("auto") == "auto"


def test_this_machine_resolves_to_what_its_facts_say():
    flags, accelerator, capability = precision.machine_facts()
    assert flags == cpu_flags()
    assert resolve_precision("auto", log=False) == choose_policy(flags, accelerator, capability)


def test_importing_the_module_loads_no_tensorflow():
    code = "import sys, tfsearch.utils.precision; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_policy_of_inverts_policy_name():
    # What an index records (`encoder.backbone.compute_dtype`) back to the policy that computes in it.
    for policy in ("float32", "mixed_bfloat16", "mixed_float16"):
        assert precision.policy_of(precision.policy_name(policy)) == policy
    # Nothing usable recorded (an old index, a shard set encoded through an export): float32.
    assert precision.policy_of(None) == precision.policy_of("as exported") == "float32"
