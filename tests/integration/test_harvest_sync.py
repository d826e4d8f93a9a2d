"""The coordinator against the Harvest sandbox: request counts, edits, moves, deletions, faults."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from syncd.coordinator import AUTH_RETRY

from .conftest import Rig


async def backfill(rig: Rig) -> None:
    """The first pass, then a minute on: inside the demo's 2-minute reconcile interval."""
    await rig.coordinator.sync_all(reconcile=True)
    rig.clock.advance(minutes=1)


def balance(rig: Rig, client: str) -> dict:  # type: ignore[type-arg]
    token = rig.store.token_for(client, now=rig.clock())
    return json.loads(rig.sink.read(token, "balance.json") or b"{}")


async def test_an_idle_incremental_poll_costs_exactly_one_request(rig: Rig) -> None:
    await backfill(rig)
    before = rig.requests()
    outcome = await rig.coordinator.sync_account("harvest", reconcile=False)
    assert outcome.ok
    assert rig.requests() - before == 1


@pytest.mark.parametrize("changed", [1, 1999, 2000, 2001, 4500])
async def test_a_poll_with_n_changed_entries_costs_ceil_n_over_2000_requests(rig: Rig, changed: int) -> None:
    await backfill(rig)
    # The lookback re-reads what the cursor's last minutes hold (measured by an idle poll);
    # the listing returns those and the N changes, and the cost is that listing's lower bound.
    assert (await rig.coordinator.sync_account("harvest", reconcile=False)).ok
    reread = rig.store.runs("harvest")[0].fetched
    for i in range(changed):
        rig.sandbox.add_entry(client_id=5001 + i % 4, hours=0.25, notes=f"Change {i}",
                              spent_date=rig.clock.now.date())
    rig.clock.advance(minutes=1)
    before = rig.requests()
    outcome = await rig.coordinator.sync_account("harvest", reconcile=False)
    assert outcome.ok
    assert rig.requests() - before == math.ceil((changed + reread) / 2000)
    assert rig.store.count_entries("harvest") >= changed


async def test_request_count_does_not_grow_with_the_number_of_clients(rig: Rig) -> None:
    await backfill(rig)
    before = rig.requests()
    for client in sorted(rig.config.clients):
        await rig.coordinator.refresh_client(client, max_age=30)
    assert rig.requests() - before == 1


async def test_cursor_never_passes_the_sync_start_and_moves_only_forward(rig: Rig) -> None:
    await backfill(rig)
    start = rig.clock.now
    rig.sandbox.add_entry(client_id=5001, hours=1, spent_date=start.date())
    await rig.coordinator.sync_account("harvest", reconcile=False)
    cursor = rig.store.cursor("harvest")
    assert cursor is not None and cursor <= start


async def test_edits_moves_and_deletions_upstream_show_up_after_the_next_pass(rig: Rig) -> None:
    today = rig.clock.now.date()
    edited = rig.sandbox.add_entry(client_id=5003, hours=1.0, notes="Replaced the edge router", spent_date=today,
                                   started_time="10:00am")
    moved = rig.sandbox.add_entry(client_id=5003, hours=2.0, notes="Rebuilt the print server", spent_date=today,
                                  started_time="11:00am")
    gone = rig.sandbox.add_entry(client_id=5003, hours=3.0, notes="Audited the door access list", spent_date=today,
                                 started_time="1:00pm")
    await backfill(rig)
    cobalt = balance(rig, "cobalt-logistics")
    descriptions = {line["description"]: line for line in cobalt["lines"]}
    assert {"Replaced the edge router", "Rebuilt the print server", "Audited the door access list"} <= set(descriptions)
    used_before = cobalt["totals"]["used"]

    rig.sandbox.edit_entry(edited["id"], hours=1.5)
    rig.sandbox.edit_entry(moved["id"], client_id=5004)
    rig.sandbox.delete_entry(gone["id"])
    rig.clock.advance(minutes=5)
    await rig.coordinator.sync_all(reconcile=True)

    cobalt = balance(rig, "cobalt-logistics")
    lines = {line["description"]: line for line in cobalt["lines"]}
    assert lines["Replaced the edge router"]["hours_charged"] == "1.50"
    assert "Rebuilt the print server" not in lines
    assert "Audited the door access list" not in lines
    from decimal import Decimal

    assert Decimal(cobalt["totals"]["used"]) == Decimal(used_before) + Decimal("0.50") - 2 - 3
    delta = {line["description"] for line in balance(rig, "delta-veterinary")["lines"]}
    assert "Rebuilt the print server" in delta


async def test_a_vendor_answering_an_empty_window_does_not_wipe_the_ledger(rig: Rig) -> None:
    await backfill(rig)
    held = rig.store.count_entries("harvest")
    for entry_id in list(rig.sandbox.entries):
        rig.sandbox.delete_entry(entry_id)
    with capture_logs() as logs:
        await rig.coordinator.sync_account("harvest", reconcile=True)
    assert rig.store.count_entries("harvest") == held
    assert [e["event"] for e in logs].count("reconcile_refused") == 1


