"""The ledger pinned by one table: entries through the rules into a statement, every figure checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal as D
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.config import RetainerConfig, Rule
from syncd.ledger import build_statement
from syncd.models import Line, Statement, TimeEntry
from syncd.rules.engine import RuleContext, apply_rules, compile_rules

CHICAGO = "America/Chicago"
VENDORS = {"cw": "connectwise", "hv": "harvest", "at": "autotask"}
TWO_POOLS = {"reactive": {"label": "Reactive support", "cap_hours": 10}, "scheduled": {"cap_hours": 4}}


@dataclass(frozen=True)
class Work:
    """One time entry of a case: a local start ("2026-03-08" at 10:00, or "2026-03-08T00:30"),
    hours logged, the pool a rule sends it to, and optionally an after-hours ×2 tag, an
    approval state and the account (cw, hv, at) it came from."""

    when: str
    hours: str
    pool: str = "reactive"
    double: bool = False
    approval: str | None = None
    account: str = "cw"


@dataclass(frozen=True)
class Case:
    """A retainer, the work logged, the local "now", and the figures expected (only those given)."""

    retainer: dict[str, Any]
    work: list[Work]
    now: str
    timezone: str = CHICAGO
    cycle: tuple[str, str | None] | None = None
    # pool → "cap carried adjustments available used remaining over"
    pools: dict[str, str] = field(default_factory=dict)
    # newest first: "pool charged balance", then " logged X" when it differs, then "; label" each
    lines: list[str] | None = None
    # "used available remaining over pending" over the counted pools
    totals: str | None = None
    history: list[str] | None = None  # "start end available used", newest first
    forecast: str | None | bool = False  # False: not checked
    notices: tuple[str, ...] | None = None
    pending: dict[str, str] = field(default_factory=dict)
    overage_policy: str | None = None


def monthly(anchor: str, pools: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    return {"cycle": {"monthly": anchor}, "pools": pools or TWO_POOLS, **more}


def block(start: str, pools: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"cycle": {"block": start}, "pools": pools, **more}


W = Work
OVERFLOW = {"reactive": {"label": "Reactive support", "cap_hours": 10, "overflow_to": "scheduled"},
            "scheduled": {"cap_hours": 4}}
PREPAID = {"reactive": {"label": "Reactive support", "cap_hours": 10, "overflow_to": "prepaid"},
           "prepaid": {"label": "Prepaid block", "cap_hours": 40, "resets": "never"}}
FLAT = {"reactive": {"label": "Reactive support", "cap_hours": 10},
        "backups": {"label": "Backup monitoring", "tracked": False}}

CASES: dict[str, Case] = {
    # --- anchors 1, 15, 29, 30, 31 across February, leap and not -----------------------
    "anchor-1-leap-february": Case(
        monthly("2024-01-01"), [W("2024-01-31", "1"), W("2024-02-29", "2")], "2024-02-29",
        cycle=("2024-02-01", "2024-03-01"), totals="2.00 14.00 12.00 0.00 0.00",
        history=["2024-01-01 2024-02-01 14.00 1.00"]),
    "anchor-1-plain-february": Case(
        monthly("2025-01-01"), [W("2025-02-28", "2"), W("2025-03-01", "5")], "2025-02-28",
        cycle=("2025-02-01", "2025-03-01"), totals="2.00 14.00 12.00 0.00 0.00"),
    "anchor-15-leap-february": Case(
        monthly("2024-01-15"), [W("2024-02-14", "1"), W("2024-02-15", "2"), W("2024-02-29", "3")], "2024-02-29",
        cycle=("2024-02-15", "2024-03-15"), totals="5.00 14.00 9.00 0.00 0.00"),
    "anchor-15-plain-february": Case(
        monthly("2025-01-15"), [W("2025-02-14", "1"), W("2025-02-15", "2")], "2025-02-14",
        cycle=("2025-01-15", "2025-02-15"), totals="1.00 14.00 13.00 0.00 0.00"),
    "anchor-29-leap-february": Case(
        monthly("2024-01-29"), [W("2024-02-28", "1"), W("2024-02-29", "2")], "2024-02-29",
        cycle=("2024-02-29", "2024-03-29"), totals="2.00 14.00 12.00 0.00 0.00",
        history=["2024-01-29 2024-02-29 14.00 1.00"]),
    "anchor-29-plain-february-clamps-to-28": Case(
        monthly("2025-01-29"), [W("2025-02-27", "1"), W("2025-02-28", "2")], "2025-03-28",
        cycle=("2025-02-28", "2025-03-29"), totals="2.00 14.00 12.00 0.00 0.00"),
    "anchor-30-leap-february-clamps-to-29": Case(
        monthly("2024-01-30"), [W("2024-02-29", "2"), W("2024-03-29", "1")], "2024-03-01",
        cycle=("2024-02-29", "2024-03-30"), totals="3.00 14.00 11.00 0.00 0.00"),
    "anchor-30-plain-february-clamps-to-28": Case(
        monthly("2025-01-30"), [W("2025-01-30", "1"), W("2025-02-27", "2"), W("2025-02-28", "4")], "2025-02-27",
        cycle=("2025-01-30", "2025-02-28"), totals="3.00 14.00 11.00 0.00 0.00"),
    "anchor-31-leap-february": Case(
        monthly("2024-01-31"), [W("2024-02-28", "1"), W("2024-02-29", "2")], "2024-02-29",
        cycle=("2024-02-29", "2024-03-31"), totals="2.00 14.00 12.00 0.00 0.00"),
    "anchor-31-plain-february-then-back-to-31": Case(
        monthly("2026-01-31"), [W("2026-02-28", "2"), W("2026-03-30", "1"), W("2026-03-31", "4")], "2026-03-30",
        cycle=("2026-02-28", "2026-03-31"), totals="3.00 14.00 11.00 0.00 0.00"),
    "anchor-31-on-the-31st": Case(
        monthly("2026-01-31"), [W("2026-03-30", "1"), W("2026-03-31", "4")], "2026-03-31",
        cycle=("2026-03-31", "2026-04-30"), totals="4.00 14.00 10.00 0.00 0.00"),
    # --- DST: a line at 00:30 local on a change day lands in its local date's cycle ------
    "dst-spring-forward-chicago": Case(
        monthly("2026-03-08"), [W("2026-03-07T23:30", "1"), W("2026-03-08T00:30", "2")], "2026-03-08",
        cycle=("2026-03-08", "2026-04-08"), totals="2.00 14.00 12.00 0.00 0.00",
        history=["2026-02-08 2026-03-08 14.00 1.00"]),
    "dst-fall-back-chicago": Case(
        monthly("2026-11-01"), [W("2026-10-31T23:30", "1"), W("2026-11-01T00:30", "2"), W("2026-11-01T01:30", "4")],
        "2026-11-01", cycle=("2026-11-01", "2026-12-01"), totals="6.00 14.00 8.00 0.00 0.00"),
    "dst-spring-forward-london": Case(
        monthly("2026-03-29"), [W("2026-03-28T23:30", "1"), W("2026-03-29T00:30", "2")], "2026-03-29",
        timezone="Europe/London", cycle=("2026-03-29", "2026-04-29"), totals="2.00 14.00 12.00 0.00 0.00"),
    "dst-now-is-still-the-day-before-locally": Case(
        monthly("2026-03-08"), [W("2026-03-07T23:30", "1")], "2026-03-07T23:45",
        cycle=("2026-02-08", "2026-03-08"), totals="1.00 14.00 13.00 0.00 0.00"),
    # --- rollover ------------------------------------------------------------------------
    "rollover-under-the-maximum": Case(
        monthly("2026-01-01", rollover={"max_hours": 5}), [W("2026-02-10", "7"), W("2026-03-02", "1")], "2026-03-20",
        pools={"reactive": "10.00 3.00 0.00 13.00 1.00 12.00 0.00",
               "scheduled": "4.00 4.00 0.00 8.00 0.00 8.00 0.00"}),
    "rollover-capped-at-the-maximum": Case(
        monthly("2026-01-01", rollover={"max_hours": 5}), [W("2026-02-10", "2")], "2026-03-20",
        pools={"reactive": "10.00 5.00 0.00 15.00 0.00 15.00 0.00"}),
    "rollover-nothing-left-over": Case(
        monthly("2026-01-01", rollover={"max_hours": 5}), [W("2026-02-10", "12")], "2026-03-20",
        pools={"reactive": "10.00 0.00 0.00 10.00 0.00 10.00 0.00"}),
    "rollover-from-the-previous-cycle-only": Case(
        # January leaves 5 unused into February; February uses its own 10, so nothing of
        # January's carries on into March.
        monthly("2026-01-01", {"reactive": {"cap_hours": 10}}, rollover={"max_hours": 5}),
        [W("2026-01-05", "1"), W("2026-02-10", "10")], "2026-03-20",
        pools={"reactive": "10.00 0.00 0.00 10.00 0.00 10.00 0.00"},
        history=["2026-02-01 2026-03-01 15.00 10.00", "2026-01-01 2026-02-01 10.00 1.00"]),
    "rollover-counts-the-previous-cycles-adjustments": Case(
        monthly("2026-02-01", {"reactive": {"cap_hours": 10}}, rollover={"max_hours": 8},
                adjustments=[{"date": "2026-02-03", "hours": 4, "note": "Top-up"}]),
        [W("2026-02-10", "7")], "2026-03-20",
        pools={"reactive": "10.00 7.00 0.00 17.00 0.00 17.00 0.00"},
        history=["2026-02-01 2026-03-01 14.00 7.00"]),
    "rollover-never-from-before-the-anchor": Case(
        monthly("2026-03-01", {"reactive": {"cap_hours": 10}}, rollover={"max_hours": 5}),
        [W("2026-02-10", "1")], "2026-03-20",
        pools={"reactive": "10.00 0.00 0.00 10.00 0.00 10.00 0.00"}),
    # --- overflow ------------------------------------------------------------------------
    "overflow-splits-the-line-that-crosses-the-cap": Case(
        monthly("2026-01-01", OVERFLOW), [W("2026-03-02", "8"), W("2026-03-03", "3.5")], "2026-03-20",
        lines=["scheduled 1.50 2.50; Overflow from Reactive support", "reactive 2.00 0.00", "reactive 8.00 2.00"],
        pools={"reactive": "10.00 0.00 0.00 10.00 10.00 0.00 0.00",
               "scheduled": "4.00 0.00 0.00 4.00 1.50 2.50 0.00"}),
    "overflow-takes-whole-lines-once-the-pool-is-empty": Case(
        monthly("2026-01-01", OVERFLOW), [W("2026-03-02", "10"), W("2026-03-03", "1", "scheduled"),
                                          W("2026-03-04", "1")], "2026-03-20",
        lines=["scheduled 1.00 2.00; Overflow from Reactive support", "scheduled 1.00 3.00", "reactive 10.00 0.00"]),
    "overflow-target-goes-over-plainly": Case(
        monthly("2026-01-01", OVERFLOW), [W("2026-03-02", "16.25")], "2026-03-20",
        lines=["scheduled 6.25 -2.25; Overflow from Reactive support", "reactive 10.00 0.00"],
        pools={"scheduled": "4.00 0.00 0.00 4.00 6.25 0.00 2.25"}, totals="16.25 14.00 0.00 2.25 0.00"),
    "overflow-chain-of-three-pools": Case(
        monthly("2026-01-01", {"a": {"cap_hours": 1, "overflow_to": "b"}, "b": {"cap_hours": 1, "overflow_to": "c"},
                               "c": {"cap_hours": 5}}), [W("2026-03-02", "2.75", "a")], "2026-03-20",
        lines=["c 0.75 4.25; Overflow from A", "b 1.00 0.00; Overflow from A", "a 1.00 0.00"]),
    "overflow-splits-logged-time-in-proportion": Case(
        # 1.25 h after hours ×2 = 2.50 h against 0.40 h left: 0.40 (0.20 logged) + 2.10 (1.05 logged).
        monthly("2026-01-01", OVERFLOW), [W("2026-03-02", "9.6"), W("2026-03-03", "1.25", double=True)],
        "2026-03-20",
        lines=["scheduled 2.10 1.90 logged 1.05; After-hours ×2; Overflow from Reactive support",
               "reactive 0.40 0.00 logged 0.20; After-hours ×2", "reactive 9.60 0.40"]),
    "overflow-into-a-prepaid-pool-that-never-resets": Case(
        # February overflows 5 h into the 40 h prepaid pool; March starts with 35 h there.
        monthly("2026-01-01", PREPAID), [W("2026-02-10", "15"), W("2026-03-02", "12")], "2026-03-20",
        pools={"reactive": "10.00 0.00 0.00 10.00 10.00 0.00 0.00",
               "prepaid": "40.00 -5.00 0.00 35.00 2.00 33.00 0.00"},
        lines=["prepaid 2.00 33.00; Overflow from Reactive support", "reactive 10.00 0.00"],
        history=["2026-02-01 2026-03-01 50.00 15.00"]),
    # --- never-resetting pool inside a cycling retainer ------------------------------------
    "prepaid-pool-carries-its-balance-and-top-ups-across-cycles": Case(
        monthly("2026-01-01", {"reactive": {"cap_hours": 10},
                               "prepaid": {"cap_hours": 20, "resets": "never"}},
                adjustments=[{"date": "2026-01-20", "hours": 10, "note": "Top-up", "pool": "prepaid"}]),
        [W("2026-01-05", "6", "prepaid"), W("2026-02-05", "4", "prepaid"), W("2026-03-05", "1", "prepaid")],
        "2026-03-20", pools={"prepaid": "20.00 0.00 0.00 20.00 1.00 19.00 0.00"},
        lines=["prepaid 1.00 19.00"]),
    # --- flat-fee scope --------------------------------------------------------------------
    "flat-fee-pool-is-shown-but-counted-nowhere": Case(
        monthly("2026-01-01", FLAT), [W("2026-03-02", "2"), W("2026-03-03", "5", "backups")], "2026-03-20",
        lines=["backups 5.00 -", "reactive 2.00 8.00"],
        pools={"backups": "0.00 0.00 0.00 0.00 5.00 0.00 5.00"}, totals="2.00 10.00 8.00 0.00 0.00",
        notices=()),
    "flat-fee-pool-with-a-nominal-cap-stays-out-of-the-totals": Case(
        monthly("2026-01-01", {"reactive": {"cap_hours": 10},
                               "backups": {"cap_hours": 3, "tracked": False}}),
        [W("2026-03-02", "9.5"), W("2026-03-03", "1", "backups")], "2026-03-20",
        totals="9.50 10.00 0.50 0.00 0.00",
        notices=("You have used 90% of your hours this cycle.",)),
    # --- prepaid blocks --------------------------------------------------------------------
    "block-with-top-ups-never-resets": Case(
        block("2026-01-10", {"block": {"label": "Prepaid hours", "cap_hours": 20}},
              adjustments=[{"date": "2026-02-01", "hours": 10, "note": "Top-up"},
                           {"date": "2026-03-15", "hours": 5, "note": "Second top-up"}]),
        [W("2026-01-09", "3", "block"), W("2026-01-12", "8", "block"), W("2026-02-20", "9", "block"),
         W("2026-03-16", "4.5", "block")], "2026-03-20",
        cycle=("2026-01-10", None), history=[],
        pools={"block": "20.00 0.00 15.00 35.00 21.50 13.50 0.00"},
        lines=["block 4.50 13.50", "block 9.00 18.00", "block 8.00 27.00"]),
    "block-used-up-goes-over": Case(
        block("2026-01-10", {"block": {"cap_hours": 10}}), [W("2026-02-01", "7", "block"), W("2026-03-01", "4.2", "block")],
        "2026-03-20", totals="11.20 10.00 0.00 1.20 0.00", forecast=None,
        notices=("You have used 100% of your hours this cycle.",)),
    "block-forecast-within-a-year": Case(
        # 69 days in, 10 of 40 h used: the pace reaches 40 h on day 276.
        block("2026-01-10", {"block": {"cap_hours": 40}}), [W("2026-02-01", "10", "block")], "2026-03-19",
        forecast="2026-10-12"),
    "block-forecast-beyond-a-year-is-not-shown": Case(
        block("2026-01-10", {"block": {"cap_hours": 400}}), [W("2026-02-01", "10", "block")], "2026-03-19",
        forecast=None),
    # --- overage ---------------------------------------------------------------------------
    "overage-shown-exactly-with-the-policy": Case(
        monthly("2026-01-01", {"reactive": {"cap_hours": 20}},
                overage_policy="Hours beyond the cap are billed at the standard rate."),
        [W("2026-03-02", "15"), W("2026-03-09", "7.5")], "2026-03-20",
        pools={"reactive": "20.00 0.00 0.00 20.00 22.50 0.00 2.50"}, lines=["reactive 7.50 -2.50", "reactive 15.00 5.00"],
        overage_policy="Hours beyond the cap are billed at the standard rate.",
        notices=("You have used 100% of your hours this cycle.",)),
    # --- pending approval ------------------------------------------------------------------
    "pending-entries-are-counted-and-marked": Case(
        monthly("2026-01-01"),
        [W("2026-03-02", "1", approval="PendingApproval"), W("2026-03-03", "2", approval="Open"),
         W("2026-03-04", "0.5", "scheduled", approval="submitted", account="hv"),
         W("2026-03-05", "4", approval="approved", account="hv"), W("2026-03-06", "3", approval=None, account="at")],
        "2026-03-20", totals="10.50 14.00 3.50 0.00 1.50", pending={"reactive": "1.00", "scheduled": "0.50"}),
    "pending-part-of-a-split-line-stays-pending": Case(
        monthly("2026-01-01", OVERFLOW), [W("2026-03-02", "11", approval="PendingApproval")], "2026-03-20",
        pending={"reactive": "10.00", "scheduled": "1.00"}),
    # --- forecast --------------------------------------------------------------------------
    "forecast-inside-the-cycle": Case(
        monthly("2026-01-01"), [W("2026-03-01", "10")], "2026-03-20", forecast="2026-03-28"),
    "forecast-after-the-cycle-is-not-shown": Case(
        monthly("2026-01-01"), [W("2026-03-01", "5")], "2026-03-20", forecast=None),
    "forecast-counts-carried-hours": Case(
        # 14 + 4 carried (2 + 2) available; 9 h in 10 days reaches 18 h at the end of day 20.
        monthly("2026-01-01", rollover={"max_hours": 2}), [W("2026-02-02", "1"), W("2026-03-01", "9")], "2026-03-10",
        forecast="2026-03-20"),
}


def _rules(retainer: RetainerConfig) -> list[Rule]:
    rules = [Rule.model_validate({"name": "after hours", "when": {"tags": "after"}, "multiply": 2,
                                  "label": "After-hours ×2"})]
    rules += [Rule.model_validate({"name": f"to {p}", "when": {"project": p}, "pool": p}) for p in retainer.pools]
    return rules


def _entry(i: int, work: Work, tz: ZoneInfo) -> TimeEntry:
    local = datetime.fromisoformat(work.when)
    if "T" not in work.when:
        local = datetime.combine(local.date(), time(10))
    start = local.replace(tzinfo=tz)
    return TimeEntry(
        account=work.account, vendor_id=str(i).zfill(4), client_key="acme", work_date=start.date(),
        duration_seconds=int(D(work.hours) * 3600), updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        started_at=start.astimezone(UTC), notes="Printer fixed", project=work.pool,
        tags=("after",) if work.double else (), approval=work.approval,
    )


def ruled(case: Case) -> list[Line]:
    """The case's work as the rules engine turns it into lines."""
    retainer = RetainerConfig.model_validate(case.retainer)
    tz = ZoneInfo(case.timezone)
    entries = [_entry(i, w, tz) for i, w in enumerate(case.work)]
    ctx = RuleContext(case.timezone, retainer.default_pool, frozenset(), account_vendors=VENDORS)
    return apply_rules(entries, compile_rules(_rules(retainer)), ctx).lines


