"""The example-table contract: one validator for every reader, and a content digest.

A table has ``text_a`` (str), ``text_b`` (str, "" for single-sentence tasks) and
``label`` (int64 index into ``TaskSpec.label_names``); synthetic rows may add
``weight``, ``source``, ``seed``, ``raw_output`` and ``generator_ref``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synprompt_core.data.errors import DataError, DataNote
from synprompt_core.task_registry import TaskSpec

REQUIRED_COLUMNS = ("text_a", "text_b", "label")
EXTRA_COLUMNS = ("weight", "source", "seed", "raw_output", "generator_ref")
CONTRACT_COLUMNS = REQUIRED_COLUMNS + EXTRA_COLUMNS
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _label_lookup(task: TaskSpec) -> tuple[dict[str, int], dict[str, int]]:
    """Exact label names, and a case-insensitive fallback over names and meanings."""
    exact = {name: i for i, name in enumerate(task.label_names)}
    loose: dict[str, int] = {}
    for i, word in [*enumerate(task.label_meanings), *enumerate(task.label_names)]:
        loose[word.strip().lower().replace("_", " ")] = i
    return exact, loose


def encode_label(value: Any, task: TaskSpec) -> int:
    """One raw label (int index or label-name string) -> int index; ValueError if bad."""
    if isinstance(value, bool):
        raise ValueError(f"expected an integer label or a label name, got bool {value!r}")
    if isinstance(value, Integral) and task.numbers_are_names:
        value = str(int(value))  # its name, looked up below
    elif isinstance(value, Integral):
        if not 0 <= int(value) < task.num_labels:
            raise ValueError(f"label {int(value)} out of range 0..{task.num_labels - 1}")
        return int(value)
    if _is_missing(value):
        raise ValueError("missing label")
    if isinstance(value, str):
        exact, loose = _label_lookup(task)
        if value in exact:
            return exact[value]
        key = value.strip().lower().replace("_", " ")
        if key in loose:
            return loose[key]
        known = ", ".join(
            repr(n) if n.replace("_", " ") == m else f"{n!r} ({m})"
            for n, m in zip(task.label_names, task.label_meanings, strict=True)
        )
        raise ValueError(f"unknown label {value!r} for {task.name} (expected one of {known})")
    kind = type(value).__name__
    raise ValueError(f"expected an integer label or a label name, got {kind} {value!r}")


def _encode_labels(values: Sequence[Any], task: TaskSpec, path: str | Path) -> list[int]:
    known: dict[tuple[type, Any], int] = {}  # a column repeats a handful of raw labels
    out = []
    for row, value in enumerate(values, start=1):
        key = (type(value), value) if isinstance(value, (str, int)) else None
        code = known.get(key) if key is not None else None
        if code is None:
            try:
                code = encode_label(value, task)
            except ValueError as err:
                raise DataError(str(err), path=path, row=row, field="label") from None
            if key is not None:
                known[key] = code
        out.append(code)
    return out


def _check_texts(values: Sequence[Any], *, required: bool, field: str, path: str | Path) -> None:
    for row, value in enumerate(values, start=1):
        if not isinstance(value, str):
            kind = "missing text" if _is_missing(value) else f"expected a string, got {value!r}"
            raise DataError(kind, path=path, row=row, field=field)
        if required and not value.strip():
            raise DataError("empty text", path=path, row=row, field=field)


def _single_text_b(values: Sequence[Any], task: TaskSpec, path: str | Path) -> list[str]:
    """text_b of a single-sentence task: missing means "", anything else is a mistake."""
    out = []
    for row, value in enumerate(values, start=1):
        value = "" if _is_missing(value) else value
        if value != "":
            detail = f"must be empty for single-sentence task {task.name}, got {value!r}"
            raise DataError(detail, path=path, row=row, field="text_b")
        out.append(value)
    return out


def _encode_weights(column: pd.Series, path: str | Path) -> Sequence[float]:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        numbers = column.to_numpy(dtype="float64", na_value=np.nan)
        if np.isfinite(numbers).all() and (numbers >= 0).all():
            return numbers  # the common case, checked at once; else find the bad row below
    values = column.tolist()
    out = []
    for row, value in enumerate(values, start=1):
        weight = None
        if isinstance(value, Real) and not isinstance(value, bool):
            weight = float(value)
        elif isinstance(value, str):
            try:
                weight = float(value)
            except ValueError:
                pass
        if weight is None or not math.isfinite(weight) or weight < 0:
            detail = f"weight must be a finite number >= 0, got {value!r}"
            raise DataError(detail, path=path, row=row, field="weight")
        out.append(weight)
    return out


def _encode_seeds(values: Sequence[Any], path: str | Path) -> pd.Series:
    """A generated row's seed: an integer (int64), or missing for an imported row (Int64)."""
    out: list[Any] = []
    for row, value in enumerate(values, start=1):
        if isinstance(value, str):
            value = value.strip() or None
            value = int(value) if value and _INTEGER.fullmatch(value) else value
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        if _is_missing(value):
            out.append(pd.NA)
        elif isinstance(value, Integral) and not isinstance(value, bool):
            out.append(int(value))
        else:
            detail = f"seed must be an integer (or missing), got {value!r}"
            raise DataError(detail, path=path, row=row, field="seed")
    return pd.Series(out, dtype="Int64" if any(v is pd.NA for v in out) else "int64")


