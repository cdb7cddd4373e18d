"""Batched sampling from a soft-prompted frozen LM, with the shared prefix's KV cache reused.

The soft prompt of a label is the same for every row, so its keys/values are computed
once (``encode_prefix``) and expanded across each batch (``decode_batch``); only the
per-row context (pair tasks) and the new tokens are run per row. Each row draws its
noise from its own seeded ``torch.Generator`` (Gumbel-max), so a row's output depends
on its seed and conditioning, not on the batch it was decoded in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import DynamicCache


@dataclass(frozen=True)
class SamplingSettings:
    """Per-label sampling knobs (see ``GenerationConfig``); greedy ignores the rest."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    max_new_tokens: int = 40
    greedy: bool = False


@dataclass(frozen=True)
class PrefixCache:
    """Keys/values of a prefix run once, and the next-token logits after it.

    Attributes:
        layers: per layer ``(keys, values)`` of shape ``[M, heads, P, head_dim]``.
        logits: ``[M, V]`` next-token logits after the prefix.
        length: P.
    """

    layers: list[tuple[Tensor, Tensor]]
    logits: Tensor
    length: int

    def expand(self, size: int) -> DynamicCache:
        """A fresh cache of ``size`` rows (views when M == 1; no copy of the prefix)."""
        if self.logits.shape[0] not in (1, size):
            raise ValueError(f"prefix cache of {self.logits.shape[0]} rows cannot feed {size}")
        data = [(k.expand(size, -1, -1, -1), v.expand(size, -1, -1, -1)) for k, v in self.layers]
        return DynamicCache(ddp_cache_data=data)


@torch.no_grad()
def encode_prefix(*, model, prefix: Tensor) -> PrefixCache:
    """Run ``[M, P, d]`` prefix embeddings once and keep their KV cache."""
    dtype = model.get_input_embeddings().weight.dtype
    out = model(inputs_embeds=prefix.to(dtype), use_cache=True)
    layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
    return PrefixCache(layers=layers, logits=out.logits[:, -1].float(), length=prefix.shape[1])


def process_logits(*, logits: Tensor, seen: Tensor, settings: SamplingSettings) -> Tensor:
    """Repetition penalty, temperature and top-k on ``[B, V]`` logits.

    Top-p is applied by ``sample_next`` (rejection), which needs no sort of the vocabulary.

    Args:
        logits: ``[B, V]`` float32 next-token logits.
        seen: ``[B, V]`` bool, tokens already in each row (CTRL penalty applies there).
        settings: the knobs.

    Returns:
        ``[B, V]`` processed logits; filtered tokens are ``-inf``.
    """
    out = logits.float().clone()
    if settings.repetition_penalty != 1.0:
        penalised = torch.where(
            out > 0, out / settings.repetition_penalty, out * settings.repetition_penalty
        )
        out = torch.where(seen, penalised, out)
    if settings.greedy:
        return out
    out = out / settings.temperature
    if 0 < settings.top_k < out.shape[-1]:
        kth = torch.topk(out, settings.top_k, dim=-1).values[:, -1:]
        out = out.masked_fill(out < kth, float("-inf"))
    return out


def top_p_filter(logits: Tensor, *, top_p: float, candidates: int = 256) -> Tensor:
    """Nucleus filter: keep each row's most likely tokens until their mass reaches ``top_p``.

    Exact. Only the top ``candidates`` logits of a row are sorted when they hold ``top_p``
    of its mass; the other rows sort the whole vocabulary. A full sort every step is
    otherwise the costliest part of sampling from a small LM.
    """
    k = min(candidates, logits.shape[-1])
    if k < logits.shape[-1]:
        values, order = torch.topk(logits, k, dim=-1)
    else:
        values, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.exp(values - torch.logsumexp(logits, dim=-1, keepdim=True))
    mass = probs.cumsum(-1)
    drop = (mass - probs) >= top_p  # a token stays while the mass before it is below p
    kept = torch.full_like(logits, float("-inf"))
    kept = kept.scatter(-1, order, values.masked_fill(drop, float("-inf")))
    short = mass[:, -1] < top_p
    if k < logits.shape[-1] and bool(short.any()):
        kept[short] = top_p_filter(logits[short], top_p=top_p, candidates=logits.shape[-1])
    return kept


def _gumbel_argmax(logp: Tensor, generators: list[torch.Generator]) -> Tensor:
    uniform = torch.stack([torch.rand(logp.shape[-1], generator=g) for g in generators])
    gumbel = -torch.log(-torch.log(uniform.clamp(1e-20, 1.0 - 1e-7)))
    return (logp + gumbel.to(logp.device)).argmax(-1)