def run(case: Case) -> Statement:
    retainer = RetainerConfig.model_validate(case.retainer)
    tz = ZoneInfo(case.timezone)
    local_now = datetime.fromisoformat(case.now)
    if "T" not in case.now:
        local_now = datetime.combine(local_now.date(), time(12))
    now = local_now.replace(tzinfo=tz).astimezone(UTC)
    return build_statement(ruled(case), client_key="acme", client_name="Acme", retainer=retainer,
                           timezone=case.timezone, now=now)


def _line_text(line: Any) -> str:
    balance = "-" if line.balance_after is None else str(line.balance_after)
    text = f"{line.pool} {line.hours_charged} {balance}"
    if line.hours_logged != line.hours_charged:
        text += f" logged {line.hours_logged}"
    return "; ".join([text, *line.labels])


@pytest.mark.parametrize("name", list(CASES))
def test_ledger_case(name: str) -> None:
    case = CASES[name]
    s = run(case)
    if case.cycle is not None:
        end = date.fromisoformat(case.cycle[1]) if case.cycle[1] else None
        assert (s.cycle.start, s.cycle.end) == (date.fromisoformat(case.cycle[0]), end)
    by_name = {p.name: p for p in s.pools}
    for pool, expected in case.pools.items():
        p = by_name[pool]
        got = " ".join(str(x) for x in (p.cap, p.carried_in, p.adjustments, p.available, p.used, p.remaining, p.over))
        assert got == expected, pool
    if case.lines is not None:
        assert [_line_text(line) for line in s.lines] == case.lines
    if case.totals is not None:
        assert " ".join(str(x) for x in (s.used, s.available, s.remaining, s.over, s.pending)) == case.totals
    if case.history is not None:
        assert [f"{h.start} {h.end} {h.available} {h.used}" for h in s.history] == case.history
    if case.forecast is not False:
        assert s.forecast == (date.fromisoformat(case.forecast) if case.forecast else None)
    if case.notices is not None:
        assert s.notices == case.notices
    for pool, expected in case.pending.items():
        assert str(by_name[pool].pending) == expected, pool
        assert any(line.pending for line in s.lines if line.pool == pool)
    assert s.overage_policy == case.overage_policy


