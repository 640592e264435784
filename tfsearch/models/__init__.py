"""Towers and backbones."""

from tfsearch.models.bert_backbone import BertBackbone
from tfsearch.models.bert_encoder import BertEncoder
from tfsearch.models.context_query_tower import ContextQueryTower
from tfsearch.models.presets import DEFAULT_PRESET, CheckpointNotFoundError, preset_dir


def __getattr__(name):
    # TwoTower imports tensorflow-recommenders: loaded only when asked for.
    if name == "TwoTower":
        from tfsearch.models.two_tower import TwoTower

        return TwoTower
    raise AttributeError(f"module 'tfsearch.models' has no attribute {name!r}")


__all__ = ["BertBackbone", "BertEncoder", "CheckpointNotFoundError", "ContextQueryTower", "DEFAULT_PRESET", "TwoTower", "preset_dir"]
