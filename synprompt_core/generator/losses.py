"""Generator-tuning losses of DawGen (Guo et al.) and FewGen (Meng et al.): pure functions.

Shapes: ``B`` sequences, ``T`` target tokens, ``L`` labels, ``d`` hidden width.
``mask`` marks the target tokens that count (1) and padding/context (0).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check_mask(values: Tensor, mask: Tensor) -> Tensor:
    if values.shape != mask.shape:
        raise ValueError(f"values {tuple(values.shape)} and mask {tuple(mask.shape)} differ")
    if not bool(mask.any()):
        raise ValueError("mask selects no tokens")
    return mask.to(values.dtype)


def token_log_probs(*, logits: Tensor, targets: Tensor) -> Tensor:
    """``log p(x_j | x_<j)`` of each target token.

    Args:
        logits: ``[..., T, V]`` next-token logits aligned with ``targets``.
        targets: ``[..., T]`` token ids.

    Returns:
        ``[..., T]`` log-probabilities (float32).
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def lm_loss(*, token_logp: Tensor, mask: Tensor) -> Tensor:
    """Plain LM loss: mean negative log-likelihood over the masked tokens.

    Args:
        token_logp: ``[B, T]`` log p of each target token.
        mask: ``[B, T]`` 1 for counted tokens.

    Returns:
        Scalar ``-sum(mask * logp) / sum(mask)``.
    """
    m = _check_mask(token_logp, mask)
    return -(token_logp * m).sum() / m.sum()


def weighted_generation_loss(*, token_logp: Tensor, weights: Tensor, mask: Tensor) -> Tensor:
    """L_wGen (FewGen/DawGen): token-weighted negative log-likelihood.

    ``L = -1/B sum_i sum_j w_ij log p(x_ij | x_i,<j; Q_{y_i})`` with each row's weights
    summing to one over its masked tokens (the weight net's normalised output).

    Args:
        token_logp: ``[B, T]`` log p of each target token under its own label's prompt.
        weights: ``[B, T]`` non-negative token weights (zero on unmasked tokens).
        mask: ``[B, T]`` 1 for counted tokens.

    Returns:
        Scalar loss; with uniform weights it is the mean per-sequence average NLL.
    """
    m = _check_mask(token_logp, mask)
    if weights.shape != token_logp.shape:
        raise ValueError(f"weights {tuple(weights.shape)} vs logp {tuple(token_logp.shape)}")
    return -(weights * token_logp * m).sum() / token_logp.shape[0]


def own_label_log_share(*, label_logp: Tensor, labels: Tensor) -> Tensor:
    """``log [p(x_ij | .; Q_{y_i}) / sum_l p(x_ij | .; Q_l)]`` of every token.

    Args:
        label_logp: ``[L, B, T]`` log p of each target token under every label's prompt.
        labels: ``[B]`` int labels in ``[0, L)``.

    Returns:
        ``[B, T]`` log shares (<= 0); ``-log L`` where the prompts do not discriminate.
    """
    num_labels = label_logp.shape[0]
    if labels.min() < 0 or labels.max() >= num_labels:
        raise ValueError(f"labels must lie in [0, {num_labels}), got {labels.tolist()}")
    log_share = torch.log_softmax(label_logp, dim=0)
    index = labels.view(1, -1, 1).expand(1, *log_share.shape[1:])
    return log_share.gather(0, index).squeeze(0)


def discriminative_loss(
    *, label_logp: Tensor, labels: Tensor, mask: Tensor, form: str = "share"
) -> Tensor:
    """L_disc: how little of each token's probability its own label's prompt holds.

    ``share`` (DawGen eq. L_disc): ``L = -mean_{i,j} p(x_ij | .; Q_{y_i}) / sum_l p(x_ij
    | .; Q_l)``; ``log_share`` (FewGen): the mean cross-entropy ``-mean log(share)``.

    Args:
        label_logp: ``[L, B, T]`` log p of each target token under every label's prompt.
        labels: ``[B]`` int labels in ``[0, L)``.
        mask: ``[B, T]`` 1 for counted tokens.
        form: "share" or "log_share".

    Returns:
        Scalar; share: in ``[-1, 0]``, ``-1/L`` when the prompts do not discriminate at
        all; log_share: ``>= 0``, ``log L`` then.
    """
    log_own = own_label_log_share(label_logp=label_logp, labels=labels)
    m = _check_mask(log_own, mask)
    if form == "share":
        return -(log_own.exp() * m).sum() / m.sum()
    if form == "log_share":
        return -(log_own * m).sum() / m.sum()
    raise ValueError(f"unknown L_disc form {form!r}; use share or log_share")


def pool_weighted(*, hidden: Tensor, weights: Tensor) -> Tensor:
    """``W . Z``: a sequence representation as the weight-net-weighted sum of tokens.

    Args:
        hidden: ``[B, T, d]`` token representations Z.
        weights: ``[B, T]`` token weights (zero on padding).

    Returns:
        ``[B, d]``.
    """
    return (weights.unsqueeze(-1) * hidden).sum(1)


def distance_margin_loss(*, reps: Tensor, labels: Tensor, margin: float = 1.0) -> Tensor:
    """L_dist: triplet margin on cosine similarity (DawGen semantic regularisation).

    ``L = mean_{(i,j,k)} max(0, margin - D(z_i, z_j) + D(z_i, z_k))`` over anchors ``i``,
    positives ``j != i`` with ``y_j = y_i`` and negatives ``k`` with ``y_k != y_i``;
    ``D`` is cosine similarity, so same-label pairs are pulled together and
    other-label pairs pushed apart.

    Args:
        reps: ``[B, d]`` sequence representations.
        labels: ``[B]`` int labels.
        margin: the hinge margin (>= 0).

    Returns:
        Scalar; 0 when the batch has no valid triplet.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    unit = torch.nn.functional.normalize(reps.float(), dim=-1)
    sim = unit @ unit.T
    same = labels.view(-1, 1) == labels.view(1, -1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    valid = (same & ~eye).unsqueeze(2) & (~same).unsqueeze(1)  # [i, j, k]
    if not bool(valid.any()):
        return reps.new_zeros(())
    hinge = torch.relu(margin - sim.unsqueeze(2) + sim.unsqueeze(1))
    return hinge[valid].mean()
