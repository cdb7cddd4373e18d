"""The one lock around the process-wide warning state.

``warnings.catch_warnings`` saves the filters and the display hook on entry and restores
them on exit, for the whole process. Two threads inside it at once (ablation cells: one
reading its tables and collecting their notes, another logging its datasets) undo each
other: a note then leaks to stderr as a raw warning, or every later warning goes to a
stale list. Every stage task that enters it takes this lock first.
"""

from __future__ import annotations

import threading

WARNINGS = threading.Lock()
