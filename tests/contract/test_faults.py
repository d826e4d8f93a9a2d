"""Faults, driven through each sandbox's fault kit (connectors/sandbox_faults.py), against the real coordinator.

For every HTTP connector and every fault: refreshes never raise (the daemon stays up); the
watched client's page keeps its last good lines and totals, and says stale once the fault has
lasted three refresh intervals (refused credentials: at once); the failure is logged once and
the recovery once; the cursor never moves while a read fails; and once the fault clears, the
ledger equals what a fault-free read of the same upstream data builds (no hour lost or doubled).

Faults a bounded in-request retry absorbs (a short burst of 5xx, timeouts or resets, a rate
limit whose wait the funnel sits out, an OAuth2 token that expires) must leave no trace: every
sync succeeds and nothing is logged as failing. The drop folder's own faults are in
test_folder_faults.py: it answers no requests, so none of these applies to it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from connectors.sandbox_faults import FaultKit
from syncd.coordinator import AUTH_RETRY
from syncd.errors import AuthError, PayloadError, RateLimited, TransientError

from .conftest import ACCOUNT, Contract
from .scenes import INTERVAL, Scene

pytestmark = pytest.mark.needs("http")

# Fewer in a row than the funnel's four attempts: each is retried away within the request.
BURST = 3
SHORT_WAIT = 2  # seconds: a hint the funnel waits out (at most 60 s)
LONG_WAIT = 20 * 60  # seconds: a hint the coordinator defers the account's next sync by
# Autotask's hourly threshold is a rolling 60-minute count shared with every integration of
# the database: without a hint the connector stays away ten minutes, which no request waits out.
NOT_RETRIED_WITHOUT_HINT = {("autotask", "threshold")}


def kit(c: Contract) -> FaultKit:
    assert c.driver.faults is not None
    return c.driver.faults


async def ride_out(scene: Scene, arm: Callable[[FaultKit], None], **expected: Any) -> None:
    """A lasting fault armed in the sandbox's kit, ridden out (Scene.ride_out), then cleared."""
    faults = kit(scene.c)
    await scene.ride_out(lambda: arm(faults), faults.clear, **expected)


async def absorb(scene: Scene, arm: Callable[[FaultKit], None]) -> None:
    """A fault armed in the sandbox's kit that a retry within the request absorbs (Scene.absorb)."""
    faults = kit(scene.c)
    await scene.absorb(lambda: arm(faults))
    assert not faults.armed, "the fault should have been used up"


# --- faults a retry within the request absorbs ----------------------------------------------


@pytest.mark.parametrize("kind", ["5xx", "timeout", "reset"])
async def test_a_short_burst_of_server_errors_timeouts_or_resets_is_retried_away(contract: Contract,
                                                                                kind: str) -> None:
    scene = Scene(contract)
    await scene.settle()
    await absorb(scene, lambda faults: faults.inject(kind, times=BURST))


@pytest.mark.parametrize("hint", [SHORT_WAIT, None], ids=["short-hint", "no-hint"])
async def test_a_single_rate_limit_answer_is_waited_out_within_the_request(contract: Contract,
                                                                          hint: int | None) -> None:
    scene = Scene(contract)
    await scene.settle()
    for variant in kit(contract).throttle_kinds:
        if hint is None and (contract.vendor, variant) in NOT_RETRIED_WITHOUT_HINT:
            continue  # an outage by design: test_a_long_or_unstated_wait_defers_the_account_once
        contract.sleeps.calls.clear()
        await absorb(scene, lambda faults, v=variant: faults.throttle_next(1, hint, variant=v))
        assert contract.sleeps.calls and max(contract.sleeps.calls) >= (hint or 1)
        scene.logs.clear()


# --- faults that last: the page keeps its data, goes stale, logs once -----------------------


@pytest.mark.parametrize(("kind", "error"), [
    ("5xx", TransientError), ("timeout", TransientError), ("reset", TransientError), ("malformed", PayloadError),
])
async def test_an_outage_keeps_the_last_good_page_marks_it_stale_and_loses_nothing(
        contract: Contract, kind: str, error: type[Exception]) -> None:
    scene = Scene(contract)
    await scene.settle()
    await ride_out(scene, lambda faults: faults.inject(kind), kind=error.kind)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("kind", "pages"), [("truncated", 2), ("repeat", 2), ("empty_page", 3)],
                         ids=["truncated-page", "page-repeats-a-previous-one", "empty-page-mid-stream"])
