"""Soft prompt: initialisations, SPT scaling, float32, safetensors, PEFT export."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open
from torch.testing import assert_close

from synprompt_core.backbones import word_token_ids
from synprompt_core.configs.prompt_tuning import SoftPromptConfig
from synprompt_core.soft_prompt import (
    SoftPrompt,
    apply_scale,
    build_soft_prompt,
    export_peft,
    init_prompt_weight,
    load_soft_prompt,
    save_soft_prompt,
)
from tests.tiny_models import build_tiny_gpt2, build_tiny_t5


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("soft_prompt_models")


@pytest.fixture(scope="module")
def t5_path(tiny_dir):
    return build_tiny_t5(tiny_dir)


@pytest.fixture(scope="module")
def gpt2_path(tiny_dir):
    return build_tiny_gpt2(tiny_dir)


@pytest.fixture(scope="module")
def byt5():
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer()


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def table(v: int = 384, d: int = 8) -> torch.Tensor:
    return torch.randn(v, d, generator=gen(1))


def test_random_init_is_uniform_in_range_and_seeded():
    w = init_prompt_weight("random", length=50, embeddings=table(), init_range=0.2, generator=gen())
    assert w.shape == (50, 8) and w.dtype == torch.float32
    assert w.abs().max() <= 0.2 and w.std() > 0.05
    again = init_prompt_weight(
        "random", length=50, embeddings=table(), init_range=0.2, generator=gen()
    )
    assert_close(w, again)


def test_vocab_init_rows_are_distinct_embedding_rows_of_the_first_5000():
    emb = torch.randn(6000, 4, generator=gen(2))
    before = emb.clone()
    w = init_prompt_weight("vocab", length=30, embeddings=emb, generator=gen())
    ids = [int(torch.nonzero((emb == row).all(1))[0, 0]) for row in w]
    for i, row in zip(ids, w, strict=True):
        assert torch.equal(row, emb[i])
    assert len(set(ids)) == 30 and max(ids) < 5000
    assert torch.equal(emb, before)
    w[0] += 1.0
    assert torch.equal(emb, before), "init must return a copy"


def test_vocab_init_longer_than_vocab_samples_with_replacement():
    emb = table(v=10)
    w = init_prompt_weight("vocab", length=25, embeddings=emb, generator=gen())
    assert w.shape == (25, 8)  # every row asked for, though the vocabulary has only 10
    assert all((emb == row).all(1).any() for row in w)


def test_text_init_tiles_the_text_token_embeddings(byt5):
    emb = table()
    w = init_prompt_weight(
        "text", length=5, embeddings=emb, tokenizer=byt5, text="ab", generator=gen()
    )
    a, b = byt5("ab", add_special_tokens=False)["input_ids"]
    assert_close(w, emb[[a, b, a, b, a]])


def test_labels_init_rows_are_word_embeddings_then_vocab(byt5):
    emb = table()
    words = ["great", "ok"]
    w = init_prompt_weight(
        "labels", length=4, embeddings=emb, tokenizer=byt5, words=words, generator=gen()
    )
    assert w.shape == (4, 8)
    for row, word in zip(w[:2], words, strict=True):
        assert_close(row, emb[word_token_ids(byt5, word)].mean(0))
    assert all((emb == row).all(1).any() for row in w[2:])


@pytest.mark.parametrize(
    ("method", "kwargs", "match"),
    [
        ("bogus", {}, "unknown init method"),
        ("text", {"text": ""}, "non-empty init text"),
        ("text", {"text": None}, "non-empty init text"),
        ("labels", {"words": ["a", "b", "c"]}, "length >= 3"),
        ("labels", {"words": []}, "verbalizer words"),
    ],
)
def test_bad_init_requests_raise(byt5, method, kwargs, match):
    with pytest.raises(ValueError, match=match):
        init_prompt_weight(
            method, length=2, embeddings=table(), tokenizer=byt5, generator=gen(), **kwargs
        )


def test_text_init_needs_a_tokenizer():
    with pytest.raises(ValueError, match="needs a tokenizer"):
        init_prompt_weight("text", length=2, embeddings=table(), text="x", generator=gen())


@pytest.mark.parametrize(("scale", "shape"), [("none", None), ("token", (6, 1)), ("dim", (1, 8))])
def test_spt_scale_shapes_start_at_ones_and_leave_prompt_unchanged(scale, shape):
    p = SoftPrompt(length=6, dim=8, scale=scale)
    with torch.no_grad():
        p.weight.normal_()
    if shape is None:
        assert p.scale is None
    else:
        assert p.scale.shape == shape and torch.equal(p.scale, torch.ones(shape))
    assert_close(p(), p.weight)


def test_apply_scale_multiplies_rows_or_columns():
    w = torch.arange(6.0).reshape(2, 3)
    assert_close(
        apply_scale(weight=w, scale=torch.tensor([[2.0], [0.0]])), w * torch.tensor([[2.0], [0.0]])
    )
    assert_close(apply_scale(weight=w, scale=torch.tensor([[1.0, 0.0, 3.0]]))[:, 2], w[:, 2] * 3)
    assert apply_scale(weight=w, scale=None) is w
    with pytest.raises(ValueError, match="fits neither"):
        apply_scale(weight=w, scale=torch.ones(2, 3))


@pytest.mark.parametrize("scale", ["token", "dim"])
def test_gradients_reach_weight_and_scale(scale):
    p = SoftPrompt(length=4, dim=3, scale=scale)
    with torch.no_grad():
        p.weight.normal_(generator=gen())
    (p() ** 2).sum().backward()
    assert p.weight.grad is not None and p.weight.grad.abs().sum() > 0
    assert p.scale.grad is not None and p.scale.grad.abs().sum() > 0


def test_prompt_stays_float32_for_a_bfloat16_base(byt5):
    emb = table().to(torch.bfloat16)
    cfg = SoftPromptConfig(length=5, init="labels", scale="dim")
    p = build_soft_prompt(
        cfg, embeddings=emb, tokenizer=byt5, label_words=["no", "yes"], generator=gen()
    )
    assert p.weight.dtype == torch.float32 and p.scale.dtype == torch.float32
    assert p().dtype == torch.float32 and p.weight.shape == (5, 8)


@pytest.mark.parametrize("scale", ["none", "token", "dim"])
def test_safetensors_round_trip(tmp_path, scale):
    p = SoftPrompt(length=3, dim=4, scale=scale)
    with torch.no_grad():
        p.weight.normal_(generator=gen())
        if p.scale is not None:
            p.scale.uniform_(0.5, 2.0, generator=gen(3))
    path = tmp_path / "prompt.safetensors"
    save_soft_prompt(p, path, metadata={"task": "SST-2", "seed": "13"})
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
    assert keys == ({"prompt.weight"} if scale == "none" else {"prompt.weight", "prompt.scale"})
    loaded, meta = load_soft_prompt(path)
    assert meta["task"] == "SST-2" and meta["seed"] == "13"
    assert loaded.scale_kind == scale
    assert_close(loaded(), p())


@pytest.mark.parametrize(("which", "task_type"), [("gpt2", "CAUSAL_LM"), ("t5", "SEQ_2_SEQ_LM")])
def test_peft_export_loads_with_scaled_embeddings(tmp_path, gpt2_path, t5_path, which, task_type):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    path = gpt2_path if which == "gpt2" else t5_path
    auto = AutoModelForCausalLM if which == "gpt2" else AutoModelForSeq2SeqLM
    base = auto.from_pretrained(path)
    p = SoftPrompt(
        length=4,
        dim=base.config.hidden_size if which == "gpt2" else base.config.d_model,
        scale="token",
    )
    with torch.no_grad():
        p.weight.normal_(generator=gen())
        p.scale.uniform_(0.5, 2.0, generator=gen(3))
    out = export_peft(p, tmp_path / "peft", base_model_name_or_path=str(path), task_type=task_type)
    peft_model = PeftModel.from_pretrained(base, out)
    exported = peft_model.prompt_encoder["default"].embedding.weight
    assert_close(exported, (p.weight * p.scale).detach())
    ids = torch.tensor([[5, 6, 7]])
    kwargs = {"decoder_input_ids": torch.tensor([[0]])} if which == "t5" else {}
    assert peft_model(input_ids=ids, **kwargs).logits.isfinite().all()


def test_weight_decay_never_pulls_the_spt_scale_away_from_one():
    from synprompt_core.configs.prompt_tuning import PromptTuningConfig
    from synprompt_core.training.trainer import build_optimizer

    p = SoftPrompt(length=2, dim=3, scale="dim")
    config = PromptTuningConfig(weight_decay=0.5, prompt={"length": 2, "scale": "dim"})
    params = dict(p.named_parameters())
    optimizer = build_optimizer(params, config=config, embedding_rms=1.0)
    with torch.no_grad():
        p.weight.fill_(1.0)
    (p() * 0).sum().backward()  # zero gradients: only decay can move anything
    optimizer.step()
    assert torch.equal(p.scale.detach(), torch.ones(1, 3))
    assert (p.weight.detach() < 1.0).all()  # the prompt itself is still decayed
