"""Quality filters on generated rows: failures, degenerate text, exact and near duplicates.

Nothing is dropped silently: every rejected row is returned with its reason, and
the counts say how many of each kind were removed.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import pandas as pd

_WORD = re.compile(r"[^\w\s]", flags=re.UNICODE)


@dataclass(frozen=True)
class FilterCounts:
    """How many rows each filter removed, and how many were kept."""

    failed: int = 0
    degenerate: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    conflicting: int = 0
    kept: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def normalise_text(text: str) -> str:
    """Lower-case, punctuation removed, whitespace collapsed (the duplicate key)."""
    return " ".join(_WORD.sub(" ", str(text).lower()).split())


def char_ngrams(text: str, n: int = 3) -> frozenset[str]:
    """Character n-grams of a normalised text (the whole text if shorter than n)."""
    if len(text) <= n:
        return frozenset([text])
    return frozenset(text[i : i + n] for i in range(len(text) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b| (1.0 for two empty sets)."""
    union = len(a | b)
    return 1.0 if union == 0 else len(a & b) / union


def degenerate_reason(
    text: str, *, min_words: int, max_words: int, max_repeat_ratio: float
) -> str | None:
    """Why a text is degenerate (too short, too long, one word repeated), or None."""
    words = str(text).split()
    if len(words) < min_words:
        return f"too short ({len(words)} words < {min_words})"
    if len(words) > max_words:
        return f"too long ({len(words)} words > {max_words})"
    top = Counter(w.lower() for w in words).most_common(1)[0][1]
    if len(words) >= 4 and top / len(words) > max_repeat_ratio:
        return f"repeated word ({top}/{len(words)} > {max_repeat_ratio})"
    return None


def near_duplicate_flags(texts: list[str], *, threshold: float) -> list[bool]:
    """True for each text whose char 3-gram Jaccard with an earlier kept text >= threshold."""
    grams = [char_ngrams(t) for t in texts]
    kept: list[frozenset[str]] = []
    flags = []
    for g in grams:
        # Jaccard >= t needs the smaller set to be at least t times the larger one.
        dup = any(
            min(len(g), len(k)) >= threshold * max(len(g), len(k)) and jaccard(g, k) >= threshold
            for k in kept
        )
        flags.append(dup)
        if not dup:
            kept.append(g)
    return flags


def _reasons(frame: pd.DataFrame, config, *, is_pair: bool) -> list[str | None]:
    """Rejection reason per row (first filter that fires), in row order.

    A text generated under two different labels says nothing about either: every copy
    is dropped ("conflicting labels"), not just the later ones, which would keep it
    under whichever label happened to be sampled first.
    """
    generated = frame["text_b"] if is_pair else frame["text_a"]
    keys = [
        normalise_text(f"{a} || {b}") for a, b in zip(frame["text_a"], frame["text_b"], strict=True)
    ]
    errors = frame.get("error", [None] * len(frame))
    reasons: list[str | None] = []
    for text, error in zip(generated, errors, strict=True):
        error = error if isinstance(error, str) and error else None  # NaN/None: no error
        if error or not str(text).strip():
            reasons.append(f"failure: {error}" if error else "failure: empty output")
        elif why := degenerate_reason(
            text,
            min_words=config.min_words,
            max_words=config.max_words,
            max_repeat_ratio=config.max_repeat_ratio,
        ):
            reasons.append(f"degenerate: {why}")
        else:
            reasons.append(None)
    labels_of: dict[str, set] = {}
    for key, label, reason in zip(keys, frame["label"], reasons, strict=True):
        if reason is None:
            labels_of.setdefault(key, set()).add(label)
    seen: set[str] = set()
    for row, key in enumerate(keys):
        if reasons[row] is not None:
            continue
        if len(labels_of[key]) > 1:
            reasons[row] = "conflicting labels: " + ", ".join(map(str, sorted(labels_of[key])))
        elif key in seen:
            reasons[row] = "duplicate"
        seen.add(key)
    return reasons


def filter_rows(
    frame: pd.DataFrame, config, *, is_pair: bool
) -> tuple[pd.DataFrame, pd.DataFrame, FilterCounts]:
    """Split generated rows into kept and rejected.

    Args:
        frame: rows with text_a, text_b, label and optionally ``error`` (a failed decode).
        config: a ``GenerationConfig`` (min_words, max_words, max_repeat_ratio,
            dedup_threshold).
        is_pair: the generated text is ``text_b`` (else ``text_a``).

    Returns:
        ``(kept, rejected, counts)``; ``rejected`` has a ``reason`` column. Near
        duplicates are searched within each label (pair rows: among the second sentences
        under the same first one), in row order (the first is kept).
    """
    reasons = pd.Series(_reasons(frame, config, is_pair=is_pair), index=frame.index, dtype=object)
    if config.dedup_threshold < 1.0:
        # A pair row's first sentence is given and shared by many rows; keyed on the whole
        # pair, a long premise made every second sentence under it a near duplicate.
        by = ["label", "text_a"] if is_pair else ["label"]
        for _, group in frame[reasons.isna()].groupby(by, sort=False):
            generated = group.text_b if is_pair else group.text_a
            keys = [normalise_text(text) for text in generated]
            flags = near_duplicate_flags(keys, threshold=config.dedup_threshold)
            reasons.loc[group.index[flags]] = "near duplicate"
    kinds = reasons.fillna("kept").str.split(":").str[0]
    counts = FilterCounts(
        failed=int((kinds == "failure").sum()),
        degenerate=int((kinds == "degenerate").sum()),
        duplicates=int((kinds == "duplicate").sum()),
        near_duplicates=int((kinds == "near duplicate").sum()),
        conflicting=int((kinds == "conflicting labels").sum()),
        kept=int(reasons.isna().sum()),
    )
    rejected = frame[reasons.notna()].assign(reason=reasons[reasons.notna()])
    return frame[reasons.isna()].copy(), rejected, counts
