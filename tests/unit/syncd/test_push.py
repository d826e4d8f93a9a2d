"""The push debouncer: one run per burst, and one more for a trigger that lands while a run is under way."""

from __future__ import annotations

import asyncio

from syncd.push import DEBOUNCE_SECONDS, Debouncer


class Waits:
    """Stands in for the debounce's sleep: each wait is held until the test releases it."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.release = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self.release.wait()


async def test_a_burst_of_triggers_inside_the_wait_costs_one_run() -> None:
    runs: list[str] = []

    async def work(key: str) -> None:
        runs.append(key)

    waits = Waits()
    debouncer = Debouncer(work, sleep=waits)
    for _ in range(100):
        debouncer.trigger("cw")
    debouncer.trigger("halo")
    await asyncio.sleep(0)
    assert runs == [] and waits.asked == [DEBOUNCE_SECONDS, DEBOUNCE_SECONDS]
    waits.release.set()
    await debouncer.drain()
    assert sorted(runs) == ["cw", "halo"]


async def test_a_trigger_while_the_run_is_under_way_earns_exactly_one_more_run() -> None:
    runs: list[int] = []
    running, finish = asyncio.Event(), asyncio.Event()

    async def work(_key: str) -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            running.set()
            await finish.wait()

    async def no_wait(_seconds: float) -> None:
        return None

    debouncer = Debouncer(work, sleep=no_wait)
    debouncer.trigger("cw")
    await asyncio.wait_for(running.wait(), timeout=5)
    for _ in range(10):  # the running sync may already have read past these changes
        debouncer.trigger("cw")
    finish.set()
    await debouncer.drain()
    assert runs == [0, 1]

