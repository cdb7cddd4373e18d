"""Turning learned MMD weights into what the trainer and the plots need (pure functions)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd


def loss_weights(weights: np.ndarray) -> np.ndarray:
    """Simplex weights -> per-example loss weights with mean 1 (``n * w``)."""
    _check_simplex(weights)
    return weights * weights.size


def resample_indices(weights: np.ndarray, *, n: int | None = None, seed: int) -> np.ndarray:
    """Draw ``n`` (default: all) row indices with replacement, probability = weight, sorted."""
    _check_simplex(weights)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(weights.size, size=n or weights.size, replace=True, p=weights))


def apply_weights(
    table: pd.DataFrame,
    weights: np.ndarray,
    *,
    use: Literal["loss_weights", "resample"],
    seed: int,
    by_label: bool = False,
) -> pd.DataFrame:
    """The synthetic table the trainer gets: ``weight`` column or rows drawn by weight.

    ``loss_weights`` keeps every row with its mean-1 loss weight; ``resample`` (SynAlign's
    sampling weights) draws ``len(table)`` rows with replacement, each with weight 1, so no
    batch slot is spent on a row whose weight is zero. With ``by_label``, each label draws
    exactly as many rows as it had, so the label counts are unchanged.
    """
    if len(weights) != len(table):
        raise ValueError(f"{len(weights)} weights for a table of {len(table)} rows")
    _check_simplex(weights)
    if use == "loss_weights":
        return table.assign(weight=loss_weights(weights))
    if not by_label:
        rows = resample_indices(weights, seed=seed)
    else:
        rng = np.random.default_rng(seed)
        labels = table["label"].to_numpy()
        parts = []
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            mass = weights[members].sum()
            p = weights[members] / mass if mass > 0 else None  # no mass: uniform
            parts.append(rng.choice(members, size=members.size, replace=True, p=p))
        rows = np.sort(np.concatenate(parts))
    return table.iloc[rows].reset_index(drop=True).assign(weight=1.0)


def weight_histogram(weights: np.ndarray, *, bins: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of ``n * w`` (1 = the uniform weight): (counts (bins,), edges (bins + 1,))."""
    _check_simplex(weights)
    return np.histogram(weights * weights.size, bins=bins)


def project_2d(*, real: np.ndarray, syn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PCA fitted on the real set, applied to both: ((m, 2), (n, 2)) for a scatter plot."""
    mean = real.mean(axis=0)
    _, _, vt = np.linalg.svd(real - mean, full_matrices=False)
    axes = vt[:2].T
    return (real - mean) @ axes, (syn - mean) @ axes


def _check_simplex(weights: np.ndarray) -> None:
    if weights.ndim != 1 or weights.size == 0:
        raise ValueError(f"weights must be a non-empty 1-D array, got shape {weights.shape}")
    if (weights < 0).any() or not np.isclose(weights.sum(), 1.0, atol=1e-6):
        raise ValueError(f"weights must be non-negative and sum to 1 (sum={weights.sum():.6g})")
