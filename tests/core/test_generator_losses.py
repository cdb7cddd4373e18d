"""Generator-tuning losses, weight net and configs against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError
from torch.testing import assert_close

from synprompt_core.configs.generator import GenerationConfig, GeneratorConfig
from synprompt_core.generator import losses
from synprompt_core.generator.weight_net import WeightNet, normalise_scores, weight_entropy

LN = math.log


def test_token_log_probs_on_a_toy_vocabulary():
    logits = torch.tensor([[[0.0, LN(3.0)], [LN(4.0), 0.0]]])
    targets = torch.tensor([[1, 1]])
    got = losses.token_log_probs(logits=logits, targets=targets)
    assert_close(got, torch.tensor([[LN(3 / 4), LN(1 / 5)]]))


def test_lm_loss_hand_value():
    logp = torch.tensor([[LN(0.5), LN(0.25)], [LN(0.1), 0.0]])
    mask = torch.tensor([[1, 1], [1, 0]])
    want = -(LN(0.5) + LN(0.25) + LN(0.1)) / 3
    assert_close(losses.lm_loss(token_logp=logp, mask=mask), torch.tensor(want))


def test_weighted_generation_loss_hand_value_and_uniform_case():
    logp = torch.tensor([[LN(0.5), LN(0.25)], [LN(0.1), 0.0]])
    mask = torch.tensor([[1, 1], [1, 0]])
    weights = torch.tensor([[0.75, 0.25], [1.0, 0.0]])
    want = -((0.75 * LN(0.5) + 0.25 * LN(0.25)) + LN(0.1)) / 2
    got = losses.weighted_generation_loss(token_logp=logp, weights=weights, mask=mask)
    assert_close(got, torch.tensor(want))
    uniform = normalise_scores(scores=torch.zeros(2, 2), mask=mask)
    per_seq = -((LN(0.5) + LN(0.25)) / 2 + LN(0.1)) / 2
    got = losses.weighted_generation_loss(token_logp=logp, weights=uniform, mask=mask)
    assert_close(got, torch.tensor(per_seq))


def test_discriminative_loss_hand_value():
    # token 1: p0 = .2, p1 = .2 -> share .5; token 2: p0 = .6, p1 = .2 -> share .75
    label_logp = torch.tensor([[[LN(0.2), LN(0.6)]], [[LN(0.2), LN(0.2)]]])
    got = losses.discriminative_loss(
        label_logp=label_logp, labels=torch.tensor([0]), mask=torch.ones(1, 2)
    )
    assert_close(got, torch.tensor(-(0.5 + 0.75) / 2))
    got1 = losses.discriminative_loss(
        label_logp=label_logp, labels=torch.tensor([1]), mask=torch.ones(1, 2)
    )
    assert_close(got1, torch.tensor(-(0.5 + 0.25) / 2))


def test_discriminative_loss_log_share_is_fewgens_cross_entropy():
    # same tokens as above: shares .5 and .75 for label 0, .5 and .25 for label 1
    label_logp = torch.tensor([[[LN(0.2), LN(0.6)]], [[LN(0.2), LN(0.2)]]])
    got = losses.discriminative_loss(
        label_logp=label_logp, labels=torch.tensor([0]), mask=torch.ones(1, 2), form="log_share"
    )
    assert_close(got, torch.tensor(-(LN(0.5) + LN(0.75)) / 2))
    per_token = losses.own_label_log_share(label_logp=label_logp, labels=torch.tensor([1]))
    assert_close(per_token, torch.tensor([[LN(0.5), LN(0.25)]]))
    with pytest.raises(ValueError, match="unknown L_disc form"):
        losses.discriminative_loss(
            label_logp=label_logp, labels=torch.tensor([0]), mask=torch.ones(1, 2), form="ce"
        )


def test_discriminative_loss_is_minus_one_over_l_without_discrimination():
    label_logp = torch.full((3, 2, 4), -2.0)
    got = losses.discriminative_loss(
        label_logp=label_logp, labels=torch.tensor([0, 2]), mask=torch.ones(2, 4)
    )
    assert_close(got, torch.tensor(-1 / 3))
    with pytest.raises(ValueError, match="labels must lie"):
        losses.discriminative_loss(
            label_logp=label_logp, labels=torch.tensor([3, 0]), mask=torch.ones(2, 4)
        )


def test_distance_margin_loss_hand_value():
    reps = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([0, 0, 1])
    # triplets (0,1,2): 1 - 0 + 1 = 2; (1,0,2): 1 - 0 + 0 = 1; anchor 2 has no positive
    assert_close(losses.distance_margin_loss(reps=reps, labels=labels), torch.tensor(1.5))
    same = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    # same-label pairs identical, other label opposite: hinge max(0, 1 - 1 - 1) = 0
    assert_close(losses.distance_margin_loss(reps=same, labels=labels), torch.tensor(0.0))
    assert float(losses.distance_margin_loss(reps=reps, labels=torch.zeros(3))) == 0.0


def test_pool_weighted():
    hidden = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    got = losses.pool_weighted(hidden=hidden, weights=torch.tensor([[0.25, 0.75]]))
    assert_close(got, torch.tensor([[0.25, 1.5]]))


def test_weight_net_starts_uniform_and_entropy_tracks_collapse():
    net = WeightNet(dim=4, hidden=3)
    mask = torch.tensor([[1, 1, 1, 0]])
    weights = normalise_scores(scores=net(torch.randn(1, 4, 4)), mask=mask)
    assert_close(weights, torch.tensor([[1 / 3, 1 / 3, 1 / 3, 0.0]]))
    ent, norm = weight_entropy(weights=weights, mask=mask)
    assert ent == pytest.approx(LN(3)) and norm == pytest.approx(1.0)
    peaked = normalise_scores(scores=torch.tensor([[20.0, 0.0, 0.0, 5.0]]), mask=mask)
    assert weight_entropy(weights=peaked, mask=mask)[1] < 0.01
    sig = normalise_scores(scores=torch.tensor([[0.0, 0.0, 9.0, 9.0]]), mask=mask, method="sigmoid")
    assert_close(sig.sum(), torch.tensor(1.0))
    assert float(sig[0, 3]) == 0.0


def test_batch_softmax_spreads_one_unit_per_row_over_the_whole_batch():
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    scores = torch.tensor([[LN(2.0), 0.0, 7.0], [LN(3.0), 9.0, 9.0]])
    got = normalise_scores(scores=scores, mask=mask, method="batch_softmax")
    # exp scores over counted tokens: 2, 1, 3 (sum 6), times B = 2
    assert_close(got, torch.tensor([[4 / 6, 2 / 6, 0.0], [6 / 6, 0.0, 0.0]]))
    # the entropy diagnostic reads each row as its own distribution: row 1 is (2/3, 1/3)
    ent, _ = weight_entropy(weights=got[:1], mask=mask[:1])
    assert ent == pytest.approx(-(2 / 3) * LN(2 / 3) - (1 / 3) * LN(1 / 3))


def test_weighting_follows_each_paper_unless_set():
    fewgen, dawgen = GeneratorConfig(mode="fewgen"), GeneratorConfig(mode="dawgen")
    assert (
        fewgen.resolved_weight_input,
        fewgen.resolved_weight_norm,
        fewgen.resolved_disc_form,
    ) == ("disc_loss", "batch_softmax", "log_share")
    assert (
        dawgen.resolved_weight_input,
        dawgen.resolved_weight_norm,
        dawgen.resolved_disc_form,
    ) == ("hidden", "softmax", "share")
    mixed = GeneratorConfig(mode="dawgen", weight_input="disc_loss", weight_norm="sigmoid")
    assert (mixed.resolved_weight_input, mixed.resolved_weight_norm) == ("disc_loss", "sigmoid")


def test_configs_are_strict_and_documented():
    with pytest.raises(ValidationError):
        GeneratorConfig(modle="gpt2")
    with pytest.raises(ValidationError, match="repetition_penalty"):
        GenerationConfig(repetition_penalty=[1.2, 0.5])
    assert GenerationConfig(repetition_penalty=[1.0, 1.3]).penalty_for(1) == 1.3
    for cls in (GeneratorConfig, GenerationConfig):
        assert all(f.description for f in cls.model_fields.values())
