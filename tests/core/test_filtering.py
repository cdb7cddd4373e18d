"""Filters on generated rows: every removal is counted and has a reason."""

from __future__ import annotations

import pandas as pd
import pytest

from synprompt_core.configs.generator import GenerationConfig
from synprompt_core.generator.filtering import (
    char_ngrams,
    degenerate_reason,
    filter_rows,
    jaccard,
    near_duplicate_flags,
    normalise_text,
)


def _frame(texts, labels=None, errors=None, text_b=None):
    n = len(texts)
    return pd.DataFrame(
        {
            "text_a": texts,
            "text_b": text_b or [""] * n,
            "label": labels or [0] * n,
            "error": errors or [None] * n,
        }
    )


def test_normalise_and_jaccard():
    assert normalise_text("  A Great,  MOVIE! ") == "a great movie"
    assert jaccard(char_ngrams("abcd"), char_ngrams("abcd")) == 1.0
    assert jaccard(char_ngrams("abcd"), char_ngrams("bcde")) == pytest.approx(1 / 3)
    assert jaccard(frozenset(), frozenset()) == 1.0


def test_near_duplicates_keep_the_first():
    texts = [
        "a truly great movie with heart",
        "a truly great movie with heart !",
        "something else entirely here",
    ]
    flags = near_duplicate_flags([normalise_text(t) for t in texts], threshold=0.8)
    assert flags == [False, True, False]


def test_degenerate_reasons():
    kw = dict(min_words=3, max_words=10, max_repeat_ratio=0.5)
    assert degenerate_reason("too short", **kw).startswith("too short")
    assert degenerate_reason("film film film film good", **kw).startswith("repeated word")
    assert degenerate_reason(" ".join(["w"] * 11), **kw).startswith("too long")
    assert degenerate_reason("a perfectly fine sentence", **kw) is None


def test_filter_rows_counts_every_kind_and_keeps_no_empty_text():
    frame = _frame(
        [
            "a fine and warm film",
            "A fine and warm film!",
            "a film with no plot at all",
            "",
            "ok",
            "a film that is a film that is a film",
            "another good movie here",
            "another good movie heree",
            "A film with no plot, at all.",
        ],
        labels=[0, 0, 1, 0, 0, 0, 1, 1, 0],
        errors=[None, None, None, None, None, "RuntimeError: nan", None, None, None],
    )
    kept, rejected, counts = filter_rows(
        frame, GenerationConfig(dedup_threshold=0.8), is_pair=False
    )
    # exact duplicate within a label: the first copy kept; the same text under two labels:
    # every copy dropped; near duplicates only within a label
    assert counts.as_dict() == {
        "failed": 2,
        "degenerate": 1,
        "duplicates": 1,
        "near_duplicates": 1,
        "conflicting": 2,
        "kept": 2,
    }
    assert kept.text_a.tolist() == ["a fine and warm film", "another good movie here"]
    assert len(kept) + len(rejected) == len(frame)
    assert (kept.text_a.str.strip() != "").all()
    assert set(rejected.reason.str.split(":").str[0]) == {
        "failure",
        "degenerate",
        "duplicate",
        "near duplicate",
        "conflicting labels",
    }
    assert (
        rejected.reason[rejected.text_a.str.contains("no plot")].tolist()
        == ["conflicting labels: 0, 1"] * 2
    )


def test_pair_rows_judge_the_generated_second_sentence():
    frame = _frame(["the first sentence is long enough"] * 2, text_b=["", "a new second one"])
    kept, rejected, counts = filter_rows(frame, GenerationConfig(), is_pair=True)
    assert counts.failed == 1 and kept.text_b.tolist() == ["a new second one"]


def test_pair_near_duplicates_compare_second_sentences_under_the_same_first():
    first = (
        "Reagan was seriously wounded by a bullet fired by John Hinckley Jr. in an attempted "
        "assassination, but made a remarkably speedy recovery after weeks in the hospital, "
        "and within a month he was back at work in the Oval Office, meeting with his advisers "
        "and signing the budget that Congress had sent him during his stay."
    )
    seconds = [
        "Reagan survived an attempted assassin's bullets.",
        "No one was hurt.",
        "Reagan survived an attempted assassin's bullet.",
    ]
    frame = _frame([first] * 3, text_b=seconds)
    kept, rejected, counts = filter_rows(frame, GenerationConfig(), is_pair=True)
    # the shared first sentence (an RTE-length premise) is given, not generated: only the
    # third second sentence is a near duplicate, of the first
    assert kept.text_b.tolist() == seconds[:2]
    assert counts.near_duplicates == 1 and rejected.text_b.tolist() == seconds[2:]
