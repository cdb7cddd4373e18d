"""Maximum Mean Discrepancy with RBF kernels, and the MMD reweighting of SynAlign.

SynAlign (Ren et al., 2025, Sec. 3.4) learns one sampling weight per synthetic example so
that the weighted synthetic embeddings match the real ones under MMD. With a biased
V-statistic, ``MMD^2(w) = w^T K_ss w - 2 w^T K_sr 1/m + 1^T K_rr 1/m^2``: a convex QP over
the simplex. ``solver="exact"`` forms ``K_ss`` (n x n); ``solver="rff"`` replaces the kernel
by random Fourier features (Rahimi & Recht, 2007), so memory and time are O(n D).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from synprompt_core.alignment.simplex import minimise_quadratic_on_simplex
from synprompt_core.configs.alignment import ReweightConfig

_BLOCK = 4096


@dataclass(frozen=True)
class MMDResult:
    """Output of :func:`reweight`.

    Attributes:
        weights: (n,) float64, non-negative, summing to one.
        mmd_before: MMD (square root of the biased MMD^2) with uniform weights.
        mmd_after: MMD with ``weights``.
        ess: effective sample size ``1 / sum(w^2)``, in [1, n].
        solver: "exact" or "rff" (after resolving "auto").
        bandwidths: RBF bandwidths used, in standardised units.
        steps: optimiser iterations.
    """

    weights: np.ndarray
    mmd_before: float
    mmd_after: float
    ess: float
    solver: Literal["exact", "rff"]
    bandwidths: tuple[float, ...]
    steps: int


def check_embeddings(*, syn: np.ndarray, real: np.ndarray) -> None:
    """Raise one clear ValueError for empty, ragged, mismatched or non-finite embeddings."""
    for name, x in (("synthetic", syn), ("real", real)):
        if x.ndim != 2:
            raise ValueError(f"{name} embeddings must be 2-D (rows, dim), got shape {x.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{name} set is empty: nothing to match")
        if not np.isfinite(x).all():
            bad = int(np.argwhere(~np.isfinite(x))[0, 0])
            raise ValueError(f"{name} embeddings contain NaN or inf (first at row {bad})")
    if syn.shape[1] != real.shape[1]:
        raise ValueError(
            f"embedding dimensions differ: synthetic {syn.shape[1]} vs real {real.shape[1]}"
        )


def standardize(*, syn: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale both sets with the real set's per-dimension mean and std.

    Statistics are computed in float64; each output keeps its input's float dtype.
    """
    mean = real.mean(axis=0, dtype=np.float64)
    std = real.std(axis=0, dtype=np.float64)
    std = np.where(std > 1e-8, std, 1.0)
    return _scale(syn, mean, std), _scale(real, mean, std)


def median_distance(x: np.ndarray, *, max_rows: int = 1000, seed: int = 0) -> float:
    """Median pairwise Euclidean distance over at most ``max_rows`` seeded-sampled rows."""
    if x.shape[0] > max_rows:
        x = x[np.random.default_rng(seed).choice(x.shape[0], max_rows, replace=False)]
    d2 = _sq_dists(x, x)
    d = np.sqrt(d2[np.triu_indices(x.shape[0], k=1)])
    med = float(np.median(d)) if d.size else 0.0
    return med if med > 0 else 1.0


def choose_bandwidths(
    *,
    syn: np.ndarray,
    real: np.ndarray,
    kind: Literal["median", "multi"] = "median",
    multipliers: tuple[float, ...] = (0.5, 1.0, 2.0),
    seed: int = 0,
) -> tuple[float, ...]:
    """Median heuristic on the pooled sets; ``multi`` scales it by each multiplier."""
    half = 500
    rng = np.random.default_rng(seed)
    pick_s = rng.choice(syn.shape[0], min(half, syn.shape[0]), replace=False)
    pick_r = rng.choice(real.shape[0], min(half, real.shape[0]), replace=False)
    pooled = np.concatenate([syn[pick_s], real[pick_r]]).astype(np.float64)
    med = median_distance(pooled, seed=seed)
    return (med,) if kind == "median" else tuple(med * m for m in multipliers)


def rbf_kernel(x: np.ndarray, y: np.ndarray, *, bandwidths: tuple[float, ...]) -> np.ndarray:
    """Mean over bandwidths s of ``exp(-|x - y|^2 / (2 s^2))``: (len(x), len(y)), k(x, x) = 1."""
    d2 = _sq_dists(x, y)
    out = np.zeros_like(d2)
    for s in bandwidths:
        out += np.exp(-d2 / (2.0 * s * s))
    return out / len(bandwidths)


