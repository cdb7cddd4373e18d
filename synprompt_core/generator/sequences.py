"""Example tables -> token tensors for generator tuning, and the prompted LM forward.

A single-sentence row is trained as ``[Q_l] text_a <eos>``; a pair row as
``[Q_l] text_a <sep> text_b <eos>`` with the loss on ``text_b <eos>`` only, since at
generation time the first sentence is given and the second is generated.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor


@dataclass(frozen=True)
class TokenBatch:
    """Right-padded token tensors of a batch.

    Attributes:
        input_ids: ``[B, T]`` context + target + eos ids, padded.
        attention_mask: ``[B, T]`` 1 on real tokens.
        loss_mask: ``[B, T]`` 1 on the target tokens (and eos) that are trained.
        labels: ``[B]`` int labels.
    """

    input_ids: Tensor
    attention_mask: Tensor
    loss_mask: Tensor
    labels: Tensor

    def to(self, device: str | torch.device) -> TokenBatch:
        return TokenBatch(*(t.to(device) for t in self.__dict__.values()))

    def select(self, index: Tensor) -> TokenBatch:
        """The rows at ``index`` (a new batch)."""
        return TokenBatch(*(t[index] for t in self.__dict__.values()))


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_row(
    tokenizer, *, text_a: str, text_b: str, is_pair: bool, max_length: int, separator: str
) -> tuple[list[int], list[int]]:
    """``(context_ids, target_ids)`` of one row.

    The target ends with eos when the whole text fits in ``max_length`` tokens; a text
    that had to be cut ends without one, so the generator never learns to stop mid-text.
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the generator tokenizer has no eos token; generation could not stop")
    if is_pair:
        context = _ids(tokenizer, text_a + separator)[:max_length]
        target = _ids(tokenizer, text_b)
    else:
        context, target = [], _ids(tokenizer, text_a)
    if len(target) < max_length:
        return context, target + [eos]
    return context, target[:max_length]


def encode_examples(
    tokenizer, examples: pd.DataFrame, *, is_pair: bool, max_length: int, separator: str = " ; "
) -> TokenBatch:
    """All rows of an example table as one right-padded ``TokenBatch``.

    Args:
        tokenizer: the generator's tokenizer (needs an eos token).
        examples: table with ``text_a``, ``text_b``, ``label``.
        is_pair: whether ``text_b`` is the generated part.
        max_length: max target tokens (incl. eos, which a cut text does not get); pair
            contexts are cut to this too.
        separator: text appended to ``text_a`` of pair rows.

    Returns:
        ``TokenBatch`` over all rows, in table order.
    """
    rows = [
        encode_row(
            tokenizer,
            text_a=str(a),
            text_b=str(b),
            is_pair=is_pair,
            max_length=max_length,
            separator=separator,
        )
        for a, b in zip(examples["text_a"], examples["text_b"], strict=True)
    ]
    width = max(len(c) + len(t) for c, t in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attn = torch.zeros(len(rows), width, dtype=torch.long)
    loss = torch.zeros(len(rows), width, dtype=torch.long)
    for i, (context, target) in enumerate(rows):
        n_ctx, n = len(context), len(context) + len(target)
        ids[i, :n] = torch.tensor(context + target)
        attn[i, :n] = 1
        loss[i, n_ctx:n] = 1
    labels = torch.tensor(examples["label"].astype(int).tolist(), dtype=torch.long)
    return TokenBatch(ids, attn, loss, labels)


def prompted_forward(*, model, prompt: Tensor, batch: TokenBatch) -> tuple[Tensor, Tensor]:
    """Run the frozen LM on ``[prompt; tokens]``.

    Args:
        model: a Hugging Face causal LM (frozen).
        prompt: ``[B, N, d]`` float32 soft prompts, one per row.
        batch: the rows' tokens.

    Returns:
        ``(token_logp, hidden)``: ``[B, T]`` log p of every token given the prompt and
        the tokens before it, and ``[B, T, d]`` last-layer states of the tokens.
    """
    embed = model.get_input_embeddings()
    tokens = embed(batch.input_ids)
    n = prompt.shape[1]
    inputs = torch.cat([prompt.to(tokens.dtype), tokens], dim=1)
    ones = batch.attention_mask.new_ones(prompt.shape[0], n)
    out = model(
        inputs_embeds=inputs,
        attention_mask=torch.cat([ones, batch.attention_mask], dim=1),
        output_hidden_states=True,
        use_cache=False,
    )
    logits = out.logits[:, n - 1 : -1]
    logp = torch.log_softmax(logits.float(), dim=-1)
    token_logp = logp.gather(-1, batch.input_ids.unsqueeze(-1)).squeeze(-1)
    return token_logp, out.hidden_states[-1][:, n:].float()
