"""Content references and cache keys: stages hand each other paths + sha256 digests.

A stage's cache key is its config subset + the code version + its inputs' digests —
never run ids, timestamps, absolute paths, or operational knobs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

CORE_ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Ref:
    """A stage output: where it lives and the sha256 of its content."""

    path: str
    sha256: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256}


def file_digest(path: Path, *, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def folder_digest(path: Path) -> str:
    """sha256 over the relative names and contents of every file under ``path``."""
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(item.relative_to(path).as_posix().encode())
        digest.update(file_digest(item).encode())
    return digest.hexdigest()


def json_digest(value: Any) -> str:
    """sha256 of a canonical JSON rendering (sorted keys, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=1)
def code_version() -> str:
    """Digest of the code that decides stage results: a change invalidates cached results.

    That is this core library and the stage tasks beside it (``tasks/``, where a few result
    shaping steps live: joining tables, the texts embedded, demonstration groups); the
    files are only read, never imported.
    """
    digest = hashlib.sha256()
    project = CORE_ROOT.parent
    for root in (CORE_ROOT, project / "tasks"):
        for source in sorted(root.rglob("*.py")):
            digest.update(source.relative_to(project).as_posix().encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(*, stage: str, config: dict[str, Any], inputs: dict[str, str]) -> str:
    """The key of a stage result: stage name, its config subset, code version, input digests."""
    payload = {"stage": stage, "config": config, "code": code_version(), "inputs": inputs}
    return json_digest(payload)[:24]
