"""Decoder-only backbone: the next token after the template prefix is the label word.

The input is ``[prompt; template up to the mask]`` (right-padded); the label
score is the log-probability of each verbalizer's first in-context token
(``" great"``) at the prefix's last token. Special tokens the tokenizer appends
(an EOS, as OLMo's does) are left out, so the label word follows the template's
words. Text slots that follow the mask in a template are moved before it
(``causal_template``), so a causal model reads every input text before it predicts.
"""

from __future__ import annotations

import torch
from torch import Tensor

from synprompt_core.backbones.base import (
    Backbone,
    pad_rows,
    render_ids,
    trailing_special_count,
)
from synprompt_core.task_registry import TaskSpec


def causal_template(template: str) -> str:
    """The part of ``template`` before ``{mask}``, with every text slot that follows it pulled in.

    A causal model predicts the label word from what it has read, so no input text may
    come after the prediction point: a trailing ``{text_b}`` goes right after
    ``{text_a}``; slots with nothing to attach to (TREC's ``{mask} : {text_a}``) go in
    front of the words that lead to the mask.
    """
    prefix, found, suffix = template.partition("{mask}")
    if not found:
        raise ValueError(f"template has no {{mask}} slot: {template!r}")
    missing = [slot for slot in ("{text_a}", "{text_b}") if slot in suffix and slot not in prefix]
    if missing == ["{text_b}"] and "{text_a}" in prefix:
        prefix = prefix.replace("{text_a}", "{text_a} {text_b}", 1)
    elif missing:
        prefix = " ".join(missing) + " " + prefix
    if "{text_a}" not in prefix:
        raise ValueError(f"template has no {{text_a}} slot: {template!r}")
    return " ".join(prefix.split())


class CausalBackbone(Backbone):
    """Causal LM; prompt prepended, next-token scores of the verbalizers."""

    kind = "causal"

    def __init__(self, *, model, tokenizer, task: TaskSpec, max_length: int) -> None:
        super().__init__(model=model, tokenizer=tokenizer, task=task, max_length=max_length)
        self.template = causal_template(task.template)
        self.trail = trailing_special_count(tokenizer)
        self._register_label_ids()

    def encode(self, text_a: list[str], text_b: list[str] | None = None) -> dict[str, Tensor]:
        """``input_ids`` / ``attention_mask`` ``[B, L]`` and ``target_pos`` ``[B]`` (CPU)."""
        a, b = self._pair_texts(text_a, text_b)
        rows = render_ids(
            self.tokenizer, self.template, text_a=a, text_b=b, mask="", max_length=self.max_length
        )
        rows = [row[: len(row) - self.trail] for row in rows]
        ids, mask = pad_rows(rows, pad_id=self._pad_id())
        return {"input_ids": ids, "attention_mask": mask, "target_pos": mask.sum(1) - 1}

    def label_logits(self, prompt: Tensor | None, batch: dict[str, Tensor]) -> Tensor:
        """``[B, L]`` log P(verbalizer token | prompt, prefix) at the last real token, float32."""
        embeds, mask = self._prompted_embeds(prompt, batch)
        hidden = self.model.base_model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        shift = 0 if prompt is None else prompt.shape[-2]
        pos = batch["target_pos"].to(self.device) + shift
        last = hidden[torch.arange(hidden.shape[0], device=hidden.device), pos]
        logits = self.model.get_output_embeddings()(last)
        return logits.float().log_softmax(-1)[:, self.label_ids]
