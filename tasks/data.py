"""Load and validate the real splits and the imported synthetic set; join synthetic sets."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from synprompt_core.configs.backbone import MASK_SLOT_KINDS, BackboneConfig
from synprompt_core.configs.data import DataConfig
from synprompt_core.configs.pipeline import PipelineConfig
from synprompt_core.data import CONTRACT_COLUMNS, table_digest
from synprompt_core.data.splits import input_files
from synprompt_core.references import Ref, cache_key
from tasks.preflight import check_input_texts, read_inputs
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


@task(name="load-data", cache_policy=NO_CACHE)
def load_data(config: PipelineConfig) -> dict[str, Ref]:
    """Validate every input table and store it as parquet under its content digest.

    How integer labels and columns were read (a ``DataNote``) goes to the run's log, once.
    Every row of each file, drawn or not, is checked for the literal the backbone writes
    in its mask slot (``check_input_texts``, as ``synprompt validate`` does): a run started
    from a deployment, which skips the CLI, fails with the same ``DataError`` before any
    MLflow run opens. Input files unchanged since an earlier run into the same output
    folder (same data config, code and checked backbone, and each file the same by path,
    inode, size, mtime and ctime) give that run's stored tables again without being read,
    validated, checked and digested anew.
    """
    checked = time.time_ns()
    identity = input_identity(config.data)
    record_key = inputs_key(config.data, config.backbone)
    record_at = stage_path(config.tracking.output_dir, INPUTS, record_key)
    known = read_manifest(record_at) if identity is not None else None
    tables_at = Path(config.tracking.output_dir) / "stages" / "data"
    if known is not None and known["files"] == identity:
        stored = stored_refs(known["refs"], tables_at)
        if stored is not None:
            for note in known["notes"]:
                get_run_logger().info("note: %s", note)
            return stored
    read, tables, notes = read_inputs(config.data)
    for note in notes:
        get_run_logger().info("note: %s", note)
    check_input_texts(config, read)  # file rows, before the draw: an error names the file's row
    refs, where = {}, {}
    for name, table in tables.items():
        digest = table_digest(table)
        key = cache_key(stage="data", config={}, inputs={name: digest})
        folder = stage_dir(config.tracking.output_dir, "data", key)
        refs[name] = write_table(table, folder / f"{name}.parquet", digest=digest)
        where[name] = f"{key}/{name}.parquet"  # relative: a moved or linked folder still hits
    unchanged = identity is not None and input_identity(config.data) == identity
    if unchanged and settled(identity, checked):  # [name, ref] pairs: the order is kept
        stored = [
            [name, {"rel": where[name], "sha256": ref.sha256, **stored_identity(Path(ref.path))}]
            for name, ref in refs.items()
        ]
        record_at.mkdir(parents=True, exist_ok=True)
        write_manifest(record_at, {"files": identity, "refs": stored, "notes": notes})
    return refs


def inputs_key(data: DataConfig, backbone: BackboneConfig) -> str:
    """The record's key: the data config, the code version, the versions of the libraries
    that parse and sample the files (an upgrade reads them again) and, for a backbone kind
    that writes a mask slot, what its texts were checked against (kind and tokenizer): a
    record of a run on another backbone is never taken for a check that did not run."""
    import numpy
    import pyarrow

    libraries = {
        "pandas": pd.__version__,
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
    }
    config = {"data": data.model_dump(mode="json"), "libraries": libraries}
    if backbone.kind in MASK_SLOT_KINDS:  # other kinds check nothing: one record for all
        config["texts_checked_for"] = backbone.model_dump(
            mode="json", include={"kind", "model", "trust_remote_code"}
        )
    return cache_key(stage=INPUTS, config=config, inputs={})


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
    """Opened, then stat-ed: on NFS an open revalidates the attributes a bare stat may
    answer from a cache up to a minute old."""
    with open(path, "rb") as handle:
        st = os.fstat(handle.fileno())
    return [str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def settled(identity: list[list], checked: int) -> bool:
    """Whether every file was last changed well before ``checked`` (ns), its stat time."""
    return all(checked - max(mtime, ctime) > SETTLED_NS for *_, mtime, ctime in identity)


def stored_identity(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def stored_refs(refs: list[list], tables_at: Path) -> dict[str, Ref] | None:
    """The recorded tables, found under this output folder's ``stages/data`` (a copied
    folder uses its own copies), or None unless each is still the file written (same size
    and mtime)."""
    found = {}
    try:
        for name, r in refs:
            path = tables_at / r["rel"]
            if stored_identity(path) != {k: r[k] for k in ("size", "mtime_ns")}:
                return None
            found[name] = Ref(path=str(path.resolve()), sha256=r["sha256"])
    except (OSError, KeyError):  # gone, or a record of another layout
        return None
    return found


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
