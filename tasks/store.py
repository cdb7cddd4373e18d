"""Content-addressed stage outputs on disk.

A stage writes into ``<output_dir>/stages/<stage>/<key>/`` and, last of all, a
``manifest.json``. Only a folder with a manifest counts as finished, so a run killed
half-way never leaves something that a later run would pick up as a result.

Runs that share a stage (concurrent pipelines, ablation cells) compute it once: the one
that finds no manifest takes the folder's lock (``claim_stage``), the others wait on it and
then reuse what it finished. Lock order: the stage lock is taken first and a device slot
inside it, never the other way round, so a run never holds a device while it waits.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from synprompt_core.data import table_digest
from synprompt_core.references import Ref, file_digest, folder_digest, json_digest

if TYPE_CHECKING:
    from synprompt_core.configs.pipeline import PipelineConfig

MANIFEST = "manifest.json"
LOCK = ".lock"


def stage_path(output_dir: str, stage: str, key: str) -> Path:
    """Where a stage's result lives (not created)."""
    return Path(output_dir) / "stages" / stage / key


def stage_dir(output_dir: str, stage: str, key: str) -> Path:
    path = stage_path(output_dir, stage, key)
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The finished stage's manifest, or None if the stage never completed here."""
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


@contextmanager
def stage_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's exclusive lock, waiting while another thread or process holds it.

    ``flock`` locks belong to an open file description, so each acquisition opens the lock
    file anew: two threads of one process then exclude each other as two processes do. The
    kernel drops the lock when its holder dies, so a killed run never leaves it held.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def claim_stage(folder: Path) -> Iterator[dict[str, Any] | None]:
    """The stage's manifest if it is finished; else None while holding its lock.

    The caller computes only on None, writing the manifest last before leaving the block.
    The manifest is read again under the lock: another run may have finished meanwhile.
    """
    manifest = read_manifest(folder)
    if manifest is not None:
        yield manifest
        return
    with stage_lock(folder):
        yield read_manifest(folder)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Atomically mark the stage finished."""
    tmp = folder / f".{MANIFEST}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, folder / MANIFEST)


def write_table(frame: pd.DataFrame, path: Path, *, digest: str | None = None) -> Ref:
    """Write an example table as parquet and return its reference.

    ``digest`` is the table's content digest when known; else the written file's sha256.
    An existing file is kept only if it holds rows of that same digest; otherwise it is
    replaced whole (a reader sees the old or the new file), so the reference always
    describes the file it points to, even over the leftover of a run killed half-way.
    """
    if digest is not None and path.is_file() and table_digest(pd.read_parquet(path)) == digest:
        return Ref(path=str(path.resolve()), sha256=digest)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    frame.to_parquet(tmp, index=False)
    sha256 = digest or file_digest(tmp)
    os.replace(tmp, path)
    return Ref(path=str(path.resolve()), sha256=sha256)


def read_table(ref: Ref | dict[str, str]) -> pd.DataFrame:
    path = ref.path if isinstance(ref, Ref) else ref["path"]
    return pd.read_parquet(path)


def as_ref(value: Ref | dict[str, str]) -> Ref:
    return value if isinstance(value, Ref) else Ref(**value)


def model_identity(model: str, output_dir: str) -> str:
    """What a cache key holds for a model: a hub id or alias as written; a local folder by
    the digest of its files, so the same files anywhere (any path to them) give one key and
    files changed in place give another.

    The digest is kept under ``<output_dir>/model-digests/``, found again by the files'
    names, sizes, modification times and inodes, so a re-run hashes no weights.
    """
    folder = Path(model).expanduser()
    if not folder.is_dir():
        return model
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    stats = [(p.relative_to(folder).as_posix(), p.stat()) for p in files]
    signature = json_digest(
        [str(folder.resolve())]
        + [[name, st.st_size, st.st_mtime_ns, st.st_ino] for name, st in stats]
    )
    memo = Path(output_dir) / "model-digests" / f"{signature}.txt"
    if memo.is_file():
        return memo.read_text()
    identity = f"folder-sha256:{folder_digest(folder)}"
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_name(f".{memo.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(identity)
    os.replace(tmp, memo)
    return identity


def keyed_models(config: PipelineConfig) -> PipelineConfig:
    """``config`` with every model it names given as ``model_identity``: what cache keys
    are built from (a local folder by its content, never by the path written)."""
    out = config.tracking.output_dir
    backbone = config.backbone.model_copy(
        update={"model": model_identity(config.backbone.model, out)}
    )
    updates: dict[str, Any] = {"backbone": backbone}
    if config.generator is not None:
        updates["generator"] = config.generator.model_copy(
            update={"model": model_identity(config.generator.model, out)}
        )
    if config.alignment is not None:
        align = config.alignment
        embedding = align.embedding.model_copy(
            update={"encoder": model_identity(align.embedding.encoder, out)}
        )
        generation = align.generation
        if generation.backend == "hf":  # an endpoint's model is a served name, not a folder
            generation = generation.model_copy(
                update={"model": model_identity(generation.model, out)}
            )
        updates["alignment"] = align.model_copy(
            update={"embedding": embedding, "generation": generation}
        )
    return config.model_copy(update=updates)
