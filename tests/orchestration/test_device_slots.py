"""Device slots against a real Prefect server: held while work runs, skipped without a limit."""

from __future__ import annotations

from prefect import get_client

from tasks.device_slots import device_limit, device_slot, ensure_device_limit, slot_name


def _active(device: str) -> int:
    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(slot_name(device)).active_slots


def test_a_slot_is_held_during_the_work_and_released_after(prefect_server):
    assert ensure_device_limit("cuda:7", 1) == 1
    assert ensure_device_limit("cuda:7", 4) == 1  # an existing size is kept
    with device_slot("cuda:7"):
        assert _active("cuda:7") == 1
    assert _active("cuda:7") == 0


def test_without_a_limit_the_work_runs_and_nothing_is_created(prefect_server):
    with device_slot("cuda:9"):
        pass
    assert device_limit("cuda:9") is None
