"""T5 / Flan-T5 backbone: the decoder scores the verbalizer of the masked span.

The encoder reads ``[prompt; template]`` with the mask slot written as T5's
sentinel ``<extra_id_0>`` (span corruption). The decoder is fed
``[decoder_start, <extra_id_0>]`` and the label score is the log-probability of
each verbalizer's first token at the next step, i.e. the target is
``<extra_id_0> word``. A row whose own text holds ``<extra_id_0>`` is refused: the
decoder would fill one of two spans, unknown which.
"""

from __future__ import annotations

import torch
from torch import Tensor

from synprompt_core.backbones.base import Backbone, pad_rows, render_ids, slot_positions
from synprompt_core.task_registry import TaskSpec

SENTINEL = "<extra_id_0>"


class Seq2SeqBackbone(Backbone):
    """Encoder-decoder LM; prompt prepended to the encoder input."""

    kind = "seq2seq"

    def __init__(self, *, model, tokenizer, task: TaskSpec, max_length: int) -> None:
        super().__init__(model=model, tokenizer=tokenizer, task=task, max_length=max_length)
        if "{mask}" not in task.template:
            raise ValueError(f"template of {task.name} has no {{mask}} slot: {task.template!r}")
        sentinel = tokenizer.convert_tokens_to_ids(SENTINEL)
        if sentinel is None or sentinel == tokenizer.unk_token_id:
            raise ValueError(
                f"seq2seq backbone needs the T5 sentinel {SENTINEL!r} in the vocabulary"
            )
        start = model.config.decoder_start_token_id
        if start is None:
            raise ValueError("seq2seq model config has no decoder_start_token_id")
        self._register_label_ids()
        decoder = torch.tensor([[int(start), int(sentinel)]], dtype=torch.long)
        self.register_buffer("decoder_ids", decoder, persistent=False)

    def encode(self, text_a: list[str], text_b: list[str] | None = None) -> dict[str, Tensor]:
        """``input_ids`` / ``attention_mask`` ``[B, L]`` of the filled template (CPU)."""
        a, b = self._pair_texts(text_a, text_b)
        rows = render_ids(
            self.tokenizer,
            self.task.template,
            text_a=a,
            text_b=b,
            mask=SENTINEL,
            max_length=self.max_length,
        )
        ids, mask = pad_rows(rows, pad_id=self._pad_id())
        texts = [f"{x} {y}".strip() for x, y in zip(a, b, strict=True)]
        slot_positions(ids, slot_id=int(self.decoder_ids[0, 1]), slot=SENTINEL, texts=texts)
        return {"input_ids": ids, "attention_mask": mask}

    def label_logits(self, prompt: Tensor | None, batch: dict[str, Tensor]) -> Tensor:
        """``[B, L]`` log P(verbalizer first token | prompt, input, <extra_id_0>), float32."""
        embeds, mask = self._prompted_embeds(prompt, batch)
        decoder_ids = self.decoder_ids.expand(embeds.shape[0], -1)
        out = self.model(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=decoder_ids)
        return out.logits[:, -1].float().log_softmax(-1)[:, self.label_ids]
