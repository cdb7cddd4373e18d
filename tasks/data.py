"""Load and validate the real splits and the imported synthetic set; join synthetic sets."""

from __future__ import annotations

import threading
import warnings

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import CONTRACT_COLUMNS, read_real_splits, read_synthetic, table_digest
from synprompt_core.data.validation import IntegerLabelsWarning
from synprompt_core.references import Ref, cache_key
from tasks.store import read_table, stage_dir, write_table

# catch_warnings swaps process-wide state: ablation cells loading their tables in parallel
# threads would otherwise collect each other's notes
_WARNINGS = threading.Lock()


@task(name="load-data", cache_policy=NO_CACHE)
def load_data(config: PipelineConfig) -> dict[str, Ref]:
    """Validate every input table and store it as parquet under its content digest.

    How integer labels were read (``IntegerLabelsWarning``) goes to the run's log, once.
    """
    with _WARNINGS, warnings.catch_warnings(record=True) as notes:  # process-wide state
        warnings.simplefilter("always", IntegerLabelsWarning)
        tables = read_real_splits(config.data)
        synthetic = read_synthetic(config.data)
    for note in dict.fromkeys(str(n.message) for n in notes):
        get_run_logger().info("note: %s", note)
    if synthetic is not None:
        tables["synthetic"] = synthetic
    refs = {}
    for name, table in tables.items():
        digest = table_digest(table)
        key = cache_key(stage="data", config={}, inputs={name: digest})
        folder = stage_dir(config.tracking.output_dir, "data", key)
        refs[name] = write_table(table, folder / f"{name}.parquet", digest=digest)
    return refs


@task(name="join-tables", cache_policy=NO_CACHE)
def join_tables(config: PipelineConfig, refs: list[Ref], name: str) -> Ref:
    """Concatenate example tables in order, contract columns only, stored by content digest.

    A table without a ``weight`` column contributes weight 1.0 per row, so the joined set
    never carries a missing loss weight.
    """
    tables = [read_table(ref) for ref in refs]
    columns = [c for c in CONTRACT_COLUMNS if any(c in t.columns for t in tables)]
    joined = pd.concat([t.reindex(columns=columns) for t in tables], ignore_index=True)
    if "weight" in joined.columns:
        joined["weight"] = joined["weight"].fillna(1.0).astype("float64")
    if "seed" in joined.columns:  # an integer per generated row, missing for imported ones
        joined["seed"] = joined["seed"].astype("Int64")
    digest = table_digest(joined)
    key = cache_key(stage="data", config={}, inputs={name: digest})
    folder = stage_dir(config.tracking.output_dir, "data", key)
    return write_table(joined, folder / f"{name}.parquet", digest=digest)
