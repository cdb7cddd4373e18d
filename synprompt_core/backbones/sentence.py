"""Sentence-encoder backbone (all-MiniLM-L6-v2 and other BERT-like encoders).

The encoder reads ``[CLS] + prompt + tokens`` (pair tasks: the tokenizer's pair
encoding ``text_a [SEP] text_b``); the attention-mask mean of its last hidden
states, L2-normalised, is compared by cosine with the frozen, precomputed,
normalised embeddings of each label's sentence
(``task.label_sentence.format(word=verbalizer)``, encoded without a prompt).
Scores are cosines divided by ``temperature``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from synprompt_core.backbones.base import Backbone
from synprompt_core.label_words import check_label_sentences
from synprompt_core.task_registry import TaskSpec


def mean_pool(*, hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """``[B, L, h]`` hidden states -> ``[B, h]`` mean over positions where the mask is 1."""
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


class SentenceBackbone(Backbone):
    """Frozen sentence encoder; cosine to label-sentence embeddings over temperature."""

    kind = "sentence"

    def __init__(
        self, *, model, tokenizer, task: TaskSpec, max_length: int, temperature: float
    ) -> None:
        super().__init__(model=model, tokenizer=tokenizer, task=task, max_length=max_length)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        check_label_sentences(task)
        sentences = list(task.label_sentences())
        with torch.no_grad():
            batch = self._tokenize(sentences, None)
            labels = self._pooled(None, batch)
        self.register_buffer("label_embeddings", labels.detach(), persistent=False)

    def _tokenize(self, text_a: list[str], text_b: list[str] | None) -> dict[str, Tensor]:
        enc = self.tokenizer(
            text_a,
            text_b,
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        return {
            k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")
        }

    def encode(self, text_a: list[str], text_b: list[str] | None = None) -> dict[str, Tensor]:
        """``input_ids`` / ``attention_mask`` (/ ``token_type_ids``) ``[B, L]`` on CPU."""
        a, b = self._pair_texts(text_a, text_b)
        return self._tokenize(a, b if self.task.is_pair else None)

    def _pooled(self, prompt: Tensor | None, batch: dict[str, Tensor]) -> Tensor:
        """``[B, h]`` L2-normalised mean-pooled embeddings (prompt positions included)."""
        embeds, mask = self._prompted_embeds(prompt, batch)
        extra = {}
        if "token_type_ids" in batch:
            types = batch["token_type_ids"].to(self.device)
            pad = types.new_zeros(embeds.shape[0], embeds.shape[1] - types.shape[1])
            extra["token_type_ids"] = torch.cat(
                [types[:, : self.lead], pad, types[:, self.lead :]], 1
            )
        hidden = self.model(inputs_embeds=embeds, attention_mask=mask, **extra).last_hidden_state
        return F.normalize(mean_pool(hidden=hidden, attention_mask=mask).float(), dim=-1)

    def label_logits(self, prompt: Tensor | None, batch: dict[str, Tensor]) -> Tensor:
        """``[B, L]`` cosine(input, label sentence) / temperature, float32."""
        return self._pooled(prompt, batch) @ self.label_embeddings.T / self.temperature
