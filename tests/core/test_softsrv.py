"""SoftSRV: the embedder, each parameterisation trains (loss falls) and generates."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from synprompt_core.configs.generator import GenerationConfig, GeneratorConfig
from synprompt_core.configs.prompt_tuning import SoftPromptConfig
from synprompt_core.generator.generate import generate_synthetic
from synprompt_core.generator.loading import load_generator
from synprompt_core.generator.softsrv import build_softsrv, mean_token_embeddings
from synprompt_core.generator.state import label_prefixes
from synprompt_core.generator.tuning import tune_generator
from tests.core.generator_models import (
    PARAPHRASE,
    SENTIMENT,
    SHARED_LM,
    build_tiny_gpt2,
    pair_examples,
    sentiment_examples,
)


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return build_tiny_gpt2(tmp_path_factory.mktemp("srv") / "tiny-gpt2")


def test_mean_token_embeddings_hand_value():
    table = torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]])
    got = mean_token_embeddings(
        embeddings=table, input_ids=torch.tensor([[1, 2, 0]]), mask=torch.tensor([[1, 1, 0]])
    )
    assert_close(got, torch.tensor([[2.0, 3.0]]))
    with pytest.raises(ValueError, match="at least one token"):
        mean_token_embeddings(
            embeddings=table, input_ids=torch.tensor([[1]]), mask=torch.tensor([[0]])
        )


@pytest.mark.parametrize("variant", ["ssnp", "ssmp", "ssmc"])
def test_prompts_depend_on_context_except_ssnp(variant):
    table, contexts = torch.randn(50, 8), torch.randn(6, 5)
    module = build_softsrv(
        variant=variant,
        num_labels=2,
        length=3,
        embeddings=table,
        contexts=contexts,
        components=3,
        hidden=4,
        seed=0,
    )
    with torch.no_grad():
        for p in module.parameters():  # move off the init so every path is exercised
            p.add_(0.1 * torch.randn_like(p))
        out = module(contexts[:2], torch.tensor([0, 0]))
    assert out.shape == (2, 3, 8)
    assert torch.allclose(out[0], out[1]) == (variant == "ssnp")


@pytest.mark.parametrize("variant", ["ssnp", "ssmp", "ssmc"])
def test_each_variant_trains_and_generates(variant):
    if not SHARED_LM.is_dir():
        pytest.skip("../shared/models/tiny-gpt2-sst2 is not present")
    cfg = GeneratorConfig(
        model=str(SHARED_LM),
        mode="softsrv",
        softsrv_variant=variant,
        prompt=SoftPromptConfig(length=4),
        max_length=16,
        steps=8,
        batch_size=6,
        lr=0.05,
        softsrv_hidden=16,
    )
    model, tok = load_generator(cfg)
    result = tune_generator(
        model=model, tokenizer=tok, examples=sentiment_examples(), task=SENTIMENT, config=cfg
    )
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.9 * losses[0], losses  # full-batch steps: reconstruction falls
    assert result.contexts.shape[0] == 6 and result.shares_prefix == (variant == "ssnp")
    assert label_prefixes(result, 1).shape[0] == (1 if variant == "ssnp" else 3)
    gen = GenerationConfig(
        n_per_label=4,
        batch_size=4,
        max_new_tokens=6,
        min_words=1,
        dedup_threshold=1.0,
        max_repeat_ratio=1.0,
    )
    out = generate_synthetic(
        model=model, tokenizer=tok, result=result, task=SENTIMENT, config=gen, generator_ref="r"
    )
    assert out.counts["generated"] == 8 and set(out.rows.label) <= {0, 1}
    assert (out.rows.source == "synthetic:softsrv").all()


def test_softsrv_on_a_pair_task(tiny_path):
    cfg = GeneratorConfig(
        model=str(tiny_path),
        mode="softsrv",
        steps=2,
        batch_size=4,
        prompt=SoftPromptConfig(length=4),
        max_length=16,
    )
    model, tok = load_generator(cfg)
    result = tune_generator(
        model=model, tokenizer=tok, examples=pair_examples(), task=PARAPHRASE, config=cfg
    )
    gen = GenerationConfig(n_per_label=2, batch_size=2, max_new_tokens=5, min_words=1)
    out = generate_synthetic(
        model=model,
        tokenizer=tok,
        result=result,
        task=PARAPHRASE,
        config=gen,
        generator_ref="r",
        examples=pair_examples(),
    )
    assert out.counts["generated"] == 4 and len(out.rows) > 0
    assert set(out.rows.text_a) <= set(pair_examples().text_a)
    assert (out.rows.text_b.str.strip() != "").all()


def test_sequence_embedders(tiny_path):
    from synprompt_core.generator.embedders import load_embedder
    from synprompt_core.generator.errors import GeneratorError

    cfg = GeneratorConfig(model=str(tiny_path), mode="softsrv")
    model, tok = load_generator(cfg)
    for kind, dim in (("lm", 32), ("minilm", 384)):
        embed = load_embedder(kind, model=model, tokenizer=tok)
        both = embed(["a film", "a much longer film here"])
        assert both.shape == (2, dim)
        # padding never leaks into a shorter text's embedding, and texts differ
        assert_close(both[0], embed(["a film"])[0], atol=1e-5, rtol=1e-4)
        assert not torch.allclose(both[0], both[1])
    with pytest.raises(GeneratorError, match="unknown sequence embedder"):
        load_embedder("bert", model=model, tokenizer=tok)
