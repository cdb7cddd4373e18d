"""The process-wide warning state: one lock around it, and the readers' notes in it.

``warnings.catch_warnings`` saves the filters and the display hook on entry and restores
them on exit, for the whole process. Two threads inside it at once (ablation cells, each
reading its tables and collecting their notes) undo each other: a note then leaks to
stderr as a raw warning, or every later warning goes to a stale list. Every stage task
that enters it takes this lock first (a library's own ``catch_warnings`` cannot, so
filters meant to last are set once for the process instead, as ``tasks.tracking`` does).
What it caught is split by ``data_notes``: notes about the user's data, and other
warnings shown again.
"""

from __future__ import annotations

import threading
import warnings

from synprompt_core.data.errors import DataNote

WARNINGS = threading.Lock()


def data_notes(caught: list[warnings.WarningMessage]) -> list[str]:
    """The readers' notes (``DataNote``) among warnings ``caught`` by ``catch_warnings``,
    each once, in order; any other warning is shown again, as it would have been."""
    notes = []
    for item in caught:
        if issubclass(item.category, DataNote):
            notes.append(str(item.message))
        else:  # a library's own warning: not a note about the user's data
            warnings.showwarning(item.message, item.category, item.filename, item.lineno)
    return list(dict.fromkeys(notes))
