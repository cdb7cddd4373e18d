"""Masked-LM backbone (BERT, RoBERTa): the verbalizer fills the [MASK] slot.

The input is ``[CLS] + prompt + template`` with the tokenizer's mask token in
the mask slot; the label score is the log-probability of each verbalizer's
first in-context token at the mask position. Only the mask position goes
through the LM head. A row whose own text holds the mask token has two and is
refused (preflight names its file and row: ``synprompt_core.data.reserved_text``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from synprompt_core.backbones.base import Backbone, pad_rows, render_ids, slot_positions
from synprompt_core.task_registry import TaskSpec

HEAD_NAMES = ("cls", "lm_head")


class MaskedBackbone(Backbone):
    """Masked LM; prompt after the leading ``[CLS]``; scores at ``[MASK]``."""

    kind = "masked"

    def __init__(self, *, model, tokenizer, task: TaskSpec, max_length: int) -> None:
        super().__init__(model=model, tokenizer=tokenizer, task=task, max_length=max_length)
        if tokenizer.mask_token is None:
            raise ValueError("masked backbone needs a tokenizer with a mask token")
        if "{mask}" not in task.template:
            raise ValueError(f"template of {task.name} has no {{mask}} slot: {task.template!r}")
        heads = [n for n in HEAD_NAMES if isinstance(getattr(model, n, None), nn.Module)]
        self.head_name = heads[0] if heads else None
        self._register_label_ids()

    def encode(self, text_a: list[str], text_b: list[str] | None = None) -> dict[str, Tensor]:
        """``input_ids`` / ``attention_mask`` ``[B, L]`` and ``target_pos`` ``[B]`` (CPU)."""
        a, b = self._pair_texts(text_a, text_b)
        rows = render_ids(
            self.tokenizer,
            self.task.template,
            text_a=a,
            text_b=b,
            mask=self.tokenizer.mask_token,
            max_length=self.max_length,
        )
        ids, mask = pad_rows(rows, pad_id=self._pad_id())
        slot = self.tokenizer.mask_token
        texts = [f"{x} {y}".strip() for x, y in zip(a, b, strict=True)]
        pos = slot_positions(ids, slot_id=self.tokenizer.mask_token_id, slot=slot, texts=texts)
        return {"input_ids": ids, "attention_mask": mask, "target_pos": pos}

    def label_logits(self, prompt: Tensor | None, batch: dict[str, Tensor]) -> Tensor:
        """``[B, L]`` log P(verbalizer token at [MASK] | prompt, input), float32."""
        embeds, mask = self._prompted_embeds(prompt, batch)
        shift = 0 if prompt is None else prompt.shape[-2]
        pos = batch["target_pos"].to(self.device) + shift
        rows = torch.arange(embeds.shape[0], device=embeds.device)
        if self.head_name is None:
            logits = self.model(inputs_embeds=embeds, attention_mask=mask).logits[rows, pos]
        else:
            hidden = self.model.base_model(inputs_embeds=embeds, attention_mask=mask)
            logits = getattr(self.model, self.head_name)(hidden.last_hidden_state[rows, pos])
        return logits.float().log_softmax(-1)[:, self.label_ids]
