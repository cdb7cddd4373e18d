"""The weight net W: R^d -> R of FewGen/DawGen, scoring each token's representation.

Its scores become per-token weights of L_wGen. A weight net that collapses onto a
few tokens is the known failure, so the entropy of the weights is a diagnostic.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class WeightNet(nn.Module):
    """A linear map or a one-hidden-layer MLP from ``d`` to one score per token.

    The last layer starts at zero, so a fresh net gives uniform weights and L_wGen
    starts out as the plain per-sequence LM loss.
    """

    def __init__(self, *, dim: int, hidden: int = 0) -> None:
        super().__init__()
        if hidden > 0:
            self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        else:
            self.net = nn.Sequential(nn.Linear(dim, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, hidden: Tensor) -> Tensor:
        """``[B, T, d]`` token representations -> ``[B, T]`` raw scores."""
        return self.net(hidden.float()).squeeze(-1)


def normalise_scores(*, scores: Tensor, mask: Tensor, method: str = "softmax") -> Tensor:
    """Non-negative per-token weights whose rows sum to one on average.

    Args:
        scores: ``[B, T]`` raw weight-net scores.
        mask: ``[B, T]`` 1 for counted tokens; every row needs at least one.
        method: "softmax" over each row, "sigmoid" scores divided by their row sum (rows
            sum to one), or "batch_softmax" over every counted token of the batch, times
            ``B`` (FewGen: a row whose tokens matter more weighs more; the batch sums to B).

    Returns:
        ``[B, T]`` non-negative weights, zero where ``mask`` is 0.
    """
    keep = mask.bool()
    if not bool(keep.any(dim=1).all()):
        raise ValueError("every row needs at least one masked token")
    if method == "softmax":
        return torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=1)
    if method == "batch_softmax":
        flat = scores.masked_fill(~keep, float("-inf")).reshape(-1)
        return torch.softmax(flat, dim=0).view_as(scores) * scores.shape[0]
    if method == "sigmoid":
        raw = torch.sigmoid(scores) * keep
        return raw / raw.sum(1, keepdim=True)
    raise ValueError(
        f"unknown weight normalisation {method!r}; use softmax, batch_softmax or sigmoid"
    )


def weight_entropy(*, weights: Tensor, mask: Tensor) -> tuple[float, float]:
    """Mean entropy of each row's weights, raw (nats) and relative to uniform.

    Args:
        weights: ``[B, T]`` non-negative weights; each row is read as a distribution over
            its masked tokens (rows that do not sum to one are rescaled first).
        mask: ``[B, T]``.

    Returns:
        ``(entropy, normalised)``; ``normalised`` is 1 for uniform weights and near 0
        when the weights collapse onto one token (rows of one token count as 1).
    """
    w = weights.detach().float() * mask
    w = w / w.sum(1, keepdim=True).clamp_min(1e-12)
    ent = -(w * torch.log(w.clamp_min(1e-12)) * mask).sum(1)
    counts = mask.sum(1).float()
    uniform = torch.log(counts.clamp_min(1))
    norm = torch.where(counts > 1, ent / uniform.clamp_min(1e-12), torch.ones_like(ent))
    norm = norm.clamp(max=1.0)  # rounding can put near-uniform weights a hair above 1
    return float(ent.mean()), float(norm.mean())
