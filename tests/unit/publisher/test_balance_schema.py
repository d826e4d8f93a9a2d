"""Done when 2: every balance.json validates against syncd.balance/1, and log.csv adds up to it."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.render import SCHEMA, balance_schema, render
from syncd.models import Adjustment, Cycle, Line, PastCycle, PoolBalance, SourceFreshness, Statement

VALIDATOR = jsonschema.Draft202012Validator(balance_schema(), format_checker=jsonschema.FormatChecker())
GENERATED = datetime(2026, 11, 21, 20, 5, tzinfo=UTC)
START = date(2026, 11, 1)


def pool(name: str, **overrides: Any) -> PoolBalance:
    fields: dict[str, Any] = {"name": name, "label": name.title(), "cap": D("20"), "carried_in": D("0"),
                              "adjustments": D("0"), "used": D("0")}
    fields.update(overrides)
    return PoolBalance(**fields)


def consistent(pools: list[PoolBalance], lines: list[Line], **overrides: Any) -> Statement:
    """A statement whose pool figures are the sums of its lines, with running balances worked out."""
    used: dict[str, D] = defaultdict(D)
    pending: dict[str, D] = defaultdict(D)
    running: dict[str, D] = {p.name: p.available for p in pools}
    tracked = {p.name for p in pools if p.tracked}
    worked: list[Line] = []
    for i, line in enumerate(sorted(lines, key=lambda ln: ln.date)):
        used[line.pool] += line.hours_charged
        if line.pending:
            pending[line.pool] += line.hours_charged
        balance = None
        if line.pool in tracked:
            running[line.pool] -= line.hours_charged
            balance = running[line.pool]
        worked.append(Line(**{**{f: getattr(line, f) for f in Line.__slots__}, "sort_key": (f"{i:04}",),
                              "balance_after": balance}))
    fields: dict[str, Any] = {
        "client_key": "c",
        "client_name": "Client",
        "generated_at": GENERATED,
        "cycle": Cycle(START, date(2026, 12, 1), "Europe/London"),
        "pools": tuple(PoolBalance(**{**{f: getattr(p, f) for f in PoolBalance.__slots__},
                                      "used": used[p.name], "pending": pending[p.name]}) for p in pools),
        "lines": tuple(reversed(worked)),
        "sources": (SourceFreshness("Harvest", GENERATED - timedelta(minutes=3)),),
        "next_update_by": GENERATED + timedelta(minutes=15),
    }
    fields.update(overrides)
    return Statement(**fields)


def line(day: int, hours: str, pool_name: str, **overrides: Any) -> Line:
    charged = D(hours)
    fields: dict[str, Any] = {"date": START + timedelta(days=day), "description": f"work {day}",
                              "hours_logged": charged, "multiplier": D("1"), "hours_charged": charged,
                              "pool": pool_name}
    fields.update(overrides)
    return Line(**fields)


def spreadsheet_totals(data: bytes) -> dict[str, D]:
    """What a spreadsheet's SUMIF over log.csv gives: counted hours per pool label, and pending."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    sums: dict[str, D] = defaultdict(D)
    for row in rows:
        if row["covered"] != "yes":
            sums["used"] += D(row["hours_charged"])
            sums[row["pool"]] += D(row["hours_charged"])
            if row["pending"] == "yes":
                sums["pending"] += D(row["hours_charged"])
    return sums


