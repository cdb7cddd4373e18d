"""Cache keys change with the code that decides a stage's result, and only with that."""

from __future__ import annotations

import pytest

from synprompt_core import references


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "synprompt_core").mkdir()
    (tmp_path / "tasks").mkdir()
    (tmp_path / "flows").mkdir()
    (tmp_path / "synprompt_core" / "core.py").write_text("A = 1\n")
    (tmp_path / "tasks" / "stage.py").write_text("B = 1\n")
    (tmp_path / "flows" / "flow.py").write_text("C = 1\n")
    monkeypatch.setattr(references, "CORE_ROOT", tmp_path / "synprompt_core")
    references.code_version.cache_clear()
    yield tmp_path
    references.code_version.cache_clear()


def version_after(path, text) -> str:
    path.write_text(text)
    references.code_version.cache_clear()
    return references.code_version()


def test_code_version_follows_the_core_and_the_stage_tasks(project):
    first = references.code_version()
    assert version_after(project / "flows" / "flow.py", "C = 2\n") == first  # orchestration
    after_task = version_after(project / "tasks" / "stage.py", "B = 2\n")
    assert after_task != first
    assert version_after(project / "synprompt_core" / "core.py", "A = 2\n") != after_task