def test_the_table_covers_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


# --- property: a statement's lines always add up to its totals ---------------------------

POOL_NAMES = ("a", "b", "c")


@st.composite
def retainers(draw: st.DrawFn) -> dict[str, Any]:
    pools: dict[str, Any] = {}
    for i, name in enumerate(POOL_NAMES):
        pool: dict[str, Any] = {"cap_hours": draw(st.integers(0, 2000)) / 100}
        kind = draw(st.sampled_from(["plain", "flat", "never"]))
        if kind == "flat":
            pool["tracked"] = False
        elif kind == "never":
            pool["resets"] = "never"
        later = [n for n in POOL_NAMES[i + 1:]]
        if kind != "flat" and later and draw(st.booleans()):
            pool["overflow_to"] = draw(st.sampled_from(later))
        pools[name] = pool
    for name, pool in pools.items():
        # Overflow only into tracked pools: the config refuses the rest.
        if pool.get("overflow_to") and pools[pool["overflow_to"]].get("tracked") is False:
            del pool["overflow_to"]
    cycle = draw(st.sampled_from([{"monthly": "2025-06-30"}, {"quarterly": "2025-01-15"}, {"block": "2025-03-01"}]))
    data: dict[str, Any] = {"cycle": cycle, "pools": pools}
    if "block" not in cycle and draw(st.booleans()):
        data["rollover"] = {"max_hours": draw(st.integers(0, 1000)) / 100}
    data["adjustments"] = [
        {"date": day.isoformat(), "hours": h / 100, "note": "adj", "pool": pool}
        for day, h, pool in draw(st.lists(st.tuples(st.dates(date(2025, 3, 1), date(2026, 5, 31)),
                                                    st.integers(-500, 2000), st.sampled_from(POOL_NAMES)),
                                          max_size=4))
    ]
    return data


