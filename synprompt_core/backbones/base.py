"""The frozen classifier backbone interface and the helpers its kinds share.

A backbone wraps a frozen Hugging Face model plus a task spec. ``encode`` turns
raw texts into CPU tensors once; ``label_logits`` prepends a per-example soft
prompt ``[B, N, d]`` to the input embeddings and scores each label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from synprompt_core.label_words import in_context_ids, scored_label_words
from synprompt_core.task_registry import TaskSpec

SLOT = re.compile(r"\{(text_a|text_b|mask)\}")
MAX_TRUNCATION_ROUNDS = 3


def word_token_ids(tokenizer, word: str) -> list[int]:
    """Token ids of ``word`` as it appears mid-sentence (``in_context_ids``); ValueError if
    it tokenises to no tokens."""
    ids = in_context_ids(tokenizer, word)
    if not ids:
        raise ValueError(f"verbalizer word {word!r} tokenises to no tokens")
    return ids


def fill_template(template: str, *, text_a: str, text_b: str, mask: str) -> str:
    """``template`` with its ``{text_a}``, ``{text_b}``, ``{mask}`` slots filled literally."""
    values = {"text_a": text_a, "text_b": text_b, "mask": mask}
    return SLOT.sub(lambda m: values[m.group(1)], template)


def leading_special_count(tokenizer) -> int:
    """How many special tokens (``[CLS]``, ``<s>``) the tokenizer puts before the text."""
    ids = tokenizer("a")["input_ids"]
    special = set(tokenizer.all_special_ids)
    count = 0
    while count < len(ids) and ids[count] in special:
        count += 1
    return count


def trailing_special_count(tokenizer) -> int:
    """How many special tokens (``[SEP]``, ``</s>``, an appended EOS) follow the text."""
    ids = tokenizer("a")["input_ids"]
    special = set(tokenizer.all_special_ids)
    count = 0
    while count < len(ids) - leading_special_count(tokenizer) and ids[-1 - count] in special:
        count += 1
    return count


def _trim_pair(la: int, lb: int, excess: int) -> tuple[int, int]:
    """Lengths after removing ``excess`` tokens longest-first from two texts."""
    for _ in range(excess):
        if lb > la:
            lb -= 1
        elif la > 0:
            la -= 1
        else:
            lb = max(lb - 1, 0)
    return la, lb


def _truncate_row(tokenizer, text_a: str, text_b: str, excess: int) -> tuple[str, str]:
    """Cuts ``excess`` tokens from the texts of one row (never from the template)."""
    ids_a = tokenizer(text_a, add_special_tokens=False)["input_ids"]
    ids_b = tokenizer(text_b, add_special_tokens=False)["input_ids"] if text_b else []
    la, lb = _trim_pair(len(ids_a), len(ids_b), excess)
    cut_a = text_a if la == len(ids_a) else tokenizer.decode(ids_a[:la]).strip()
    cut_b = text_b if lb == len(ids_b) else tokenizer.decode(ids_b[:lb]).strip()
    return cut_a, cut_b


def render_ids(
    tokenizer,
    template: str,
    *,
    text_a: Sequence[str],
    text_b: Sequence[str],
    mask: str,
    max_length: int,
) -> list[list[int]]:
    """Token ids (with the tokenizer's special tokens) of each filled template.

    Rows longer than ``max_length`` lose tokens from their texts, longest text
    first; the template and the mask slot are kept whole.
    """
    a, b = list(text_a), list(text_b)
    rows = _tokenize_filled(tokenizer, template, a, b, mask)
    for _ in range(MAX_TRUNCATION_ROUNDS):
        long = [i for i, r in enumerate(rows) if len(r) > max_length]
        if not long:
            break
        for i in long:
            a[i], b[i] = _truncate_row(tokenizer, a[i], b[i], len(rows[i]) - max_length)
        fixed = _tokenize_filled(
            tokenizer, template, [a[i] for i in long], [b[i] for i in long], mask
        )
        for i, row in zip(long, fixed, strict=True):
            rows[i] = row
    return rows


def _tokenize_filled(tokenizer, template, a, b, mask) -> list[list[int]]:
    texts = [
        fill_template(template, text_a=x, text_b=y, mask=mask) for x, y in zip(a, b, strict=True)
    ]
    return [list(r) for r in tokenizer(texts)["input_ids"]]


def slot_positions(ids: Tensor, *, slot_id: int, slot: str, texts: Sequence[str]) -> Tensor:
    """``[B]`` position of the one ``slot_id`` token in each row of ``ids`` ``[B, L]``.

    The template's mask slot is the only place the backbone writes ``slot``; a row with
    more holds the literal in its own text, and which one to score is then unknown.

    Raises:
        ValueError: naming the first such row of the batch and the start of its text.
    """
    is_slot = ids == slot_id
    counts = is_slot.sum(1)
    if bool((counts != 1).any()):
        bad = int((counts != 1).nonzero()[0, 0])
        raise ValueError(
            f"row {bad} of this batch has {int(counts[bad])} {slot!r} tokens, expected exactly "
            f"1 (the template's mask slot): its text {texts[bad][:80]!r} holds the literal "
            f"{slot!r}; remove it from the input (`synprompt validate` names the file and row)"
        )
    return is_slot.int().argmax(1)


def pad_rows(rows: Sequence[Sequence[int]], *, pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-pads id lists: returns ``input_ids`` and ``attention_mask``, both ``[B, L]``."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


def insert_prompt(
    *, embeds: Tensor, attention_mask: Tensor, prompt: Tensor | None, at: int
) -> tuple[Tensor, Tensor]:
    """Puts ``prompt`` ``[B, N, d]`` into ``embeds`` ``[B, L, d]`` after ``at`` tokens.

    Returns ``[B, L+N, d]`` embeddings (the base dtype) and the ``[B, L+N]`` mask.
    """
    if prompt is None:
        return embeds, attention_mask
    if prompt.dim() == 2:
        prompt = prompt.unsqueeze(0).expand(embeds.shape[0], -1, -1)
    if prompt.shape[0] != embeds.shape[0] or prompt.shape[2] != embeds.shape[2]:
        raise ValueError(
            f"prompt shape {tuple(prompt.shape)} does not fit a batch of "
            f"{embeds.shape[0]} rows of width {embeds.shape[2]} (expected [B, N, d])"
        )
    prompt = prompt.to(device=embeds.device, dtype=embeds.dtype)
    ones = attention_mask.new_ones(prompt.shape[:2])
    embeds = torch.cat([embeds[:, :at], prompt, embeds[:, at:]], dim=1)
    mask = torch.cat([attention_mask[:, :at], ones, attention_mask[:, at:]], dim=1)
    return embeds, mask


class Backbone(nn.Module):
    """A frozen LM that scores the labels of ``task`` given a per-example soft prompt.

    Attributes:
        task: the task spec (template, verbalizers).
        tokenizer: the model's tokenizer.
        hidden_size: prompt width ``d`` (the input embedding width).
        num_labels: ``L``.
    """

    kind = "base"

    def __init__(self, *, model, tokenizer, task: TaskSpec, max_length: int) -> None:
        super().__init__()
        model.requires_grad_(False)
        model.eval()
        self.model = model
        self.tokenizer = tokenizer
        self.task = task
        self.max_length = max_length
        self.num_labels = task.num_labels
        self.hidden_size = int(self.embedding_matrix().shape[1])
        self.lead = leading_special_count(tokenizer)

    def train(self, mode: bool = True) -> Backbone:
        """Keeps the frozen model in eval mode (no dropout) whatever ``mode`` is."""
        super().train(mode)
        self.model.eval()
        return self

    @property
    def device(self) -> torch.device:
        return self.embedding_matrix().device

    def embedding_matrix(self) -> Tensor:
        """The ``[V, d]`` input embedding weights (frozen; read-only for prompt init)."""
        return self.model.get_input_embeddings().weight

    def encode(self, text_a: list[str], text_b: list[str] | None = None) -> dict[str, Tensor]:
        """Tokenises a batch into CPU tensors for ``label_logits``."""
        raise NotImplementedError

    def label_logits(self, prompt: Tensor | None, batch: dict[str, Tensor]) -> Tensor:
        """``[B, L]`` label scores; ``prompt`` is ``[B, N, d]`` float32 or None (zero-shot)."""
        raise NotImplementedError

    def _pair_texts(self, text_a, text_b) -> tuple[list[str], list[str]]:
        a = list(text_a)
        b = [""] * len(a) if text_b is None else list(text_b)
        if len(a) != len(b):
            raise ValueError(f"text_a has {len(a)} rows but text_b has {len(b)}")
        if self.task.is_pair and any(not x for x in b):
            raise ValueError(
                f"task {self.task.name} is a pair task: every text_b must be non-empty"
            )
        return a, b

    def _prompted_embeds(
        self, prompt: Tensor | None, batch: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor]:
        """Input embeddings with the prompt inserted after the leading special tokens."""
        ids = batch["input_ids"].to(self.device, non_blocking=True)
        mask = batch["attention_mask"].to(self.device, non_blocking=True)
        embeds = self.model.get_input_embeddings()(ids)
        return insert_prompt(embeds=embeds, attention_mask=mask, prompt=prompt, at=self.lead)

    def _register_label_ids(self) -> None:
        ids = scored_label_words(self.tokenizer, self.task).ids
        self.register_buffer("label_ids", torch.tensor(ids, dtype=torch.long), persistent=False)

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return 0 if pad is None else int(pad)
