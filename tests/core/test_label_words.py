"""Label words and input texts a backbone cannot score, found in its tokenizer alone."""

from __future__ import annotations

import dataclasses
import re

import pandas as pd
import pytest

from synprompt_core.backbones import load_backbone
from synprompt_core.backbones.loading import drop_mask_literal_rows, mask_literal
from synprompt_core.configs.backbone import BackboneConfig
from synprompt_core.data import DataError
from synprompt_core.data.reserved_text import (
    check_reserved_text,
    drop_literal_rows,
    first_literal_row,
)
from synprompt_core.label_words import check_label_sentences, scored_label_words
from synprompt_core.task_registry import get_task
from tests.tiny_models import build_tiny_bert_mlm, build_tiny_bert_tokenizer, build_tiny_t5

SST = get_task("SST-2")


def with_words(*words: str):
    return dataclasses.replace(SST, verbalizers=words)


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("label_word_models")
    return {
        "bert": build_tiny_bert_tokenizer(root),
        "masked": build_tiny_bert_mlm(root),
        "seq2seq": build_tiny_t5(root),
    }


@pytest.fixture(scope="module")
def bert(paths):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(paths["bert"])


@pytest.fixture(scope="module")
def byt5(paths):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(paths["seq2seq"])


def test_known_single_token_words_are_scored_by_their_token(bert):
    words = scored_label_words(bert, SST, model="tiny-bert")
    assert bert.convert_ids_to_tokens(list(words.ids)) == ["terrible", "great"]
    assert words.notes == ()


def test_a_word_the_tokenizer_does_not_know_names_task_label_word_tokens_and_model(bert):
    with pytest.raises(ValueError) as err:
        scored_label_words(bert, with_words("terrible", "好"), model="tiny-bert")
    assert str(err.value).startswith(
        "task SST-2, label '1' (positive): word '好' becomes ['[UNK]'] in the tokenizer of "
        "'tiny-bert': its scored token '[UNK]' is the unknown token"
    )


def test_two_words_with_one_first_token_collide(bert):
    with pytest.raises(ValueError, match="share their first token 'great'") as err:
        scored_label_words(bert, with_words("great", "greatly"), model="tiny-bert")
    message = str(err.value)
    assert "label '1' (positive): word 'greatly' becomes ['great', '##l', '##y']" in message
    assert "label '0' (negative): word 'great' becomes ['great']" in message


def test_a_word_of_several_tokens_is_a_note_not_an_error(bert):
    words = scored_label_words(bert, with_words("terrible", "greatly"), model="tiny-bert")
    assert bert.convert_ids_to_tokens(list(words.ids)) == ["terrible", "great"]
    assert words.notes == (
        "task SST-2, label '1' (positive): word 'greatly' becomes ['great', '##l', '##y'] in "
        "the tokenizer of 'tiny-bert'; only its first token 'great' is scored",
    )


@pytest.mark.parametrize(
    ("word", "why"),
    [("\u200b", r"becomes \[\] .*: no token to score"), ("[SEP]", r"'\[SEP\]' is a special token")],
)
def test_a_word_with_no_token_or_a_special_one_is_refused(bert, word, why):
    with pytest.raises(ValueError, match=why):
        scored_label_words(bert, with_words("terrible", word), model="tiny-bert")


def test_a_byte_tokenizer_scores_first_bytes_and_says_so(byt5):
    words = scored_label_words(byt5, with_words("no", "yes"), model="tiny-t5")
    assert byt5.convert_ids_to_tokens(list(words.ids)) == ["n", "y"]
    assert len(words.notes) == 2 and "only its first token 'n' is scored" in words.notes[0]
    with pytest.raises(ValueError, match="share their first token 'g'"):
        scored_label_words(byt5, with_words("great", "good"), model="tiny-t5")


def test_the_backbone_refuses_what_the_check_refuses(paths):
    cfg = BackboneConfig(kind="masked", model=str(paths["masked"]))
    with pytest.raises(ValueError, match="word '好' becomes \\['\\[UNK\\]'\\]"):
        load_backbone(cfg, with_words("terrible", "好"))


