"""Frozen classifier backbones that score task labels given a soft prompt."""

from synprompt_core.backbones.base import (
    Backbone,
    fill_template,
    word_token_ids,
)
from synprompt_core.backbones.causal import CausalBackbone
from synprompt_core.backbones.loading import load_backbone, load_pretrained, resolve_model_path
from synprompt_core.backbones.masked import MaskedBackbone
from synprompt_core.backbones.sentence import SentenceBackbone
from synprompt_core.backbones.seq2seq import Seq2SeqBackbone

__all__ = [
    "Backbone",
    "CausalBackbone",
    "MaskedBackbone",
    "SentenceBackbone",
    "Seq2SeqBackbone",
    "fill_template",
    "load_backbone",
    "load_pretrained",
    "resolve_model_path",
    "word_token_ids",
]
