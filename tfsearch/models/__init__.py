"""Towers and backbones."""

from tfsearch.models.bert_backbone import BertBackbone
from tfsearch.models.bert_encoder import BertEncoder
from tfsearch.models.presets import DEFAULT_PRESET, CheckpointNotFoundError, preset_dir

__all__ = ["BertBackbone", "BertEncoder", "CheckpointNotFoundError", "DEFAULT_PRESET", "preset_dir"]
