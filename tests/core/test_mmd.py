"""Properties of MMD and of the learned SynAlign weights (exact and RFF solvers)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from synprompt_core.alignment import (
    apply_weights,
    loss_weights,
    mmd2,
    project_2d,
    resample_indices,
    reweight,
    rff_features,
    standardize,
    weight_histogram,
)
from synprompt_core.alignment.simplex import project_to_capped_simplex, project_to_simplex
from synprompt_core.configs.alignment import AlignmentConfig, ReweightConfig

BW = (4.0,)


def _gauss(rng, n, d=16, shift=0.0):
    x = rng.standard_normal((n, d))
    x[:, :4] += shift
    return x


def _mixture(seed=0, n_half=1000, d=384, shift=1.0, m=1000):
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((m, d))
    delta = np.zeros(d)
    delta[:20] = shift
    syn = np.concatenate(
        [rng.standard_normal((n_half, d)), rng.standard_normal((n_half, d)) + delta]
    )
    return syn, real


def test_mmd_of_a_set_with_itself_is_zero():
    x = _gauss(np.random.default_rng(0), 200)
    assert mmd2(x=x, y=x, bandwidths=BW) == pytest.approx(0.0, abs=1e-12)


def test_mmd_is_symmetric_including_weights():
    rng = np.random.default_rng(1)
    x, y = _gauss(rng, 150), _gauss(rng, 90, shift=0.5)
    wx = rng.dirichlet(np.ones(150))
    forward = mmd2(x=x, y=y, bandwidths=BW, x_weights=wx)
    backward = mmd2(x=y, y=x, bandwidths=BW, y_weights=wx)
    assert forward == pytest.approx(backward, rel=1e-10)


def test_mmd_grows_with_a_mean_shift():
    rng = np.random.default_rng(2)
    x, base = _gauss(rng, 300), rng.standard_normal((300, 16))
    values = [mmd2(x=x, y=base + s * np.eye(16)[0], bandwidths=BW) for s in (0.0, 0.5, 1, 2, 4)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False))


def test_rff_inner_products_approximate_the_kernel():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 8))
    phi = rff_features(x, bandwidths=(3.0, 6.0), n_features=20000, seed=0)
    d2 = np.sum((x[:, None] - x[None]) ** 2, axis=-1)
    exact = 0.5 * (np.exp(-d2 / 18.0) + np.exp(-d2 / 72.0))
    assert np.abs(phi @ phi.T - exact).max() < 0.05


def test_simplex_projection_is_a_projection():
    v = np.random.default_rng(4).standard_normal(50)
    p = project_to_simplex(v)
    assert p.min() >= 0 and p.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(project_to_simplex(p), p, atol=1e-12)


@pytest.mark.parametrize("solver", ["exact", "rff"])
@pytest.mark.parametrize("bandwidth", ["median", "multi"])
def test_weights_are_a_distribution_that_lowers_mmd(solver, bandwidth):
    syn, real = _mixture(n_half=200, d=32, shift=1.5, m=200)
    res = reweight(syn=syn, real=real, config=ReweightConfig(solver=solver, bandwidth=bandwidth))
    assert res.solver == solver and res.weights.shape == (400,)
    assert res.weights.min() >= 0 and res.weights.sum() == pytest.approx(1.0)
    assert res.mmd_after < 0.7 * res.mmd_before
    assert 1.0 <= res.ess <= 400
    s, r = standardize(syn=syn, real=real)
    uniform = mmd2(x=s, y=r, bandwidths=res.bandwidths)
    assert mmd2(x=s, y=r, bandwidths=res.bandwidths, x_weights=res.weights) < uniform


@pytest.fixture(scope="module")
def mixture_fit():
    """2,000 synthetic rows (half real-like, half shifted), 1,000 real, both solvers."""
    syn, real = _mixture(seed=0)
    exact = reweight(syn=syn, real=real, config=ReweightConfig(solver="exact"))
    rff = reweight(syn=syn, real=real, config=ReweightConfig(solver="rff", n_features=16384))
    return syn, real, exact, rff


@pytest.mark.parametrize("solver", ["exact", "rff"])
def test_in_distribution_half_gets_most_of_the_weight(mixture_fit, solver):
    _, _, exact, rff = mixture_fit
    res = exact if solver == "exact" else rff
    assert res.solver == solver
    assert res.weights[:1000].sum() >= 0.8


def test_rff_solver_matches_exact_within_five_percent_on_2000_rows(mixture_fit):
    syn, real, exact, rff = mixture_fit
    s, r = standardize(syn=syn, real=real)
    mmd_rff = np.sqrt(mmd2(x=s, y=r, bandwidths=rff.bandwidths, x_weights=rff.weights))
    np.testing.assert_allclose(exact.bandwidths, rff.bandwidths, rtol=1e-6)
    assert mmd_rff <= 1.05 * exact.mmd_after


def test_auto_picks_the_solver_by_size_and_inputs_stay_untouched():
    syn, real = _mixture(n_half=100, d=8, m=50)
    before = syn.copy()
    assert reweight(syn=syn, real=real, config=ReweightConfig(exact_max_rows=500)).solver == "exact"
    assert reweight(syn=syn, real=real, config=ReweightConfig(exact_max_rows=100)).solver == "rff"
    np.testing.assert_array_equal(syn, before)


def test_same_seed_same_weights():
    syn, real = _mixture(n_half=200, d=16, m=100)
    a = reweight(syn=syn, real=real, config=ReweightConfig(solver="rff", seed=3))
    b = reweight(syn=syn, real=real, config=ReweightConfig(solver="rff", seed=3))
    np.testing.assert_array_equal(a.weights, b.weights)


@pytest.mark.parametrize(
    ("syn", "real", "message"),
    [
        (np.zeros((0, 8)), np.ones((5, 8)), "synthetic set is empty"),
        (np.ones((5, 8)), np.ones((5, 6)), "embedding dimensions differ"),
        (np.array([[0.0, np.nan]]), np.ones((5, 2)), "NaN or inf"),
        (np.ones((5, 2)), np.array([[np.inf, 0.0]]), "real embeddings contain NaN"),
        (np.ones(5), np.ones((5, 2)), "must be 2-D"),
    ],
)
def test_bad_inputs_give_one_clear_error(syn, real, message):
    with pytest.raises(ValueError, match=message):
        reweight(syn=syn, real=real, config=ReweightConfig())


def test_weight_helpers():
    w = np.random.default_rng(6).dirichlet(np.ones(40))
    lw = loss_weights(w)
    assert lw.mean() == pytest.approx(1.0)
    idx = resample_indices(w, n=100, seed=0)
    assert idx.shape == (100,) and idx.max() < 40
    np.testing.assert_array_equal(idx, resample_indices(w, n=100, seed=0))
    drawn = resample_indices(np.array([0.7, 0.0, 0.3]), n=10_000, seed=0)
    assert set(drawn.tolist()) == {0, 2} and abs((drawn == 0).mean() - 0.7) < 0.02
    counts, edges = weight_histogram(w, bins=5)
    assert counts.sum() == 40 and edges.shape == (6,)
    r2, s2 = project_2d(real=np.random.default_rng(0).standard_normal((30, 5)), syn=np.ones((4, 5)))
    assert r2.shape == (30, 2) and s2.shape == (4, 2)
    with pytest.raises(ValueError, match="sum to 1"):
        loss_weights(np.array([0.5, 0.6]))


def test_alignment_package_imports_no_tracker():
    code = (
        "import sys, synprompt_core.alignment, synprompt_core.configs.alignment; "
        "assert 'prefect' not in sys.modules and 'mlflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_alignment_config_is_strict_and_documented():
    cfg = AlignmentConfig()
    with pytest.raises(ValidationError):
        AlignmentConfig(reweight={"solvr": "rff"})
    with pytest.raises(ValidationError):
        ReweightConfig(multipliers=(1.0, -2.0))
    with pytest.raises(ValidationError):
        cfg.reweight.steps = 3
    for model in (cfg, cfg.embedding, cfg.selection, cfg.generation, cfg.reweight):
        assert all(f.description for f in type(model).model_fields.values())


def test_weight_cap_bounds_every_weight_and_keeps_the_sample_large():
    rng = np.random.default_rng(3)
    real = rng.standard_normal((200, 8))
    syn = np.vstack([rng.standard_normal((150, 8)) + 3.0, rng.standard_normal((50, 8))])
    capped = reweight(syn=syn, real=real, config=ReweightConfig(solver="exact", max_weight=4))
    free = reweight(syn=syn, real=real, config=ReweightConfig(solver="exact", max_weight=None))
    assert capped.weights.max() <= 4 / len(syn) + 1e-9
    assert capped.ess >= len(syn) / 4 - 1e-6
    assert capped.weights[150:].sum() > 0.8  # still favours the in-distribution rows
    assert capped.mmd_after < capped.mmd_before and free.mmd_after <= capped.mmd_after + 1e-9
    projected = project_to_capped_simplex(rng.standard_normal(50), 0.05)
    assert abs(projected.sum() - 1) < 1e-9 and projected.max() <= 0.05 + 1e-9


@pytest.mark.parametrize("solver", ["exact", "rff"])
def test_by_label_keeps_the_label_balance_and_matches_within_each_label(solver):
    # Label 0's synthetic rows all sit near the real rows; label 1's are half shifted.
    # A global MMD moves mass from label 1 to label 0; per label, each keeps its share
    # and label 1's in-distribution half takes the weight.
    rng = np.random.default_rng(5)
    real = np.vstack([rng.standard_normal((40, 8)), rng.standard_normal((40, 8)) + 2.0])
    real_labels = np.array([0] * 40 + [1] * 40)
    syn = np.vstack(
        [
            rng.standard_normal((300, 8)),  # label 0, in distribution
            rng.standard_normal((50, 8)) + 2.0,  # label 1, in distribution
            rng.standard_normal((50, 8)) - 3.0,  # label 1, far off
        ]
    )
    syn_labels = np.array([0] * 300 + [1] * 100)
    config = ReweightConfig(solver=solver, n_features=4096)
    per = reweight(
        syn=syn, real=real, config=config, syn_labels=syn_labels, real_labels=real_labels
    )
    assert per.weights.min() >= 0 and abs(per.weights.sum() - 1) < 1e-9
    assert abs(per.weights[:300].sum() - 0.75) < 1e-9  # label 0 keeps its 300/400 share
    assert per.weights[300:350].sum() > 0.8 * per.weights[300:].sum()
    assert per.mmd_after < per.mmd_before
    off = ReweightConfig(solver=solver, n_features=4096, by_label=False)
    pooled = reweight(
        syn=syn, real=real, config=off, syn_labels=syn_labels, real_labels=real_labels
    )
    assert pooled.weights[:300].sum() < 0.7  # the global match shifts the label balance


def test_by_label_rejects_labels_that_do_not_fit_and_keeps_a_label_without_real_rows_uniform():
    rng = np.random.default_rng(6)
    real, syn = rng.standard_normal((20, 4)), rng.standard_normal((30, 4))
    with pytest.raises(ValueError, match="30 rows"):
        reweight(syn=syn, real=real, config=ReweightConfig(), syn_labels=np.zeros(29),
                 real_labels=np.zeros(20))  # fmt: skip
    syn_labels = np.array([0] * 20 + [1] * 10)
    res = reweight(syn=syn, real=real, config=ReweightConfig(), syn_labels=syn_labels,
                   real_labels=np.zeros(20))  # fmt: skip
    assert np.allclose(res.weights[20:], 1 / 30)


def test_apply_weights_resamples_by_label_or_sets_mean_one_loss_weights():
    table = pd.DataFrame({"text_a": [f"t{i}" for i in range(6)], "label": [0, 0, 0, 0, 1, 1]})
    weights = np.array([0.5, 0.0, 0.0, 0.1, 0.4, 0.0])
    drawn = apply_weights(table, weights, use="resample", seed=0, by_label=True)
    assert drawn["label"].tolist() == [0, 0, 0, 0, 1, 1]  # label counts kept exactly
    assert set(drawn["text_a"]) <= {"t0", "t3", "t4"}  # zero-weight rows never drawn
    assert (drawn["weight"] == 1.0).all()
    assert drawn.equals(apply_weights(table, weights, use="resample", seed=0, by_label=True))
    weighted = apply_weights(table, weights, use="loss_weights", seed=0)
    assert weighted["weight"].tolist() == pytest.approx([3.0, 0, 0, 0.6, 2.4, 0])
    with pytest.raises(ValueError, match="5 weights for a table of 6 rows"):
        apply_weights(table, weights[:5] / weights[:5].sum(), use="resample", seed=0)
