"""Publishing one client from two syncs at once: the page written last is built from the newest data."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from datetime import timedelta

from .test_coordinator_cursor import Harvest, harvest  # noqa: F401 - the fixture, shared

CLIENT = "acme-dental"


async def test_a_publish_that_starts_while_an_older_one_writes_waits_and_is_written_last(harvest: Harvest) -> None:
    harvest.sandbox.seed(now=harvest.clock.now - timedelta(hours=1), days=2)
    await harvest.poll()
    await harvest.coordinator.publish_client(CLIENT)
    sink, write = harvest.coordinator.sink, harvest.coordinator.sink.write
    writing, release = threading.Event(), threading.Event()

    def held_write(token: str, files: Mapping[str, bytes]) -> bool:
        if not writing.is_set():  # the older publish: held on its way to the disk
            writing.set()
            release.wait(timeout=10)
        return write(token, files)

    sink.write = held_write  # type: ignore[method-assign]
    older = asyncio.create_task(harvest.coordinator.publish_client(CLIENT))
    assert await asyncio.to_thread(writing.wait, 10)
    harvest.clock.advance(minutes=5)
    harvest.sandbox.add_entry(client_id=5001, hours=1.25, notes="Replaced the reception printer")
    await harvest.poll()
    newer = asyncio.create_task(harvest.coordinator.publish_client(CLIENT))
    # Unqueued, the newer publish would be done well within this second, and the older one,
    # let go afterwards, would put its out-of-date page back over it.
    await asyncio.wait({newer}, timeout=1)
    release.set()
    first, second = await asyncio.gather(older, newer)
    assert all("Replaced the reception printer" not in line.description for line in first.statement.lines)
    token = second.token
    assert token is not None and token == first.token
    assert b"Replaced the reception printer" in (sink.read(token, "balance.json") or b"")
