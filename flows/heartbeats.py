"""Flow-run heartbeats that stop the moment their flow run ends.

Prefect 3.8 sends a heartbeat event from a thread every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``
seconds (180 by default; the crash automation of ``synprompt deploy`` acts on them). The
thread sleeps in one-second slices, and every synchronous flow run joins it on exit, so
each flow run ends half a second late on average: a second per pipeline run with one
stage, more with every stage subflow. :func:`install` swaps in the same loop with an
event wait in place of the sleep, so the join returns at once. Heartbeats themselves are
unchanged: same event, same interval, sent from the same kind of thread.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager

ENGINE_HOOKS = ("heartbeat_seconds", "_build_heartbeat_event_template", "_emit_flow_run_heartbeat")


@contextmanager
def send_heartbeats(engine, join_on_exit: bool = True) -> Iterator[None]:
    """Emit ``prefect.flow-run.heartbeat`` for ``engine``'s flow run until the block ends."""
    seconds = engine.heartbeat_seconds  # None: heartbeats switched off
    if seconds is None:
        yield
        return
    resource, related = engine._build_heartbeat_event_template()
    stopped = threading.Event()

    def beat() -> None:
        while not stopped.is_set():
            state = engine.flow_run.state if engine.flow_run else None
            if state is not None and state.is_final():
                return
            try:
                engine._emit_flow_run_heartbeat(resource, related)
            except Exception:  # a missed beat must never fail the flow run
                engine.logger.debug("Failed to emit heartbeat", exc_info=True)
            stopped.wait(seconds)

    # the thread needs the caller's settings context (its PREFECT_API_URL), as in Prefect
    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(beat,), daemon=True, name="flow-heartbeat"
    )
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        if join_on_exit:
            thread.join(timeout=2)


def install() -> bool:
    """Use :func:`send_heartbeats` for every flow run of this process; idempotent.

    Left alone (returns False) on a Prefect whose engine lacks the hooks this relies on.
    """
    from prefect import flow_engine

    current = getattr(flow_engine, "_send_heartbeats", None)
    if current is send_heartbeats:
        return True
    hooks = all(hasattr(flow_engine.BaseFlowRunEngine, name) for name in ENGINE_HOOKS)
    if current is None or not hooks:
        return False
    flow_engine._send_heartbeats = send_heartbeats
    return True
