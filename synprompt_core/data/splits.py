"""The tables a pipeline run reads: real train/dev/test and an imported synthetic set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synprompt_core.configs.data import DataConfig
from synprompt_core.data.sampling import sample_k_shot
from synprompt_core.data.sources import read_source, source_files

SPLITS = ("train", "dev", "test")


def read_real_splits(data: DataConfig) -> dict[str, pd.DataFrame]:
    """Read (and, for full datasets, k-shot sample) every configured real split.

    With ``sample_k_shot``, a dev split read from the same source as train is drawn as
    the next k rows per label of the same shuffle (LM-BFF), never the train rows again.
    """
    spec = data.spec
    tables = {}
    for split in SPLITS:
        source = data.split_source(split)
        if source is None:
            continue
        table = read_source(source, spec, k=data.k, seed=data.seed)
        if data.sample_k_shot and split in ("train", "dev"):
            shared = split == "dev" and source == data.split_source("train")
            skip = data.k if shared else 0
            table = sample_k_shot(table, k=data.k, seed=data.seed, task=spec, skip=skip)
        tables[split] = table
    if "train" not in tables or "test" not in tables:
        raise ValueError("a real train and a test split are required (set data_root or both)")
    return tables


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
