"""Find the text and label columns of a foreign table (csv, jsonl, parquet, HF dataset)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from synprompt_core.data.errors import DataError, DataNote
from synprompt_core.task_registry import TaskSpec

# (text_a, text_b) column pairs in the order they are tried: the contract's own names,
# then GLUE (MRPC's '#1 String'), SNLI, SICK and FewGen conventions.
PAIR_COLUMNS = (
    ("text_a", "text_b"),
    ("sentence1", "sentence2"),
    ("question1", "question2"),
    ("question", "sentence"),
    ("premise", "hypothesis"),
    ("sentence_A", "sentence_B"),
    ("text1", "text2"),
    ("#1 String", "#2 String"),
)
SINGLE_COLUMNS = ("text_a", "sentence", "text", "content")
LABEL_COLUMNS = (
    "label",
    "labels",
    "gold_label",
    "coarse_label",
    "Quality",
    "is_duplicate",
    "entailment_label",
    "entailment_judgment",
)


class ColumnChoiceWarning(DataNote):
    """A column found by its name where another conventional name was also present."""


def _pick(columns: Sequence[str], candidates: Sequence[str]) -> str | None:
    return next((c for c in candidates if c in columns), None)


SOURCE_OPTION = "the source's `{field}:` option"  # how a pipeline config names a column


def _option(option: str, field: str) -> str:
    return option.format(field=field, flag=field.replace("_", "-"))


def _note_choice(field: str, chosen: str, others: list[str], path: str | Path, option: str) -> None:
    """Say which of several likely columns a field was read from, and how to pick another."""
    if others:
        also = ", ".join(map(repr, others))
        message = (
            f"{path}: {field} read from column {chosen!r} (also present: {also}); "
            f"name another with {_option(option, field)}"
        )
        warnings.warn(ColumnChoiceWarning(message), stacklevel=4)


def _require(
    column: str | None,
    columns: Sequence[str],
    field: str,
    path: str | Path,
    tried: Sequence[str],
    option: str,
) -> str:
    if column is None or column not in columns:
        found = ", ".join(map(str, columns)) or "none"
        if column is None:
            detail = (
                f"missing column (found: {found}; looked for: {', '.join(tried)}); "
                f"name yours with {_option(option, field)}"
            )
        else:
            detail = f"column {column!r} given as `{field}:` is missing (found: {found})"
        raise DataError(detail, path=path, field=field)
    return column


def resolve_columns(
    columns: Sequence[str],
    task: TaskSpec,
    *,
    path: str | Path,
    text_a: str | None = None,
    text_b: str | None = None,
    label: str | None = None,
    labeled: bool = True,
    option: str = SOURCE_OPTION,
) -> dict[str, str]:
    """Map contract names to the table's columns, e.g. ``{"text_a": "sentence1", ...}``.

    Explicit overrides win; otherwise the first matching conventional name is used.
    ``text_b`` is only looked for in pair tasks (or when given explicitly); with
    ``labeled=False`` only an explicit ``label`` column is used. ``option`` says how the
    caller names a column (``{field}``: e.g. ``text_a``; ``{flag}``: ``text-a``), in the
    note on a column chosen among several and in the error on a missing one.

    Raises:
        DataError: a needed column is absent; the message lists the columns found.
    """
    columns = [str(c) for c in columns]
    if task.is_pair and text_a is None and text_b is None:
        both = [p for p in PAIR_COLUMNS if p[0] in columns and p[1] in columns]
        text_a, text_b = both[0] if both else (None, None)
        if both:
            _note_choice("text_a", text_a, [a for a, _ in both[1:]], path, option)
    firsts = tuple(dict.fromkeys(a for a, _ in PAIR_COLUMNS)) if task.is_pair else SINGLE_COLUMNS
    if text_a is None:
        text_a = _pick(columns, firsts)
        if text_a is not None:
            others = [c for c in firsts if c in columns and c != text_a]
            _note_choice("text_a", text_a, others, path, option)
    if text_b is None and task.is_pair:
        text_b = next((b for a, b in PAIR_COLUMNS if a == text_a and b in columns), None)
    if labeled and label is None:  # rows to predict have labels only where their column is named
        label = _pick(columns, LABEL_COLUMNS)
        if label is not None:
            others = [c for c in LABEL_COLUMNS if c in columns and c != label]
            _note_choice("label", label, others, path, option)
    mapping = {"text_a": _require(text_a, columns, "text_a", path, firsts, option)}
    if labeled or label is not None:  # unlabeled rows may still carry their labels
        mapping["label"] = _require(label, columns, "label", path, LABEL_COLUMNS, option)
    if task.is_pair or text_b is not None:
        seconds = tuple(dict.fromkeys(b for _, b in PAIR_COLUMNS))
        mapping["text_b"] = _require(text_b, columns, "text_b", path, seconds, option)
    return mapping
