"""Gradient surgery by its properties (DawGen Alg. 2)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synprompt_core.gradient_surgery import combine_gradients, project_conflicting

vectors = st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=2, max_size=8)


def test_two_d_conflict_keeps_only_the_orthogonal_part():
    out, stats = project_conflicting(torch.tensor([-1.0, 1.0]), torch.tensor([1.0, 0.0]))
    # g_syn=(-1,1) conflicts with g_real=(1,0): removing the projection leaves (0,1)
    torch.testing.assert_close(out, torch.tensor([0.0, 1.0]))
    assert stats.conflict


def test_issue_example_one_zero_vs_minus_one_one():
    # (1,0) projected off (-1,1): (1,0) - (-1/2)(-1,1) = (0.5, 0.5)
    out, stats = project_conflicting(torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0]))
    torch.testing.assert_close(out, torch.tensor([0.5, 0.5]))
    assert stats.conflict and stats.cosine < 0


@settings(max_examples=60, deadline=None)
@given(vectors, st.integers(0, 10_000))
def test_agreeing_gradients_are_unchanged(values, seed):
    g_real = torch.tensor(values)
    noise = torch.randn(len(values), generator=torch.Generator().manual_seed(seed)) * 0.01
    g_syn = g_real * 2.0 + noise * g_real.abs()
    if torch.dot(g_syn, g_real) < 0:
        return
    out, stats = project_conflicting(g_syn, g_real)
    torch.testing.assert_close(out, g_syn)
    assert not stats.conflict


@settings(max_examples=60, deadline=None)
@given(vectors, vectors)
def test_conflicting_gradient_becomes_orthogonal(a, b):
    n = min(len(a), len(b))
    g_syn, g_real = torch.tensor(a[:n]), torch.tensor(b[:n])
    out, stats = project_conflicting(g_syn, g_real)
    if stats.conflict:
        scale = g_syn.norm() * g_real.norm() + 1e-6
        assert abs(torch.dot(out.double(), g_real.double()).item()) / scale.item() < 1e-5
    else:
        # no conflict: the gradients agree, or ||g_real||^2 is under the eps floor (1e-12)
        assert torch.dot(g_syn, g_real) >= 0 or g_real.double().norm() ** 2 <= 1e-12


def test_zero_real_gradient_gives_no_nan():
    out, stats = project_conflicting(torch.tensor([1.0, -2.0]), torch.zeros(2))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.tensor([1.0, -2.0]))
    assert stats.cosine == 0.0 and not stats.conflict


def test_inputs_are_not_modified():
    g_syn, g_real = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])
    before = (g_syn.clone(), g_real.clone())
    out, _ = project_conflicting(g_syn, g_real)
    out.add_(5.0)
    torch.testing.assert_close(g_syn, before[0])
    torch.testing.assert_close(g_real, before[1])


def test_shape_mismatch_is_a_clear_error():
    try:
        project_conflicting(torch.zeros(3), torch.zeros(2))
    except ValueError as err:
        assert "(3,)" in str(err) and "(2,)" in str(err)
    else:
        raise AssertionError("expected ValueError")


def test_combined_step_never_opposes_the_real_gradient():
    g_real, g_syn = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([-3.0, 1.0, 0.0])
    combined, _ = combine_gradients(g_real, g_syn, syn_coef=1.0, surgery=True)
    assert torch.dot(combined, g_real) > 0
    plain, _ = combine_gradients(g_real, g_syn, syn_coef=1.0, surgery=False)
    assert torch.dot(plain, g_real) < 0  # without surgery the synthetic side wins here
