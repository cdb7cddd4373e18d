"""The core library never imports the orchestrator or the tracker."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PROBE = """
import importlib, pkgutil, sys
import synprompt_core
for info in pkgutil.walk_packages(synprompt_core.__path__, "synprompt_core."):
    importlib.import_module(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("prefect", "mlflow"))
print(",".join(bad))
"""


def imported_packages(path: Path) -> set[str]:
    """Top-level packages ``path`` imports anywhere in its code: at module level, inside a
    function (a lazy import the probe above never executes), or through ``importlib``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args:
            func, first = node.func, node.args[0]
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                found.add(str(first.value).split(".")[0])
    return found


def offenders(folders: tuple[str, ...], packages: set[str], allowed: frozenset[str] = frozenset()):
    return sorted(
        f"{rel}: {', '.join(sorted(hit))}"
        for folder in folders
        for path in (REPO / folder).rglob("*.py")
        if (rel := path.relative_to(REPO).as_posix()) not in allowed
        and (hit := imported_packages(path) & packages)
    )


def test_core_imports_neither_prefect_nor_mlflow():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"synprompt_core pulled in: {out.stdout.strip()}"


def test_no_core_code_imports_prefect_or_mlflow_even_lazily():
    assert offenders(("synprompt_core",), {"prefect", "mlflow"}) == []


def test_only_tracking_module_imports_mlflow():
    allowed = frozenset({"tasks/tracking.py"})
    assert offenders(("tasks", "flows", "synprompt_core"), {"mlflow"}, allowed) == []
    assert "mlflow" in imported_packages(REPO / "tasks" / "tracking.py")  # the scan sees it