def sample_next(
    *,
    logits: Tensor,
    generators: list[torch.Generator],
    greedy: bool = False,
    top_p: float = 1.0,
    max_rounds: int = 32,
) -> Tensor:
    """One token per row: argmax, or a sample from the top-p nucleus of ``logits``.

    Sampling is Gumbel-max with each row's own generator. For top-p, a token drawn from
    the full distribution is kept when the mass of more likely tokens is below ``top_p``
    (i.e. it is in the nucleus) and redrawn otherwise: exact nucleus sampling, each
    round accepted with probability >= top_p, without sorting the vocabulary.

    Args:
        logits: ``[B, V]`` processed logits (``-inf`` = excluded).
        generators: one seeded generator per row.
        greedy: argmax instead of sampling.
        top_p: nucleus mass (1.0: off).
        max_rounds: redraws before the rows left use the exact sorted filter.

    Returns:
        ``[B]`` token ids.
    """
    if greedy:
        return logits.argmax(-1)
    logp = torch.log_softmax(logits, dim=-1)
    token = _gumbel_argmax(logp, generators)
    if top_p >= 1.0:
        return token
    probs = logp.exp()
    for _ in range(max_rounds):
        mine = probs.gather(1, token[:, None])
        rows = torch.nonzero((probs * (probs > mine)).sum(-1) >= top_p).flatten()
        if len(rows) == 0:
            return token
        token[rows] = _gumbel_argmax(logp[rows], [generators[i] for i in rows.tolist()])
    nucleus = top_p_filter(logits[rows], top_p=top_p)
    token[rows] = _gumbel_argmax(nucleus, [generators[i] for i in rows.tolist()])
    return token


def _feed_contexts(
    model, cache: DynamicCache, contexts: list[list[int]], prefix_len: int, pad_id: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Run each row's context after the prefix, left-padded so all rows end together.

    Returns ``(logits [B, V], attention_mask [B, P + C], next_position [B])``.
    """
    device = cache.layers[0].keys.device
    width = max(len(c) for c in contexts)
    ids = torch.full((len(contexts), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros(len(contexts), width, dtype=torch.long, device=device)
    for i, context in enumerate(contexts):
        if context:
            ids[i, width - len(context) :] = torch.tensor(context, device=device)
            mask[i, width - len(context) :] = 1
    positions = prefix_len + (mask.cumsum(1) - 1).clamp_min(0)
    full_mask = torch.cat([mask.new_ones(len(contexts), prefix_len), mask], dim=1)
    out = model(
        input_ids=ids,
        past_key_values=cache,
        attention_mask=full_mask,
        position_ids=positions,
        use_cache=True,
    )
    return out.logits[:, -1].float(), full_mask, prefix_len + mask.sum(1)


@torch.no_grad()
def decode_batch(
    *,
    model,
    prefix: PrefixCache,
    size: int,
    seeds: list[int],
    settings: SamplingSettings,
    eos_id: int,
    contexts: list[list[int]] | None = None,
) -> list[list[int]]:
    """Sample ``size`` continuations of a cached prefix (and optional per-row contexts).

    Args:
        model: the frozen causal LM.
        prefix: ``encode_prefix`` output with 1 row (shared) or ``size`` rows.
        size: rows in this batch.
        seeds: one seed per row.
        settings: sampling knobs.
        eos_id: stops a row (not included in its output).
        contexts: per-row token ids after the prefix (pair tasks' first sentence); the
            repetition penalty counts them as already seen, as Hugging Face counts the
            input, so a label's penalty also governs how much of the first sentence the
            second one copies (FewGen's per-label penalties rely on this).

    Returns:
        Generated token ids per row, without eos.
    """
    cache = prefix.expand(size)
    logits = prefix.logits.expand(size, -1)
    mask = torch.ones(size, prefix.length, dtype=torch.long, device=logits.device)
    position = torch.full((size,), prefix.length, dtype=torch.long, device=logits.device)
    if contexts is not None and any(contexts):
        logits, mask, position = _feed_contexts(model, cache, contexts, prefix.length, eos_id)
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    seen = torch.zeros_like(logits, dtype=torch.bool)
    for row, context in enumerate(contexts or []):  # as Hugging Face: the input counts too
        seen[row, context] = True
    done = torch.zeros(size, dtype=torch.bool, device=logits.device)
    steps = []
    for _ in range(settings.max_new_tokens):
        scores = process_logits(logits=logits, seen=seen, settings=settings)
        token = sample_next(
            logits=scores, generators=generators, greedy=settings.greedy, top_p=settings.top_p
        )
        token = token.masked_fill(done, eos_id)
        steps.append(token)
        done = done | (token == eos_id)
        if bool(done.all()):
            break
        seen[torch.arange(size), token] = True
        mask = torch.cat([mask, mask.new_ones(size, 1)], dim=1)
        out = model(
            input_ids=token[:, None],
            past_key_values=cache,
            attention_mask=mask,
            position_ids=position[:, None],
            use_cache=True,
        )
        logits, position = out.logits[:, -1].float(), position + 1
    tokens = torch.stack(steps, dim=1).tolist()
    return [row[: row.index(eos_id)] if eos_id in row else row for row in tokens]
