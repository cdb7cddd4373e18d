"""Flow-run heartbeats from flows/heartbeats.py: installed by the pipeline modules, still
sent (the crash automation lives on them), stopped with the flow run. How much sooner a run
ends than with Prefect's own loop is measured by benchmarks/orchestration_overhead.py."""

from __future__ import annotations

import threading
import time

from prefect import flow, get_client
from prefect.context import FlowRunContext
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

from flows import heartbeats

HEARTBEAT = "prefect.flow-run.heartbeat"


def heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "flow-heartbeat" and t.is_alive()]


def test_the_pipeline_modules_install_the_heartbeat_replacement():
    """Importing the flows puts it in place (fails if a Prefect upgrade drops the hooks)."""
    from prefect import flow_engine

    import flows.pipeline  # noqa: F401 - the import installs it

    assert flow_engine._send_heartbeats is heartbeats.send_heartbeats
    assert heartbeats.install() is True  # and installing again changes nothing


def test_a_flow_run_beats_from_the_replacement_which_stops_with_it(prefect_server):
    assert heartbeats.install()
    during: list[threading.Thread] = []

    @flow(name="beating")
    def beating() -> str:
        during.extend(heartbeat_threads())
        return str(FlowRunContext.get().flow_run.id)

    run_id = beating()
    assert len(during) == 1  # a heartbeat thread ran while the flow did
    assert not during[0].is_alive() and heartbeat_threads() == []

    wanted = EventFilter(
        event=EventNameFilter(name=[HEARTBEAT]),
        resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}"]),
    )
    deadline, found = time.monotonic() + 30, []
    with get_client(sync_client=True) as client:
        while not found and time.monotonic() < deadline:  # events are stored asynchronously
            found = client.read_events(filter=wanted, limit=10).events
            time.sleep(0.5)
    assert found, "the flow run's heartbeat never reached the server"