async def test_a_429_with_retry_after_is_waited_out_and_the_sync_succeeds(rig: Rig) -> None:
    await backfill(rig)
    rig.sandbox.throttle_next(1, retry_after=3)
    before = rig.requests()
    outcome = await rig.coordinator.sync_account("harvest", reconcile=False)
    assert outcome.ok
    assert 3.0 in rig.sleeps.calls
    assert rig.requests() - before == 2
    assert rig.sandbox.counters["429"] >= 1


async def test_a_401_keeps_the_last_good_page_marks_it_stale_logs_once_and_stops_polling(rig: Rig) -> None:
    await backfill(rig)
    good = balance(rig, "acme-dental")
    assert good["stale"] is False
    rig.sandbox.fail_auth(True)
    with capture_logs() as logs:
        for _ in range(3):
            rig.clock.advance(minutes=1)
            await rig.coordinator.refresh_client("acme-dental")
    failures = [e for e in logs if e["event"] == "source_failed"]
    assert len(failures) == 1 and failures[0]["error_kind"] == "auth"
    assert rig.sandbox.counters["401"] == 1  # polling stopped after the first refusal

    page = balance(rig, "acme-dental")
    assert page["stale"] is True
    assert page["sources"][0]["failing"] is True
    assert page["lines"] == good["lines"] and page["totals"] == good["totals"]
    other = balance(rig, "cobalt-logistics")  # every client of the account says so at once
    assert other["stale"] is True

    rig.sandbox.fail_auth(False)
    rig.clock.advance(seconds=AUTH_RETRY.total_seconds() + 1)
    with capture_logs() as logs:
        await rig.coordinator.refresh_client("acme-dental")
        await rig.coordinator.refresh_client("acme-dental", max_age=0)
    assert [e["event"] for e in logs].count("source_recovered") == 1
    assert balance(rig, "acme-dental")["stale"] is False


async def test_concurrent_refreshes_of_one_account_share_one_fetch(rig: Rig) -> None:
    import asyncio

    await backfill(rig)
    before = rig.requests()
    await asyncio.gather(*(rig.coordinator.refresh_client(c, max_age=0) for c in rig.config.clients))
    assert rig.requests() - before == 1


async def test_every_client_page_adds_up(rig: Rig) -> None:
    from decimal import Decimal

    await backfill(rig)
    for client in rig.config.clients:
        doc = balance(rig, client)
        for pool in doc["pools"]:
            available, used = Decimal(pool["available"]), Decimal(pool["used"])
            assert Decimal(pool["remaining"]) == max(Decimal(0), available - used)
            assert Decimal(pool["over"]) == max(Decimal(0), used - available)
            pool_lines = [Decimal(line["hours_charged"]) for line in doc["lines"] if line["pool"] == pool["name"]]
            assert sum(pool_lines, Decimal(0)) == used


async def test_no_technician_name_or_internal_note_reaches_any_published_byte(rig: Rig) -> None:
    names = [u["first_name"] + " " + u["last_name"] for u in rig.sandbox.users.values()]
    internal = []
    today = rig.clock.now.date()
    for i, name in enumerate(names):
        first, last = name.split()
        rig.sandbox.add_entry(client_id=5001 + i % 4, user_id=9001 + i, spent_date=today, hours=0.5,
                              started_time="9:00am",
                              notes=f"Called the office with {name}; {first}'s fix held, {last} checked it\n"
                                    f"Internal: secret-marker-{i} the admin password is on a sticky note")
        internal.append(f"secret-marker-{i}")
    notes = [e["notes"] or "" for e in rig.sandbox.entries.values()]
    assert any("Internal:" in n for n in notes)
    assert any(n.split()[0] in note for n in names for note in notes)  # the seed really has names in notes
    await backfill(rig)
    published = rig.published_bytes()
    assert len(published) == 3 * len(rig.config.clients)
    forbidden = {part.lower() for name in names for part in (name, *name.split())} | set(internal) | {"sticky note"}
    for path, content in published.items():
        text = content.decode("utf-8-sig").lower()
        leaked = sorted(word for word in forbidden if word in text)
        assert not leaked, f"{path} holds {leaked}"


async def test_a_cadence_group_refresh_polls_each_account_once_and_republishes_everyone(rig: Rig) -> None:
    await backfill(rig)
    before = rig.requests()
    published = await rig.coordinator.refresh_clients(sorted(rig.config.clients), max_age=0)
    assert rig.requests() - before == 1
    assert sorted(p.client_key for p in published) == sorted(rig.config.clients)


async def test_a_long_rate_limit_hint_defers_every_sync_including_the_reconcile(rig: Rig) -> None:
    await backfill(rig)
    rig.sandbox.throttle_next(1, retry_after=600)
    outcome = await rig.coordinator.sync_account("harvest", reconcile=False)
    assert outcome.error is not None and outcome.error.kind == "rate_limited"
    before = rig.requests()
    rig.clock.advance(seconds=300)
    assert (await rig.coordinator.sync_account("harvest", reconcile=True)).skipped
    assert rig.requests() == before
    rig.clock.advance(seconds=301)
    assert (await rig.coordinator.sync_account("harvest", reconcile=True)).ok
