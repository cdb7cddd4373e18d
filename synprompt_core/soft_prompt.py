"""Soft prompts: the only trainable tensor of stage 4, optionally SPT-scaled.

A soft prompt is ``N`` virtual token embeddings of the frozen model's input
width ``d`` (Lester et al., 2021). Scaled Prompt-Tuning (SPT, arXiv 2309.06759)
multiplies them element-wise by a trainable scaling vector, one factor per
token (``[N, 1]``) or per dimension (``[1, d]``), initialised to ones so a
fresh SPT prompt equals the plain one. Prompts stay float32 whatever the base
model's dtype; the backbone casts them on the way in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from synprompt_core.configs.prompt_tuning import SoftPromptConfig

Scale = Literal["none", "token", "dim"]
InitMethod = Literal["random", "vocab", "text", "labels"]
VOCAB_POOL = 5000  # Lester et al. sample init tokens from the 5,000 most common ids
WEIGHT_KEY = "prompt.weight"
SCALE_KEY = "prompt.scale"
SCALE_META = "synprompt.scale"


def table_rms(table: Tensor) -> float:
    """Root-mean-square of an embedding table: a prompt's natural scale."""
    with torch.no_grad():
        return float(table.float().pow(2).mean().sqrt())


def apply_scale(*, weight: Tensor, scale: Tensor | None) -> Tensor:
    """SPT: scale soft token embeddings element-wise (broadcast).

    Args:
        weight: ``[N, d]`` soft token embeddings.
        scale: ``[N, 1]`` (per token), ``[1, d]`` (per dimension) or None (identity).

    Returns:
        ``[N, d]`` scaled embeddings; ``weight`` itself when ``scale`` is None.
    """
    if scale is None:
        return weight
    if scale.dim() != 2 or not (
        scale.shape == (weight.shape[0], 1) or scale.shape == (1, weight.shape[1])
    ):
        raise ValueError(
            f"scale shape {tuple(scale.shape)} fits neither [N, 1] nor [1, d] "
            f"for weight {tuple(weight.shape)}"
        )
    return weight * scale


class SoftPrompt(nn.Module):
    """``N`` trainable float32 soft tokens of width ``d`` with an optional SPT scale."""

    def __init__(self, *, length: int, dim: int, scale: Scale = "none") -> None:
        super().__init__()
        if length < 1 or dim < 1:
            raise ValueError(f"length and dim must be >= 1, got length={length}, dim={dim}")
        self.length, self.dim, self.scale_kind = length, dim, scale
        self.weight = nn.Parameter(torch.zeros(length, dim, dtype=torch.float32))
        shapes = {"none": None, "token": (length, 1), "dim": (1, dim)}
        if scale not in shapes:
            raise ValueError(f"scale must be one of {sorted(shapes)}, got {scale!r}")
        shape = shapes[scale]
        self.scale = None if shape is None else nn.Parameter(torch.ones(shape, dtype=torch.float32))

    def forward(self) -> Tensor:
        """Returns the ``[N, d]`` float32 prompt, scaled when SPT is on."""
        return apply_scale(weight=self.weight, scale=self.scale)


def _sample_vocab_ids(*, length: int, vocab_size: int, generator: torch.Generator) -> Tensor:
    """``[N]`` ids from the first min(V, 5000); without replacement while possible."""
    pool = min(vocab_size, VOCAB_POOL)
    if length <= pool:
        return torch.randperm(pool, generator=generator)[:length]
    return torch.randint(pool, (length,), generator=generator)


def _init_vocab(*, length: int, table: Tensor, generator: torch.Generator) -> Tensor:
    """``[N, d]`` copies of the embeddings of sampled vocabulary ids."""
    ids = _sample_vocab_ids(length=length, vocab_size=table.shape[0], generator=generator)
    return table[ids.to(table.device)].float().cpu().clone()