def check(statement: Statement) -> dict[str, Any]:
    files = render(statement)
    doc = json.loads(files["balance.json"])
    errors = sorted(VALIDATOR.iter_errors(doc), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    sums = spreadsheet_totals(files["log.csv"])
    assert sums["used"] == D(doc["totals"]["used"])
    assert sums["pending"] == D(doc["totals"]["pending"])
    for p in doc["pools"]:
        if p["tracked"]:
            assert sums[p["label"]] == D(p["used"]), p["name"]
    return doc


CASES = {
    "one pool": consistent([pool("support")], [line(1, "1.5", "support"), line(3, "2.25", "support")]),
    "empty cycle": consistent([pool("support")], []),
    "two pools, one over": consistent(
        [pool("reactive"), pool("scheduled", cap=D("2"))],
        [line(1, "1.00", "reactive"), line(2, "3.50", "scheduled", labels=("After-hours ×2",),
                                             multiplier=D("2"), hours_logged=D("1.75"))],
        overage_policy="Billed at the standard rate.",
    ),
    "flat-fee scope": consistent(
        [pool("support"), pool("backups", tracked=False, cap=D("0"))],
        [line(1, "1.00", "support"), line(2, "4.00", "backups")],
    ),
    "pending approval": consistent(
        [pool("support")], [line(1, "1.00", "support", pending=True), line(2, "0.50", "support")],
    ),
    "overflow split": consistent(
        [pool("reactive", cap=D("2"), overflow_to="prepaid"), pool("prepaid", cap=D("40"), resets=False)],
        [line(1, "2.00", "reactive"),
         line(1, "1.50", "prepaid", description="Overflow from Reactive", labels=("Overflow from Reactive",))],
    ),
    "prepaid block with a top-up": consistent(
        [pool("block", cap=D("40"), adjustments=D("10"))],
        [line(1, "5.00", "block", ticket_number="#88"), line(40, "2.00", "block")],
        cycle=Cycle(START, None, "America/Chicago"),
        adjustments=(Adjustment(date(2026, 12, 1), D("10"), "Top-up", "block"),),
        generated_at=datetime(2026, 12, 20, tzinfo=UTC),
    ),
    "prepaid pool overdrawn in an earlier cycle": consistent(
        [pool("support"), pool("prepaid", cap=D("0"), carried_in=D("-3.25"), resets=False)],
        [line(1, "1.00", "support"), line(2, "0.50", "prepaid")],
    ),
    "stale with history and forecast": consistent(
        [pool("support", carried_in=D("2.5"))], [line(0, "6.00", "support")],
        stale=True, forecast=date(2026, 11, 20), notices=("You have used 75% of your hours this cycle.",),
        sources=(SourceFreshness("ConnectWise", None, failing=True),),
        history=tuple(PastCycle(date(2025, m, 1), date(2025, m + 1, 1), D("20"), D("21.5")) for m in range(1, 12)),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_every_kind_of_statement_gives_a_valid_balance_json_that_log_csv_adds_up_to(name: str) -> None:
    doc = check(CASES[name])
    assert doc["schema"] == SCHEMA


def test_a_block_publishes_no_end_and_no_reset_date() -> None:
    doc = check(CASES["prepaid block with a top-up"])
    assert (doc["cycle"]["end"], doc["cycle"]["resets_on"]) == (None, None)


def test_covered_work_is_listed_but_not_counted_and_has_no_balance() -> None:
    doc = check(CASES["flat-fee scope"])
    covered = [ln for ln in doc["lines"] if ln["covered"]]
    assert [(ln["hours_charged"], ln["balance_after"]) for ln in covered] == [("4.00", None)]
    assert doc["totals"]["used"] == "1.00"
    assert [p["tracked"] for p in doc["pools"]] == [True, False]


def test_the_schema_rejects_a_float_hour_and_an_unknown_key() -> None:
    doc = json.loads(render(CASES["one pool"])["balance.json"])
    doc["totals"]["used"] = 3.75
    assert not VALIDATOR.is_valid(doc)
    doc = json.loads(render(CASES["one pool"])["balance.json"])
    doc["lines"][0]["technician"] = "Sam"
    assert not VALIDATOR.is_valid(doc)


def test_the_schema_file_names_itself_syncd_balance_1() -> None:
    schema = json.loads((Path(__file__).resolve().parents[3] / "publisher/schema/balance.schema.json").read_text())
    assert schema["$id"] == schema["title"] == SCHEMA


POOLS = st.lists(
    st.builds(
        lambda cap, carried, adj, tracked, resets: (cap, carried, adj, tracked, resets),
        st.decimals("0", "200", places=2), st.decimals("0", "10", places=2), st.decimals("-10", "20", places=2),
        st.booleans(), st.booleans(),
    ),
    min_size=1, max_size=3,
)
LINES = st.lists(
    st.tuples(st.integers(0, 29), st.decimals("0", "12", places=2), st.integers(0, 2), st.booleans(),
              st.sampled_from([None, "#1201", "=cmd"]), st.text(max_size=30)),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(POOLS, LINES, st.booleans(), st.booleans(), st.sampled_from(["en", "de_DE", "fr", "ja"]))
def test_any_statement_validates_and_its_csv_sums_to_its_totals(
    pool_specs: list[tuple[D, D, D, bool, bool]], line_specs: list[tuple[int, D, int, bool, str | None, str]],
    block: bool, stale: bool, locale: str,
) -> None:
    pools = [pool(f"p{i}", cap=cap, carried_in=carried, adjustments=adj, tracked=tracked, resets=resets,
                  overflow_to=f"p{i + 1}" if i + 1 < len(pool_specs) else None)
             for i, (cap, carried, adj, tracked, resets) in enumerate(pool_specs)]
    lines = [line(day, str(hours), f"p{which % len(pools)}", pending=pending, ticket_number=ticket,
                  description=text)
             for day, hours, which, pending, ticket, text in line_specs]
    statement = consistent(pools, lines, stale=stale, locale=locale,
                           cycle=Cycle(START, None if block else date(2026, 12, 1), "Asia/Kolkata"))
    check(statement)
    render(statement)["index.html"].decode("utf-8")  # the page renders for every one of them


def test_a_never_resetting_pool_overdrawn_last_cycle_carries_its_debt_and_still_validates() -> None:
    from syncd.config import RetainerConfig
    from syncd.ledger import build_statement

    retainer = RetainerConfig.model_validate({
        "cycle": {"monthly": "2026-10-01"},
        "pools": {"support": {"cap_hours": 10, "overflow_to": "prepaid"},
                  "prepaid": {"cap_hours": 5, "resets": "never"}},
    })
    work = [line(3, "18.00", "support")]  # November: 10 h of support, then 8 h from a 5 h prepaid pool
    statement = build_statement(work, client_key="c", client_name="Client", retainer=retainer,
                                timezone="Europe/London", now=datetime(2026, 12, 5, 12, tzinfo=UTC))
    prepaid = next(p for p in check(statement)["pools"] if p["name"] == "prepaid")
    # The pool's cap shows every cycle; what earlier use took from it comes in as carried_in.
    assert (prepaid["cap"], prepaid["carried_in"], prepaid["available"]) == ("5.00", "-8.00", "-3.00")
    assert (prepaid["remaining"], prepaid["over"]) == ("0.00", "3.00")