def test_identical_label_sentences_are_refused_for_the_sentence_kind():
    check_label_sentences(SST)
    same = dataclasses.replace(SST, label_sentence="It was fine .")
    with pytest.raises(ValueError, match="label '1' .* same label sentence 'It was fine .'"):
        check_label_sentences(same)


def test_a_text_holding_the_mask_token_is_named_by_row_and_field(bert):
    table = pd.DataFrame(
        {
            "text_a": ["a fine film .", "no [mask] here .", "fine ."],
            "text_b": ["", "", "the [MASK] was great ."],
            "label": [1, 0, 1],
        }
    )
    literal = mask_literal("masked", bert)
    with pytest.raises(DataError) as err:
        check_reserved_text(table, literal=literal, tokenizer=bert, path="t.csv", why="its mask")
    assert (err.value.row, err.value.field) == (3, "text_b")  # lower case reads as words
    assert str(err.value).startswith("t.csv row 3, field 'text_b': the text holds '[MASK]'")
    check_reserved_text(table.head(2), literal=literal, tokenizer=bert, path="t.csv", why="")


def test_the_seq2seq_kind_keeps_its_sentinel(byt5):
    assert mask_literal("seq2seq", byt5) == "<extra_id_0>"
    assert mask_literal("causal", byt5) is None
    with pytest.raises(ValueError, match="has no mask token"):
        mask_literal("masked", byt5)


@pytest.mark.parametrize(("kind", "literal"), [("masked", "[MASK]"), ("seq2seq", "<extra_id_0>")])
def test_scoring_a_text_that_holds_the_literal_fails_naming_it(paths, kind, literal):
    """Rows made after preflight (a generator's) still fail clearly, never score silently."""
    bb = load_backbone(BackboneConfig(kind=kind, model=str(paths[kind])), SST)
    expected = f"row 1 of this batch .* holds the literal {re.escape(repr(literal))}"
    with pytest.raises(ValueError, match=expected):
        bb.encode(["fine .", f"the {literal} was great ."])


def tuned_folder(paths, tmp_path):
    """A prompt-tuning output folder for SST-2 on the masked tokenizer-only model: its
    backbone folder holds a tokenizer and no weights, so anything past the checks fails."""
    import json

    from synprompt_core.soft_prompt import SoftPrompt, save_soft_prompt

    folder = tmp_path / "tuned"
    folder.mkdir()
    backbone = BackboneConfig(kind="masked", model=str(paths["bert"]))
    card = {"task": "SST-2", "task_spec": None, "backbone": backbone.model_dump(mode="json")}
    (folder / "model.json").write_text(json.dumps(card))
    save_soft_prompt(SoftPrompt(length=2, dim=32), folder / "prompt.safetensors", metadata={})
    return folder


def test_predict_names_a_row_holding_the_mask_token_before_any_model_loads(paths, tmp_path):
    from synprompt_core.training.predict import predict_file

    folder = tuned_folder(paths, tmp_path)
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"sentence": ["fine .", "the [MASK] was great ."]}).to_csv(rows, index=False)
    with pytest.raises(
        DataError, match=r"rows.csv row 2, field 'text_a': the text holds '\[MASK\]'"
    ):
        predict_file(folder, rows, tmp_path / "out.csv")


def test_a_tokenizer_that_fails_on_a_word_is_one_clear_error():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({"terrible": 0, "[PAD]": 1}))  # no unknown token
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, pad_token="[PAD]")
    with pytest.raises(ValueError, match=r"word 'great' cannot be tokenised by .*'word-level'"):
        scored_label_words(tokenizer, SST, model="word-level")


def generated_rows() -> pd.DataFrame:
    """Generated rows, three of them holding the mask token as the tokenizer reads it."""
    return pd.DataFrame(
        {
            "text_a": [
                "a fine film .",
                "the [MASK] was great .",
                "no [mask] here .",  # lower case: words, and no substring hit either
                "fine .",
                "[MASK] and [MASK] .",
                "it[MASK]was bad .",  # glued to words: still the token for this tokenizer
                "bad .",
            ],
            "text_b": ["", "", "", "it was [MASK] .", "[MASK]", "", ""],
            "label": [1, 1, 0, 1, 0, 0, 0],
            "seed": [10, 11, 12, 13, 14, 15, 16],
        }
    )


