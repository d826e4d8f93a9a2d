"""Tests for publisher.render: balance.json, log.csv and the client page."""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.inert import csv_text, plain
from publisher.render import CSP_STYLE_HASH, CSV_HEADER, PAGE_CSP, balance_document, render
from syncd.models import (
    Adjustment,
    Cycle,
    Line,
    PastCycle,
    PoolBalance,
    SourceFreshness,
    Statement,
)

GENERATED = datetime(2026, 11, 21, 20, 5, tzinfo=UTC)
# Markers planted in internal fields: none may appear in any published file.
SECRET_ACCOUNT = "acct-XYZZY-internal"
SECRET_VENDOR_ID = "vendor-id-424242"
SECRET_SORT = "sortkey-QWERTY"


def make_line(**overrides: Any) -> Line:
    fields: dict[str, Any] = {
        "date": date(2026, 11, 16),
        "description": "Reset a user's password",
        "hours_logged": D("0.50"),
        "multiplier": D("1"),
        "hours_charged": D("0.50"),
        "pool": "reactive",
        "labels": (),
        "ticket_number": None,
        "sort_key": (SECRET_SORT, SECRET_VENDOR_ID),
        "source": (SECRET_ACCOUNT, SECRET_VENDOR_ID),
        "balance_after": D("19.50"),
    }
    fields.update(overrides)
    return Line(**fields)


def make_pool(**overrides: Any) -> PoolBalance:
    fields: dict[str, Any] = {
        "name": "reactive",
        "label": "Reactive support",
        "cap": D("20"),
        "carried_in": D("0"),
        "adjustments": D("0"),
        "used": D("0.50"),
    }
    fields.update(overrides)
    return PoolBalance(**fields)


def make_statement(**overrides: Any) -> Statement:
    fields: dict[str, Any] = {
        "client_key": "acme-dental",
        "client_name": "Acme Dental",
        "generated_at": GENERATED,
        "cycle": Cycle(date(2026, 11, 15), date(2026, 12, 15), "America/Chicago"),
        "pools": (make_pool(),),
        "lines": (make_line(),),
        "sources": (SourceFreshness("ConnectWise", GENERATED - timedelta(minutes=5)),),
        "next_update_by": GENERATED + timedelta(minutes=15),
        # British English: day-month dates and 24-hour times keep the expected texts short.
        "locale": "en_GB",
    }
    fields.update(overrides)
    return Statement(**fields)


def multi_pool_statement() -> Statement:
    return make_statement(
        pools=(
            make_pool(carried_in=D("2"), adjustments=D("10"), used=D("3.25")),
            make_pool(name="scheduled", label="Scheduled maintenance", cap=D("8"), used=D("9.50")),
        ),
        lines=(
            make_line(date=date(2026, 11, 16), sort_key=("2026-11-16T15:00", "1")),
            make_line(date=date(2026, 11, 18), sort_key=("2026-11-18T09:00", "2"), pool="scheduled",
                      hours_logged=D("9.50"), hours_charged=D("9.50"), balance_after=D("-1.50")),
            make_line(date=date(2026, 11, 18), sort_key=("2026-11-18T23:00", "3"), description="Late fix",
                      hours_logged=D("1.375"), multiplier=D("2"), hours_charged=D("2.75"),
                      labels=("After-hours ×2", "On-site"), balance_after=D("28.75")),
        ),
        adjustments=(
            Adjustment(date(2026, 11, 20), D("10"), "Authorized for the January cohort", "reactive"),
        ),
        history=(
            PastCycle(date(2026, 9, 15), date(2026, 10, 15), D("20"), D("12")),
            PastCycle(date(2026, 10, 15), date(2026, 11, 15), D("20"), D("22.5")),
        ),
        forecast=date(2026, 12, 10),
        notices=("Office closed on 26 Nov.",),
    )


def page(statement: Statement) -> str:
    return render(statement)["index.html"].decode("utf-8")


