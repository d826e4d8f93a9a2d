"""The registry of vendor connectors, and the factory that opens one for an account."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from connectors.base import ClientRoute, Connector
from connectors.http import Funnel, RequestBudget, Sleep

# vendor name (as written in `vendor:`) → "module:Class"; imported on first use so one
# vendor's import cost or failure never touches the others.
CONNECTORS: dict[str, str] = {
    "harvest": "connectors.harvest.client:HarvestConnector",
    "connectwise": "connectors.connectwise.client:ConnectWiseConnector",
    "autotask": "connectors.autotask.client:AutotaskConnector",
    "halopsa": "connectors.halopsa.client:HaloConnector",
    "toggl": "connectors.toggl.client:TogglConnector",
    "csvdrop": "connectors.csvdrop.client:CsvDropConnector",
}


def vendors() -> set[str]:
    """Vendor names an account's ``vendor:`` may take."""
    return set(CONNECTORS)


def connector_class(vendor: str) -> type[Connector]:
    """The connector class for ``vendor``; KeyError when unknown."""
    module, _, name = CONNECTORS[vendor].partition(":")
    cls: type[Connector] = getattr(importlib.import_module(module), name)
    return cls


def open_connector(
    name: str,
    settings: Any,
    routes: Sequence[ClientRoute],
    *,
    default_timezone: str = "UTC",
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Connector:
    """A connector for account ``name`` with its own funnel (budget, retries, error mapping).

    ``sleep`` and ``monotonic`` go together: a test that fakes one must fake the other, or
    the budget would wait on a clock that its sleep does not move.
    """
    cls = connector_class(settings.vendor)
    budget = cls.budget_for(settings)
    http = Funnel(
        vendor=cls.display_name,
        base_url=settings.base_url or cls.default_base_url,
        budget=RequestBudget(budget.requests, budget.per_seconds, clock=monotonic, sleep=sleep),
        max_concurrency=budget.max_concurrency,
        transport=transport,
        sleep=sleep,
        monotonic=monotonic,
        **cls.http_options(settings),
    )
    return cls(name, settings, routes, http, default_timezone=default_timezone)
