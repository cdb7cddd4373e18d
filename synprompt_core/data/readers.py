"""Readers for example tables in plain files: csv, tsv, jsonl, parquet, FewGen json."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pandas as pd

from synprompt_core.data.columns import SOURCE_OPTION, resolve_columns
from synprompt_core.data.errors import DataError
from synprompt_core.data.validation import EXTRA_COLUMNS, validate_examples
from synprompt_core.task_registry import TaskSpec

TABLE_FORMATS = ("csv", "tsv", "jsonl", "json", "parquet")
_PARSER_LINE = re.compile(r"line (\d+)")
_INTEGER = re.compile(r"[+-]?\d+")


def check_file(path: str | Path) -> Path:
    """The path as a Path; FileNotFoundError naming it if it is not a file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such data file: {path}{relative_hint(path)}")
    return path


def relative_hint(path: Path) -> str:
    """For a missing relative path: the folder it was resolved from (the working one)."""
    return "" if path.is_absolute() else f" (relative to the working folder {Path.cwd()})"


def read_delimited(path: Path, *, sep: str, header: bool) -> pd.DataFrame:
    """Every cell as str ("" for empty); tsv unquoted, as GLUE and LM-BFF write it.

    GLUE/LM-BFF tsv files hold raw quote characters inside sentences, so tsv is read
    with ``QUOTE_NONE``; csv files (LM-BFF's mr, cr, subj, ...) are properly quoted.
    A UTF-8 byte-order mark (MRPC) is dropped.
    """
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    try:
        return pd.read_csv(
            path,
            sep=sep,
            header=0 if header else None,
            dtype=str,
            keep_default_na=False,
            quoting=quoting,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise DataError("empty file", path=path) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        found = _PARSER_LINE.search(str(err))
        row = int(found.group(1)) - int(header) if found else None
        raise DataError(f"cannot parse: {err}", path=path, row=row) from None


def _read_jsonl(path: Path) -> pd.DataFrame:
    records = []
    with path.open(encoding="utf-8-sig") as lines:
        for row, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"invalid JSON: {err}", path=path, row=row) from None
            if not isinstance(record, dict):
                raise DataError("expected a JSON object", path=path, row=row)
            records.append(record)
    # object dtype keeps each value's own JSON type, so a stray 1.0 is caught on its row
    return pd.DataFrame(records, dtype=object)


def _read_json_list(path: Path) -> pd.DataFrame:
    try:
        records = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise DataError(f"invalid JSON: {err}", path=path) from None
    if not isinstance(records, list):
        raise DataError("expected a JSON list of objects", path=path)
    for row, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise DataError(f"expected a JSON object, got {record!r}", path=path, row=row)
    return pd.DataFrame(records, dtype=object)


def _load(path: Path, fmt: str) -> pd.DataFrame:
    if fmt in ("csv", "tsv"):
        table = read_delimited(path, sep="," if fmt == "csv" else "\t", header=True)
        if "seed" in table.columns and table["seed"].str.fullmatch(_INTEGER).all():
            table["seed"] = table["seed"].astype("int64")
        return table
    if fmt == "jsonl":
        return _read_jsonl(path)
    if fmt == "json":
        return _read_json_list(path)
    return pd.read_parquet(path)


def _load_as(path: Path, fmt: str) -> pd.DataFrame:
    """``_load``, with a hint when the file is plainly not in format ``fmt``."""
    try:
        raw = _load(path, fmt)
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - a reader's own error, reworded once
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"cannot read as {fmt} ({reason}): is `format` right?", path=path) from err
    if fmt in ("csv", "tsv") and len(raw.columns) and str(raw.columns[0]).startswith("{"):
        raise DataError(f"this looks like JSON lines, not {fmt}: set format: jsonl", path=path)
    other = {"csv": ("\t", "tsv"), "tsv": (",", "csv")}.get(fmt)
    if other and len(raw.columns) == 1 and other[0] in str(raw.columns[0]):
        raise DataError(
            f"one column, whose name holds {other[0]!r}: set format: {other[1]}", path=path
        )
    return raw


