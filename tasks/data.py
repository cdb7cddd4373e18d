"""Load and validate the real splits and the imported synthetic set; join synthetic sets."""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from synprompt_core.configs.data import DataConfig
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import CONTRACT_COLUMNS, read_real_splits, read_synthetic, table_digest
from synprompt_core.data.splits import input_files
from synprompt_core.data.validation import IntegerLabelsWarning
from synprompt_core.references import Ref, cache_key
from tasks.store import (
    read_manifest,
    read_table,
    stage_dir,
    stage_path,
    write_manifest,
    write_table,
)

INPUTS = "inputs"
# a file changed this recently may change again within its timestamp's granularity,
# unseen by a (size, mtime, ctime) check: its identity is not recorded yet
SETTLED_NS = 2_000_000_000

# catch_warnings swaps process-wide state: ablation cells loading their tables in parallel
# threads would otherwise collect each other's notes
_WARNINGS = threading.Lock()


@task(name="load-data", cache_policy=NO_CACHE)
def load_data(config: PipelineConfig) -> dict[str, Ref]:
    """Validate every input table and store it as parquet under its content digest.

    How integer labels were read (``IntegerLabelsWarning``) goes to the run's log, once.
    Input files unchanged since an earlier run into the same output folder (same data
    config and code, and each file the same by path, inode, size, mtime and ctime) give
    that run's stored tables again without being read, validated and digested anew.
    """
    checked = time.time_ns()
    identity = input_identity(config.data)
    record_at = stage_path(config.tracking.output_dir, INPUTS, inputs_key(config.data))
    known = read_manifest(record_at) if identity is not None else None
    home = Path(config.tracking.output_dir).resolve()
    if known is not None and known["files"] == identity and stored_intact(known["refs"], home):
        for note in known["notes"]:
            get_run_logger().info("note: %s", note)
        return {name: Ref(path=r["path"], sha256=r["sha256"]) for name, r in known["refs"]}
    with _WARNINGS, warnings.catch_warnings(record=True) as caught:  # process-wide state
        warnings.simplefilter("always", IntegerLabelsWarning)
        tables = read_real_splits(config.data)
        synthetic = read_synthetic(config.data)
    notes = list(dict.fromkeys(str(n.message) for n in caught))
    for note in notes:
        get_run_logger().info("note: %s", note)
    if synthetic is not None:
        tables["synthetic"] = synthetic
    refs = {}
    for name, table in tables.items():
        digest = table_digest(table)
        key = cache_key(stage="data", config={}, inputs={name: digest})
        folder = stage_dir(config.tracking.output_dir, "data", key)
        refs[name] = write_table(table, folder / f"{name}.parquet", digest=digest)
    unchanged = identity is not None and input_identity(config.data) == identity
    if unchanged and settled(identity, checked):  # [name, ref] pairs: the order is kept
        stored = [[name, {**ref.as_dict(), **stored_identity(ref)}] for name, ref in refs.items()]
        record_at.mkdir(parents=True, exist_ok=True)
        write_manifest(record_at, {"files": identity, "refs": stored, "notes": notes})
    return refs


def inputs_key(data: DataConfig) -> str:
    return cache_key(stage=INPUTS, config=data.model_dump(mode="json"), inputs={})


def input_identity(data: DataConfig) -> list[list] | None:
    """``[path, device, inode, size, mtime_ns, ctime_ns]`` of each file the data config
    reads; None when it reads no plain files (a Hugging Face dataset) or one is missing."""
    try:
        files = input_files(data)
        if files is None:
            return None
        return [file_identity(path) for path in files]
    except OSError:  # the readers name what is missing
        return None


def file_identity(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def settled(identity: list[list], checked: int) -> bool:
    """Whether every file was last changed well before ``checked`` (ns), its stat time."""
    return all(checked - max(mtime, ctime) > SETTLED_NS for *_, mtime, ctime in identity)


def stored_identity(ref: Ref) -> dict[str, int]:
    stat = Path(ref.path).stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def stored_intact(refs: list[list], home: Path) -> bool:
    """Whether each stored table is still the file written (same size and mtime) in this
    output folder (not in the one a copied folder's record names)."""
    try:
        return all(
            Path(r["path"]).is_relative_to(home)
            and stored_identity(Ref(r["path"], r["sha256"]))
            == {k: r[k] for k in ("size", "mtime_ns")}
            for _, r in refs
        )
    except OSError:
        return False


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
