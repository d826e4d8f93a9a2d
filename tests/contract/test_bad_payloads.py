"""Bad entries in a vendor's listing, through the real coordinator: a poisoned entry fails the
sync whole (nothing of its page published, the last good page kept and marked stale in time,
the failure logged once naming the entry), and an entry listed twice counts once."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date, time
from functools import partial
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.testing import capture_logs

from connectors.registry import open_connector
from syncd.coordinator import STALE_AFTER_INTERVALS, Coordinator
from syncd.errors import PayloadError

from .conftest import ACCOUNT, Contract

# The field of a listed entry that holds its duration, and one that dates it, per vendor.
DURATION = {"connectwise": "actualHours", "autotask": "hoursWorked", "halopsa": "timetaken", "harvest": "hours",
            "toggl": "seconds"}
DATED = {"connectwise": "timeStart", "autotask": "dateWorked", "halopsa": "last_updated",
         "harvest": "spent_date", "toggl": "start"}
FAR_FUTURE = {"harvest": "9999-12-31"}  # a date field; the others are timestamps
Edit = Callable[[list[Any], int], None]


def is_entry(vendor: str, item: Any, vendor_id: str) -> bool:
    """Whether ``item`` is the listed form of the entry syncd stores as ``vendor_id``."""
    if not isinstance(item, dict) or DURATION[vendor] not in item:
        return False
    if vendor == "halopsa":
        return f"{item.get('ticket_id')}:{item.get('id')}" == vendor_id
    return str(item.get("id")) == vendor_id


def edit_listings(data: Any, vendor: str, vendor_id: str, edit: Edit) -> bool:
    """Apply ``edit(list, index)`` wherever a JSON body lists the entry; whether it did."""
    found = False
    if isinstance(data, list):
        for i, item in enumerate(list(data)):
            if is_entry(vendor, item, vendor_id):
                edit(data, i)
                found = True
            else:
                found = edit_listings(item, vendor, vendor_id, edit) or found
    elif isinstance(data, dict):
        for value in data.values():
            found = edit_listings(value, vendor, vendor_id, edit) or found
    return found


class EditedListings:
    """ASGI middleware in front of a sandbox: rewrites one entry wherever a JSON answer lists it."""

    def __init__(self, app: ASGIApp, vendor: str) -> None:
        self.app, self.vendor = app, vendor
        self.edits: dict[str, Edit] = {}
        self.applied = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.edits:
            await self.app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if data is not None and any(edit_listings(data, self.vendor, v, e) for v, e in self.edits.items()):
                self.applied += 1
                body = json.dumps(data).encode()
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)


def poison(field: str, value: Any) -> Edit:
    def edit(items: list[Any], i: int) -> None:
        items[i][field] = value
    return edit


def repeat(items: list[Any], i: int) -> None:
    items.insert(i + 1, copy.deepcopy(items[i]))


def through(contract: Contract) -> tuple[Coordinator, EditedListings]:
    """A coordinator on the contract's store and sink whose requests pass the rewriting middleware."""
    listings = EditedListings(contract.driver.app, contract.vendor)
    factory = partial(open_connector, transport=httpx.ASGITransport(app=listings), sleep=contract.sleeps,
                      monotonic=contract.clock.monotonic)
    coordinator = Coordinator(contract.config, contract.store, contract.sink, clock=contract.clock,
                              connector_factory=factory)
    return coordinator, listings


def descriptions(contract: Contract, client: str = "c0") -> list[str]:
    return [line["description"] for line in contract.balance(client)["lines"]]


def today(contract: Contract) -> date:
    return contract.clock.now.date()


POISONS = {
    "nan-hours": lambda vendor: (DURATION[vendor], float("nan")),
    "negative-hours": lambda vendor: (DURATION[vendor], -1),
    "absurd-hours": lambda vendor: (DURATION[vendor], 1e12),
    "hours-as-text": lambda vendor: (DURATION[vendor], "1,5"),
    "far-future-date": lambda vendor: (DATED[vendor], FAR_FUTURE.get(vendor, "9999-12-31T23:00:00-05:00")),
    "date-missing": lambda vendor: (DATED[vendor], None),
}


# Toggl marks a running timer with a negative duration: not a bad value, the entry is simply
# not counted until it stops.
NOT_POISON = {("toggl", "negative-hours")}