works = st.builds(
    lambda day, minutes, pool, double, approval: Work(f"{day.isoformat()}T{minutes % 24:02d}:{minutes % 60:02d}",
                                                      str(D(minutes) / 60), pool, double, approval),
    st.dates(date(2025, 1, 1), date(2026, 5, 31)), st.integers(0, 900), st.sampled_from(POOL_NAMES),
    st.booleans(), st.sampled_from([None, "PendingApproval", "Open"]),
)


@settings(max_examples=150, deadline=None)
@given(retainer=retainers(), work=st.lists(works, max_size=30),
       today=st.dates(date(2025, 9, 1), date(2026, 5, 31)))
def test_lines_always_add_up_to_the_totals(retainer: dict[str, Any], work: list[Work], today: date) -> None:
    case = Case(retainer, work, today.isoformat())
    s = run(case)
    for pool in s.pools:
        mine = [line for line in s.lines if line.pool == pool.name]
        assert sum((line.hours_charged for line in mine), D("0.00")) == pool.used
        assert sum((line.hours_charged for line in mine if line.pending), D("0.00")) == pool.pending
        assert pool.remaining - pool.over == pool.available - pool.used
        for line in mine:
            assert line.hours_charged.as_tuple().exponent == -2
            assert (line.balance_after is None) == (not pool.tracked)
        if mine and pool.tracked:
            # Newest first: the newest line's running balance is what the pool has left.
            assert mine[0].balance_after == pool.available - pool.used
    assert s.used == sum((p.used for p in s.pools if p.tracked), D("0.00"))
    # Overflow splits a line into parts that add up to it exactly, logged and charged.
    original = {line.source: line for line in ruled(case)}
    parts: dict[tuple[str, str], list[Line]] = {}
    for line in s.lines:
        parts.setdefault(line.source, []).append(line)
    for source, split in parts.items():
        assert sum((p.hours_charged for p in split), D(0)) == original[source].hours_charged
        assert sum((p.hours_logged for p in split), D(0)) == original[source].hours_logged
        assert {p.pending for p in split} == {original[source].pending}
    for past in s.history:
        assert past.used >= 0 and past.end > past.start
