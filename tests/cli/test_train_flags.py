"""`tfsearch train`'s flags are built from `TrainConfig`'s fields alone."""

import argparse
import dataclasses
import subprocess
import sys

from tfsearch.cli.train import add_train_flags
from tfsearch.training.train_config import TrainConfig


def _parser():
    parser = argparse.ArgumentParser()
    add_train_flags(parser)
    return parser


def test_every_field_has_a_flag_with_its_help():
    actions = {a.dest: a for a in _parser()._actions}
    for field in dataclasses.fields(TrainConfig):
        assert field.metadata.get("help"), f"TrainConfig.{field.name} has no help text"
        action = actions[field.name]
        flag = "--" + field.name.replace("_", "-")
        assert action.option_strings[0] == flag
        if field.type is bool:  # BooleanOptionalAction adds the negative form
            assert action.option_strings == [flag, "--no-" + flag[2:]]
        assert action.help.startswith(field.metadata["help"])
        assert action.default is None  # not given: the config file or the field's default decides


def test_flag_types_follow_the_annotations():
    # Optional[int] -> int, float -> float, required str -> str, bool -> --x / --no-x.
    args = _parser().parse_args(["--data", "d", "--max-length", "64", "--learning-rate", "1e-4",
                                 "--no-shared-towers", "--mixed-precision", "mixed_bfloat16"])
    assert (args.data, args.max_length, args.learning_rate) == ("d", 64, 1e-4)
    assert args.shared_towers is False and args.jit_compile is None
    assert args.mixed_precision == "mixed_bfloat16"
    assert args.projection_dim is None


def test_help_shows_the_field_defaults():
    helps = {a.dest: a.help for a in _parser()._actions}
    assert helps["epochs"] == "passes over the training pairs (default: 3)"
    assert helps["shared_towers"] == "one encoder for queries and documents (else two copies) (default: True)"
    assert helps["max_length"] == "tokens per text (the checkpoint's: 256)"  # None: no default shown
    assert helps["data"] == "BEIR folder"  # required (from the flags or --config)


def test_the_parser_is_built_without_loading_tensorflow():
    code = ("import sys; from tfsearch.cli import build_parser; build_parser(); "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"
