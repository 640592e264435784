"""`--precision auto|float32|bfloat16` (default auto) and its alias `--bf16`, on the commands that encode."""

import argparse

import pytest

from tfsearch.cli import build_parser
from tfsearch.cli.common import add_model_flags, encoder_dtype, load_encoder
from tfsearch.utils import precision


def _parse(*args):
    parser = argparse.ArgumentParser()
    add_model_flags(parser)
    return parser.parse_args(list(args))


def test_precision_defaults_to_auto_and_bf16_is_an_alias():
    assert _parse().precision == "auto"
    assert _parse("--bf16").precision == "bfloat16"
    assert _parse("--precision", "float32").precision == "float32"
    assert _parse("--precision", "bfloat16").precision == "bfloat16"


def test_an_unknown_precision_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        _parse("--precision", "fp16")
    assert "invalid choice: 'fp16'" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["evaluate", "--data", "d"], ["index", "build", "--data", "d", "--output", "o"]])
def test_the_encoding_commands_have_the_flags(command):
    parser = build_parser()
    assert parser.parse_args(command).precision == "auto"
    assert parser.parse_args(command + ["--bf16"]).precision == "bfloat16"


@pytest.mark.parametrize("value,dtype", [(None, None), ("float32", "float32"), ("bfloat16", "mixed_bfloat16")])
def test_explicit_values_print_nothing(value, dtype, capsys, monkeypatch):
    monkeypatch.setattr(precision, "machine_facts", lambda: pytest.fail("an explicit value asks no hardware"))
    assert encoder_dtype(value) == dtype
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("facts,dtype,line", [
    (({"avx2", "fma"}, None, None), "float32", "precision: float32 (CPU without AVX512-BF16 or AMX-BF16)\n"),
    (({"avx512f", "avx512_bf16"}, None, None), "mixed_bfloat16", "precision: bfloat16 (CPU with AVX512-BF16)\n"),
])
def test_auto_prints_its_choice_once(facts, dtype, line, capsys, monkeypatch):
    monkeypatch.setattr(precision, "machine_facts", lambda: facts)
    assert encoder_dtype("auto") == dtype
    assert capsys.readouterr().out == line
    assert encoder_dtype("auto", announce=False) == dtype
    assert capsys.readouterr().out == ""


def test_load_encoder_applies_the_precision(tiny_encoder, tmp_path, monkeypatch, capsys):
    model = str(tiny_encoder.save_to_directory(tmp_path / "model"))
    monkeypatch.setattr(precision, "machine_facts", lambda: ({"avx2"}, None, None))
    assert load_encoder(model, precision="auto").backbone.compute_dtype == "float32"
    assert load_encoder(model, precision="bfloat16").backbone.compute_dtype == "bfloat16"
    assert load_encoder(model, bf16=True).backbone.compute_dtype == "bfloat16"
    assert load_encoder(model).backbone.compute_dtype == "float32"
    assert capsys.readouterr().out.count("precision: ") == 1
