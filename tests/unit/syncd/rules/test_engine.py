"""Tests for syncd.rules.engine: conditions, actions, descriptions, rounding and the leak guard."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from structlog.testing import capture_logs

from syncd.config import Rule
from syncd.models import Dropped, TimeEntry
from syncd.rules.engine import (
    GENERIC_DESCRIPTION,
    RuleContext,
    apply_rules,
    compile_rules,
    describe_entry,
)

CHICAGO = RuleContext("America/Chicago", "reactive", frozenset({"Priya Patel", "Will Hart"}),
                      account_vendors={"cw": "connectwise", "tg": "toggl"})
LONDON = RuleContext("Europe/London", "reactive", frozenset())
OFFICE = "mon-fri 08:00-18:00"


def entry(**overrides: Any) -> TimeEntry:
    fields: dict[str, Any] = {
        "account": "cw",
        "vendor_id": "101",
        "client_key": "acme",
        "work_date": date(2026, 3, 10),
        "duration_seconds": 3600,
        "updated_at": datetime(2026, 3, 10, 18, tzinfo=UTC),
    }
    fields.update(overrides)
    return TimeEntry(**fields)


def rules(*specs: dict[str, Any]) -> Any:
    return compile_rules([Rule.model_validate(s) for s in specs])


def run(entries: list[TimeEntry], *specs: dict[str, Any], ctx: RuleContext = CHICAGO) -> Any:
    return apply_rules(entries, rules(*specs), ctx)


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- conditions ---------------------------------------------------------------------------

CONDITIONS = [
    # (condition, entry fields, holds?)
    ({}, {}, True),
    ({"vendor": "ConnectWise"}, {}, True),
    ({"vendor": ["toggl", "harvest"]}, {}, False),
    ({"vendor": "toggl"}, {"account": "tg"}, True),
    ({"vendor": "toggl"}, {"account": "unknown-account"}, False),
    ({"account": "CW"}, {}, True),
    ({"account": ["tg"]}, {}, False),
    ({"work_type": ["Travel", "Drive Time"]}, {"work_type": "drive time"}, True),
    ({"work_type": "Travel"}, {"work_type": "Travel Prep"}, False),
    ({"work_type": "Travel"}, {}, False),
    ({"role": "Engineer"}, {"role": "engineer "}, True),
    ({"task": "Patching"}, {"task": "Backups"}, False),
    ({"project": "Migration"}, {"project": "MIGRATION"}, True),
    ({"ticket_type": ["Incident", "Service Request"]}, {"ticket_type": "service request"}, True),
    ({"ticket_type": "Incident"}, {"ticket_type": "Problem"}, False),
    ({"tags": ["vip", "urgent"]}, {"tags": ("Urgent", "night")}, True),
    ({"tags": "vip"}, {"tags": ("night",)}, False),
    ({"tags": "vip"}, {}, False),
    ({"worker": "priya patel"}, {"worker_name": "Priya Patel", "worker_id": "17"}, True),
    ({"worker": "17"}, {"worker_name": "Priya Patel", "worker_id": "17"}, True),
    ({"worker": "Will Hart"}, {"worker_name": "Priya Patel", "worker_id": "17"}, False),
    ({"approval": "approved"}, {"approval": "Approved"}, True),
    ({"approval": "approved"}, {}, False),
    ({"billable": False}, {"billable": False}, True),
    ({"billable": False}, {}, False),
    ({"travel": True}, {"travel": True}, True),
    ({"travel": True}, {}, False),
    ({"location": "onsite"}, {"location": "onsite"}, True),
    ({"location": "onsite"}, {"location": "remote"}, False),
    ({"text": r"(?i)\bFW\b|firewall"}, {"notes": "Updated fw rules"}, True),
    ({"text": r"(?i)firewall"}, {"ticket_title": "Firewall down"}, True),
    ({"text": "Firewall"}, {"notes": "firewall"}, False),
    ({"text": "(?m)^Printer$"}, {"notes": "x", "ticket_title": "Printer"}, True),
    ({"text": "^Printer$"}, {"notes": "x", "ticket_title": "Printer"}, False),
    ({"text": "printer"}, {}, False),
    ({"min_duration": "30m"}, {"duration_seconds": 1800}, True),
    ({"min_duration": "30m"}, {"duration_seconds": 1799}, False),
    ({"max_duration": "15m"}, {"duration_seconds": 900}, True),
    ({"max_duration": "15m"}, {"duration_seconds": 901}, False),
    ({"min_duration": "10m", "max_duration": "20m"}, {"duration_seconds": 1200}, True),
    ({"work_type": "Remote", "billable": False}, {"work_type": "Remote"}, False),
    ({"work_type": "Remote", "billable": True}, {"work_type": "Remote"}, True),
    ({"all": [{"work_type": "Remote"}, {"tags": "vip"}]}, {"work_type": "Remote", "tags": ("vip",)}, True),
    ({"all": [{"work_type": "Remote"}, {"tags": "vip"}]}, {"work_type": "Remote"}, False),
    ({"any": [{"work_type": "Onsite"}, {"tags": "vip"}]}, {"tags": ("vip",)}, True),
    ({"any": [{"work_type": "Onsite"}, {"tags": "vip"}]}, {}, False),
    ({"not": {"billable": True}}, {"billable": False}, True),
    ({"not": {"billable": True}}, {}, False),
    ({"not": {"any": [{"tags": "a"}, {"all": [{"role": "x"}, {"not": {"task": "y"}}]}]}}, {"role": "x"}, False),
    ({"not": {"any": [{"tags": "a"}, {"all": [{"role": "x"}, {"not": {"task": "y"}}]}]}},
     {"role": "x", "task": "y"}, True),
]


@pytest.mark.parametrize(
    ("condition", "fields", "holds"),
    [pytest.param(c, f, h, id=f"{i:02d}-{'+'.join(c) or 'empty'}-{'match' if h else 'no-match'}")
     for i, (c, f, h) in enumerate(CONDITIONS)],
)
def test_condition(condition: dict[str, Any], fields: dict[str, Any], holds: bool) -> None:
    result = run([entry(**fields)], {"name": "probe", "when": condition, "label": "hit"})
    assert (result.lines[0].labels == ("hit",)) is holds


TIME_CASES = [
    # (context, started_at UTC, outside office hours?)
    (CHICAGO, at(2026, 3, 6, 13, 30), True),  # Fri 07:30 CST (UTC-6), before DST
    (CHICAGO, at(2026, 3, 9, 13, 30), False),  # Mon 08:30 CDT (UTC-5), after DST starts 8 Mar
    (CHICAGO, at(2026, 3, 9, 22, 59), False),  # Mon 17:59 CDT
    (CHICAGO, at(2026, 3, 9, 23, 0), True),  # Mon 18:00 CDT: the window's end is exclusive
    (CHICAGO, at(2026, 3, 7, 16, 0), True),  # Saturday 10:00
    (CHICAGO, at(2026, 3, 10, 3, 0), True),  # Mon 22:00 local although Tue in UTC
    (LONDON, at(2026, 3, 27, 7, 30), True),  # Fri 07:30 GMT, before BST
    (LONDON, at(2026, 3, 30, 7, 30), False),  # Mon 08:30 BST
    (LONDON, at(2026, 10, 23, 17, 30), True),  # Fri 18:30 BST
    (LONDON, at(2026, 10, 26, 17, 30), False),  # Mon 17:30 GMT, after BST ends 25 Oct
]


@pytest.mark.parametrize(
    ("ctx", "started", "outside"),
    [pytest.param(c, s, o, id=f"{c.timezone.split('/')[1]}-{s:%m%d-%H%M}Z-{'outside' if o else 'inside'}")
     for c, s, o in TIME_CASES],
)
def test_business_hours_in_the_client_timezone(ctx: RuleContext, started: datetime, outside: bool) -> None:
    result = run(
        [entry(started_at=started)],
        {"name": "after hours", "when": {"outside_hours": OFFICE}, "label": "outside"},
        {"name": "office", "when": {"within_hours": OFFICE}, "label": "inside"},
        ctx=ctx,
    )
    assert result.lines[0].labels == (("outside",) if outside else ("inside",))


@pytest.mark.parametrize("key", ["outside_hours", "within_hours"])
def test_entries_without_a_start_never_match_hours(key: str) -> None:
    result = run([entry(started_at=None)], {"name": "h", "when": {key: OFFICE}, "label": "hit"},
                 {"name": "n", "when": {"not": {key: OFFICE}}, "label": "negated"})
    assert result.lines[0].labels == ("negated",)


def test_naive_start_is_taken_as_utc() -> None:
    result = run([entry(started_at=datetime(2026, 3, 9, 13, 30))],
                 {"name": "h", "when": {"within_hours": OFFICE}, "label": "inside"})
    assert result.lines[0].labels == ("inside",)


# --- actions ------------------------------------------------------------------------------


def test_drop_with_reason_names_the_rule() -> None:
    result = run([entry(work_type="Travel")],
                 {"name": "no travel", "when": {"work_type": "Travel"}, "drop": "travel is not billed"})
    assert result.lines == ()
    assert result.dropped == (Dropped(("cw", "101"), "no travel", "travel is not billed"),)


def test_drop_true_has_no_reason() -> None:
    result = run([entry(billable=False)], {"name": "internal", "when": {"billable": False}, "drop": True})
    assert result.dropped == (Dropped(("cw", "101"), "internal", None),)


def test_drop_wins_over_earlier_actions() -> None:
    result = run(
        [entry(work_type="Travel")],
        {"name": "pool it", "pool": "projects", "label": "x", "multiply": 2},
        {"name": "no travel", "when": {"work_type": "Travel"}, "drop": True},
    )
    assert result.lines == ()
    assert result.dropped[0].rule == "no travel"


def test_first_matching_drop_names_the_rule() -> None:
    result = run([entry()], {"name": "first", "drop": "a"}, {"name": "second", "drop": "b"})
    assert result.dropped == (Dropped(("cw", "101"), "first", "a"),)


def test_non_matching_drop_keeps_the_entry() -> None:
    result = run([entry()], {"name": "no travel", "when": {"work_type": "Travel"}, "drop": True})
    assert len(result.lines) == 1
    assert result.dropped == ()


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        pytest.param([], {"pool": "reactive", "multiplier": D(1), "labels": ()}, id="defaults"),
        pytest.param(
            [{"name": "a", "pool": "projects"}, {"name": "b", "pool": "scheduled"}],
            {"pool": "projects"}, id="first-pool-wins",
        ),
        pytest.param(
            [{"name": "a", "when": {"tags": "nope"}, "pool": "projects"}, {"name": "b", "pool": "scheduled"}],
            {"pool": "scheduled"}, id="non-matching-pool-skipped",
        ),
        pytest.param(
            [{"name": "a", "multiply": 2}, {"name": "b", "multiply": "1.5"}],
            {"multiplier": D(2)}, id="first-multiply-wins",
        ),
        pytest.param(
            [{"name": "a", "describe": "First"}, {"name": "b", "describe": "Second"}],
            {"description": "First"}, id="first-describe-wins",
        ),
        pytest.param(
            [{"name": "a", "label": "On-site"}, {"name": "b", "label": "After-hours ×2"},
             {"name": "c", "label": "On-site"}],
            {"labels": ("On-site", "After-hours ×2")}, id="labels-accumulate-without-duplicates",
        ),
        pytest.param(
            [{"name": "a", "label": "L1", "pool": "projects"}, {"name": "b", "label": "L2", "pool": "other"}],
            {"labels": ("L1", "L2"), "pool": "projects"}, id="labels-from-every-rule",
        ),
    ],
)
def test_actions(specs: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    line = run([entry(notes="Patched")], *specs).lines[0]
    for name, value in expected.items():
        assert getattr(line, name) == value, name


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"deleted": True}, id="deleted"),
        pytest.param({"duration_seconds": 0}, id="zero-duration"),
        pytest.param({"duration_seconds": -60}, id="negative-duration"),
    ],
)
def test_skipped_entries_are_neither_lines_nor_dropped(fields: dict[str, Any]) -> None:
    result = run([entry(**fields)], {"name": "drop all", "drop": True})
    assert result == type(result)((), ())


# --- hours --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "multiply", "logged", "charged"),
    [
        pytest.param(1000, "2", "0.28", "0.56", id="1000s-x2-rounded-once"),
        pytest.param(2700, "1.5", "0.75", "1.13", id="45m-x1.5-half-up"),
        pytest.param(900, None, "0.25", "0.25", id="15m"),
        pytest.param(18, None, "0.01", "0.01", id="half-a-hundredth-rounds-up"),
        pytest.param(17, None, "0.00", "0.00", id="under-half-a-hundredth"),
        pytest.param(3600, "1.25", "1.00", "1.25", id="1h-x1.25"),
        pytest.param(5400, "0.5", "1.50", "0.75", id="discount"),
        pytest.param(1, "10", "0.00", "0.00", id="tiny-x10"),
    ],
)
def test_hours_rounding(seconds: int, multiply: str | None, logged: str, charged: str) -> None:
    specs = [{"name": "m", "multiply": multiply}] if multiply else []
    line = run([entry(duration_seconds=seconds)], *specs).lines[0]
    assert (line.hours_logged, line.hours_charged) == (D(logged), D(charged))
    assert str(line.hours_logged) == logged and str(line.hours_charged) == charged


# --- dates, order, source -------------------------------------------------------------------


def test_line_date_is_the_local_date_of_the_start() -> None:
    # 03:00 UTC on the 3rd is 21:00 CST on the 2nd in Chicago.
    line = run([entry(work_date=date(2026, 3, 3), started_at=at(2026, 3, 3, 3))]).lines[0]
    assert line.date == date(2026, 3, 2)


def test_line_date_falls_back_to_the_work_date() -> None:
    assert run([entry(work_date=date(2026, 3, 3))]).lines[0].date == date(2026, 3, 3)


def test_source_and_sort_key() -> None:
    line = run([entry(account="cw", vendor_id="42", started_at=at(2026, 3, 9, 14, 5))]).lines[0]
    assert line.source == ("cw", "42")
    assert line.sort_key == ("2026-03-09", "2026-03-09T14:05:00.000000Z", "cw", "0" * 18 + "42")
    assert line.ticket_number is None


def test_non_numeric_vendor_ids_are_not_padded() -> None:
    line = run([entry(vendor_id="ab-12", started_at=None)]).lines[0]
    assert line.sort_key == ("2026-03-10", "", "cw", "ab-12")


def test_lines_come_out_chronologically() -> None:
    entries = [
        entry(vendor_id="100", started_at=at(2026, 3, 9, 20)),
        entry(vendor_id="9", started_at=at(2026, 3, 9, 15)),
        entry(vendor_id="10", started_at=at(2026, 3, 9, 15)),
        entry(vendor_id="7", work_date=date(2026, 3, 9)),  # no start time: first on its day
        entry(vendor_id="1", work_date=date(2026, 3, 12)),
        entry(vendor_id="2", started_at=at(2026, 3, 2, 15)),
    ]
    result = run(entries)
    assert [line.source[1] for line in result.lines] == ["2", "7", "9", "10", "100", "1"]


def test_dst_fall_back_keeps_true_order() -> None:
    # 1 Nov 2026 in Chicago: 01:45 CDT (06:45 UTC) comes before 01:15 CST (07:15 UTC).
    first, second = entry(vendor_id="2", started_at=at(2026, 11, 1, 6, 45)), entry(
        vendor_id="1", started_at=at(2026, 11, 1, 7, 15))
    result = run([second, first])
    assert [line.source[1] for line in result.lines] == ["2", "1"]
    assert {line.date for line in result.lines} == {date(2026, 11, 1)}


# --- descriptions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"notes": "Replaced toner", "ticket_title": "Printer", "task": "T", "work_type": "W"},
                     "Replaced toner", id="notes"),
        pytest.param({"notes": "  \n ", "ticket_title": "Printer jam", "task": "T"}, "Printer jam", id="title"),
        pytest.param({"task": "Patching", "work_type": "Remote"}, "Patching", id="task"),
        pytest.param({"work_type": "Remote support"}, "Remote support", id="work-type"),
        pytest.param({}, GENERIC_DESCRIPTION, id="generic"),
        pytest.param({"notes": "  Replaced   the\ttoner  "}, "Replaced the toner", id="whitespace-collapsed"),
        pytest.param({"notes": "Replaced toner\n\nTested printing\r\nClosed"},
                     "Replaced toner; Tested printing; Closed", id="lines-joined"),
        pytest.param({"notes": "Replaced toner.\nTested printing"}, "Replaced toner. Tested printing",
                     id="punctuated-lines-joined-by-space"),
        pytest.param({"internal_notes": "secret", "worker_name": "Priya Patel"}, GENERIC_DESCRIPTION,
                     id="internal-fields-never-used"),
    ],
)
def test_description_fallback(fields: dict[str, Any], expected: str) -> None:
    assert describe_entry(entry(**fields)) == expected


@pytest.mark.parametrize(
    ("template", "fields", "expected"),
    [
        pytest.param("Network issue — firewall fix", {"notes": "fw"}, "Network issue — firewall fix", id="fixed"),
        pytest.param("#{ticket_number}: {ticket_title}", {"ticket_number": "T1", "ticket_title": "Down"},
                     "#T1: Down", id="fields"),
        pytest.param("{ticket_title} ({ticket_type})", {"ticket_title": "Down"}, "Down ()", id="missing-empty"),
        pytest.param("{work_type}: {notes}", {"work_type": "Remote", "notes": "a\nb"}, "Remote: a; b",
                     id="multi-line-value"),
        pytest.param("{task}", {"notes": "Fallback note"}, "Fallback note", id="empty-result-falls-back"),
        pytest.param("{{literal}} {role}", {"role": "Engineer"}, "{literal} Engineer", id="escaped-braces"),
    ],
)
def test_describe_template(template: str, fields: dict[str, Any], expected: str) -> None:
    line = run([entry(**fields)], {"name": "d", "describe": template}).lines[0]
    assert line.description == expected


# --- scrubbing and the leak guard -----------------------------------------------------------


def test_names_are_scrubbed_from_descriptions() -> None:
    line = run([entry(notes="Priya Patel rebooted the NAS.\nHart's laptop imaged")]).lines[0]
    assert line.description == "Our technician rebooted the NAS. Our technician's laptop imaged"


def test_workers_on_entries_are_scrubbed_even_if_not_in_context() -> None:
    line = run([entry(worker_name="Dana Okafor", notes="Okafor patched the server")],
               ctx=LONDON).lines[0]
    assert line.description == "Our technician patched the server"


def test_template_output_is_scrubbed() -> None:
    describe = {"name": "d", "describe": "Ticket: {ticket_title}"}
    line = run([entry(ticket_title="Call Priya back")], describe).lines[0]
    assert line.description == "Ticket: Call our technician back"


@pytest.mark.parametrize(
    ("fields", "expected", "reason"),
    [
        pytest.param({"notes": "we will call back", "work_type": "Remote support"}, "Remote support",
                     "technician name", id="lower-case-name-part-to-work-type"),
        pytest.param({"notes": "Cause: user deleted the VPN profile",
                      "internal_notes": "User deleted the VPN profile", "work_type": "Remote"},
                     "Remote", "internal note", id="internal-note-to-work-type"),
        pytest.param({"notes": "will do", "work_type": "Will's queue"}, GENERIC_DESCRIPTION, "technician name",
                     id="work-type-also-unsafe"),
        pytest.param({"notes": "priya.patel@msp.example fixed it"}, GENERIC_DESCRIPTION, "technician name",
                     id="name-in-email-no-work-type"),
    ],
)
def test_leak_guard_replaces_and_logs_without_the_text(
    fields: dict[str, Any], expected: str, reason: str
) -> None:
    with capture_logs() as logs:
        line = run([entry(vendor_id="555", **fields)]).lines[0]
    assert line.description == expected
    events = [e for e in logs if e["event"] == "leak_guard_replaced"]
    assert events == [{"event": "leak_guard_replaced", "log_level": "warning", "account": "cw",
                       "vendor_id": "555", "reason": reason, "field": "description"}]
    assert fields["notes"] not in repr(logs)


def test_internal_notes_of_dropped_entries_are_guarded_too() -> None:
    dropped = entry(vendor_id="1", work_type="Travel", internal_notes="Gate code is 4411 at the back door")
    kept = entry(vendor_id="2", notes="Arrived; gate code is 4411 at the back door")
    result = run([dropped, kept], {"name": "no travel", "when": {"work_type": "Travel"}, "drop": True})
    assert result.lines[0].description == GENERIC_DESCRIPTION
    assert len(result.dropped) == 1


def test_internal_notes_of_deleted_entries_are_guarded_too() -> None:
    gone = entry(vendor_id="1", deleted=True, internal_notes="Customer owes us for March")
    kept = entry(vendor_id="2", notes="Customer owes us for March")
    assert run([gone, kept]).lines[0].description == GENERIC_DESCRIPTION


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param({"name": "t", "translate": {"(?i)\\bfw\\b": "firewall"}}, id="translated-word"),
        pytest.param({"name": "r", "redact": ["ip"]}, id="redacted-address"),
    ],
)
def test_a_copied_internal_sentence_is_refused_even_when_a_rule_rewrites_part_of_it(rule: dict[str, Any]) -> None:
    internal = "Reset the FW at 10.0.0.1 again. Client refuses to pay."
    copied = entry(vendor_id="1", notes="Reset the FW at 10.0.0.1 again", internal_notes=internal,
                   work_type="Remote support")
    with capture_logs() as logs:
        line = run([copied], rule).lines[0]
    assert line.description == "Remote support"
    assert [(e["reason"], e["field"]) for e in logs] == [("internal note", "description")]


def test_a_rule_rewriting_an_ordinary_note_is_not_refused() -> None:
    plain = entry(notes="Reset the FW rules", internal_notes="Client refuses to pay for this.")
    line = run([plain], {"name": "t", "translate": {"(?i)\\bfw\\b": "firewall"}}).lines[0]
    assert line.description == "Reset the firewall rules"


def test_a_label_that_fails_the_guard_is_removed_and_logged() -> None:
    with capture_logs() as logs:
        line = run([entry(notes="Patched")], {"name": "l", "label": "escalated by hart"},
                   {"name": "k", "label": "On-site"}).lines[0]
    assert line.labels == ("On-site",)
    assert [(e["reason"], e["field"]) for e in logs] == [("technician name", "label")]
    assert "hart" not in repr(logs)


def test_clean_lines_log_nothing() -> None:
    with capture_logs() as logs:
        run([entry(notes="Patched the server", internal_notes="Took ages")])
    assert logs == []


def test_compiled_rules_are_reusable() -> None:
    compiled = rules({"name": "ah", "when": {"outside_hours": OFFICE}, "multiply": 2})
    first = apply_rules([entry(started_at=at(2026, 3, 7, 16))], compiled, CHICAGO)
    second = apply_rules([entry(started_at=at(2026, 3, 7, 16))], compiled, LONDON)
    assert first.lines[0].multiplier == second.lines[0].multiplier == D(2)
    assert len(compiled) == 1
