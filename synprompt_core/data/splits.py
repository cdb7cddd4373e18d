"""The tables a pipeline run reads: real train/dev/test and an imported synthetic set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synprompt_core.configs.data import DataConfig
from synprompt_core.data.sampling import sample_k_shot
from synprompt_core.data.sources import read_source, source_files

SPLITS = ("train", "dev", "test")


def read_real_splits(data: DataConfig) -> dict[str, pd.DataFrame]:
    """Read (and, for full datasets, k-shot sample) every configured real split."""
    return draw_k_shot_splits(data, read_split_tables(data))


def read_split_tables(data: DataConfig) -> dict[str, pd.DataFrame]:
    """Every configured real split as its source holds it: validated, every row, in file
    order (row i is the file's data row i + 1), before any k-shot draw."""
    spec = data.spec
    tables = {}
    for split in SPLITS:
        source = data.split_source(split)
        if source is not None:
            tables[split] = read_source(source, spec, k=data.k, seed=data.seed)
    if "train" not in tables or "test" not in tables:
        raise ValueError("a real train and a test split are required (set data_root or both)")
    return tables


def draw_k_shot_splits(data: DataConfig, tables: dict[str, pd.DataFrame]) -> dict:
    """``tables`` with train and dev k-shot sampled when ``data.sample_k_shot`` says so.

    A dev split read from the same source as train is drawn as the next k rows per label
    of the same shuffle (LM-BFF), never the train rows again.
    """
    if not data.sample_k_shot:
        return dict(tables)
    drawn = dict(tables)
    for split in ("train", "dev"):
        if split in tables:
            shared = split == "dev" and data.split_source(split) == data.split_source("train")
            skip = data.k if shared else 0
            drawn[split] = sample_k_shot(
                tables[split], k=data.k, seed=data.seed, task=data.spec, skip=skip
            )
    return drawn


def read_synthetic(data: DataConfig) -> pd.DataFrame | None:
    """The imported synthetic set, or None when the config names none."""
    source = data.synthetic_source()
    if source is None:
        return None
    return read_source(source, data.spec, k=data.k, seed=data.seed)


def input_files(data: DataConfig) -> list[Path] | None:
    """Every file ``read_real_splits`` and ``read_synthetic`` read for ``data``, in order;
    None when one of them reads something other than plain files (a Hugging Face dataset)."""
    sources = [data.split_source(split) for split in SPLITS] + [data.synthetic_source()]
    files: list[Path] = []
    for source in sources:
        if source is None:
            continue
        found = source_files(source, data.spec, k=data.k, seed=data.seed)
        if found is None:
            return None
        files += found
    return files
