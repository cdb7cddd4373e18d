"""Frozen backbones on tiny models built offline and loaded through ``load_backbone``."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.testing import assert_close

from synprompt_core.backbones import load_backbone
from synprompt_core.backbones.causal import causal_template
from synprompt_core.configs.backbone import BackboneConfig
from synprompt_core.label_words import in_context_ids
from synprompt_core.task_registry import TaskSpec
from tests.tiny_models import (
    build_tiny_bert_mlm,
    build_tiny_gpt2,
    build_tiny_sentence_encoder,
    build_tiny_t5,
)

SST = TaskSpec(
    name="SST-2",
    label_names=("0", "1"),
    label_meanings=("negative", "positive"),
    verbalizers=("terrible", "great"),
    template="{text_a} It was {mask} .",
    label_sentence="It was {word}.",
    is_pair=False,
)
RTE = TaskSpec(
    name="RTE",
    label_names=("entailment", "not_entailment"),
    label_meanings=("entailment", "not entailment"),
    verbalizers=("yes", "no"),
    template="{text_a} ? {mask} , {text_b}",
    label_sentence="The answer is {word}.",
    is_pair=True,
)
BUILDERS = {
    "seq2seq": build_tiny_t5,
    "causal": build_tiny_gpt2,
    "masked": build_tiny_bert_mlm,
    "sentence": build_tiny_sentence_encoder,
}
KINDS = list(BUILDERS)
TEXTS = ["the movie was great .", "a terrible , boring , awful film that i hated .", "it was ok ."]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("backbone_models")
    return {kind: str(build(root)) for kind, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def backbones(paths):
    return {
        (kind, task.name): load_backbone(BackboneConfig(kind=kind, model=paths[kind]), task)
        for kind in KINDS
        for task in (SST, RTE)
    }


def prompt_for(backbone, batch_size: int = 3, length: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch_size, length, backbone.hidden_size, generator=g).requires_grad_(True)


@pytest.mark.parametrize("kind", KINDS)
def test_logits_shape_and_frozen_base(backbones, kind):
    bb = backbones[(kind, "SST-2")]
    batch = bb.encode(TEXTS, None)
    assert all(t.device.type == "cpu" for t in batch.values())
    prompt = prompt_for(bb)
    logits = bb.label_logits(prompt, batch)
    assert logits.shape == (3, 2) and logits.dtype == torch.float32
    assert logits.isfinite().all()
    logits.logsumexp(-1).sum().backward()
    assert prompt.grad is not None and prompt.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in bb.model.parameters())
    assert not bb.model.training


@pytest.mark.parametrize("kind", KINDS)
def test_each_row_depends_only_on_its_own_prompt(backbones, kind):
    bb = backbones[(kind, "SST-2")]
    batch = bb.encode(TEXTS, None)
    prompt = prompt_for(bb)
    base = bb.label_logits(prompt, batch)
    changed = prompt.detach().clone()
    changed[1] = torch.randn(changed.shape[1:], generator=torch.Generator().manual_seed(9))
    moved = bb.label_logits(changed, batch)
    assert_close(moved[[0, 2]], base[[0, 2]].detach())
    assert not torch.allclose(moved[1], base[1])
    base[0].sum().backward()
    assert prompt.grad[0].abs().sum() > 0
    assert torch.equal(prompt.grad[1:], torch.zeros_like(prompt.grad[1:]))


@pytest.mark.parametrize("kind", KINDS)
def test_padding_does_not_change_scores(backbones, kind):
    bb = backbones[(kind, "SST-2")]
    prompt = prompt_for(bb).detach()
    together = bb.label_logits(prompt, bb.encode(TEXTS, None))
    alone = bb.label_logits(prompt[2:], bb.encode(TEXTS[2:], None))
    assert_close(together[2:], alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_shot_and_train_mode_keep_dropout_off(backbones, kind):
    bb = backbones[(kind, "SST-2")]
    batch = bb.encode(TEXTS, None)
    bb.train()
    try:
        first, second = bb.label_logits(None, batch), bb.label_logits(None, batch)
        assert not bb.model.training
    finally:
        bb.eval()
    assert first.shape == (3, 2)
    assert_close(first, second)


@pytest.mark.parametrize("kind", KINDS)
def test_pair_task_reads_both_texts(backbones, kind):
    bb = backbones[(kind, "RTE")]
    a = ["the cat sat on the mat .", "the dog ran in the park ."]
    prompt = prompt_for(bb, batch_size=2).detach()
    one = bb.label_logits(prompt, bb.encode(a, ["the cat sat .", "a dog ran ."]))
    two = bb.label_logits(prompt, bb.encode(a, ["maybe it is true .", "no , it is not ."]))
    assert one.shape == (2, 2)
    assert not torch.allclose(one, two)
    with pytest.raises(ValueError, match="pair task"):
        bb.encode(a, None)


@pytest.mark.parametrize("kind", ["seq2seq", "causal", "masked", "sentence"])
def test_truncation_cuts_texts_not_the_template(paths, kind):
    bb = load_backbone(BackboneConfig(kind=kind, model=paths[kind], max_length=20), SST)
    long_text = " ".join(["the movie was great and the acting was good ."] * 10)
    batch = bb.encode([long_text, "ok ."], None)
    ids = batch["input_ids"]
    assert ids.shape[1] <= 22
    tokens = bb.tokenizer.convert_ids_to_tokens(ids[0].tolist())
    if kind == "seq2seq":
        assert "<extra_id_0>" in tokens and tokens[-1] == "</s>"
    if kind == "masked":
        assert tokens.count("[MASK]") == 1 and tokens[-1] == "[SEP]"
    if kind == "causal":
        assert bb.tokenizer.decode(ids[0]).endswith("It was")
    assert bb.label_logits(None, batch).isfinite().all()


def test_verbalizer_tokens_use_the_in_context_form(backbones):
    gpt2 = backbones[("causal", "SST-2")]  # SST-2's words: terrible, great
    assert gpt2.tokenizer.convert_ids_to_tokens(gpt2.label_ids.tolist()) == ["Ġterrible", "Ġgreat"]
    t5 = backbones[("seq2seq", "SST-2")].tokenizer
    firsts = [in_context_ids(t5, word)[0] for word in ("no", "yes")]
    assert t5.convert_ids_to_tokens(firsts) == ["n", "y"]


def test_labels_sharing_a_first_token_are_rejected(paths):
    clash = TaskSpec(
        name="clash",
        label_names=("0", "1"),
        label_meanings=("a", "b"),
        verbalizers=("great", "good"),
        template="{text_a} {mask}",
        label_sentence="{word}",
        is_pair=False,
    )
    with pytest.raises(ValueError, match="share their first token"):
        load_backbone(BackboneConfig(kind="seq2seq", model=paths["seq2seq"]), clash)


def test_causal_template_moves_every_text_before_the_mask():
    assert causal_template("{text_a} It was {mask} .") == "{text_a} It was"
    assert causal_template("{text_a} ? {mask} , {text_b}") == "{text_a} {text_b} ?"
    assert causal_template("{mask} : {text_a}") == "{text_a}"
    assert causal_template("Topic {mask} : {text_a}") == "{text_a} Topic"
    with pytest.raises(ValueError, match="no {text_a} slot"):
        causal_template("{text_b} {mask}")


def test_causal_backbone_reads_the_text_of_a_mask_first_template(paths):
    """A template that starts with the mask (as TREC's): the text must still reach the model."""
    task = dataclasses.replace(SST, template="{mask} : {text_a}")
    bb = load_backbone(BackboneConfig(kind="causal", model=paths["causal"]), task)
    batch = bb.encode(["What is the capital of France ?", "Who wrote it ?"])
    assert batch["input_ids"].shape[1] > 2 and (batch["target_pos"] > 0).all()
    logits = bb.label_logits(None, batch)
    assert not torch.allclose(logits[0], logits[1])  # the score depends on the question


def test_causal_scores_after_the_template_when_the_tokenizer_appends_eos(paths, tmp_path):
    """A tokenizer that ends every text with EOS (OLMo's, Llama's with add_eos_token): the
    label word follows the template's last word, not the EOS, so the scores are the same."""
    from tokenizers import processors
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(paths["causal"])
    eos = tokenizer.eos_token
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {eos}", special_tokens=[(eos, tokenizer.eos_token_id)]
    )
    assert tokenizer("a")["input_ids"][-1] == tokenizer.eos_token_id
    folder = tmp_path / "gpt2-eos"
    plain = load_backbone(BackboneConfig(kind="causal", model=paths["causal"]), SST)
    plain.model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    with_eos = load_backbone(BackboneConfig(kind="causal", model=str(folder)), SST)
    prompt = prompt_for(plain).detach()
    for p in (None, prompt):
        expected = plain.label_logits(p, plain.encode(TEXTS, None))
        assert_close(with_eos.label_logits(p, with_eos.encode(TEXTS, None)), expected)


