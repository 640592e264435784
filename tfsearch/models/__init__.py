"""Towers and backbones."""

from tfsearch.models.bert_backbone import BertBackbone
from tfsearch.models.bert_encoder import BertEncoder
from tfsearch.models.context_query_tower import ContextQueryTower
from tfsearch.models.lite_encoder import LiteEncoder
from tfsearch.models.presets import DEFAULT_PRESET, CheckpointNotFoundError, preset_dir
from tfsearch.utils.lazy_exports import lazy_exports

__all__ = ["BertBackbone", "BertEncoder", "CheckpointNotFoundError", "ContextQueryTower", "DEFAULT_PRESET",
           "LiteEncoder", "TwoTower", "preset_dir"]

# TwoTower imports tensorflow-recommenders: loaded only when asked for.
__getattr__, __dir__ = lazy_exports(__name__, __all__, {"tfsearch.models.two_tower": ("TwoTower",)})
