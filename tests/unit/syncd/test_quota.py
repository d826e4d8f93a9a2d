"""The per-account hourly budget: ceiling, pacing, the reconcile share and the vendor's own word."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import Budget
from connectors.http import VendorQuota
from syncd.quota import HOUR, AccountBudget, hourly, next_run_after

T0 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("budget", "expected"),
    [(Budget(27, 3600.0), 27), (Budget(60, 60.0), 3600), (Budget(250, 300.0), 3000), (Budget(1, 7200.0), 1)],
)
def test_a_vendor_budget_reads_as_requests_per_hour(budget: Budget, expected: int) -> None:
    assert hourly(budget) == expected


def test_a_steady_demand_above_the_budget_is_paced_evenly_and_never_exceeds_the_hour() -> None:
    budget = AccountBudget(27)
    polls = []
    for minute in range(180):  # asked every minute for three hours
        now = at(minute * 60)
        if budget.may_poll(now).allowed:
            budget.spent(now, 1, "poll")
            polls.append(minute)
    for start in range(0, 120):
        assert sum(start <= m < start + 60 for m in polls) <= 27
    gaps = {b - a for a, b in zip(polls[2:], polls[3:], strict=False)}
    assert gaps <= {2, 3}  # 3600 / 25 = 144 s: every second or third ask, never a blank stretch


def test_an_expensive_poll_is_paid_for_by_waiting_longer_before_the_next() -> None:
    budget = AccountBudget(27)
    budget.spent(T0, 10, "poll")
    decision = budget.may_poll(at(60))
    assert not decision.allowed and decision.reason == "paced"
    assert decision.retry_at is not None and decision.retry_at > at(1000)
    assert budget.may_poll(at(60), paced=False).allowed  # a pushed change skips pacing


def test_the_ceiling_holds_even_for_unpaced_syncs_until_the_oldest_requests_leave_the_hour() -> None:
    budget = AccountBudget(10)
    budget.spent(T0, 6, "poll")
    budget.spent(at(600), 4, "poll")
    decision = budget.may_poll(at(1200), paced=False)
    assert (decision.allowed, decision.reason, decision.retry_at) == (False, "budget", at(HOUR))
    assert budget.may_poll(at(HOUR + 1), paced=False).allowed


@pytest.mark.parametrize(
    ("spent_on_reconciles", "reconcile_cost", "allowed"),
    [
        pytest.param([], 20, True, id="first-of-the-hour-even-if-dear"),
        pytest.param([5], 5, True, id="within-a-quarter-of-the-hour"),
        pytest.param([5], 7, False, id="past-a-quarter-of-the-hour"),
        pytest.param([30], 1, False, id="share-used-up"),
    ],
)
def test_reconciles_get_their_share_of_the_hour(spent_on_reconciles: list[int], reconcile_cost: int,
                                                 allowed: bool) -> None:
    budget = AccountBudget(45)  # a quarter is 11.25 requests
    for i, n in enumerate(spent_on_reconciles):
        budget.spent(at(i), n, "reconcile")
    budget.reconcile_cost = reconcile_cost
    assert budget.may_reconcile(at(60)) is allowed


@pytest.mark.parametrize(
    ("quota", "vendor_now", "allowed"),
    [
        pytest.param(VendorQuota(0, 600.0, 100.0), 200.0, False, id="spent-and-not-yet-reset"),
        pytest.param(VendorQuota(0, 600.0, 100.0), 701.0, True, id="reset-since"),
        pytest.param(VendorQuota(5, 600.0, 100.0), 200.0, True, id="some-left"),
        pytest.param(VendorQuota(0, None, 100.0), 200.0, True, id="no-reset-time-said"),
        pytest.param(VendorQuota(), 200.0, True, id="never-said"),
    ],
)
def test_the_vendors_own_remaining_quota_holds_polls_until_it_resets(quota: VendorQuota, vendor_now: float,
                                                                      allowed: bool) -> None:
    decision = AccountBudget(600).may_poll(T0, vendor=quota, vendor_now=vendor_now)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason == "vendor" and decision.retry_at == at(500)


def test_the_next_poll_is_when_every_limit_has_lifted() -> None:
    budget = AccountBudget(27)
    assert budget.next_poll_at(T0) == T0
    budget.spent(T0, 3, "poll")  # two tokens of burst, one owed
    assert budget.next_poll_at(T0) == T0 + timedelta(seconds=2 * HOUR / 25)
    held = VendorQuota(0, 7200.0, 0.0)
    assert budget.next_poll_at(T0, vendor=held, vendor_now=0.0) == at(7200)


@pytest.mark.parametrize(
    ("every", "ready_in", "expected_in"),
    [(60, 0, 60), (60, 59, 60), (60, 61, 120), (60, 200, 240), (900, -5, 900)],
)
def test_the_page_promises_the_first_refresh_at_or_after_the_budget_allows(every: int, ready_in: int,
                                                                           expected_in: int) -> None:
    assert next_run_after(T0, every, at(ready_in)) == at(expected_in)
