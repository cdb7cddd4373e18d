"""What produced a run, as MLflow tags: the project's git commit and the library versions.

A result compared months later, or on another machine, needs more than the config: the
code (``mlflow.source.git.commit``, the tag the MLflow UI shows as the run's source
version, plus whether tracked files had uncommitted changes) and the versions of the
libraries that computed it. Both are read once per process.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
LIBRARIES = ("synprompt", "torch", "transformers", "datasets", "prefect", "mlflow", "numpy")


@functools.cache
def environment_tags() -> dict[str, str]:
    """``synprompt.version.<library>`` for each installed library of ``LIBRARIES``,
    ``synprompt.version.python``, and, in a git checkout, ``mlflow.source.git.commit`` and
    ``synprompt.git_dirty`` ("true" when tracked files differ from that commit)."""
    tags = {"synprompt.version.python": platform.python_version()}
    for library in LIBRARIES:
        try:
            tags[f"synprompt.version.{library}"] = metadata.version(library)
        except metadata.PackageNotFoundError:
            pass
    commit = _git("rev-parse", "HEAD")
    if commit:
        tags["mlflow.source.git.commit"] = commit
        changes = _git("status", "--porcelain", "--untracked-files=no")
        if changes is not None:
            tags["synprompt.git_dirty"] = str(bool(changes)).lower()
    return tags


def _git(*args: str) -> str | None:
    """``git -C PROJECT ARGS`` stripped, or None where there is no git or no checkout."""
    if not (PROJECT / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(PROJECT), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()