def test_rows_holding_the_mask_token_are_dropped_counted_and_the_rest_kept_in_order(bert):
    table = generated_rows()
    before = table.copy()
    kept, dropped = drop_literal_rows(table, literal="[MASK]", tokenizer=bert)
    assert dropped == 4  # rows 1, 3 (text_b), 4 (both fields, counted once) and 5
    assert kept["seed"].tolist() == [10, 12, 16]
    assert kept["text_a"].tolist() == ["a fine film .", "no [mask] here .", "bad ."]
    assert kept.index.tolist() == [0, 1, 2] and list(kept.columns) == list(table.columns)
    pd.testing.assert_frame_equal(table, before)  # the input is not changed
    clean, none = drop_literal_rows(kept, literal="[MASK]", tokenizer=bert)
    assert none == 0 and clean.equals(kept)


def test_a_literal_the_tokenizer_splits_into_words_is_kept(paths):
    """The tokenizer decides, not the substring: a mask token that only matches as a word
    of its own (``single_word``) leaves ``it[MASK]was`` as letters, which is kept."""
    from tokenizers import AddedToken
    from transformers import AutoTokenizer

    words_only = AutoTokenizer.from_pretrained(paths["bert"])
    words_only.add_special_tokens(
        {"mask_token": AddedToken("[MASK]", single_word=True, special=True)}
    )
    table = generated_rows()
    assert words_only.convert_ids_to_tokens(
        words_only("it[MASK]was bad .", add_special_tokens=False)["input_ids"]
    )[:3] == ["it", "[", "m"]
    kept, dropped = drop_literal_rows(table, literal="[MASK]", tokenizer=words_only)
    assert dropped == 3 and kept["seed"].tolist() == [10, 12, 15, 16]
    texts = table["text_a"].iloc[5:]
    assert first_literal_row(texts, literal="[MASK]", tokenizer=words_only) is None  # agrees


@pytest.mark.parametrize(("kind", "literal"), [("masked", "[MASK]"), ("seq2seq", "<extra_id_0>")])
def test_a_backbone_drops_the_rows_holding_its_own_literal(paths, kind, literal):
    bb = load_backbone(BackboneConfig(kind=kind, model=str(paths[kind])), SST)
    table = generated_rows()
    table["text_a"] = table["text_a"].str.replace("[MASK]", literal, regex=False)
    table["text_b"] = table["text_b"].str.replace("[MASK]", literal, regex=False)
    kept, dropped = drop_mask_literal_rows(bb, table)
    assert dropped == 4 and kept["seed"].tolist() == [10, 12, 16]
    bb.encode(kept["text_a"].tolist(), kept["text_b"].tolist())  # scores without a hitch


def test_a_backbone_that_writes_no_mask_token_drops_nothing(paths):
    bb = load_backbone(BackboneConfig(kind="sentence", model=str(paths["masked"])), SST)
    table = generated_rows()
    kept, dropped = drop_mask_literal_rows(bb, table)
    assert dropped == 0 and kept is table


def test_predict_names_its_own_option_for_a_column_chosen_or_missing(paths, tmp_path):
    """`predict` has no source config: its note and its error name `--text-a`, the option
    that picks the column there, not a source's `text_a:`."""
    from synprompt_core.data.columns import ColumnChoiceWarning
    from synprompt_core.training.predict import predict_file

    folder = tuned_folder(paths, tmp_path)
    rows = tmp_path / "rows.csv"
    frame = {"text": ["raw", "raw"], "sentence": ["fine .", "the [MASK] was great ."]}
    pd.DataFrame(frame).to_csv(rows, index=False)
    with (
        pytest.warns(
            ColumnChoiceWarning, match=r"'sentence' \(also present: 'text'\); .*`--text-a`$"
        ),
        pytest.raises(DataError, match=r"row 2, field 'text_a'"),  # stops before the model loads
    ):
        predict_file(folder, rows, tmp_path / "out.csv")
    pd.DataFrame({"words": ["fine ."]}).to_csv(rows, index=False)
    with pytest.raises(DataError, match=r"missing column .* name yours with `--text-a`$"):
        predict_file(folder, rows, tmp_path / "out.csv")
