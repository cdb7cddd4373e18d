"""Dispatch a ``SourceConfig`` to the matching reader."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synprompt_core.configs.data import SourceConfig
from synprompt_core.data.hf import read_hf_dataset
from synprompt_core.data.lmbff import lmbff_split_path, read_lmbff_split
from synprompt_core.data.readers import fewgen_path, read_fewgen_json, read_table
from synprompt_core.task_registry import TaskSpec


def _read_folder_layout(source: SourceConfig, task: TaskSpec, k: int, seed: int) -> pd.DataFrame:
    overrides = [c for c in ("text_a", "text_b", "label") if getattr(source, c) is not None]
    if overrides:
        raise ValueError(
            f"column overrides {overrides} do not apply to format {source.format!r}; "
            "its layout is fixed"
        )
    if source.format == "lmbff":
        return read_lmbff_split(source.path, task, k=k, seed=seed, split=source.split)
    path = Path(source.path)
    if not path.is_file():
        path = fewgen_path(path, task, k=k, seed=seed)
    return read_fewgen_json(path, task)


def source_files(source: SourceConfig, task: TaskSpec, *, k: int, seed: int) -> list[Path] | None:
    """The files ``read_source`` reads for ``source`` (the same path lookup, no reading);
    None for a Hugging Face dataset, which is not a file of ours to watch.

    Raises what ``read_source`` raises for a split file it cannot find.
    """
    if source.format == "hf":
        return None
    if source.format == "lmbff":
        return [lmbff_split_path(source.path, task, k=k, seed=seed, split=source.split)]
    path = Path(source.path)
    if source.format == "fewgen" and not path.is_file():
        path = fewgen_path(path, task, k=k, seed=seed)
    return [path]


def read_source(source: SourceConfig, task: TaskSpec, *, k: int, seed: int) -> pd.DataFrame:
    """Read the table a ``SourceConfig`` names, honouring column overrides and ``limit``.

    Args:
        source: format ``lmbff`` (folder root + split), ``fewgen`` (folder root or the
            json file itself), ``csv``/``tsv``/``jsonl``/``parquet`` (a file) or ``hf``.
        task: the task the labels belong to.
        k, seed: the few-shot draw, for the ``lmbff`` and ``fewgen`` folder layouts.

    Returns:
        A validated example table, cut to the first ``source.limit`` rows if set.
    """
    columns = {"text_a": source.text_a, "text_b": source.text_b, "label": source.label}
    if source.format in ("lmbff", "fewgen"):
        table = _read_folder_layout(source, task, k, seed)
    elif source.format == "hf":
        table = read_hf_dataset(
            source.path, task, split=source.split, config_name=source.hf_config, **columns
        )
    else:
        table = read_table(source.path, task, format=source.format, **columns)
    if source.limit is not None:
        table = table.head(source.limit).reset_index(drop=True)
    return table