def validate_examples(
    df: pd.DataFrame,
    task: TaskSpec,
    *,
    path: str | Path,
    pair: bool | None = None,
    registry_order: bool = False,
    labeled: bool = True,
) -> pd.DataFrame:
    """Check an example table against the contract and return a clean copy.

    Args:
        df: table with ``text_a``, ``label`` and (pair tasks) ``text_b``; labels may be
            int indices or label-name strings (``task.label_names``, or case-insensitively
            a label meaning such as ``"positive"``).
        task: the task whose labels the table uses.
        path: where the table came from; named in every error.
        pair: require a non-empty ``text_b``; defaults to ``task.is_pair``.
        registry_order: integer labels are known to follow the task's label order
            (tables this project wrote, ClassLabels mapped by name); otherwise integer
            labels of a task with named labels raise an ``IntegerLabelsWarning``.

    Returns:
        A new frame (RangeIndex) with contract columns first: ``text_a``, ``text_b`` (str),
        ``label`` (int64), ``weight`` (float64) and ``seed`` (int64; Int64 where some are
        missing) if present, then the other columns.

    Raises:
        DataError: naming the file, the 1-based row and the field of the first problem.
    """
    pair = task.is_pair if pair is None else pair
    needed = ["text_a"] + (["label"] if labeled else []) + (["text_b"] if pair else [])
    for column in needed:
        if column not in df.columns:
            found = ", ".join(map(str, df.columns)) or "none"
            raise DataError(f"missing column (found: {found})", path=path, field=column)
    if len(df) == 0:
        raise DataError("no rows", path=path)
    out = df.reset_index(drop=True).copy()
    _check_texts(out["text_a"].tolist(), required=True, field="text_a", path=path)
    if "text_b" not in out.columns:
        out["text_b"] = ""
    elif task.is_pair:
        _check_texts(out["text_b"].tolist(), required=pair, field="text_b", path=path)
    else:
        out["text_b"] = _single_text_b(out["text_b"].tolist(), task, path)
    out["text_a"] = out["text_a"].astype(str)
    out["text_b"] = out["text_b"].astype(str)
    if "label" in out.columns:
        raw_labels = out["label"].tolist()
        out["label"] = pd.Series(_encode_labels(raw_labels, task, path), dtype="int64")
        if not registry_order:
            _note_integer_labels(raw_labels, task, path)
    if "weight" in out.columns:
        out["weight"] = pd.Series(_encode_weights(out["weight"], path), dtype="float64")
        if not out["weight"].any():
            raise DataError("every weight is 0: no row would count in training", path=path)
    if "seed" in out.columns:  # stored as parquet and joined with generated rows' seeds
        out["seed"] = _encode_seeds(out["seed"].tolist(), path)
    first = [c for c in CONTRACT_COLUMNS if c in out.columns]
    return out[first + [c for c in out.columns if c not in first]].infer_objects()


class IntegerLabelsWarning(DataNote):
    """Integer labels that another source may number differently: read in the task's order."""


# Numberings of the same classes that other common sources use, said in the note.
OTHER_NUMBERINGS = {
    "trec": "the Hugging Face trec dataset numbers them 0 = ABBR (abbreviation), 1 = ENTY, "
    "2 = DESC, 3 = HUM, 4 = LOC, 5 = NUM",
    "MNLI": "GLUE's MNLI numbers them 0 = entailment, 1 = neutral, 2 = contradiction",
    "SNLI": "the Hugging Face snli dataset numbers them 0 = entailment, 1 = neutral, "
    "2 = contradiction",
}


def _note_integer_labels(values: Sequence[Any], task: TaskSpec, path: str | Path) -> None:
    """Warn how numbers were read where they could mean other classes elsewhere."""
    if task.numbers_are_names:
        return  # read as the names they are, in every format
    other = OTHER_NUMBERINGS.get(task.name)
    numbers_are_names = all(name == str(i) for i, name in enumerate(task.label_names))
    if numbers_are_names and other is None:
        return  # index and name agree (SST-2's '0'/'1', ...): nothing to misread
    integral = (isinstance(v, Integral) and not isinstance(v, bool) for v in values)
    digits = (isinstance(v, str) and v.isdigit() for v in values)
    if not any(integral) and not (numbers_are_names and any(digits)):
        return
    order = ", ".join(f"{i} = {m}" for i, m in enumerate(task.label_meanings))
    elsewhere = other or "other sources may number them differently"
    words = "meanings (e.g. " + repr(task.label_meanings[0]) + ")" if numbers_are_names else "names"
    warnings.warn(
        IntegerLabelsWarning(
            f"{path}: integer labels read in {task.name}'s label order ({order}); "
            f"{elsewhere}, so write label {words} if in doubt"
        ),
        stacklevel=3,
    )


def _canonical(column: str, values: list[Any]) -> list[Any]:
    if column == "label":
        return [int(v) for v in values]
    if column == "weight":
        return [float(v) for v in values]
    return [None if _is_missing(v) else v for v in values]


def table_digest(df: pd.DataFrame) -> str:
    """sha256 of the contract columns' content; ignores the index and other columns.

    Same rows in the same order give the same digest whatever the index, the column
    order or the integer/float width; any changed text, label or weight changes it.
    """
    columns = [c for c in CONTRACT_COLUMNS if c in df.columns]
    data = {c: _canonical(c, df[c].tolist()) for c in columns}
    payload = json.dumps(
        {"columns": columns, "rows": len(df), "data": data},
        ensure_ascii=False,
        default=str,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
