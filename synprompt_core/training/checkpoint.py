"""Resumable training checkpoints: written atomically, loaded with ``weights_only``."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) so a crash never leaves a
    half-written file under the final name: write to a temp file, fsync, then rename.

    The temp name is unique per call, so two writers of one directory never share it."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / CHECKPOINT_NAME
    tmp = directory / f".{CHECKPOINT_NAME}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    return final


def load_checkpoint(directory: Path | None, *, fingerprint: str) -> dict[str, Any] | None:
    """The last checkpoint in ``directory`` if it was written for the same ``fingerprint``."""
    if directory is None:
        return None
    path = directory / CHECKPOINT_NAME
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("fingerprint") != fingerprint:
        return None
    return state
