"""Per-account hourly request budgets: whether a poll or a reconcile fits now, and when the next one will."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors.base import Budget
from connectors.http import VendorQuota

HOUR = 3600.0
# Reconciles re-list whole windows: they may take at most this share of an account's hour,
# so polls (which carry every client's freshness) always keep the rest.
RECONCILE_SHARE = 0.25
# A burst allowance of this share of the hour (at least one request): refreshes that
# arrive together pass, a steady demand above the budget is paced to its hourly rate.
BURST_SHARE = 0.1
_EPSILON = 1e-9  # refills are float sums: 0.9999999 of a token is a token


def hourly(budget: Budget) -> int:
    """A vendor budget (requests per period) as requests per hour, at least one."""
    return max(1, math.floor(budget.requests * HOUR / budget.per_seconds))


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a sync may run now, and if not, why and when it will fit."""

    allowed: bool
    reason: str = "ok"  # ok | paced | budget | vendor
    retry_at: datetime | None = None


@dataclass
class AccountBudget:
    """One account's hour: what it spent and when, and what its next poll may cost.

    Two limits hold together. A hard ceiling: the requests sent in any 60 minutes never
    exceed ``per_hour``. And pacing: a token bucket refilled at ``per_hour`` an hour (a
    small burst allowed) that every request draws on, so a demand beyond the budget is
    spread evenly over the hour (every client's page a little late) instead of spending
    the hour's allowance in its first minutes and leaving the rest of it blank.
    """

    per_hour: int
    tokens: float = -1.0
    poll_cost: int = 1
    reconcile_cost: int = 1
    stretched: bool = False
    _spent: deque[tuple[datetime, int, str]] = field(default_factory=deque)
    _refilled_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.per_hour < 1:
            raise ValueError("an hourly budget needs at least one request")
        if self.tokens < 0:
            self.tokens = self.capacity

    @property
    def capacity(self) -> float:
        """The burst allowance: this many requests may go out back to back."""
        return max(1.0, math.floor(self.per_hour * BURST_SHARE))

    @property
    def refill_per_hour(self) -> float:
        """Tokens earned an hour: the budget less the burst, so a full burst plus an hour's
        refill still fits under the ceiling and the pacing, not the ceiling, is what binds."""
        return max(1.0, self.per_hour - self.capacity)

    @property
    def poll_interval(self) -> float:
        """Seconds between polls the budget sustains at their current cost."""
        return HOUR * self.poll_cost / self.refill_per_hour

    def used(self, now: datetime, kind: str | None = None) -> int:
        """Requests sent in the 60 minutes before ``now`` (of one ``kind``, or all)."""
        self._forget(now)
        return sum(n for _, n, k in self._spent if kind is None or k == kind)

    def may_poll(self, now: datetime, *, paced: bool = True, vendor: VendorQuota | None = None,
                 vendor_now: float | None = None) -> Decision:
        """Whether a poll fits now: the hour's ceiling, the pacing (unless not ``paced``),
        and the vendor's own word on what remains of its quota."""
        self._refill(now)
        if vendor is not None and vendor_now is not None:
            held = _vendor_wait(vendor, vendor_now, self.poll_cost)
            if held is not None:
                return Decision(False, "vendor", now + timedelta(seconds=held))
        room_at = self._room_at(now, self.poll_cost)
        if room_at is not None:
            return Decision(False, "budget", room_at)
        if paced and self.tokens < 1 - _EPSILON:
            return Decision(False, "paced", now + timedelta(seconds=(1 - self.tokens) * HOUR / self.refill_per_hour))
        return Decision(True)

    def may_reconcile(self, now: datetime) -> bool:
        """Whether a reconcile fits (its poll already counted): room under the ceiling for it,
        and the reconciles of the last hour within their share (one an hour always is)."""
        if self._room_at(now, self.reconcile_cost) is not None:
            return False
        spent = self.used(now, "reconcile")
        return spent == 0 or spent + self.reconcile_cost <= self.per_hour * RECONCILE_SHARE

    def next_poll_at(self, now: datetime, *, vendor: VendorQuota | None = None,
                     vendor_now: float | None = None) -> datetime:
        """The earliest time a paced poll fits (``now`` when it fits now): the latest of the
        times each limit lifts, since all of them must have lifted."""
        self._refill(now)
        times = [now, self._room_at(now, self.poll_cost) or now,
                 now + timedelta(seconds=max(0.0, 1 - self.tokens) * HOUR / self.refill_per_hour)]
        if vendor is not None and vendor_now is not None:
            held = _vendor_wait(vendor, vendor_now, self.poll_cost)
            times.append(now + timedelta(seconds=held or 0.0))
        return max(times)

    def spent(self, at: datetime, requests: int, kind: str) -> None:
        """Record what a poll, a reconcile or another ``kind`` of request cost; the next poll
        or reconcile is expected to cost what the last one did."""
        self._refill(at)
        if requests > 0:
            self._spent.append((at, requests, kind))
            self.tokens -= requests
        if kind == "reconcile":
            self.reconcile_cost = max(1, requests)
        elif kind == "poll":
            self.poll_cost = max(1, requests)

    def _refill(self, now: datetime) -> None:
        if self._refilled_at is not None and now > self._refilled_at:
            earned = (now - self._refilled_at).total_seconds() * self.refill_per_hour / HOUR
            self.tokens = min(self.capacity, self.tokens + earned)
        if self._refilled_at is None or now > self._refilled_at:
            self._refilled_at = now

    def _forget(self, now: datetime) -> None:
        while self._spent and self._spent[0][0] <= now - timedelta(seconds=HOUR):
            self._spent.popleft()

    def _room_at(self, now: datetime, cost: int) -> datetime | None:
        """None when ``cost`` more requests fit under the ceiling now, else when they will."""
        self._forget(now)
        over = sum(n for _, n, _ in self._spent) + min(cost, self.per_hour) - self.per_hour
        if over <= 0:
            return None
        for at, n, _ in self._spent:
            over -= n
            if over <= 0:
                return at + timedelta(seconds=HOUR)
        return now  # pragma: no cover - the loop always frees enough


def _vendor_wait(quota: VendorQuota, now: float, cost: int) -> float | None:
    """Seconds until the vendor's quota resets when it said too little remains, else None."""
    if quota.remaining is None or quota.read_at is None or quota.resets_in is None:
        return None
    left = quota.read_at + quota.resets_in - now
    if left <= 0 or quota.remaining >= cost:
        return None
    return left


def next_run_after(now: datetime, every: float, ready_at: datetime) -> datetime:
    """The first tick of a job running every ``every`` seconds from ``now`` at or after ``ready_at``."""
    ticks = max(1, math.ceil((ready_at - now).total_seconds() / every)) if every > 0 else 1
    return now + timedelta(seconds=ticks * every)


__all__ = ["HOUR", "RECONCILE_SHARE", "AccountBudget", "Decision", "hourly", "next_run_after"]
