"""Read LM-BFF few-shot splits: ``<root>/<TASK>/<k>-<seed>/<split>.tsv|.csv``.

LM-BFF (Gao et al., 2021, ``tools/generate_k_shot_data.py``) keeps each source's own
format: GLUE tasks are unquoted tsv with the GLUE header (CoLA has none; MRPC starts
with a UTF-8 byte-order mark; MNLI's dev/test are ``dev_matched``/``test_matched``),
and the other tasks (mr, cr, mpqa, subj, trec, sst-5, ag_news) are headerless, quoted
csv with the label first.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synprompt_core.data.columns import LABEL_COLUMNS, PAIR_COLUMNS, resolve_columns
from synprompt_core.data.errors import DataError
from synprompt_core.data.readers import read_delimited, relative_hint
from synprompt_core.data.validation import validate_examples
from synprompt_core.task_registry import TaskSpec

_HEADER_NAMES = {"sentence", "index", "id", *LABEL_COLUMNS, *(c for p in PAIR_COLUMNS for c in p)}
_COLA_COLUMNS = ("source", "label", "original_label", "sentence")


def _task_folder(root: Path, task: TaskSpec) -> Path:
    folder = root / task.name
    if folder.is_dir() or not root.is_dir():
        return folder
    # Tolerate "SST-2" vs "sst-2" folder spellings.
    matches = [p for p in root.iterdir() if p.is_dir() and p.name.lower() == task.name.lower()]
    return matches[0] if matches else folder


def lmbff_split_path(root: str | Path, task: TaskSpec, *, k: int, seed: int, split: str) -> Path:
    """The file of one split; MNLI's ``dev``/``test`` resolve to the ``_matched`` files."""
    folder = _task_folder(Path(root), task) / f"{k}-{seed}"
    stems = [split]
    if task.name == "MNLI" and split in ("dev", "test"):
        stems.insert(0, f"{split}_matched")
    for stem in stems:
        for suffix in (".tsv", ".csv"):
            if (folder / f"{stem}{suffix}").is_file():
                return folder / f"{stem}{suffix}"
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    hint = "" if present else relative_hint(folder)
    raise FileNotFoundError(
        f"no {split!r} split for {task.name} in {folder} "
        f"(looked for {', '.join(s + '.tsv|.csv' for s in stems)}; found: {present or 'nothing'})"
        f"{hint}"
    )


def _first_line(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig") as lines:
        return lines.readline().rstrip("\r\n").split("\t")


def _read_tsv(path: Path, task: TaskSpec) -> pd.DataFrame:
    if set(_first_line(path)) & _HEADER_NAMES:
        raw = read_delimited(path, sep="\t", header=True)
        mapping = resolve_columns(raw.columns, task, path=path)
        return pd.DataFrame({target: raw[source] for target, source in mapping.items()})
    raw = read_delimited(path, sep="\t", header=False)
    if raw.shape[1] != len(_COLA_COLUMNS):
        raise DataError(
            f"headerless tsv with {raw.shape[1]} columns; only CoLA's "
            f"{'/'.join(_COLA_COLUMNS)} layout has no header",
            path=path,
        )
    return pd.DataFrame({"text_a": raw[3], "label": raw[1]})


def _read_csv(path: Path, task: TaskSpec) -> pd.DataFrame:
    raw = read_delimited(path, sep=",", header=False)
    if raw.shape[1] < 2:
        raise DataError("expected headerless csv rows 'label,text[,text...]'", path=path)
    if task.name == "ag_news" and raw.shape[1] >= 3:
        # label,title,description; LM-BFF-style readers join them as "title. description".
        text = (raw[1].str.rstrip(". ") + ". " + raw[2].fillna("")).str.strip()
        return pd.DataFrame({"text_a": text, "label": raw[0]})
    if task.is_pair and raw.shape[1] >= 3:
        return pd.DataFrame({"text_a": raw[1], "text_b": raw[2], "label": raw[0]})
    return pd.DataFrame({"text_a": raw[1], "label": raw[0]})


def read_lmbff_split(
    root: str | Path, task: TaskSpec, *, k: int = 16, seed: int = 13, split: str = "train"
) -> pd.DataFrame:
    """Read one LM-BFF split as a validated example table.

    Args:
        root: the LM-BFF ``k-shot`` folder holding ``<TASK>/<k>-<seed>/``.
        task: the task; its name is the folder name.
        k, seed: which few-shot draw.
        split: ``train``, ``dev`` or ``test`` (or a file stem such as ``dev_mismatched``).

    Returns:
        ``text_a``, ``text_b`` ("" for single-sentence tasks) and int ``label``, in file
        order; raw labels are mapped through ``task.label_names``.

    Raises:
        FileNotFoundError: no such split file.
        DataError: a malformed file or row, named by file, 1-based data row and field.
    """
    path = lmbff_split_path(root, task, k=k, seed=seed, split=split)
    table = _read_tsv(path, task) if path.suffix == ".tsv" else _read_csv(path, task)
    return validate_examples(table, task, path=path, registry_order=True)  # LM-BFF order