def _text_file_labels(labels: pd.Series, task: TaskSpec) -> pd.Series:
    """Text files carry no types: a label column of integer literals means label indices,
    unless the task's label names are themselves numbers (ag_news '1'..'4', as its csv and
    LM-BFF write them), in which case each literal is the name; a column with a number
    that is no name (ag_news '0', as a Hugging Face export writes it) is indices again."""
    if task.numbers_are_names or not labels.str.fullmatch(_INTEGER).all():
        return labels
    names = set(task.label_names)
    numbered = all(name.isdigit() for name in names)
    if numbered and set(labels.str.lstrip("+")) <= names:
        return labels
    return labels.astype("int64")


def table_format(path: str | Path) -> str:
    """``csv``/``tsv``/``jsonl``/``json``/``parquet`` from the file suffix."""
    suffix = Path(path).suffix.lower().lstrip(".")
    fmt = {"ndjson": "jsonl", "pq": "parquet"}.get(suffix, suffix)
    if fmt not in TABLE_FORMATS:
        raise DataError(f"unsupported file type {suffix!r} (use one of {TABLE_FORMATS})", path=path)
    return fmt


def read_table(
    path: str | Path,
    task: TaskSpec,
    *,
    text_a: str | None = None,
    text_b: str | None = None,
    label: str | None = None,
    format: str | None = None,
) -> pd.DataFrame:
    """Read an example table from csv, tsv, jsonl, json (list) or parquet.

    Args:
        path: the file; its suffix picks the format unless ``format`` is given.
        task: the task the labels belong to.
        text_a, text_b, label: column overrides; by default the contract names, then
            ``sentence``, ``sentence1``/``sentence2``, ``text``, ``text1``/``text2``, ...
        format: force one of ``TABLE_FORMATS``.

    Returns:
        A validated table: contract columns plus any of ``weight``, ``source``, ``seed``,
        ``raw_output``, ``generator_ref`` present in the file. Integer labels are indices
        (0..L-1); string labels are label names.

    Raises:
        DataError: a missing column, or a bad row (named by file, row and field).
    """
    columns = {"text_a": text_a, "text_b": text_b, "label": label}
    return read_rows(path, task, **columns, format=format, labeled=True)[1]


def read_rows(
    path: str | Path,
    task: TaskSpec,
    *,
    text_a: str | None = None,
    text_b: str | None = None,
    label: str | None = None,
    format: str | None = None,
    labeled: bool = False,
    option: str = SOURCE_OPTION,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows to label: the file as read (every column), and its validated texts, with the
    labels of column ``label`` when one is named. Same formats and errors as ``read_table``,
    which is this with ``labeled=True`` (labels required, synthetic-set columns kept).
    ``option``: how the caller names a column, as ``resolve_columns`` takes it."""
    path = check_file(path)
    fmt = format or table_format(path)
    raw = _load_as(path, fmt)
    mapping = resolve_columns(
        raw.columns,
        task,
        path=path,
        text_a=text_a,
        text_b=text_b,
        label=label,
        labeled=labeled,
        option=option,
    )
    table = pd.DataFrame({target: raw[source] for target, source in mapping.items()})
    if fmt in ("csv", "tsv") and "label" in table.columns:
        table["label"] = _text_file_labels(table["label"], task)
    for column in EXTRA_COLUMNS if labeled else ():
        if column in raw.columns and column not in mapping.values():
            table[column] = raw[column]
    return raw, validate_examples(table, task, path=path, labeled=labeled)


def fewgen_path(root: str | Path, task: TaskSpec, *, k: int, seed: int) -> Path:
    """``<root>/<TASK>/<k>-<seed>/gen-train.json``, FewGen's published layout."""
    return Path(root) / task.name / f"{k}-{seed}" / "gen-train.json"


def read_fewgen_json(path: str | Path, task: TaskSpec) -> pd.DataFrame:
    """Read FewGen's ``gen-train.json`` (Meng et al., 2023) as a synthetic table.

    The file is a JSON list of ``{"text", "label"}`` (single-sentence tasks) or
    ``{"text1", "text2", "label"}`` (pair tasks) objects; labels are label-name strings
    such as ``"0"`` or ``"entailment"``.

    Returns:
        A validated table with ``source="fewgen"`` and ``weight=1.0`` on every row.
    """
    path = check_file(path)
    raw = _read_json_list(path)
    mapping = resolve_columns(raw.columns, task, path=path)
    table = pd.DataFrame({target: raw[source] for target, source in mapping.items()})
    table["weight"] = 1.0
    table["source"] = "fewgen"
    return validate_examples(table, task, path=path)