def _init_text(*, length: int, table: Tensor, tokenizer, text: str | None) -> Tensor:
    """``[N, d]`` token embeddings of ``text``, tiled and truncated to N."""
    if not text:
        raise ValueError("init='text' needs a non-empty init text")
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if not ids:
        raise ValueError(f"init text {text!r} tokenises to no tokens")
    ids = (ids * (length // len(ids) + 1))[:length]
    return table[torch.tensor(ids, device=table.device)].float().cpu().clone()


def _word_rows(*, words, embeddings: Tensor, tokenizer) -> Tensor:
    """``[len(words), d]``: each word's token embeddings averaged (in-context form)."""
    from synprompt_core.backbones.base import word_token_ids

    rows = [embeddings[word_token_ids(tokenizer, w)].float().mean(0) for w in words]
    return torch.stack(rows)


def init_prompt_weight(
    method: InitMethod,
    *,
    length: int,
    embeddings: Tensor,
    tokenizer=None,
    text: str | None = None,
    words: list[str] | tuple[str, ...] | None = None,
    init_range: float = 0.5,
    generator: torch.Generator,
) -> Tensor:
    """Initial soft prompt rows; ``embeddings`` is read, never modified.

    Args:
        method: "random" U(-r, r); "vocab" embeddings of sampled vocabulary ids
            (first min(V, 5000), Lester et al.); "text" the token embeddings of
            ``text`` tiled/truncated to N; "labels" one row per verbalizer word
            (its tokens averaged), then vocab samples up to N.
        length: N.
        embeddings: ``[V, d]`` input embedding matrix of the frozen model.

    Returns:
        ``[N, d]`` float32 tensor, a fresh copy.
    """
    table = embeddings.detach()
    if method == "random":
        return (torch.rand(length, table.shape[1], generator=generator) * 2 - 1) * init_range
    if method == "vocab":
        return _init_vocab(length=length, table=table, generator=generator)
    if method in ("text", "labels") and tokenizer is None:
        raise ValueError(f"init={method!r} needs a tokenizer")
    if method == "text":
        return _init_text(length=length, table=table, tokenizer=tokenizer, text=text)
    if method == "labels":
        if not words:
            raise ValueError("init='labels' needs the verbalizer words")
        if length < len(words):
            raise ValueError(f"init='labels' needs length >= {len(words)} words, got {length}")
        rows = _word_rows(words=words, embeddings=table, tokenizer=tokenizer).cpu()
        rest = _init_vocab(length=length - len(words), table=table, generator=generator)
        return torch.cat([rows, rest]).float()
    raise ValueError(f"unknown init method {method!r}; use random, vocab, text or labels")


def build_soft_prompt(
    cfg: SoftPromptConfig,
    *,
    embeddings: Tensor,
    tokenizer,
    label_words,
    generator: torch.Generator,
) -> SoftPrompt:
    """A ``SoftPrompt`` of ``cfg.length`` x ``d`` initialised as ``cfg.init`` says."""
    prompt = SoftPrompt(length=cfg.length, dim=embeddings.shape[1], scale=cfg.scale)
    weight = init_prompt_weight(
        cfg.init,
        length=cfg.length,
        embeddings=embeddings,
        tokenizer=tokenizer,
        text=cfg.init_text,
        words=list(label_words),
        init_range=cfg.init_range,
        generator=generator,
    )
    with torch.no_grad():
        prompt.weight.copy_(weight)
    return prompt


def save_soft_prompt(prompt: SoftPrompt, path: str | Path, *, metadata: dict[str, str]) -> None:
    """Writes ``prompt`` as safetensors (``prompt.weight`` and, with SPT, ``prompt.scale``)."""
    tensors = {WEIGHT_KEY: prompt.weight.detach().float().cpu().contiguous()}
    if prompt.scale is not None:
        tensors[SCALE_KEY] = prompt.scale.detach().float().cpu().contiguous()
    meta = {str(k): str(v) for k, v in metadata.items()}
    meta[SCALE_META] = prompt.scale_kind
    save_file(tensors, str(path), metadata=meta)


def load_soft_prompt(path: str | Path) -> tuple[SoftPrompt, dict[str, str]]:
    """Reads a prompt written by ``save_soft_prompt``; returns it and its metadata."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = dict(handle.metadata() or {})
    tensors = load_file(str(path))
    weight = tensors[WEIGHT_KEY]
    scale = tensors.get(SCALE_KEY)
    kind = meta.pop(SCALE_META, None) or _infer_scale_kind(weight=weight, scale=scale)
    prompt = SoftPrompt(length=weight.shape[0], dim=weight.shape[1], scale=kind)
    with torch.no_grad():
        prompt.weight.copy_(weight)
        if scale is not None:
            prompt.scale.copy_(scale)
    return prompt, meta


def _infer_scale_kind(*, weight: Tensor, scale: Tensor | None) -> Scale:
    if scale is None:
        return "none"
    return "token" if scale.shape == (weight.shape[0], 1) else "dim"


def export_peft(
    prompt: SoftPrompt,
    out_dir: str | Path,
    *,
    base_model_name_or_path: str,
    task_type: str,
) -> Path:
    """Writes a folder ``peft.PeftModel.from_pretrained`` loads as plain prompt tuning.

    PEFT has no SPT scale, so the scaled embeddings ``weight * scale`` are exported.
    The prompt goes to the encoder only (``num_transformer_submodules=1``), as in
    our backbones, also for seq2seq models. PEFT puts the prompt before every input
    token; our backbones put it after a leading special token when the tokenizer adds
    one (``[CLS]``, ``<s>``, BOS). So PEFT scores the same as our backbone for models
    without one (T5, GPT-2) fed the same rendered template; for BERT-, RoBERTa- or
    Llama-style tokenizers the position differs and so may the scores.

    Args:
        task_type: a ``peft.TaskType`` value, e.g. "SEQ_2_SEQ_LM", "CAUSAL_LM".
    """
    from peft import PromptTuningConfig

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = PromptTuningConfig(
        task_type=task_type,
        num_virtual_tokens=prompt.length,
        token_dim=prompt.dim,
        num_transformer_submodules=1,
        base_model_name_or_path=base_model_name_or_path,
    )
    config.save_pretrained(str(out))
    with torch.no_grad():
        embeddings = prompt().detach().float().cpu().contiguous()
    save_file({"prompt_embeddings": embeddings}, str(out / "adapter_model.safetensors"))
    return out
