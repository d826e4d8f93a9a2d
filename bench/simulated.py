"""Simulated time for in-process benchmarks: one clock for the sandbox, the coordinator and the connectors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from connectors.registry import open_connector


class SimClock:
    """A wall clock the benchmark moves; the funnel's waits move it too."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        """The same clock as seconds, for budgets and lookup ages."""
        return self.now.timestamp()

    def today(self) -> date:
        return self.now.date()

    async def sleep(self, seconds: float) -> None:
        """A wait the funnel asks for (its budget, a vendor's hint) passes in simulated time."""
        self.now += timedelta(seconds=seconds)


def simulated_connectors(clock: SimClock, transport: httpx.AsyncBaseTransport) -> Callable[..., Any]:
    """A connector factory on ``transport`` in simulated time: the funnel's budget, the
    connectors' own hourly lookups and threshold readings, and OAuth token lifetimes all
    follow ``clock``."""

    def open_(name: str, settings: Any, routes: Any, **kwargs: Any) -> Any:
        connector = open_connector(name, settings, routes, transport=transport, sleep=clock.sleep,
                                   monotonic=clock.seconds, **kwargs)
        if hasattr(connector, "monotonic"):
            connector.monotonic = clock.seconds
        if hasattr(connector, "today"):
            connector.today = clock.today
        auth = connector.http.client.auth
        if hasattr(auth, "clock"):
            auth.clock = clock.seconds
        return connector

    return open_