def page_text(statement: Statement) -> str:
    """The page as a reader sees it: tags stripped, entities decoded, spaces collapsed."""
    body = page(statement).split("</style>", 1)[1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def csv_rows(statement: Statement) -> list[list[str]]:
    data = render(statement)["log.csv"]
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def walk_keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | set().union(*(walk_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(walk_keys(v) for v in node))
    return set()


# --- all files ---------------------------------------------------------------------------


def test_render_returns_exactly_the_three_page_files() -> None:
    assert set(render(make_statement())) == {"index.html", "balance.json", "log.csv"}


@pytest.mark.parametrize("build", [make_statement, multi_pool_statement])
def test_render_gives_identical_bytes_for_equal_statements(build: Any) -> None:
    assert render(build()) == render(build())


@pytest.mark.parametrize("name", ["index.html", "balance.json", "log.csv"])
def test_internal_line_fields_never_reach_any_file(name: str) -> None:
    data = render(multi_pool_statement())[name].decode("utf-8-sig")
    for marker in (SECRET_ACCOUNT, SECRET_VENDOR_ID, SECRET_SORT, "acme-dental"):
        assert marker not in data


# --- balance.json ------------------------------------------------------------------------


def test_json_document_has_the_schema_keys_in_order() -> None:
    doc = balance_document(multi_pool_statement())
    assert list(doc) == [
        "schema", "client", "locale", "generated_at", "sources", "next_update_by", "stale", "cycle",
        "pools", "totals", "overage_policy", "adjustments", "lines", "history", "forecast", "notices",
    ]
    assert doc["schema"] == "syncd.balance/1"
    assert doc["client"] == "Acme Dental"


def test_json_keys_are_only_allow_listed_ones_at_every_depth() -> None:
    keys = walk_keys(balance_document(multi_pool_statement()))
    forbidden = {"source", "sort_key", "client_key", "account", "vendor_id", "worker",
                 "worker_id", "worker_name", "internal_notes", "notes", "technician"}
    assert keys & forbidden == set()


HOUR_PATTERN = re.compile(r"-?\d+\.\d{2}")


def test_json_hours_are_two_place_decimal_strings() -> None:
    doc = balance_document(multi_pool_statement())
    figures = [doc["totals"][k] for k in ("available", "used", "remaining", "over")]
    for pool in doc["pools"]:
        figures += [pool[k] for k in ("cap", "carried_in", "adjustments", "available", "used",
                                      "remaining", "over")]
    for line in doc["lines"]:
        figures += [line["hours_logged"], line["hours_charged"], line["balance_after"]]
    figures += [a["hours"] for a in doc["adjustments"]]
    figures += [h[k] for h in doc["history"] for k in ("available", "used")]
    assert len(figures) == 4 + 2 * 7 + 3 * 3 + 1 + 2 * 2
    for figure in figures:
        assert isinstance(figure, str) and HOUR_PATTERN.fullmatch(figure), figure


def test_json_totals_are_the_sums_of_the_pools() -> None:
    doc = balance_document(multi_pool_statement())
    for key in ("available", "used", "remaining", "over", "pending"):
        assert D(doc["totals"][key]) == sum(D(p[key]) for p in doc["pools"])
    assert doc["totals"] == {"available": "40.00", "used": "12.75", "remaining": "28.75", "over": "1.50",
                             "pending": "0.00"}


def test_json_pool_figures_follow_the_accounting_rules() -> None:
    reactive, scheduled = balance_document(multi_pool_statement())["pools"]
    assert reactive == {
        "name": "reactive", "label": "Reactive support", "cap": "20.00", "carried_in": "2.00",
        "adjustments": "10.00", "available": "32.00", "used": "3.25", "remaining": "28.75",
        "over": "0.00", "percent_used": "10.2", "pending": "0.00", "tracked": True, "resets": True,
        "overflow_to": None,
    }
    assert (scheduled["remaining"], scheduled["over"], scheduled["percent_used"]) == ("0.00", "1.50", "118.8")


def test_json_lines_are_newest_first_with_same_day_lines_by_sort_key() -> None:
    lines = balance_document(multi_pool_statement())["lines"]
    assert [(line["date"], line["description"]) for line in lines] == [
        ("2026-11-18", "Late fix"),
        ("2026-11-18", "Reset a user's password"),
        ("2026-11-16", "Reset a user's password"),
    ]


def test_json_same_day_lines_without_sort_keys_reverse_the_chronological_input() -> None:
    lines = tuple(make_line(description=f"job {i}", sort_key=("", "")) for i in range(3))
    doc = balance_document(make_statement(lines=lines))
    assert [line["description"] for line in doc["lines"]] == ["job 2", "job 1", "job 0"]


def test_json_line_carries_exactly_the_published_fields() -> None:
    line = balance_document(multi_pool_statement())["lines"][0]
    assert line == {
        "date": "2026-11-18", "description": "Late fix", "hours_logged": "1.38", "multiplier": "2",
        "hours_charged": "2.75", "pool": "reactive", "labels": ["After-hours ×2", "On-site"],
        "balance_after": "28.75", "pending": False, "covered": False,
    }


@pytest.mark.parametrize(("ticket", "expected_keys"), [
    (None, {"date", "description", "hours_logged", "multiplier", "hours_charged", "pool", "labels",
            "balance_after", "pending", "covered"}),
    ("#1201", {"date", "description", "hours_logged", "multiplier", "hours_charged", "pool", "labels",
               "ticket_number", "balance_after", "pending", "covered"}),
])
def test_json_ticket_number_is_present_only_when_the_line_has_one(
    ticket: str | None, expected_keys: set[str]
) -> None:
    line = balance_document(make_statement(lines=(make_line(ticket_number=ticket),)))["lines"][0]
    assert set(line) == expected_keys


@pytest.mark.parametrize(("multiplier", "text"), [
    (D("1"), "1"), (D("2.00"), "2"), (D("1.5"), "1.5"), (D("10"), "10"),
])
def test_json_multiplier_is_a_plain_decimal_string(multiplier: D, text: str) -> None:
    line = balance_document(make_statement(lines=(make_line(multiplier=multiplier),)))["lines"][0]
    assert line["multiplier"] == text


def test_json_datetimes_are_utc_with_z_whatever_offset_they_came_with() -> None:
    plus_two = timezone(timedelta(hours=2))
    doc = balance_document(make_statement(
        generated_at=datetime(2026, 11, 21, 22, 5, 30, 999, tzinfo=plus_two),
        sources=(SourceFreshness("Harvest", None, failing=True),),
        next_update_by=None,
    ))
    assert doc["generated_at"] == "2026-11-21T20:05:30Z"
    assert doc["sources"] == [{"name": "Harvest", "data_through": None, "failing": True}]
    assert doc["next_update_by"] is None


def test_json_cycle_end_is_the_last_day_and_resets_on_the_next_start() -> None:
    doc = balance_document(multi_pool_statement())
    assert doc["cycle"] == {"start": "2026-11-15", "end": "2026-12-14", "resets_on": "2026-12-15",
                            "timezone": "America/Chicago"}
    assert doc["history"][0] == {
        "start": "2026-10-15", "end": "2026-11-14", "available": "20.00", "used": "22.50",
    }
    assert doc["forecast"] == "2026-12-10"


def test_json_file_is_indented_unescaped_utf8_with_a_trailing_newline() -> None:
    data = render(make_statement(client_name="Zürich Dental"))["balance.json"]
    text = data.decode("utf-8")
    assert "Zürich Dental" in text
    assert text.endswith("}\n")
    assert text.startswith('{\n  "schema": "syncd.balance/1",\n')
    assert json.loads(text)["client"] == "Zürich Dental"


# --- log.csv -----------------------------------------------------------------------------


def test_csv_starts_with_a_bom_and_the_header() -> None:
    data = render(make_statement())["log.csv"]
    header = (b"date,description,hours_logged,multiplier,hours_charged,pool,labels,balance_after,"
              b"ticket_number,pending,covered\r\n")
    assert data.startswith(b"\xef\xbb\xbf" + header)


def test_csv_has_one_row_per_line_newest_first_with_labels_joined() -> None:
    rows = csv_rows(multi_pool_statement())
    assert len(rows) == 1 + 3
    assert rows[1] == ["2026-11-18", "Late fix", "1.38", "2", "2.75", "Reactive support",
                       "After-hours ×2; On-site", "28.75", "", "", ""]
    assert [row[0] for row in rows[1:]] == ["2026-11-18", "2026-11-18", "2026-11-16"]


def test_csv_of_an_empty_cycle_is_just_the_header() -> None:
    assert len(csv_rows(make_statement(lines=()))) == 1


@pytest.mark.parametrize("text", ["=HYPERLINK(\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
@pytest.mark.parametrize("field", ["description", "labels", "pool"])
def test_csv_text_cells_that_start_a_formula_get_a_leading_quote(text: str, field: str) -> None:
    if field == "pool":
        statement = make_statement(pools=(make_pool(label=text),))
    else:
        statement = make_statement(lines=(make_line(**{field: (text,) if field == "labels" else text}),))
    row = dict(zip(csv_rows(statement)[0], csv_rows(statement)[1], strict=True))
    assert row[field] == "'" + text


def test_csv_negative_balance_stays_a_number() -> None:
    rows = csv_rows(make_statement(lines=(make_line(balance_after=D("-2.5")),)))
    assert rows[1][CSV_HEADER.index("balance_after")] == "-2.50"


class PageParts(HTMLParser):
    """Every start tag with its attributes, and the text, of a page (entities decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(name for name, _ in attrs)))
        self.attributes += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def page_parts(statement: Statement) -> PageParts:
    parts = PageParts()
    parts.feed(page(statement))
    parts.close()
    return parts


def text_everywhere(text: str) -> Statement:
    """A statement with ``text`` in every field a vendor or an admin can write."""
    return make_statement(
        client_name=text or "x",
        pools=(make_pool(label=text), make_pool(name="scheduled", label=text + "2")),
        lines=(make_line(description=text, labels=(text,), ticket_number=text),
               make_line(pool="scheduled", description=text, sort_key=("b", "2"))),
        adjustments=(Adjustment(date(2026, 11, 20), D("10"), text, "reactive"),),
        notices=(text,), overage_policy=text,
    )


HOSTILE = st.one_of(
    st.text(),
    st.sampled_from(["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>',
                     "javascript:alert(1)", "</style><script>x</script>", "{{ 7*7 }}", "{client}",
                     '=HYPERLINK("http://evil.example","Click")', "\u202e=1+1", "&lt;b&gt;", "<!--", "]]>"]),
    st.lists(st.sampled_from(["<", ">", "&", '"', "'", "=", "+", "-", "@", "\t", "\r", "\n", "\x00", "\x1b",
                              "\u202e", "\u2066", "\u200f", "on", "script", "javascript:", " ", "a"]),
             max_size=12).map("".join),
)


@settings(max_examples=150, deadline=None)
@given(HOSTILE)
def test_any_text_is_published_inert_in_html_json_and_csv(text: str) -> None:
    statement = text_everywhere(text)
    files = render(statement)
    shown = plain(text)
    # HTML: the markup is the same as for harmless text (nothing the text holds became a tag
    # or an attribute), no handler or javascript: URL exists, and the text reads as written.
    parts = page_parts(statement)
    assert parts.tags == page_parts(text_everywhere("harmless" if text else "")).tags
    assert not any(name.startswith("on") for _, names in parts.tags for name in names)
    assert not any((value or "").strip().lower().startswith("javascript:") for _, value in parts.attributes)
    if shown.strip():
        assert shown in "".join(parts.text)
    # JSON: the same text as data, exactly.
    document = json.loads(files["balance.json"])
    assert document["lines"][0]["description"] == shown
    assert document["lines"][0]["labels"] == [shown]
    assert document["adjustments"][0]["note"] == shown and document["overage_policy"] == shown
    assert balance_document(statement) == document
    # CSV: text cells quoted against formulas, hours still plain numbers.
    for row in csv_rows(statement)[1:]:
        cells = dict(zip(CSV_HEADER, row, strict=True))
        for column in ("description", "pool", "labels", "ticket_number"):
            assert not cells[column].lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r", "\n"))
        for column in ("hours_logged", "hours_charged", "balance_after"):
            assert re.fullmatch(r"-?\d+\.\d{2}", cells[column]), cells
    assert csv_rows(statement)[2][CSV_HEADER.index("description")] == csv_text(text)
    # No file holds a bidi control or a non-whitespace control character.
    for name, data in files.items():
        decoded = data.decode("utf-8-sig")
        assert plain(decoded) == decoded, name


# --- index.html --------------------------------------------------------------------------


@pytest.mark.parametrize("build", [make_statement, multi_pool_statement])
def test_page_has_no_script_and_no_external_reference(build: Any) -> None:
    text = page(build()).lower()
    needles = ("<script", "javascript:", "http://", "https://", "src=", "url(", "@import", "<link", "<img")
    for needle in needles:
        assert needle not in text


def test_page_has_privacy_meta_tags_viewport_and_language() -> None:
    text = page(make_statement())
    assert text.startswith("<!DOCTYPE html>\n<html lang=\"en-GB\">")
    assert '<meta name="robots" content="noindex, nofollow">' in text
    assert '<meta name="referrer" content="no-referrer">' in text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "@media print" in text and "@page{" in text
    assert "@media (prefers-color-scheme:dark)" in text
    assert '<meta name="color-scheme" content="light dark">' in text


def test_page_style_matches_its_csp_hash() -> None:
    text = page(make_statement())
    style = text.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert CSP_STYLE_HASH == f"'sha256-{digest}'"
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', text)
    assert meta is not None
    assert html.unescape(meta.group(1)) == PAGE_CSP
    assert f"style-src {CSP_STYLE_HASH};" in PAGE_CSP and "default-src 'none'" in PAGE_CSP


def test_page_escapes_markup_in_descriptions_and_names() -> None:
    attack = "<img src=x onerror=alert(1)>"
    text = page(make_statement(client_name=attack, lines=(make_line(description=attack, labels=(attack,)),)))
    assert "<img" not in text
    assert text.count("&lt;img src=x onerror=alert(1)&gt;") == 4  # title, h1, description, label


def test_page_shows_client_name_as_the_only_h1() -> None:
    text = page(make_statement())
    assert re.findall(r"<h1>(.*?)</h1>", text) == ["Acme Dental"]


def test_page_states_remaining_of_available_in_hours() -> None:
    assert "19.50 h remaining of 20.00 h" in page_text(make_statement())


def test_page_states_overage_plainly_for_a_single_pool() -> None:
    text = page_text(make_statement(pools=(make_pool(used=D("22.5")),)))
    assert "0.00 h remaining of 20.00 h" in text
    assert "2.50 h over the 20.00 h cap" in text


def test_page_shows_each_pool_with_its_own_figures_when_there_are_several() -> None:
    text = page_text(multi_pool_statement())
    assert "28.75 h remaining of 40.00 h" in text
    assert "Reactive support 28.75 h remaining of 32.00 h" in text
    assert "Scheduled maintenance 0.00 h remaining of 8.00 h" in text
    assert "1.50 h over the 8.00 h cap" in text


def test_page_progress_bars_have_text_equivalents() -> None:
    text = page(multi_pool_statement())
    assert text.count('class="bar" role="img"') == 3
    assert 'aria-label="118.8% of 8.00 h used"' in text
    assert "118.8% used" in text


def test_page_single_pool_has_no_pool_breakdown_or_pool_column() -> None:
    text = page(make_statement())
    assert "By pool" not in text
    assert '<th scope="col">Pool</th>' not in text
    assert '<th scope="col">Pool</th>' in page(multi_pool_statement())


def test_page_shows_cycle_with_inclusive_end_and_reset_date() -> None:
    text = page_text(make_statement())
    assert "Cycle 15 Nov 2026 – 14 Dec 2026" in text
    assert "Resets on 15 Dec 2026" in text


def test_page_stale_banner_names_each_failing_source_and_keeps_the_figures() -> None:
    statement = make_statement(
        stale=True,
        sources=(
            SourceFreshness("ConnectWise", GENERATED - timedelta(minutes=5)),
            SourceFreshness("Harvest", datetime(2026, 11, 20, 20, 5, tzinfo=UTC), failing=True),
        ),
    )
    banner = re.search(r'<div class="banner" role="status">(.*?)</div>', page(statement), re.S)
    assert banner is not None
    assert "may be out of date" in banner.group(1)
    assert "Harvest: work after 20 Nov 2026, 14:05 CST may be missing" in banner.group(1)
    assert "ConnectWise" not in banner.group(1)
    assert "19.50 h remaining of 20.00 h" in page_text(statement)


def test_page_without_staleness_has_no_banner() -> None:
    assert 'role="status"' not in page(make_statement())


@pytest.mark.parametrize(("zone", "updated"), [
    ("America/Chicago", "Updated at 21 Nov 2026, 14:05 CST"),
    ("Europe/London", "Updated at 21 Nov 2026, 20:05 GMT"),
    ("Asia/Kolkata", "Updated at 22 Nov 2026, 01:35 IST"),
    ("UTC", "Updated at 21 Nov 2026, 20:05 UTC"),
])
def test_page_times_are_in_the_client_timezone(zone: str, updated: str) -> None:
    statement = make_statement(cycle=Cycle(date(2026, 11, 15), date(2026, 12, 15), zone))
    assert updated in page_text(statement)


def test_page_footer_stamps_update_source_and_next_update_times() -> None:
    footer = page(make_statement()).split("<footer>", 1)[1]
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", footer)).split())
    assert "Updated at 21 Nov 2026, 14:05 CST" in text
    assert "ConnectWise: work logged through 21 Nov 2026, 14:00 CST" in text
    assert "Next update by 21 Nov 2026, 14:20 CST" in text
    assert '<a href="balance.json">' in footer and '<a href="log.csv">' in footer


def test_page_work_log_shows_charged_logged_labels_and_running_balance() -> None:
    text = page_text(multi_pool_statement())
    assert "18 Nov 2026 Late fix After-hours ×2 On-site Reactive support 2.75 h logged 1.38 h Balance after 28.75 h" in text
    assert "9.50 h Balance after 1.50 h over" in text
    assert "logged 0.50 h" not in text  # multiplier 1: no "logged" aside


def test_page_work_log_is_newest_first() -> None:
    text = page_text(multi_pool_statement())
    assert text.index("Late fix") < text.index("Reset a user's password")


def test_page_shows_ticket_number_only_when_present() -> None:
    assert "Ticket #1201" in page_text(make_statement(lines=(make_line(ticket_number="#1201"),)))
    assert "Ticket" not in page_text(make_statement())


def test_page_of_an_empty_cycle_says_no_work_logged_yet() -> None:
    text = page(make_statement(lines=(), pools=(make_pool(used=D("0")),)))
    assert "No work logged yet this cycle." in text
    assert "<table" not in text


def test_page_lists_notices_adjustments_forecast_and_past_cycles() -> None:
    text = page_text(multi_pool_statement())
    assert "Office closed on 26 Nov." in text
    assert "20 Nov 2026 · +10.00 h (Reactive support) · Authorized for the January cohort" in text
    assert "hours run out around 10 Dec 2026" in text
    newest = text.index("15 Oct 2026 – 14 Nov 2026 20.00 h 22.50 h 2.50 h over")
    assert newest < text.index("15 Sept 2026 – 14 Oct 2026")  # British English writes "Sept"


def test_page_sections_come_in_reading_order() -> None:
    statement = replace(multi_pool_statement(), stale=True)
    text = page_text(statement)
    order = ["Acme Dental", "may be out of date", "h remaining of 40.00 h", "Office closed", "By pool",
             "Cycle 15 Nov", "Hours used over time", "Adjustments", "Work log", "Past cycles", "Updated at",
             "balance.json"]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)


def test_the_logged_time_is_shown_when_rounding_alone_changed_the_charge() -> None:
    rounded = make_line(hours_logged=D("0.25"), multiplier=D("1"), hours_charged=D("0.50"),
                        description="Rounded up to the half hour")
    text = page_text(make_statement(lines=(rounded,)))
    assert "0.50 h logged 0.25 h" in text
    plain = make_line(hours_logged=D("1.00"), multiplier=D("1"), hours_charged=D("1.00"))
    assert "logged 1.00 h" not in page_text(make_statement(lines=(plain,)))


# --- locale --------------------------------------------------------------------------------


def test_page_defaults_to_english_with_the_locale_s_own_dates_and_times() -> None:
    statement = replace(make_statement(), locale="en")
    assert page(statement).startswith('<!DOCTYPE html>\n<html lang="en">')
    text = page_text(statement)
    assert "Cycle Nov 15, 2026 – Dec 14, 2026" in text
    assert "Updated at Nov 21, 2026, 2:05 PM CST" in text  # a narrow no-break space before PM


def test_page_in_german_has_german_words_figures_dates_and_lang() -> None:
    statement = replace(multi_pool_statement(), locale="de_DE")
    assert page(statement).startswith('<!DOCTYPE html>\n<html lang="de-DE">')
    text = page_text(statement)
    assert "28,75 h verbleibend von 40,00 h" in text
    assert "Wird am 15.12.2026 zurückgesetzt" in text
    assert "Arbeitsprotokoll" in text and "Work log" not in text


def test_a_locale_without_a_translation_keeps_english_words_and_lang_with_its_own_figures() -> None:
    statement = replace(multi_pool_statement(), locale="fr_FR")
    assert page(statement).startswith('<!DOCTYPE html>\n<html lang="en">')
    assert "28,75 h remaining of 40,00 h" in page_text(statement)


# --- the top of the page -------------------------------------------------------------------


def test_page_states_the_overage_with_the_agreement_s_policy() -> None:
    statement = make_statement(pools=(make_pool(used=D("22.5")),), overage_policy="Billed at the standard rate.")
    text = page_text(statement)
    assert "2.50 h over the 20.00 h cap Overage: Billed at the standard rate." in text


def test_page_shows_the_overage_policy_quietly_when_nothing_is_over() -> None:
    text = page(make_statement(overage_policy="Billed at the standard rate."))
    assert '<p class="muted">Overage: Billed at the standard rate.</p>' in text


def test_page_shows_the_low_balance_notice_in_the_balance_card() -> None:
    notice = "You have used 90% of your hours this cycle."
    text = page(make_statement(notices=(notice,)))
    card = text.split('aria-labelledby="balance-h"', 1)[1].split("</section>", 1)[0]
    assert f'<p class="notice">{notice}</p>' in card


def test_page_says_how_much_is_awaiting_approval_and_marks_those_lines() -> None:
    statement = make_statement(
        pools=(make_pool(used=D("2.00"), pending=D("1.50")),),
        lines=(make_line(description="Printer swap", pending=True, hours_charged=D("1.50"), hours_logged=D("1.50")),
               make_line(description="Password reset", date=date(2026, 11, 15))),
    )
    text = page_text(statement)
    assert "1.50 h awaiting approval, may still change" in text
    assert "Printer swap Pending approval" in text
    assert "Password reset Pending approval" not in text


def test_page_without_pending_work_says_nothing_about_approval() -> None:
    assert "approval" not in page_text(make_statement())


def test_a_prepaid_block_says_it_does_not_reset_and_since_when_it_runs() -> None:
    statement = make_statement(cycle=Cycle(date(2026, 3, 1), None, "America/Chicago"))
    text = page_text(statement)
    assert "Hours in this block" in text
    assert "Prepaid block since 1 Mar 2026" in text
    assert "Prepaid block, does not reset" in text
    assert "Resets on" not in text


def test_flat_fee_work_is_shown_as_covered_and_left_out_of_the_figures() -> None:
    statement = make_statement(
        pools=(make_pool(), make_pool(name="backups", label="Backup monitoring", tracked=False, cap=D("0"),
                                      used=D("3.00"))),
        lines=(make_line(description="Restored a file", pool="backups", hours_charged=D("3.00"),
                         hours_logged=D("3.00"), balance_after=None),
               make_line(date=date(2026, 11, 15))),
    )
    text = page_text(statement)
    assert "19.50 h remaining of 20.00 h" in text
    assert "Backup monitoring Covered by the agreement: 3.00 h of work, not counted against your hours" in text
    assert "Restored a file Backup monitoring 3.00 h Balance after Covered" in text


def test_pool_cards_say_which_pool_takes_the_overflow_and_which_never_resets() -> None:
    statement = make_statement(pools=(
        make_pool(overflow_to="prepaid", cap=D("2"), used=D("2")),
        make_pool(name="prepaid", label="Prepaid block", cap=D("40"), resets=False, used=D("1.5")),
    ))
    text = page_text(statement)
    assert "Draws on Prepaid block when used up" in text
    assert "Prepaid block 38.50 h remaining of 40.00 h 3.8% used Prepaid, does not reset" in text


def test_overflowed_work_appears_as_two_lines_one_per_pool() -> None:
    statement = make_statement(
        pools=(make_pool(cap=D("2"), used=D("2"), overflow_to="prepaid"),
               make_pool(name="prepaid", label="Prepaid block", cap=D("40"), resets=False, used=D("1.5"))),
        lines=(make_line(description="Server rebuild", hours_charged=D("2"), hours_logged=D("2"),
                         balance_after=D("0"), sort_key=("1",)),
               make_line(description="Server rebuild", labels=("Overflow from Reactive support",),
                         pool="prepaid", hours_charged=D("1.5"), hours_logged=D("1.5"), balance_after=D("38.5"),
                         sort_key=("2",))),
    )
    text = page_text(statement)
    assert ("Server rebuild Overflow from Reactive support Prepaid block 1.50 h Balance after 38.50 h "
            "16 Nov 2026 Server rebuild Reactive support 2.00 h Balance after 0.00 h") in text


def test_stale_banner_for_a_source_never_read_says_all_of_the_period_may_be_incomplete() -> None:
    statement = make_statement(stale=True, sources=(SourceFreshness("Harvest", None, failing=True),))
    assert "Harvest: no data read yet, so all of this period may be incomplete" in page_text(statement)


# --- the chart -----------------------------------------------------------------------------


def chart_svg(text: str) -> str:
    return text.split('<figure class="chart">', 1)[1].split("</figure>", 1)[0]


def test_the_chart_is_an_image_with_a_title_and_a_text_summary() -> None:
    text = page(multi_pool_statement())
    figure = chart_svg(text)
    assert 'role="img" aria-labelledby="chart-title" aria-describedby="chart-summary"' in figure
    assert '<title id="chart-title">Hours used this cycle against the hours available</title>' in figure
    summary = re.search(r'<p id="chart-summary">(.*?)</p>', figure)
    assert summary is not None
    assert summary.group(1) == ("12.75 h of 40.00 h used by 21 Nov 2026, day 7 of 30 of the cycle. "
                                "At this pace the hours run out around 10 Dec 2026.")


def test_the_chart_draws_the_forecast_dashed_only_when_there_is_one() -> None:
    assert 'class="forecast"' in chart_svg(page(multi_pool_statement()))
    without = chart_svg(page(replace(multi_pool_statement(), forecast=None)))
    assert 'class="forecast"' not in without and "No run-out date is forecast." in without


def test_the_chart_of_a_block_runs_from_its_start_to_today() -> None:
    statement = make_statement(cycle=Cycle(date(2026, 9, 1), None, "America/Chicago"))
    figure = chart_svg(page(statement))
    assert ">1 Sept</text>" in figure and ">21 Nov</text>" in figure
    assert "0.50 h of 20.00 h used between 1 Sept 2026 and 21 Nov 2026." in figure


def test_the_chart_counts_only_counted_pools() -> None:
    statement = make_statement(
        pools=(make_pool(), make_pool(name="backups", label="Backups", tracked=False, used=D("5"))),
        lines=(make_line(), make_line(pool="backups", hours_charged=D("5"), hours_logged=D("5"))),
    )
    assert "0.50 h of 20.00 h used" in chart_svg(page(statement))
