"""A process-wide stop request that long loops honour at their next step or batch.

A signal reaches only the main thread. Work that runs in other threads (the cells of an
ablation grid on a thread pool) learns from this request that the process is stopping, and
raises :class:`StopRequested` between two steps, so the context managers it is inside end
what they opened (its MLflow runs FAILED, its locks and device slots released) and nothing
half-written is left behind.
"""

from __future__ import annotations

import threading

_requested = threading.Event()


class StopRequested(KeyboardInterrupt):
    """The process is stopping (a Ctrl-C or SIGTERM taken by its main thread)."""


def request_stop() -> None:
    """Ask every loop of the process to stop at its next check."""
    _requested.set()


def clear_stop() -> None:
    """Forget an earlier request: work started from now on runs."""
    _requested.clear()


def check_stop() -> None:
    """Raise :class:`StopRequested` if a stop was requested; a no-op otherwise."""
    if _requested.is_set():
        raise StopRequested("the process is stopping")