def mmd2(
    *,
    x: np.ndarray,
    y: np.ndarray,
    bandwidths: tuple[float, ...],
    x_weights: np.ndarray | None = None,
    y_weights: np.ndarray | None = None,
) -> float:
    """Biased (V-statistic) weighted MMD^2 between x (n, d) and y (m, d); uniform by default.

    Kernel blocks are formed ``_BLOCK`` rows at a time, so memory stays O(block * m).
    """
    wx = np.full(x.shape[0], 1.0 / x.shape[0]) if x_weights is None else x_weights
    wy = np.full(y.shape[0], 1.0 / y.shape[0]) if y_weights is None else y_weights
    xx = _weighted_kernel_sum(x, x, wx, wx, bandwidths)
    yy = _weighted_kernel_sum(y, y, wy, wy, bandwidths)
    xy = _weighted_kernel_sum(x, y, wx, wy, bandwidths)
    return max(xx + yy - 2.0 * xy, 0.0)


def rff_features(
    x: np.ndarray, *, bandwidths: tuple[float, ...], n_features: int, seed: int
) -> np.ndarray:
    """Random Fourier features (n, D), float32: ``phi(x) . phi(y) ~= rbf_kernel(x, y)``.

    The D features are split evenly across bandwidths; each block is scaled so the inner
    product estimates the mean kernel. Same seed, same frequencies, for every set.
    """
    rng = np.random.default_rng(seed)
    per = max(n_features // len(bandwidths), 1)
    blocks = []
    for s in bandwidths:
        freq = (rng.standard_normal((x.shape[1], per)) / s).astype(np.float32)
        phase = rng.uniform(0.0, 2.0 * np.pi, per).astype(np.float32)
        scale = np.float32(np.sqrt(2.0 / (per * len(bandwidths))))
        blocks.append(_cos_features(x.astype(np.float32, copy=False), freq, phase, scale))
    return np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]


def reweight(
    *,
    syn: np.ndarray,
    real: np.ndarray,
    config: ReweightConfig,
    syn_labels: np.ndarray | None = None,
    real_labels: np.ndarray | None = None,
) -> MMDResult:
    """Learn simplex weights on ``syn`` (n, d) minimising MMD to ``real`` (m, d).

    Args:
        syn: synthetic embeddings; never modified.
        real: real embeddings, same dimension.
        config: solver, bandwidth, feature and optimiser settings.
        syn_labels, real_labels: (n,) and (m,) labels. Given both and ``config.by_label``,
            each label's synthetic rows are matched to that label's real rows only, and each
            label keeps its share of the synthetic rows as its share of the weight, so the
            reweighting never changes the label balance. A label with no real rows keeps
            uniform weights within its share.

    Returns:
        MMDResult. MMD before/after are exact for the exact solver and RFF estimates for
        the RFF solver (exact ones would cost O(n^2)); with labels they are the
        share-weighted means over labels of the per-label MMDs.
    """
    check_embeddings(syn=syn, real=real)
    solver = config.solver
    if solver == "auto":
        solver = "exact" if syn.shape[0] <= config.exact_max_rows else "rff"
    # RFF keeps float32 rows (its features are float32 anyway): no float64 copy of a big set.
    dtype = np.float64 if solver == "exact" else np.float32
    syn_x, real_x = np.asarray(syn, dtype), np.asarray(real, np.float64)
    if config.standardize:
        syn_x, real_x = standardize(syn=syn_x, real=real_x)
    bws = choose_bandwidths(
        syn=syn_x, real=real_x, kind=config.bandwidth, multipliers=config.multipliers,
        seed=config.seed,
    )  # fmt: skip
    solve = _solve_exact if solver == "exact" else _solve_rff
    if config.by_label and syn_labels is not None and real_labels is not None:
        weights, before, after, steps = _solve_by_label(
            solve, syn_x, real_x, np.asarray(syn_labels), np.asarray(real_labels), bws, config
        )
    else:
        weights, before, after, steps = solve(syn_x, real_x, bws, config)
    return MMDResult(
        weights=weights,
        mmd_before=float(np.sqrt(before)),
        mmd_after=float(np.sqrt(max(min(after, before), 0.0))),
        ess=effective_sample_size(weights),
        solver=solver,
        bandwidths=bws,
        steps=steps,
    )


def _solve_by_label(solve, syn, real, syn_labels, real_labels, bws, config):
    """Class-conditional MMD: one solve per label, each label's mass = its share of rows."""
    if syn_labels.shape != (syn.shape[0],) or real_labels.shape != (real.shape[0],):
        raise ValueError(
            f"labels must match the embeddings: {syn_labels.shape} synthetic labels for "
            f"{syn.shape[0]} rows, {real_labels.shape} real labels for {real.shape[0]} rows"
        )
    weights = np.zeros(syn.shape[0])
    before = after = 0.0
    steps = 0
    for label in np.unique(syn_labels):
        rows = np.flatnonzero(syn_labels == label)
        share = rows.size / syn.shape[0]
        targets = real[real_labels == label]
        if targets.shape[0] == 0:  # nothing to match: this label stays uniform
            weights[rows] = share / rows.size
            continue
        w, b, a, k = solve(syn[rows], targets, bws, config)
        weights[rows] = share * w
        before, after, steps = before + share * b, after + share * a, max(steps, k)
    return weights / weights.sum(), before, after, steps


