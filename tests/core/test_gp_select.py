"""GP uncertainty tracker: incremental updates equal refits, and selection by label."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF

from synprompt_core.alignment import (
    GPUncertaintyTracker,
    greedy_max_variance,
    greedy_max_variance_refit,
    label_budgets,
    refit_variance,
    select_demonstrations,
)
from synprompt_core.alignment.gp_select import cluster_pool, rbf
from synprompt_core.configs.alignment import SelectionConfig

LS, NOISE = 2.0, 1e-6


@pytest.fixture(scope="module")
def pool():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((6, 8)) * 3
    return centres[rng.integers(6, size=400)] + rng.standard_normal((400, 8))


def _sklearn_picks(x, first, n_picks):
    picks = [first]
    while len(picks) < n_picks:
        gp = GaussianProcessRegressor(
            kernel=RBF(LS, length_scale_bounds="fixed"), alpha=NOISE, optimizer=None
        ).fit(x[picks], np.zeros(len(picks)))
        _, std = gp.predict(x, return_std=True)
        var = std**2
        var[picks] = -np.inf
        picks.append(int(np.argmax(var)))
    return np.array(picks)


def test_incremental_picks_equal_a_sklearn_refit(pool):
    picks, variances = greedy_max_variance(pool, n_picks=40, first=7, length_scale=LS, noise=NOISE)
    np.testing.assert_array_equal(picks, _sklearn_picks(pool, 7, 40))
    assert variances[0] == 1.0 and np.all(np.diff(variances) <= 1e-12)


def test_incremental_picks_equal_the_reference_refit(pool):
    picks, _ = greedy_max_variance(pool, n_picks=60, first=3, length_scale=LS, noise=NOISE)
    ref = greedy_max_variance_refit(pool, n_picks=60, first=3, length_scale=LS, noise=NOISE)
    np.testing.assert_array_equal(picks, ref)


def test_variance_and_cholesky_match_a_from_scratch_posterior(pool):
    tracker = GPUncertaintyTracker(pool, length_scale=LS, noise=NOISE, capacity=25)
    chosen = [5, 90, 17, 300, 44, 250, 3, 120, 77, 399, 10, 11, 12, 200, 201]
    for j in chosen:
        tracker.add(j)
    ref = refit_variance(pool, chosen, length_scale=LS, noise=NOISE)
    np.testing.assert_allclose(tracker.variance, ref, atol=1e-10)
    k = rbf(pool[chosen], pool[chosen], length_scale=LS) + NOISE * np.eye(len(chosen))
    np.testing.assert_allclose(tracker.cholesky @ tracker.cholesky.T, k, atol=1e-10)


def test_variance_is_about_zero_at_chosen_points_and_inputs_untouched(pool):
    before = pool.copy()
    tracker = GPUncertaintyTracker(pool, length_scale=LS, noise=NOISE, capacity=30)
    for _ in range(30):
        tracker.add(tracker.next_pick())
    assert tracker.variance[tracker.chosen].max() < 1e-5
    assert tracker.variance.max() <= 1.0
    np.testing.assert_array_equal(pool, before)


def test_label_budgets_average_and_proportion():
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    cap = {0: 50, 1: 50, 2: 50}
    assert label_budgets(labels, budget=10, per_label="average", capacity=cap) == {0: 4, 1: 3, 2: 3}
    assert label_budgets(labels, budget=10, per_label="proportion", capacity=cap) == {
        0: 6, 1: 3, 2: 1,
    }  # fmt: skip
    small = {0: 50, 1: 50, 2: 1}
    assert label_budgets(labels, budget=9, per_label="average", capacity=small) == {
        0: 5,
        1: 3,
        2: 1,
    }


def test_select_demonstrations_per_label(pool):
    labels = np.repeat([0, 1], 200)
    cfg = SelectionConfig(n_clusters=10, budget=6, per_label="average", length_scale=3.0, seed=1)
    sel = select_demonstrations(embeddings=pool, labels=labels, config=cfg)
    assert sel.budgets == {0: 3, 1: 3}
    assert sel.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert len(set(sel.clusters.tolist())) == 6
    for idx, members, cluster, label in zip(
        sel.indices, sel.members, sel.clusters, sel.labels, strict=True
    ):
        assert idx == members[0] and labels[idx] == label
        assert (sel.assignment[members] == cluster).all()
    again = select_demonstrations(embeddings=pool, labels=labels, config=cfg)
    np.testing.assert_array_equal(sel.indices, again.indices)


def test_selection_follows_the_gp_and_leads_with_the_most_central_row(pool):
    """Per label, the chosen clusters are the greedy max-variance sequence over that
    label's centroids (from the seeded first pick), and members are nearest-first."""
    labels = np.repeat([0, 1], 200)
    cfg = SelectionConfig(n_clusters=10, budget=6, per_label="average", length_scale=3.0, seed=1)
    sel = select_demonstrations(embeddings=pool, labels=labels, config=cfg)
    _, centroids, cluster_label = cluster_pool(pool, labels, n_clusters=10, seed=1)
    for value in (0, 1):
        ids = np.flatnonzero(cluster_label == value)
        local = [int(np.flatnonzero(ids == c)[0]) for c in sel.clusters[sel.labels == value]]
        want, _ = greedy_max_variance(
            centroids[ids], n_picks=3, first=local[0], length_scale=3.0, noise=cfg.noise
        )
        assert local == want.tolist()
    for members, cluster in zip(sel.members, sel.clusters, strict=True):
        distances = ((pool[members] - centroids[cluster]) ** 2).sum(1)
        assert np.all(np.diff(distances) >= 0)


def test_every_row_its_own_cluster():
    x = np.random.default_rng(2).standard_normal((30, 4))
    cfg = SelectionConfig(n_clusters=None, budget=5, length_scale=1.5)
    sel = select_demonstrations(embeddings=x, labels=np.zeros(30, dtype=int), config=cfg)
    np.testing.assert_array_equal(sel.indices, sel.clusters)
    assert all(len(m) == 1 for m in sel.members)


@pytest.mark.parametrize(
    ("emb", "labels", "budget", "message"),
    [
        (np.ones((5, 3)), np.zeros(5, dtype=int), 6, "larger than the pool"),
        (np.arange(24.0).reshape(8, 3), np.zeros(8, dtype=int), 5, "exceeds the 3 clusters"),
        (np.array([[0.0, np.nan], [1.0, 1.0]]), np.zeros(2, dtype=int), 1, "NaN"),
        (np.zeros((0, 3)), np.zeros(0, dtype=int), 1, "non-empty"),
        (np.ones((4, 3)), np.zeros(3, dtype=int), 1, "3 labels for 4 pool rows"),
    ],
)
def test_bad_inputs_give_one_clear_error(emb, labels, budget, message):
    cfg = SelectionConfig(n_clusters=3, budget=budget)
    with pytest.raises(ValueError, match=message):
        select_demonstrations(embeddings=emb, labels=labels, config=cfg)
