"""The connector contract: every registered connector, against its own sandbox, keeps these promises.

A promise marked ``needs("http")`` binds connectors read over HTTP only, ``needs("files")`` drop
folders only, ``needs("relisting")`` those whose deletions come from re-listing a period
(conftest.CAPABILITIES).
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

import pytest
from structlog.testing import capture_logs

from syncd.coordinator import AUTH_RETRY
from syncd.errors import AuthError, PayloadError

from .conftest import ACCOUNT, Contract


async def first_pass(c: Contract) -> None:
    """Backfill and reconcile once, then a minute on (no reconcile falls due within it)."""
    outcome = await c.coordinator.sync_account(ACCOUNT, reconcile=True)
    assert outcome.ok, outcome.error
    c.clock.advance(minutes=1)


def today(c: Contract) -> date:
    return c.clock.now.date()


async def test_backfill_pages_end_and_every_entry_is_normalized_once(contract: Contract) -> None:
    connector = contract.connector()
    ids: list[str] = []
    try:
        async for page in connector.changes(None, today(contract) - timedelta(days=60)):
            for entry in page:
                assert entry.account == ACCOUNT
                assert entry.updated_at.tzinfo is not None
                assert entry.started_at is None or entry.started_at.tzinfo is not None
                assert isinstance(entry.work_date, date) and not isinstance(entry.work_date, datetime)
                assert entry.duration_seconds >= 0
                assert entry.client_key in {None, *contract.config.clients}
                ids.append(entry.vendor_id)
    finally:
        await connector.aclose()
    assert ids, "the sandbox's seed should give the backfill something to read"
    assert len(ids) == len(set(ids))


@pytest.mark.needs("http")
async def test_an_idle_incremental_poll_costs_the_declared_requests(contract: Contract) -> None:
    await first_pass(contract)
    before = contract.driver.requests()
    assert (await contract.coordinator.sync_account(ACCOUNT, reconcile=False)).ok
    assert contract.driver.requests() - before == contract.driver.idle_poll_requests


@pytest.mark.needs("http")
async def test_n_changed_entries_cost_ceil_n_over_the_page_size_plus_bounded_lookups(contract: Contract) -> None:
    await first_pass(contract)
    page = contract.driver.max_page_size
    n = 2 * page + 1
    clients = len(contract.driver.selectors())
    for i in range(n):
        contract.driver.add_entry(i % clients, hours=0.25, notes=f"Contract change {i}", day=today(contract),
                                  start=time(10, 0))
    contract.clock.advance(minutes=1)
    held = contract.store.count_entries(ACCOUNT)
    before = contract.driver.requests()
    assert (await contract.coordinator.sync_account(ACCOUNT, reconcile=False)).ok
    spent = contract.driver.requests() - before
    floor = math.ceil(n / page)
    assert floor <= spent <= floor + contract.driver.max_lookup_requests
    assert contract.store.count_entries(ACCOUNT) == held + n


async def test_the_cursor_only_moves_forward_and_never_past_the_sync_start(contract: Contract) -> None:
    await first_pass(contract)
    first = contract.store.cursor(ACCOUNT)
    contract.driver.add_entry(0, hours=1, notes="Cursor check", day=today(contract), start=time(9, 0))
    contract.clock.advance(minutes=1)
    started = contract.clock.now
    assert (await contract.coordinator.sync_account(ACCOUNT, reconcile=False)).ok
    second = contract.store.cursor(ACCOUNT)
    assert first is not None and second is not None
    assert first <= second <= started


@pytest.mark.needs("http")
async def test_the_vendors_throttle_answer_is_honoured(contract: Contract) -> None:
    await first_pass(contract)
    contract.driver.throttle_next(1, retry_after=2)
    outcome = await contract.coordinator.sync_account(ACCOUNT, reconcile=False)
    assert outcome.ok, outcome.error
    assert contract.sleeps.calls and max(contract.sleeps.calls) >= 2


@pytest.mark.needs("http")
async def test_a_5xx_is_retried_and_a_malformed_body_keeps_the_last_good_data(contract: Contract) -> None:
    await first_pass(contract)
    contract.driver.fail_next(1, "5xx")
    assert (await contract.coordinator.sync_account(ACCOUNT, reconcile=False)).ok
    page_before = contract.balance("c0")
    contract.driver.fail_next(5, "malformed")
    contract.clock.advance(minutes=1)
    outcome = await contract.coordinator.sync_account(ACCOUNT, reconcile=False)
    assert isinstance(outcome.error, PayloadError)
    assert contract.balance("c0")["lines"] == page_before["lines"]
    contract.driver.fail_next(0, "malformed")


@pytest.mark.needs("http")
async def test_refused_credentials_stop_polling_keep_pages_marked_stale_and_log_once(contract: Contract) -> None:
    await first_pass(contract)
    await contract.coordinator.publish_client("c0")
    good = contract.balance("c0")
    contract.driver.fail_auth(True)
    with capture_logs() as logs:
        outcomes = []
        for _ in range(3):
            contract.clock.advance(minutes=1)
            before = contract.driver.requests()
            await contract.coordinator.refresh_client("c0", max_age=0)
            outcomes.append(contract.driver.requests() - before)
    failed = [e for e in logs if e["event"] == "source_failed"]
    assert len(failed) == 1 and failed[0]["error_kind"] == AuthError.kind
    assert outcomes[0] >= 1 and outcomes[1:] == [0, 0]  # polling stopped
    page = contract.balance("c0")
    assert page["stale"] is True and page["lines"] == good["lines"]

    contract.driver.fail_auth(False)
    contract.clock.advance(seconds=AUTH_RETRY.total_seconds() + 1)
    with capture_logs() as logs:
        await contract.coordinator.refresh_client("c0", max_age=0)
    assert [e["event"] for e in logs].count("source_recovered") == 1
    assert contract.balance("c0")["stale"] is False


async def test_edits_moves_and_deletions_upstream_reach_the_pages(contract: Contract) -> None:
    kept = contract.driver.add_entry(0, hours=1.0, notes="Replaced the edge router", day=today(contract), start=time(10))
    moved = contract.driver.add_entry(0, hours=2.0, notes="Rebuilt the print server", day=today(contract), start=time(11))
    gone = contract.driver.add_entry(0, hours=3.0, notes="Audited the door access list", day=today(contract), start=time(13))
    await first_pass(contract)
    lines = {line["description"] for line in contract.balance("c0")["lines"]}
    assert {"Replaced the edge router", "Rebuilt the print server", "Audited the door access list"} <= lines

    contract.driver.edit_entry(kept, hours=1.5)
    contract.driver.edit_entry(moved, client=1)
    contract.driver.delete_entry(gone)
    contract.clock.advance(minutes=5)
    assert (await contract.coordinator.sync_account(ACCOUNT, reconcile=True)).ok
    c0 = {line["description"]: line for line in contract.balance("c0")["lines"]}
    assert c0["Replaced the edge router"]["hours_charged"] == "1.50"
    assert "Rebuilt the print server" not in c0
    assert "Audited the door access list" not in c0
    assert "Rebuilt the print server" in {line["description"] for line in contract.balance("c1")["lines"]}


@pytest.mark.needs("relisting")
async def test_an_empty_answer_by_mistake_does_not_wipe_the_ledger(contract: Contract) -> None:
    await first_pass(contract)
    held = contract.store.count_entries(ACCOUNT)
    assert held >= 3
    contract.driver.answer_empty(True)
    with capture_logs() as logs:
        await contract.coordinator.sync_account(ACCOUNT, reconcile=True)
    assert contract.store.count_entries(ACCOUNT) == held
    assert [e["event"] for e in logs].count("reconcile_refused") == 1


async def test_no_technician_name_or_internal_note_reaches_a_published_byte(contract: Contract) -> None:
    worker = contract.driver.workers[0]
    first = worker.split()[0]
    contract.driver.add_entry(
        0, hours=1.0, day=today(contract), start=time(10), worker=0,
        notes=f"Restored the shared mailbox with {first} watching",
        internal_notes="Qzx-internal-4471: their backup admin password is Winter2026")
    await first_pass(contract)
    await contract.coordinator.sync_all(reconcile=False)
    published = contract.published_text()
    assert published
    forbidden = {worker.lower(), *(p.lower() for p in worker.split() if len(p) > 2), "qzx-internal-4471", "winter2026"}
    for path, text in published.items():
        leaked = sorted(word for word in forbidden if word in text.lower())
        assert not leaked, f"{path} holds {leaked}"
    assert any("Restored the shared mailbox with" in text for text in published.values())


@pytest.mark.needs("http")
async def test_refreshing_every_client_costs_what_refreshing_one_costs(contract: Contract) -> None:
    await first_pass(contract)
    keys = sorted(contract.config.clients)
    assert len(keys) >= 2
    before = contract.driver.requests()
    await contract.coordinator.refresh_clients(keys[:1], max_age=0)
    one = contract.driver.requests() - before
    contract.clock.advance(seconds=30)
    before = contract.driver.requests()
    await contract.coordinator.refresh_clients(keys, max_age=0)
    assert contract.driver.requests() - before == one == contract.driver.idle_poll_requests