def weight_cap(n: int, config: ReweightConfig) -> float | None:
    """Per-row weight bound ``max_weight / n`` (None: unbounded simplex)."""
    return None if config.max_weight is None else config.max_weight / n


def _solve_exact(syn, real, bws, config):
    k_ss = _kernel_matrix_f32(syn, bws)
    b = _kernel_mean_rows(syn, real, bws)
    c = _weighted_kernel_sum(real, real, _uniform(real), _uniform(real), bws)
    sol = minimise_quadratic_on_simplex(
        matvec=lambda w: k_ss @ w.astype(np.float32),
        b=b,
        steps=config.steps,
        tol=config.tol,
        cap=weight_cap(len(syn), config),
    )
    uniform = _uniform(syn)
    before = float(uniform @ (k_ss @ uniform.astype(np.float32)) - 2 * uniform @ b + c)
    return sol.weights, before, sol.objective + c, sol.steps


def _solve_rff(syn, real, bws, config):
    phi_s = rff_features(syn, bandwidths=bws, n_features=config.n_features, seed=config.seed)
    mu_r = rff_features(real, bandwidths=bws, n_features=config.n_features, seed=config.seed).mean(
        axis=0, dtype=np.float64
    )
    b = (phi_s @ mu_r.astype(np.float32)).astype(np.float64)
    if phi_s.shape[0] <= phi_s.shape[1]:  # fewer rows than features: the Gram is smaller
        gram = phi_s @ phi_s.T
        matvec = lambda w: (gram @ w.astype(np.float32)).astype(np.float64)  # noqa: E731
    else:
        matvec = lambda w: (phi_s @ (w.astype(np.float32) @ phi_s)).astype(np.float64)  # noqa: E731
    sol = minimise_quadratic_on_simplex(
        matvec=matvec,
        b=b,
        steps=config.steps,
        tol=config.tol,
        cap=weight_cap(len(syn), config),
    )
    mu_s = phi_s.mean(axis=0, dtype=np.float64)
    mu_w = sum(
        sol.weights[i : i + _BLOCK] @ phi_s[i : i + _BLOCK].astype(np.float64)
        for i in range(0, phi_s.shape[0], _BLOCK)
    )
    before = float(np.sum((mu_s - mu_r) ** 2))
    return sol.weights, before, float(np.sum((mu_w - mu_r) ** 2)), sol.steps


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum(w^2)``."""
    return float(weights.sum() ** 2 / np.sum(weights**2))


def _scale(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    return ((x - mean.astype(dtype)) / std.astype(dtype)).astype(dtype, copy=False)


def _uniform(x: np.ndarray) -> np.ndarray:
    return np.full(x.shape[0], 1.0 / x.shape[0])


def _sq_dists(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    d2 = np.sum(x * x, axis=1)[:, None] + np.sum(y * y, axis=1)[None, :] - 2.0 * (x @ y.T)
    return np.maximum(d2, 0.0)


def _kernel_mean_rows(x, y, bws) -> np.ndarray:
    """``K(x, y) 1/m`` computed in row blocks: (n,)."""
    return np.concatenate(
        [rbf_kernel(x[i : i + _BLOCK], y, bandwidths=bws).mean(axis=1)
         for i in range(0, x.shape[0], _BLOCK)]
    )  # fmt: skip


def _weighted_kernel_sum(x, y, wx, wy, bws) -> float:
    total = 0.0
    for i in range(0, x.shape[0], _BLOCK):
        total += float(wx[i : i + _BLOCK] @ (rbf_kernel(x[i : i + _BLOCK], y, bandwidths=bws) @ wy))
    return total


def _kernel_matrix_f32(x, bws) -> np.ndarray:
    """``K(x, x)`` as float32, built in row blocks so no float64 n x n temporary exists."""
    out = np.empty((x.shape[0], x.shape[0]), dtype=np.float32)
    for i in range(0, x.shape[0], _BLOCK):
        out[i : i + _BLOCK] = rbf_kernel(x[i : i + _BLOCK], x, bandwidths=bws)
    return out


def _cos_features(x, freq, phase, scale) -> np.ndarray:
    out = np.empty((x.shape[0], freq.shape[1]), dtype=np.float32)
    for i in range(0, x.shape[0], _BLOCK):
        np.cos(x[i : i + _BLOCK] @ freq + phase, out=out[i : i + _BLOCK])
    out *= scale
    return out
