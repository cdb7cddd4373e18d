"""Content-addressed stage outputs on disk.

A stage writes into ``<output_dir>/stages/<stage>/<key>/`` and, last of all, a
``manifest.json``. Only a folder with a manifest counts as finished, so a run killed
half-way never leaves something that a later run would pick up as a result.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from synprompt_core.references import Ref, file_digest

MANIFEST = "manifest.json"


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


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Atomically mark the stage finished."""
    tmp = folder / f".{MANIFEST}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, folder / MANIFEST)


def write_table(frame: pd.DataFrame, path: Path, *, digest: str | None = None) -> Ref:
    """Write an example table as parquet (once) and return its reference.

    ``digest`` is the table's content digest when known; else the file's sha256.
    """
    if not path.is_file():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    return Ref(path=str(path.resolve()), sha256=digest or file_digest(path))


def read_table(ref: Ref | dict[str, str]) -> pd.DataFrame:
    path = ref.path if isinstance(ref, Ref) else ref["path"]
    return pd.read_parquet(path)


def as_ref(value: Ref | dict[str, str]) -> Ref:
    return value if isinstance(value, Ref) else Ref(**value)
