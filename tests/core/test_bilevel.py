"""The look-ahead hyper-gradient, the bi-level step and the tuning loop on tiny models."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from synprompt_core.configs.generator import GeneratorConfig
from synprompt_core.configs.prompt_tuning import SoftPromptConfig
from synprompt_core.generator.bilevel import dawgen_step, lookahead_hypergradient
from synprompt_core.generator.errors import GeneratorError
from synprompt_core.generator.loading import load_generator
from synprompt_core.generator.prompts import build_label_prompts
from synprompt_core.generator.sequences import encode_examples
from synprompt_core.generator.state import load_generator_result, save_generator_result
from synprompt_core.generator.tuning import prompt_lr, tune_generator
from synprompt_core.generator.weight_net import WeightNet
from tests.core.generator_models import SENTIMENT, build_tiny_gpt2, sentiment_examples


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return build_tiny_gpt2(tmp_path_factory.mktemp("gen") / "tiny-gpt2")


def _config(path, mode: str, **kw) -> GeneratorConfig:
    prompt = SoftPromptConfig(length=4, init="vocab")
    return GeneratorConfig(model=str(path), mode=mode, prompt=prompt, max_length=16, **kw)


def test_hypergradient_matches_closed_form():
    # inner 0.5 * w * (q - a)^2, look-ahead q' = q - lr * w (q - a), outer 0.5 (q' - b)^2
    q = torch.tensor(2.0, requires_grad=True)
    w = torch.tensor(0.7, requires_grad=True)
    a, b, lr = 0.5, -1.0, 0.3
    grads, outer = lookahead_hypergradient(
        inner_loss=lambda p: 0.5 * w * (p["q"] - a) ** 2,
        outer_loss=lambda p: 0.5 * (p["q"] - b) ** 2,
        params={"q": q},
        meta_params=[w],
        lr=lr,
    )
    q_ahead = 2.0 - lr * 0.7 * (2.0 - a)
    assert_close(grads[0], torch.tensor((q_ahead - b) * (-lr * (2.0 - a))))
    assert_close(outer, torch.tensor(0.5 * (q_ahead - b) ** 2))
    assert q.grad is None and w.grad is None  # nothing accumulated, nothing stepped


def test_matched_lookahead_moves_the_prompt_as_far_as_the_real_step():
    """lookahead 'matched': a = lr * step_rms / rms(grad), a constant of the step."""
    q = torch.tensor([2.0, -1.0], requires_grad=True)
    w = torch.tensor(0.7, requires_grad=True)
    a, b, lr, step = 0.5, -1.0, 2.0, 0.01
    grads, outer = lookahead_hypergradient(
        inner_loss=lambda p: 0.5 * w * ((p["q"] - a) ** 2).sum(),
        outer_loss=lambda p: 0.5 * ((p["q"] - b) ** 2).sum(),
        params={"q": q},
        meta_params=[w],
        lr=lr,
        step_rms=step,
    )
    g = 0.7 * (q.detach() - a)
    size = lr * step / float(g.pow(2).mean().sqrt())
    q_ahead = q.detach() - size * g
    assert_close(float((q_ahead - q.detach()).pow(2).mean().sqrt()), lr * step)
    assert_close(grads[0], ((q_ahead - b) * (-size * (q.detach() - a))).sum())
    assert_close(outer, 0.5 * ((q_ahead - b) ** 2).sum())


def test_hypergradient_matches_finite_differences_with_softmax_weights():
    gen = torch.Generator().manual_seed(0)
    feats, targets = torch.randn(5, 3, generator=gen), torch.randn(5, 2, generator=gen)
    goal = torch.randn(2, generator=gen)
    q0 = torch.randn(2, generator=gen, dtype=torch.float64).float()

    def inner_for(w):
        weights = torch.softmax(feats @ w, dim=0)  # per-token weights, as in L_wGen
        return lambda p: (weights * ((p["q"] - targets) ** 2).sum(1)).sum()

    def outer(p):
        return ((p["q"] - goal) ** 2).sum()

    w = torch.randn(3, generator=gen).double().requires_grad_()
    feats, targets, goal = feats.double(), targets.double(), goal.double()
    q = q0.double().requires_grad_()
    grads, _ = lookahead_hypergradient(
        inner_loss=inner_for(w), outer_loss=outer, params={"q": q}, meta_params=[w], lr=0.1
    )

    def value(w_val):
        qq = q.detach().clone().requires_grad_()
        g = torch.autograd.grad(inner_for(w_val)({"q": qq}), qq)[0]
        return float(outer({"q": qq - 0.1 * g}).detach())

    eps, fd = 1e-6, torch.zeros(3, dtype=torch.float64)
    for i in range(3):
        step = torch.zeros(3, dtype=torch.float64)
        step[i] = eps
        fd[i] = (value(w.detach() + step) - value(w.detach() - step)) / (2 * eps)
    assert_close(grads[0], fd, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("mode", ["fewgen", "dawgen"])
def test_dawgen_step_updates_q_and_w_and_leaves_the_model_alone(tiny_path, mode):
    cfg = _config(tiny_path, mode, batch_size=6)
    model, tok = load_generator(cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    emb = model.get_input_embeddings().weight.detach()
    prompts = build_label_prompts(
        cfg.prompt, embeddings=emb, tokenizer=tok, label_words=["negative", "positive"], seed=0
    )
    net = WeightNet(dim=1 if mode == "fewgen" else emb.shape[1])  # FewGen: W reads L_disc
    q0 = [p.detach().clone() for p in prompts.parameters()]
    w0 = [p.detach().clone() for p in net.parameters()]
    batch = encode_examples(tok, sentiment_examples(), is_pair=False, max_length=16)
    stats = dawgen_step(
        model=model,
        prompts=prompts,
        weight_net=net,
        prompt_optimizer=torch.optim.Adam(prompts.parameters(), lr=0.01),
        weight_optimizer=torch.optim.Adam(net.parameters(), lr=0.01),
        batch=batch,
        config=cfg,
    )
    # DawGen's L_disc is minus a probability share, FewGen's the cross-entropy of it
    assert (-1.0 <= stats.disc <= 0.0) if mode == "dawgen" else stats.disc >= 0.0
    assert stats.hypergrad_norm > 0
    assert (stats.dist == stats.dist) == (mode == "dawgen")  # NaN when the mode has no L_dist
    assert any(not torch.equal(a, b) for a, b in zip(q0, prompts.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(w0, net.parameters(), strict=True))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("mode", ["prompt", "fewgen", "dawgen"])
def test_tune_generator_modes_report_every_step(tiny_path, mode):
    cfg = _config(tiny_path, mode, steps=4, batch_size=6, lr=0.05)
    model, tok = load_generator(cfg)
    seen = []
    result = tune_generator(
        model=model,
        tokenizer=tok,
        examples=sentiment_examples(),
        task=SENTIMENT,
        config=cfg,
        on_step=lambda s, m: seen.append((s, m)),
    )
    assert [s for s, _ in seen] == [0, 1, 2, 3]
    assert result.history[-1]["lm"] < result.history[0]["lm"]
    if mode != "prompt":
        assert 0 < result.diagnostics["weight_entropy_norm"] <= 1
        assert "disc" in result.diagnostics
    assert result.prompt_state["prompts.0.weight"].shape == (4, 32)


def test_generator_result_round_trips(tiny_path, tmp_path):
    cfg = _config(tiny_path, "dawgen", steps=1, batch_size=6)
    model, tok = load_generator(cfg)
    result = tune_generator(
        model=model, tokenizer=tok, examples=sentiment_examples(), task=SENTIMENT, config=cfg
    )
    back = load_generator_result(save_generator_result(result, tmp_path / "gen.safetensors"))
    assert back.mode == "dawgen" and back.spec == result.spec
    assert back.history == result.history
    for k, v in result.prompt_state.items():
        assert torch.equal(back.prompt_state[k], v)
    assert set(back.weight_net_state) == set(result.weight_net_state)


def test_model_that_cannot_load_is_one_clear_error(tmp_path):
    with pytest.raises(GeneratorError, match="cannot load generator model .*no-such-model"):
        load_generator(GeneratorConfig(model=str(tmp_path / "no-such-model")))


def test_label_without_examples_fails_before_training(tiny_path):
    cfg = _config(tiny_path, "dawgen", steps=3)
    model, tok = load_generator(cfg)
    only_negative = sentiment_examples().query("label == 0")
    calls = []
    with pytest.raises(GeneratorError, match=r"label 1 \('positive'\).*no few-shot examples"):
        tune_generator(
            model=model,
            tokenizer=tok,
            examples=only_negative,
            task=SENTIMENT,
            config=cfg,
            on_step=lambda s, m: calls.append(s),
        )
    assert calls == []


def test_prompt_longer_than_context_fails_before_training(tiny_path):
    cfg = GeneratorConfig(
        model=str(tiny_path), mode="prompt", prompt=SoftPromptConfig(length=60), max_length=16
    )
    model, tok = load_generator(cfg)
    with pytest.raises(GeneratorError, match="60 soft tokens .* context of 64"):
        tune_generator(
            model=model, tokenizer=tok, examples=sentiment_examples(), task=SENTIMENT, config=cfg
        )


def test_prompt_lr_is_in_units_of_the_embedding_scale_unless_absolute():
    table = torch.full((10, 4), 2.0)  # RMS 2: a model whose embeddings are 2x larger
    assert prompt_lr(GeneratorConfig(lr=0.3), table) == pytest.approx(0.6)
    assert prompt_lr(GeneratorConfig(lr=0.3), table / 20) == pytest.approx(0.03)
    assert prompt_lr(GeneratorConfig(lr=0.3, lr_scale="absolute"), table) == 0.3


def test_a_cut_target_gets_no_eos(tiny_path):
    """Only a text that fits ends with eos: the generator must not learn to stop mid-text."""
    from synprompt_core.generator.sequences import encode_row

    _, tok = load_generator(_config(tiny_path, "prompt"))
    kw = dict(is_pair=False, max_length=6, separator=" ; ")
    _, short = encode_row(tok, text_a="a good film", text_b="", **kw)
    _, cut = encode_row(tok, text_a="a good film with a long and winding plot", text_b="", **kw)
    assert short[-1] == tok.eos_token_id and len(short) < 6
    assert len(cut) == 6 and tok.eos_token_id not in cut


def test_a_diverging_run_fails_naming_its_step(tiny_path):
    # an absurd step size sends the prompts to inf within a step or two: the stage must
    # stop there, not go on to generate from NaN prompts with the loss left out of the log
    cfg = _config(tiny_path, "prompt", steps=6, batch_size=6, lr=1e20, lr_scale="absolute")
    model, tok = load_generator(cfg)
    seen = []
    with pytest.raises(GeneratorError, match=r"diverged at step \d \(loss (nan|inf)\)"):
        tune_generator(
            model=model,
            tokenizer=tok,
            examples=sentiment_examples(),
            task=SENTIMENT,
            config=cfg,
            on_step=lambda s, m: seen.append(s),
        )
    assert len(seen) < 6