async def test_a_damaged_page_mid_listing_fails_the_read_and_keeps_what_was_committed(
        contract: Contract, kind: str, pages: int) -> None:
    """A truncated page, a page that repeats an earlier one (a cursor or next-link loop), and an
    empty page that still says more follow: the read stops with a PayloadError, never spins or
    takes the damage for the end; the pages read before it are kept, the cursor waits."""
    scene = Scene(contract)
    await scene.settle(bulk_pages=pages)
    await ride_out(scene, lambda faults: faults.inject(kind, where="next_page"), kind=PayloadError.kind)
    runs = contract.store.runs(ACCOUNT)
    failed = [r for r in runs if r.outcome == PayloadError.kind]
    assert failed and all(r.fetched >= contract.driver.max_page_size for r in failed), \
        "the damage struck after the first page was read"
    if kind == "repeat":
        assert all("paging loop" in (r.error or "") for r in failed)


async def test_a_rate_limit_with_a_short_hint_that_lasts_is_an_outage_until_it_lifts(contract: Contract) -> None:
    scene = Scene(contract)
    await scene.settle()
    for variant in kit(contract).throttle_kinds:
        await ride_out(scene, lambda faults, v=variant: faults.inject("throttle", variant=v, retry_after=SHORT_WAIT),
                       kind=RateLimited.kind)
        scene.logs.clear()


@pytest.mark.parametrize("hint", [LONG_WAIT, None], ids=["long-hint", "no-hint"])
async def test_a_long_or_unstated_wait_defers_the_account_once(contract: Contract, hint: int | None) -> None:
    scene = Scene(contract)
    await scene.settle()
    for variant in kit(contract).throttle_kinds:
        await ride_out(scene, lambda faults, v=variant: faults.inject("throttle", variant=v, retry_after=hint),
                       kind=RateLimited.kind, polls_while_failing=hint is None)
        scene.logs.clear()


# --- credentials --------------------------------------------------------------------------


async def test_revoked_credentials_stop_polling_mark_the_page_stale_at_once_and_recover_once(
        contract: Contract) -> None:
    scene = Scene(contract)
    await scene.settle()
    await ride_out(scene, lambda faults: contract.driver.fail_auth(True), kind=AuthError.kind,
                   stale_at_once=True, polls_while_failing=False)
    runs = contract.store.runs(ACCOUNT)  # newest first
    refused = max(r.started_at for r in runs if r.outcome == AuthError.kind)
    read_again = min(r.started_at for r in runs if r.outcome == "ok" and r.started_at > refused)
    assert read_again >= refused + AUTH_RETRY, "refused credentials are tried again only after AUTH_RETRY"


async def test_credentials_that_expire_mid_listing_are_renewed_or_fail_once(contract: Contract) -> None:
    """An OAuth2 token that expires between two pages is renewed and the read goes on; a static
    key that expires is refused like a revoked one until renewed, and nothing is lost meanwhile."""
    scene = Scene(contract)
    await scene.settle(bulk_pages=2)
    expire = contract.driver.expire_auth
    if contract.driver.auth_renews:
        await absorb(scene, lambda faults: faults.on_next_page(expire))
    else:
        await ride_out(scene, lambda faults: faults.on_next_page(expire), kind=AuthError.kind,
                       stale_at_once=True, polls_while_failing=False)


# --- the vendor's data moving under us ----------------------------------------------------


@pytest.mark.parametrize("skew", [timedelta(minutes=7), timedelta(minutes=-7), timedelta(hours=3),
                                  timedelta(hours=-3)], ids=["7m-ahead", "7m-behind", "3h-ahead", "3h-behind"])
async def test_a_vendor_clock_ahead_or_behind_ours_misses_nothing(contract: Contract, skew: timedelta) -> None:
    scene = Scene(contract)
    kit(contract).skew(skew)
    await scene.settle()
    with scene.logged():
        for _ in range(4):
            scene.work()
            await scene.refresh_at(scene.now + INTERVAL)
            assert scene.failing() is None
    assert scene.events("source_failed") == []
    await scene.assert_nothing_lost_or_doubled()


async def test_entries_edited_while_a_sync_pages_through_them_are_all_read(contract: Contract) -> None:
    scene = Scene(contract)
    await scene.settle(bulk_pages=2)
    # The first, middle and last of the new work: one sits on each side of every vendor's page boundary.
    first, middle, last = scene.batch[0], scene.batch[len(scene.batch) // 2], scene.batch[-1]

    def edit_mid_listing() -> None:
        contract.driver.edit_entry(first, hours=3.5)
        contract.driver.edit_entry(middle, client=1)
        contract.driver.edit_entry(last, hours=0.75, notes="Corrected while the sync paged")
        contract.driver.add_entry(2, hours=2.0, notes="Logged while the sync paged", day=scene.now.date())

    with scene.logged():
        kit(contract).on_next_page(edit_mid_listing)
        await scene.refresh_at(scene.now + INTERVAL)
        assert not kit(contract).armed, "the edits should have run between two pages"
        assert scene.failing() is None
    assert scene.events("source_failed") == []
    await scene.assert_nothing_lost_or_doubled()