@pytest.mark.needs("http")
@pytest.mark.parametrize("kind", sorted(POISONS))
async def test_a_poisoned_entry_fails_its_sync_whole_and_keeps_the_last_good_page(contract: Contract,
                                                                                  kind: str) -> None:
    coordinator, listings = through(contract)
    try:
        assert (await coordinator.sync_account(ACCOUNT, reconcile=True)).ok
        await coordinator.publish_client("c0")
        good = contract.balance("c0")
        contract.clock.advance(minutes=1)
        day = today(contract)
        contract.driver.add_entry(0, hours=1.0, notes="Rebuilt the print server", day=day, start=time(9))
        poisoned = contract.driver.add_entry(0, hours=1.0, notes="Audited the door access list", day=day,
                                             start=time(10))
        contract.driver.add_entry(0, hours=1.0, notes="Replaced the edge router", day=day, start=time(11))
        field, value = POISONS[kind](contract.vendor)
        listings.edits[poisoned] = poison(field, value)
        if (contract.vendor, kind) in NOT_POISON:
            contract.clock.advance(minutes=16)
            assert (await coordinator.sync_account(ACCOUNT, reconcile=False)).ok
            await coordinator.publish_client("c0")
            assert listings.applied
            shown = descriptions(contract)
            assert "Audited the door access list" not in shown
            assert {"Rebuilt the print server", "Replaced the edge router"} <= set(shown)
            return

        with capture_logs() as logs:
            outcomes = []
            for _ in range(4):  # failing for longer than three refresh intervals (15m each)
                contract.clock.advance(minutes=16)
                outcomes.append(await coordinator.sync_account(ACCOUNT, reconcile=False))
                await coordinator.publish_client("c0")
        assert listings.applied, "the poisoned entry was never listed"
        for outcome in outcomes:
            assert not outcome.ok and isinstance(outcome.error, PayloadError), outcome
            assert poisoned in str(outcome.error) and field in str(outcome.error), outcome.error
        failed = [e for e in logs if e["event"] == "source_failed"]
        assert len(failed) == 1 and poisoned in failed[0]["error"] and field in failed[0]["error"]
        page = contract.balance("c0")
        assert page["lines"] == good["lines"]  # nothing of the poisoned page, before or after it
        assert page["stale"] is True
        assert STALE_AFTER_INTERVALS * 15 < 4 * 16

        del listings.edits[poisoned]  # fixed upstream
        contract.clock.advance(minutes=1)
        assert (await coordinator.sync_account(ACCOUNT, reconcile=False)).ok
        await coordinator.publish_client("c0")
        page = contract.balance("c0")
        assert {"Rebuilt the print server", "Audited the door access list", "Replaced the edge router"} <= set(
            descriptions(contract))
        assert page["stale"] is False
    finally:
        await coordinator.aclose()


@pytest.mark.needs("http")
async def test_an_entry_listed_twice_in_one_answer_counts_once(contract: Contract) -> None:
    coordinator, listings = through(contract)
    try:
        assert (await coordinator.sync_account(ACCOUNT, reconcile=True)).ok
        await coordinator.publish_client("c0")
        used_before = contract.balance("c0")["totals"]["used"]
        contract.clock.advance(minutes=1)
        twice = contract.driver.add_entry(0, hours=1.5, notes="Moved the NAS to its own circuit", day=today(contract),
                                          start=time(9))
        listings.edits[twice] = repeat
        contract.clock.advance(minutes=1)
        assert (await coordinator.sync_account(ACCOUNT, reconcile=True)).ok
        await coordinator.publish_client("c0")
        assert listings.applied
        page = contract.balance("c0")
        assert descriptions(contract).count("Moved the NAS to its own circuit") == 1
        assert float(page["totals"]["used"]) == pytest.approx(float(used_before) + 1.5)
    finally:
        await coordinator.aclose()


NOTES = {"connectwise": "notes", "autotask": "summaryNotes", "halopsa": "note", "harvest": "notes",
         "toggl": "description"}


@pytest.mark.needs("http")
async def test_text_cut_mid_character_or_holding_nul_is_stored_and_published_cleaned(contract: Contract) -> None:
    coordinator, listings = through(contract)
    try:
        assert (await coordinator.sync_account(ACCOUNT, reconcile=True)).ok
        contract.clock.advance(minutes=1)
        cut = contract.driver.add_entry(0, hours=1.0, notes="Swapped the UPS battery", day=today(contract),
                                        start=time(9))
        listings.edits[cut] = poison(NOTES[contract.vendor], "Swapped the UPS\x00 battery \ud83d")
        contract.clock.advance(minutes=1)
        outcome = await coordinator.sync_account(ACCOUNT, reconcile=False)
        assert outcome.ok, outcome.error
        await coordinator.publish_client("c0")
        assert listings.applied
        assert "Swapped the UPS battery ?" in descriptions(contract)
    finally:
        await coordinator.aclose()