def test_bfloat16_base_takes_a_float32_prompt(paths):
    cfg = BackboneConfig(kind="seq2seq", model=paths["seq2seq"], dtype="bfloat16")
    bb = load_backbone(cfg, SST)
    assert bb.embedding_matrix().dtype == torch.bfloat16
    assert bb.embedding_matrix().shape[1] == bb.hidden_size == 32
    prompt = prompt_for(bb, batch_size=2)
    logits = bb.label_logits(prompt, bb.encode(TEXTS[:2], None))
    assert logits.dtype == torch.float32
    logits.sum().backward()
    assert prompt.grad.dtype == torch.float32 and prompt.grad.abs().sum() > 0


def test_unloadable_model_raises_one_clear_error(tmp_path):
    cfg = BackboneConfig(kind="masked", model=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"cannot load model '.*missing' for kind=masked"):
        load_backbone(cfg, SST)


def test_minilm_zero_shot_favours_the_right_sentiment():
    bb = load_backbone(BackboneConfig(kind="sentence", model="minilm"), SST)
    assert bb.hidden_size == 384 and bb.num_labels == 2
    batch = bb.encode(
        [
            "A wonderful, moving film that I loved from start to finish.",
            "A dull, boring mess; I hated every minute of it.",
        ],
        None,
    )
    logits = bb.label_logits(None, batch)
    assert logits.argmax(-1).tolist() == [1, 0]
