"""Table tests for the rule language: every condition and action, holidays, DST, rounding, overlaps, traces."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from structlog.testing import capture_logs

from syncd.config import Rule, RuleSetFile
from syncd.models import TimeEntry
from syncd.rules.engine import FiredRule, RuleContext, RuleResult, apply_rules, compile_rules

NEW_YORK = RuleContext("America/New_York", "reactive", frozenset({"Priya Raman"}),
                       account_vendors={"hv": "harvest", "cw": "connectwise"})
SYDNEY = RuleContext("Australia/Sydney", "reactive", frozenset())
OFFICE = "mon-fri 08:00-18:00"
# US holidays as a rule set would list them (Thanksgiving, Christmas), plus the Monday
# after the March DST change, to test a holiday and a DST shift together.
HOLIDAYS = ["2026-11-26", "2026-12-25", "2026-03-09"]


def entry(**overrides: Any) -> TimeEntry:
    fields: dict[str, Any] = {
        "account": "hv",
        "vendor_id": "1",
        "client_key": "acme",
        "work_date": date(2026, 3, 10),  # a Tuesday
        "duration_seconds": 3600,
        "updated_at": datetime(2026, 3, 10, 18, tzinfo=UTC),
    }
    fields.update(overrides)
    return TimeEntry(**fields)


def rule_set(*rules: dict[str, Any], holidays: list[str] | None = None) -> RuleSetFile:
    return RuleSetFile.model_validate({"rules": list(rules), "holidays": holidays or []})


def run(entries: list[TimeEntry], *rules: dict[str, Any], ctx: RuleContext = NEW_YORK,
        holidays: list[str] | None = None) -> RuleResult:
    compiled = compile_rules(rule_set(*rules, holidays=holidays).rules)
    return apply_rules(entries, compiled, ctx, trace=True)


def utc(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- conditions added to the language ---------------------------------------------------------

CONDITIONS = [
    # (condition, entry fields, holds?)
    ({"weekend": True}, {"work_date": date(2026, 3, 14)}, True),  # Saturday, no start: the work date
    ({"weekend": True}, {"work_date": date(2026, 3, 15)}, True),  # Sunday
    ({"weekend": True}, {}, False),
    ({"weekend": False}, {}, True),
    ({"weekend": True}, {"started_at": utc(3, 14, 4, 30)}, True),  # Sat 00:30 EDT
    # 03:00 UTC on Saturday is 23:00 on Friday in New York: not a weekend there.
    ({"weekend": True}, {"started_at": utc(3, 14, 3, 0), "work_date": date(2026, 3, 14)}, False),
    ({"holiday": True}, {"work_date": date(2026, 12, 25)}, True),
    ({"holiday": True}, {"work_date": date(2026, 12, 24)}, False),
    ({"holiday": False}, {"work_date": date(2026, 12, 24)}, True),
    # 02:00 UTC on the 26th of November is the evening of the 25th in New York: not Thanksgiving.
    ({"holiday": True}, {"started_at": utc(11, 26, 2), "work_date": date(2026, 11, 26)}, False),
    ({"holiday": True}, {"started_at": utc(11, 26, 15)}, True),
    ({"notes": "(?i)printer"}, {"notes": "Fixed the Printer"}, True),
    ({"notes": "(?i)printer"}, {"ticket_title": "Printer offline"}, False),
    ({"title": "^Printer"}, {"ticket_title": "Printer offline"}, True),
    ({"title": "^Printer"}, {"notes": "Printer offline"}, False),
    ({"title": "x"}, {}, False),
    ({"internal_notes": "(?i)do not bill"}, {"internal_notes": "Our fault. DO NOT BILL."}, True),
    ({"internal_notes": "(?i)do not bill"}, {"notes": "do not bill"}, False),
    ({"vendor": "Harvest"}, {}, True),
    ({"vendor": "connectwise", "account": "cw"}, {"account": "cw"}, True),
    ({"any": [{"weekend": True}, {"holiday": True}]}, {"work_date": date(2026, 11, 26)}, True),
    ({"not": {"holiday": True}}, {"work_date": date(2026, 11, 26)}, False),
    ({"all": [{"weekend": False}, {"within_hours": OFFICE}]}, {"started_at": utc(3, 10, 14)}, True),
]


@pytest.mark.parametrize(
    ("condition", "fields", "holds"),
    [pytest.param(c, f, h, id=f"{i:02d}-{'+'.join(c)}-{'match' if h else 'no-match'}")
     for i, (c, f, h) in enumerate(CONDITIONS)],
)
def test_condition(condition: dict[str, Any], fields: dict[str, Any], holds: bool) -> None:
    result = run([entry(**fields)], {"name": "probe", "when": condition, "label": "hit"}, holidays=HOLIDAYS)
    assert (result.lines[0].labels == ("hit",)) is holds


# --- after-hours windows across DST, with holidays ---------------------------------------------

AFTER_HOURS = [
    # (context, start UTC, outside office hours?, why)
    (NEW_YORK, utc(3, 6, 13, 30), False, "Fri 08:30 EST (UTC-5), before DST"),
    (NEW_YORK, utc(3, 6, 12, 30), True, "Fri 07:30 EST"),
    (NEW_YORK, utc(3, 10, 12, 30), False, "Tue 08:30 EDT (UTC-4): the same UTC hour is now inside"),
    (NEW_YORK, utc(3, 10, 11, 59), True, "Tue 07:59 EDT"),
    (NEW_YORK, utc(3, 10, 21, 59), False, "Tue 17:59 EDT"),
    (NEW_YORK, utc(3, 10, 22, 0), True, "Tue 18:00 EDT: the end is exclusive"),
    (NEW_YORK, utc(3, 6, 22, 30), False, "Fri 17:30 EST; 22:30 UTC would be 18:30 EDT"),
    (NEW_YORK, utc(3, 9, 14), True, "Mon 10:00 EDT, but a holiday: outside hours all day"),
    (NEW_YORK, utc(3, 8, 7, 30), True, "Sun 03:30 EDT, the night the clocks change"),
    (NEW_YORK, utc(11, 2, 13, 30), False, "Mon 08:30 EST, the day after DST ends"),
    (NEW_YORK, utc(10, 30, 12, 30), False, "Fri 08:30 EDT, before DST ends"),
    (NEW_YORK, utc(11, 26, 15), True, "Thanksgiving 10:00"),
    (NEW_YORK, utc(11, 27, 15), False, "the Friday after: an ordinary day"),
    # Holidays are local dates: in Sydney, Christmas morning is still the 24th in UTC.
    (SYDNEY, utc(12, 24, 22), True, "Fri 09:00 AEDT on the 25th, though the 24th in UTC: a holiday"),
    (SYDNEY, utc(12, 23, 22), False, "Thu 09:00 AEDT on the 24th, an ordinary day"),
    # The southern hemisphere changes the other way: AEDT (UTC+11) ends on 5 April 2026.
    (SYDNEY, utc(4, 2, 21, 30), False, "Fri 08:30 AEDT, 3 April"),
    (SYDNEY, utc(4, 5, 22, 30), False, "Mon 08:30 AEST (UTC+10), 6 April"),
    (SYDNEY, utc(4, 5, 21, 30), True, "Mon 07:30 AEST: the same UTC time as the Friday case"),
]


@pytest.mark.parametrize(
    ("ctx", "started", "outside"),
    [pytest.param(c, s, o, id=why) for c, s, o, why in AFTER_HOURS],
)
def test_after_hours_across_dst_and_holidays(ctx: RuleContext, started: datetime, outside: bool) -> None:
    result = run(
        [entry(started_at=started)],
        {"name": "after hours", "when": {"outside_hours": OFFICE}, "multiply": 2, "label": "After-hours ×2"},
        {"name": "office", "when": {"within_hours": OFFICE}, "label": "Office hours"},
        ctx=ctx, holidays=HOLIDAYS,
    )
    line = result.lines[0]
    assert line.labels == (("After-hours ×2",) if outside else ("Office hours",))
    assert line.multiplier == (D(2) if outside else D(1))


@pytest.mark.parametrize(
    ("fields", "outside", "within"),
    [
        pytest.param({"work_date": date(2026, 12, 25)}, True, False, id="no-start-on-a-holiday-is-outside"),
        pytest.param({"work_date": date(2026, 12, 23)}, False, False, id="no-start-on-a-workday-is-neither"),
    ],
)
def test_entries_without_a_start_and_holidays(fields: dict[str, Any], outside: bool, within: bool) -> None:
    result = run([entry(**fields)], {"name": "o", "when": {"outside_hours": OFFICE}, "label": "outside"},
                 {"name": "w", "when": {"within_hours": OFFICE}, "label": "within"}, holidays=HOLIDAYS)
    labels = result.lines[0].labels
    assert ("outside" in labels, "within" in labels) == (outside, within)


def test_holidays_belong_to_their_rule_set_and_the_client_context_adds_more() -> None:
    with_holidays = rule_set({"name": "holiday", "when": {"holiday": True}, "label": "Holiday"},
                             holidays=["2026-12-25"])
    without = rule_set({"name": "also holiday", "when": {"holiday": True}, "label": "Also"})
    compiled = compile_rules([*with_holidays.rules, *without.rules])
    christmas, boxing_day = entry(work_date=date(2026, 12, 25)), entry(vendor_id="2", work_date=date(2026, 12, 26))
    plain = apply_rules([christmas, boxing_day], compiled, NEW_YORK)
    assert [line.labels for line in plain.lines] == [("Holiday",), ()]
    client = RuleContext("America/New_York", "reactive", frozenset(), holidays=frozenset({date(2026, 12, 26)}))
    both = apply_rules([christmas, boxing_day], compiled, client)
    assert [line.labels for line in both.lines] == [("Holiday",), ("Holiday", "Also")]


# --- rounding -------------------------------------------------------------------------------

ROUNDING = [
    # (round, multiply, seconds, hours logged, hours charged)
    ({"up_to": "15m", "minimum": "30m"}, None, 600, "0.17", "0.50"),  # the minimum
    ({"up_to": "15m", "minimum": "30m"}, None, 1800, "0.50", "0.50"),  # exactly the minimum
    ({"up_to": "15m", "minimum": "30m"}, None, 1801, "0.50", "0.75"),  # one second over: next step
    ({"up_to": "15m", "minimum": "30m"}, None, 2700, "0.75", "0.75"),  # on a step: unchanged
    ({"up_to": "15m", "minimum": "30m"}, "2", 600, "0.17", "1.00"),  # minimum, then the multiplier
    ({"up_to": "15m", "minimum": "30m"}, "1.5", 3000, "0.83", "1.50"),  # 50m → 1h × 1.5
    ({"up_to": "6m"}, None, 1000, "0.28", "0.30"),  # tenth-of-an-hour billing
    ({"up_to": "6m"}, "1.5", 1000, "0.28", "0.45"),
    ({"minimum": "1h"}, None, 1000, "0.28", "1.00"),
    ({"minimum": "1h"}, None, 4000, "1.11", "1.11"),  # above the minimum: not rounded
    ("15m", None, 60, "0.02", "0.25"),  # shorthand for up_to
    ({"up_to": "20m"}, "1.25", 1300, "0.36", "0.83"),  # 40m × 1.25 = 0.8333… rounded once
]


@pytest.mark.parametrize(
    ("rounding", "multiply", "seconds", "logged", "charged"),
    [pytest.param(r, m, s, lg, c, id=f"{r}-x{m or 1}-{s}s") for r, m, s, lg, c in ROUNDING],
)
def test_rounding_applies_before_the_multiplier_and_keeps_the_logged_time(
    rounding: Any, multiply: str | None, seconds: int, logged: str, charged: str
) -> None:
    rules: list[dict[str, Any]] = [{"name": "round", "round": rounding}]
    if multiply:
        rules.append({"name": "multiply", "multiply": multiply})
    line = run([entry(duration_seconds=seconds)], *rules).lines[0]
    assert (str(line.hours_logged), str(line.hours_charged)) == (logged, charged)


# --- overlapping rules ----------------------------------------------------------------------

OVERLAPS = [
    # (rules, expected line fields)
    ([{"name": "a", "round": "15m"}, {"name": "b", "round": {"minimum": "2h"}}],
     {"hours_charged": D("1.00")}),  # the first round wins
    ([{"name": "a", "when": {"weekend": True}, "round": {"minimum": "2h"}}, {"name": "b", "round": "30m"}],
     {"hours_charged": D("1.00")}),  # a non-matching rule decides nothing
    ([{"name": "a", "multiply": "1.5", "label": "A"}, {"name": "b", "multiply": 2, "label": "B"},
      {"name": "c", "pool": "scheduled", "label": "A"}],
     {"multiplier": D("1.5"), "labels": ("A", "B"), "pool": "scheduled"}),
    ([{"name": "a", "describe": "First"}, {"name": "b", "describe": "Second", "translate": {"First": "1st"}}],
     {"description": "1st"}),  # the first describe wins, yet a later rule's glossary applies
    ([{"name": "a", "translate": {"Patched": "Updated"}}, {"name": "b", "translate": {"Updated": "Refreshed"}}],
     {"description": "Refreshed the server"}),  # glossaries apply in rule order
    ([{"name": "a", "translate": {"server": "10.0.0.9"}}, {"name": "b", "redact": "ip"}],
     {"description": "Patched the [redacted]"}),  # redaction follows every translation
    ([{"name": "a", "redact": "ip"}, {"name": "b", "translate": {"server": "10.0.0.9"}}],
     {"description": "Patched the [redacted]"}),  # … whatever the rule order
    ([{"name": "a", "show_ticket_number": False}, {"name": "b", "show_ticket_number": True}],
     {"ticket_number": None}),  # the first to say wins
    ([{"name": "a", "label": "On-site"}, {"name": "b", "label": "After-hours ×2"}, {"name": "c", "multiply": 2}],
     {"labels": ("On-site", "After-hours ×2"), "multiplier": D(2), "hours_charged": D("2.00")}),
]


@pytest.mark.parametrize(("rules", "expected"), [pytest.param(r, e, id=f"overlap-{i}") for i, (r, e) in
                                                 enumerate(OVERLAPS)])
def test_overlapping_rules(rules: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    line = run([entry(notes="Patched the server", ticket_number="T-9")], *rules).lines[0]
    for name, value in expected.items():
        assert getattr(line, name) == value, name


def test_a_drop_anywhere_wins_over_every_other_action() -> None:
    result = run([entry(work_type="Travel", started_at=utc(3, 14, 15))],
                 {"name": "after hours", "when": {"weekend": True}, "multiply": 2, "label": "After-hours ×2"},
                 {"name": "round", "round": "15m"},
                 {"name": "no travel", "when": {"work_type": "Travel"}, "drop": "travel"},
                 {"name": "never reached", "label": "x"})
    assert result.lines == ()
    assert result.dropped[0].rule == "no travel"
    assert [f.name for f in result.trace[0].fired] == ["after hours", "round", "no travel"]


# --- descriptions: translate, redact, show_ticket_number --------------------------------------

DESCRIPTIONS = [
    # (rule actions, entry fields, description, ticket number)
    ({"translate": {r"(?i)\bFW rule conflict on \S+": "Firewall configuration correction"}},
     {"notes": "FW rule conflict on edge01"}, "Firewall configuration correction", None),
    ({"translate": {r"(?i)\bfw\b": "firewall", r"(?i)\bAP\b": "wireless access point"}},
     {"notes": "Rebooted the AP and the FW"}, "Rebooted the wireless access point and the firewall", None),
    ({"translate": {r"(\w+)@(\w+)": r"\2 at \1"}}, {"notes": "mail jo@acme"}, r"mail \2 at \1", None),
    ({"translate": {r"(?i)\s*per \w+ request": ""}}, {"notes": "Reset password per manager request"},
     "Reset password", None),
    ({"translate": {"(?s).+": ""}}, {"notes": "gone", "work_type": "Remote support"}, "Remote support", None),
    ({"redact": ["ip"]}, {"notes": "Pinged 10.20.30.40 and fe80::1"}, "Pinged [redacted] and [redacted]", None),
    ({"redact": ["hostname"]}, {"notes": r"Rebooted DC01, srv-fs-2 and mail.acme.local; mapped \\fs01\scans"},
     "Rebooted [redacted], [redacted] and [redacted]; mapped [redacted]", None),
    ({"redact": ["email"]}, {"notes": "Mailed jo.bloggs@acme-dental.example"}, "Mailed [redacted]", None),
    ({"redact": ["phone"]}, {"notes": "Call +1 (212) 555-0100 back, ticket 123456"},
     "Call [redacted] back, ticket 123456", None),
    ({"redact": ["url"]}, {"notes": "See https://portal.acme.example/x?id=3."}, "See [redacted].", None),
    ({"redact": [{"pattern": r"\bPO-\d+\b"}]}, {"notes": "Ordered under PO-4411"}, "Ordered under [redacted]", None),
    ({"redact": ["ip"]}, {"notes": "Windows 11 on M365, version 2.4.1"}, "Windows 11 on M365, version 2.4.1", None),
    ({"show_ticket_number": True}, {"notes": "Fixed", "ticket_number": " 4411 "}, "Fixed", "4411"),
    ({"show_ticket_number": True}, {"notes": "Fixed"}, "Fixed", None),
    ({"label": "x"}, {"notes": "Fixed", "ticket_number": "4411"}, "Fixed", None),  # off unless asked
    ({"describe": "Ticket {ticket_number}", "show_ticket_number": True}, {"ticket_number": "77"}, "Ticket 77", "77"),
]


@pytest.mark.parametrize(
    ("actions", "fields", "description", "ticket"),
    [pytest.param(a, f, d, t, id=f"{i:02d}-{'+'.join(a)}") for i, (a, f, d, t) in enumerate(DESCRIPTIONS)],
)
def test_description_actions(actions: dict[str, Any], fields: dict[str, Any], description: str,
                             ticket: str | None) -> None:
    line = run([entry(**fields)], {"name": "r", **actions}).lines[0]
    assert (line.description, line.ticket_number) == (description, ticket)


def test_scrubbing_and_the_guard_run_after_translate_and_redact() -> None:
    # A glossary can bring a name back in; the scrubber still takes it out.
    line = run([entry(notes="Escalated to the lead")], {"name": "t", "translate": {"the lead": "Priya Raman"}}).lines[0]
    assert line.description == "Escalated to our technician"
    with capture_logs() as logs:
        line = run([entry(notes="Checked", internal_notes="Customer owes us for March",
                          work_type="Remote support")],
                   {"name": "t", "translate": {"Checked": "customer owes us for March"}}).lines[0]
    assert line.description == "Remote support"
    assert [e["field"] for e in logs if e["event"] == "leak_guard_replaced"] == ["description"]


def test_a_ticket_number_holding_a_name_is_withheld() -> None:
    with capture_logs() as logs:
        line = run([entry(notes="Fixed", ticket_number="Priya-12")], {"name": "t", "show_ticket_number": True}).lines[0]
    assert line.ticket_number is None
    assert [(e["reason"], e["field"]) for e in logs] == [("technician name", "ticket_number")]


# --- traces -----------------------------------------------------------------------------------


def test_trace_says_what_fired_and_what_each_rule_did() -> None:
    entries = [
        entry(vendor_id="1", work_type="Travel"),
        entry(vendor_id="2", started_at=utc(3, 14, 15), notes="FW reset", duration_seconds=1000),
        entry(vendor_id="3", deleted=True),
    ]
    result = run(entries,
                 {"name": "no travel", "when": {"work_type": "Travel"}, "drop": "travel is not billed"},
                 {"name": "after hours", "when": {"weekend": True}, "multiply": 2, "label": "After-hours ×2"},
                 {"name": "weekend pool", "when": {"weekend": True}, "pool": "weekend", "multiply": 3},
                 {"name": "tidy", "translate": {"FW": "firewall"}, "redact": ["ip", "email"], "round": "15m"})
    travel, weekend, deleted = result.trace
    assert travel.dropped is not None and travel.line is None
    assert travel.fired == (FiredRule("no travel", ("drop: travel is not billed",)),)
    # 1000 s rounded up to 30 minutes, then doubled by the first multiply to fire.
    assert weekend.line is not None and weekend.line.hours_charged == D("1.00")
    assert weekend.charged_seconds == 1800
    assert weekend.fired == (
        FiredRule("after hours", ("multiply ×2", "label After-hours ×2")),
        FiredRule("weekend pool", ("pool weekend", "multiply ×3 (an earlier rule decided)")),
        FiredRule("tidy", ("round up to 15m", "translate (1 term)", "redact email, ip")),
    )
    assert deleted.skipped == "deleted" and deleted.fired == ()


def test_no_trace_unless_asked() -> None:
    compiled = compile_rules([Rule.model_validate({"name": "l", "label": "x"})])
    assert apply_rules([entry()], compiled, NEW_YORK).trace == ()
