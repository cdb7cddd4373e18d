"""Label-conditioned generation: KV-cache reuse, reproducibility, pairs, failures, output."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch.testing import assert_close

from synprompt_core.configs.generator import GenerationConfig, GeneratorConfig
from synprompt_core.configs.prompt_tuning import SoftPromptConfig
from synprompt_core.generator import generate as generate_module
from synprompt_core.generator.errors import GeneratorError
from synprompt_core.generator.generate import generate_synthetic
from synprompt_core.generator.loading import load_generator
from synprompt_core.generator.output import save_synthetic
from synprompt_core.generator.sampling import (
    SamplingSettings,
    decode_batch,
    encode_prefix,
    process_logits,
    sample_next,
    top_p_filter,
)
from synprompt_core.generator.tuning import tune_generator
from tests.core.generator_models import (
    PARAPHRASE,
    SENTIMENT,
    build_tiny_gpt2,
    pair_examples,
    sentiment_examples,
)

LOOSE = dict(min_words=1, dedup_threshold=1.0, max_repeat_ratio=1.0)


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    path = build_tiny_gpt2(tmp_path_factory.mktemp("gen") / "tiny-gpt2")
    cfg = GeneratorConfig(
        model=str(path),
        mode="prompt",
        steps=2,
        batch_size=6,
        prompt=SoftPromptConfig(length=4),
        max_length=16,
    )
    model, tok = load_generator(cfg)
    result = tune_generator(
        model=model, tokenizer=tok, examples=sentiment_examples(), task=SENTIMENT, config=cfg
    )
    return model, tok, result


def _reference_greedy(model, prefix, context, steps, eos):
    """No-cache greedy decoding: the whole sequence is re-run for every token."""
    embed, out = model.get_input_embeddings(), []
    with torch.no_grad():
        for _ in range(steps):
            ids = torch.tensor([context + out], dtype=torch.long)
            x = torch.cat([prefix, embed(ids)], dim=1) if ids.numel() else prefix
            token = int(model(inputs_embeds=x).logits[0, -1].argmax())
            if token == eos:
                break
            out.append(token)
    return out


def test_process_logits_hand_values():
    logits = torch.tensor([[2.0, -1.0, 0.5, 1.0]])
    seen = torch.tensor([[True, True, False, False]])
    pen = process_logits(
        logits=logits, seen=seen, settings=SamplingSettings(repetition_penalty=2.0, greedy=True)
    )
    assert_close(pen, torch.tensor([[1.0, -2.0, 0.5, 1.0]]))
    topk = process_logits(logits=logits, seen=~seen, settings=SamplingSettings(top_k=2))
    assert torch.isfinite(topk).tolist() == [[True, False, False, True]]
    probs = torch.tensor([[0.5, 0.3, 0.2]]).log()
    assert torch.isfinite(top_p_filter(probs, top_p=0.6)).tolist() == [[True, True, False]]
    assert torch.isfinite(top_p_filter(probs, top_p=0.6, candidates=2)).tolist() == [
        [True, True, False]
    ]


def test_nucleus_rejection_sampling_matches_the_sorted_filter():
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0)) * 2
    draws_per_row = 3000
    many = logits.repeat(draws_per_row, 1)  # row r of draw i is many[i * 4 + r]
    gens = [torch.Generator().manual_seed(i) for i in range(len(many))]
    draws = sample_next(logits=many, generators=gens, top_p=0.7).view(draws_per_row, 4)
    support = torch.isfinite(top_p_filter(logits, top_p=0.7))
    assert support.gather(1, draws.T).all()  # every draw lies in its row's nucleus
    nucleus = torch.softmax(top_p_filter(logits, top_p=0.7), dim=-1)
    freq = torch.nn.functional.one_hot(draws, 50).float().mean(0)
    assert_close(freq, nucleus, atol=0.03, rtol=0)


def test_prefix_reuse_equals_the_no_cache_reference(lm):
    model, tok, result = lm
    prefix = generate_module.label_prefixes(result, 1)
    settings = SamplingSettings(max_new_tokens=8, greedy=True)
    rows = decode_batch(
        model=model,
        prefix=encode_prefix(model=model, prefix=prefix),
        size=3,
        seeds=[0, 1, 2],
        settings=settings,
        eos_id=0,
    )
    want = _reference_greedy(model, prefix, [], 8, 0)
    assert rows == [want] * 3 and len(want) > 0


def test_pair_contexts_after_a_shared_prefix_equal_the_reference(lm):
    model, tok, result = lm
    prefix = generate_module.label_prefixes(result, 0)
    contexts = [
        tok(s, add_special_tokens=False)["input_ids"]
        for s in ["the cat sat on the mat ;", "he left ;", "a very long sentence here ;"]
    ]
    rows = decode_batch(
        model=model,
        prefix=encode_prefix(model=model, prefix=prefix),
        size=3,
        seeds=[0, 1, 2],
        eos_id=0,
        contexts=contexts,
        settings=SamplingSettings(max_new_tokens=6, greedy=True),
    )
    for row, context in zip(rows, contexts, strict=True):
        assert row == _reference_greedy(model, prefix, context, 6, 0)


def test_generation_is_reproducible_and_rows_carry_their_seed(lm):
    model, tok, result = lm
    cfg = GenerationConfig(n_per_label=4, batch_size=4, max_new_tokens=8, seed=3, **LOOSE)
    kw = dict(model=model, tokenizer=tok, result=result, task=SENTIMENT, generator_ref="ref:1")
    first = generate_synthetic(config=cfg, **kw)
    again = generate_synthetic(config=cfg, **kw)
    pd.testing.assert_frame_equal(first.rows, again.rows)
    one_by_one = generate_synthetic(config=cfg.model_copy(update={"batch_size": 1}), **kw)
    assert one_by_one.rows.text_a.tolist() == first.rows.text_a.tolist()
    other = generate_synthetic(config=cfg.model_copy(update={"seed": 4}), **kw)
    assert other.rows.text_a.tolist() != first.rows.text_a.tolist()
    rows = first.rows
    assert rows.seed.is_unique and set(rows.label) == {0, 1}
    assert (rows.generator_ref == "ref:1").all() and (rows.text_a.str.strip() != "").all()
    assert first.counts["requested"] == 8 and first.counts["generated"] == 8


def test_pair_task_takes_first_sentences_from_real_or_pool(lm):
    model, tok, result = lm
    kw = dict(model=model, tokenizer=tok, result=result, task=PARAPHRASE, generator_ref="r")
    cfg = GenerationConfig(n_per_label=3, batch_size=2, max_new_tokens=6, **LOOSE)
    out = generate_synthetic(config=cfg, examples=pair_examples(), **kw)
    assert out.counts["generated"] == 6 and len(out.rows) > 0
    assert set(out.rows.text_a) <= set(pair_examples().text_a)
    assert (out.rows.text_b.str.len() > 0).all()
    pool = ["an unlabelled first sentence ."]
    pooled = generate_synthetic(
        config=cfg.model_copy(update={"pair_source": "pool"}), pool=pool, **kw
    )
    assert set(pooled.rows.text_a) == set(pool)
    with pytest.raises(GeneratorError, match="pair task: generation needs first sentences"):
        generate_synthetic(config=cfg, **kw)


def test_failures_are_counted_never_written_as_empty_text(lm, monkeypatch):
    model, tok, result = lm
    real = generate_module.decode_batch

    def flaky(**kw):
        if kw["seeds"][0] % 100_003 == 0 and kw["seeds"][0] > 0:  # label 1's first batch
            raise RuntimeError("probability tensor contains nan")
        return [[] for _ in kw["seeds"]] if kw["size"] == 1 else real(**kw)

    monkeypatch.setattr(generate_module, "decode_batch", flaky)
    cfg = GenerationConfig(n_per_label=5, batch_size=4, max_new_tokens=6, seed=0, **LOOSE)
    out = generate_synthetic(
        model=model, tokenizer=tok, result=result, task=SENTIMENT, config=cfg, generator_ref="r"
    )
    # label 1 batch 1 raised (4 rows); the last row of each label came back empty (2 rows)
    assert out.counts["failed"] == 6 and out.counts["kept"] == 4
    assert (out.rows.text_a.str.strip() != "").all()
    reasons = out.rejected.reason.tolist()
    assert reasons.count("failure: empty output") == 2
    assert sum("RuntimeError: probability tensor" in r for r in reasons) == 4


def test_prompt_plus_new_tokens_longer_than_context_is_rejected(lm):
    model, tok, result = lm
    with pytest.raises(GeneratorError, match="exceeds the generator context of 64"):
        generate_synthetic(
            model=model,
            tokenizer=tok,
            result=result,
            task=SENTIMENT,
            config=GenerationConfig(max_new_tokens=61),
            generator_ref="r",
        )


def test_save_synthetic_writes_dataset_parquet_and_card(lm, tmp_path):
    from datasets import load_from_disk

    model, tok, result = lm
    cfg = GenerationConfig(n_per_label=3, batch_size=3, max_new_tokens=6, **LOOSE)
    out = generate_synthetic(
        model=model,
        tokenizer=tok,
        result=result,
        task=SENTIMENT,
        config=cfg,
        generator_ref="sha256:abc",
    )
    saved = save_synthetic(
        out, tmp_path / "syn", task=SENTIMENT, generator_ref="sha256:abc", settings=cfg.model_dump()
    )
    assert load_from_disk(str(saved.dataset_dir)).num_rows == len(out.rows)
    back = pd.read_parquet(saved.parquet)
    assert back.text_a.tolist() == out.rows.text_a.tolist()
    card = saved.card.read_text()
    assert "sha256:abc" in card and "| kept |" in card and "n_per_label" in card


def test_repetition_penalty_counts_the_first_sentence(lm):
    """As in Hugging Face, the input counts as seen: a large penalty forbids copying it."""
    model, tok, result = lm
    prefix = generate_module.label_prefixes(result, 0)
    contexts = [
        tok(s, add_special_tokens=False)["input_ids"]
        for s in ["the film was good and the film was fine ;", "a b c d e f g ;"]
    ]
    copied = {}
    for penalty in (1.0, 1e6):
        rows = decode_batch(
            model=model,
            prefix=encode_prefix(model=model, prefix=prefix),
            size=2,
            seeds=[0, 1],
            eos_id=0,
            contexts=contexts,
            settings=SamplingSettings(max_new_tokens=12, greedy=True, repetition_penalty=penalty),
        )
        copied[penalty] = sum(len(set(r) & set(c)) for r, c in zip(rows, contexts, strict=True))
    assert copied[1.0] > 0 and copied[1e6] == 0


def test_a_first_sentence_longer_than_the_context_is_cut_as_in_training(lm):
    model, tok, result = lm  # context 64 positions, generator max_length 16
    long_first = " ".join(["word"] * 200) + " ."
    kw = dict(model=model, tokenizer=tok, result=result, task=PARAPHRASE, generator_ref="r")
    cfg = GenerationConfig(n_per_label=2, batch_size=2, max_new_tokens=8, pair_source="pool")
    out = generate_synthetic(config=cfg.model_copy(update=LOOSE), pool=[long_first], **kw)
    assert out.counts["failed"] == 0 and out.counts["generated"] == 4
    with pytest.raises(GeneratorError, match=r"first sentence 16 \+ max_new_tokens 45 = 65"):
        generate_synthetic(
            config=cfg.model_copy(update={"max_new_tokens": 45}), pool=[long_first], **kw
        )
