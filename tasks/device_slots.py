"""Device slots: a Prefect global concurrency limit per device, so a fleet never oversubscribes.

Every process that computes on ``cuda:0`` takes one slot of ``synprompt-device-cuda-0``
for the duration of the compute-bound work; the limit's size is the number of jobs the
device holds at once. A missing limit is created by ``ensure_device_limit``; an existing
one keeps the size an operator gave it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectNotFound

from synprompt_core.stopping import check_stop


def slot_name(device: str) -> str:
    """``cuda:1`` -> ``synprompt-device-cuda-1``."""
    return "synprompt-device-" + re.sub(r"[^a-z0-9-]+", "-", device.lower())


def ensure_device_limit(device: str, slots: int) -> int:
    """Create the device's limit with ``slots`` if it does not exist; return its size."""
    size = device_limit(device)
    if size is not None:
        return size
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=slot_name(device), limit=slots, active=True)
        )
    return slots


def device_limit(device: str) -> int | None:
    """The size of the device's limit, or None if nobody created one."""
    with get_client(sync_client=True) as client:
        try:
            return client.read_global_concurrency_limit_by_name(slot_name(device)).limit
        except ObjectNotFound:
            return None


@contextmanager
def device_slot(device: str) -> Iterator[None]:
    """Hold one slot of the device's limit (waits while the device is full).

    With no limit for the device there is nothing to hold: the work runs at once. (Prefect
    would skip a missing limit too, but only after a lease round trip of about 2 s.)
    """
    if device_limit(device) is None:
        yield
        return
    with concurrency(slot_name(device), occupy=1):
        check_stop()  # a grid cell that waited for the device while the process stopped
        yield
