"""Privacy properties: no technician name or internal note reaches a published file, no line is lost.

The whole pipeline runs: apply_rules → build_statement → publisher.render.render. Names,
filler words and internal-note markers are drawn from disjoint generated alphabets, so a
hit in the output can only be a leak, never a coincidence.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.render import render
from syncd.config import RetainerConfig, Rule
from syncd.ledger import build_statement
from syncd.models import Line, SourceFreshness, Statement, TimeEntry
from syncd.rules.engine import RuleContext, apply_rules, compile_rules

TZ = "America/Chicago"
NOW = datetime(2026, 3, 20, 17, 0, tzinfo=UTC)
RETAINER = RetainerConfig.model_validate({
    "cycle": {"monthly": "2026-03-01"},
    "pools": {"reactive": {"label": "Reactive support", "cap_hours": 20},
              "projects": {"label": "Project hours", "cap_hours": 10}},
    "adjustments": [{"date": "2026-03-02", "hours": 2, "note": "Top-up approved"}],
})
RULES = compile_rules([Rule.model_validate(r) for r in [
    {"name": "no travel", "when": {"work_type": "Travel"}, "drop": "travel"},
    {"name": "after hours", "when": {"outside_hours": "mon-fri 08:00-18:00"}, "multiply": 2,
     "label": "After-hours ×2"},
    {"name": "projects", "when": {"tags": "project"}, "pool": "projects", "label": "Project"},
    {"name": "titled", "when": {"tags": "titled"}, "describe": "{ticket_title}: {notes}"},
]])
WORK_TYPES = ["Remote support", "Onsite visit", "Travel"]
SOURCES = (SourceFreshness("ConnectWise", NOW - timedelta(minutes=3)),)


def pipeline(entries: list[TimeEntry], technicians: frozenset[str], client: str = "Client") -> Statement:
    result = apply_rules(entries, RULES, RuleContext(TZ, RETAINER.default_pool, technicians))
    return build_statement(result.lines, client_key=client.lower(), client_name=client, retainer=RETAINER,
                           timezone=TZ, now=NOW, sources=SOURCES, next_update_by=NOW + timedelta(minutes=15))


def published_text(statement: Statement) -> str:
    """Every published file decoded and case-folded, as one text to search."""
    return "\n".join(body.decode("utf-8-sig") for body in render(statement).values()).casefold()


def _baseline() -> str:
    # Everything the page can say on its own: static text, labels, generic descriptions,
    # the scrubber's replacement, dates in every month. A generated name found here would
    # be a false alarm, so such names are filtered out.
    line = Line(date(2026, 3, 2), "Our technician; our technician. Support work — Remote support, Onsite visit",
                Decimal("1.00"), Decimal("2"), Decimal("2.00"), "projects", ("After-hours ×2", "Project"))
    empty = pipeline([], frozenset())
    full = build_statement([line], client_key="client", client_name="Client", retainer=RETAINER, timezone=TZ,
                           now=NOW, sources=SOURCES, stale=True)
    months = " ".join(date(2026, m, 1).strftime("%B %b") for m in range(1, 13))
    return "\n".join([published_text(empty), published_text(full), months.casefold(), "&quot; &amp; &#39; &lt; &gt;"])


BASELINE = _baseline()


# --- generated alphabets, names and texts ---------------------------------------------------


@dataclass(frozen=True)
class Alphabets:
    names: str
    words: str
    marker: str


@st.composite
def alphabets(draw: Any) -> Alphabets:
    letters = draw(st.permutations(string.ascii_lowercase))
    return Alphabets("".join(letters[:11]), "".join(letters[11:22]), "".join(letters[22:]))


def token(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


def technician(alpha: Alphabets) -> st.SearchStrategy[tuple[str, str]]:
    part = token(alpha.names, 4, 10).map(str.capitalize).filter(lambda p: p.casefold() not in BASELINE)
    return st.tuples(part, part)


def sentence(alpha: Alphabets, marker: str) -> st.SearchStrategy[str]:
    # Every sentence carries the marker, so any internal sentence that leaks is detectable.
    words = st.lists(token(alpha.words, 2, 8), min_size=2, max_size=6)
    return words.map(lambda ws: " ".join([ws[0].capitalize(), marker, *ws[1:]]))


@dataclass(frozen=True)
class World:
    techs: list[tuple[str, str]]
    marker: str
    entries: list[TimeEntry]


def name_mention(first: str, last: str, form: int) -> str:
    return [f"{first} {last}", first, last, f"{first}'s", f"{last}'s", f"{first.lower()} {last.lower()}",
            f"{first}  \n {last}", first.upper(), first.lower()][form]


@st.composite
def worlds(draw: Any, account: str = "cw") -> World:
    alpha = draw(alphabets())
    marker = draw(token(alpha.marker, 6, 10))
    techs = draw(st.lists(technician(alpha), min_size=1, max_size=4))
    filler = st.lists(token(alpha.words, 2, 8), min_size=0, max_size=5).map(" ".join)
    entries = []
    for i in range(draw(st.integers(min_value=1, max_value=12))):
        first, last = draw(st.sampled_from(techs))
        internal = draw(st.lists(sentence(alpha, marker), min_size=1, max_size=3))
        parts = [draw(filler)]
        if draw(st.booleans()):
            parts.append(name_mention(first, last, draw(st.integers(min_value=0, max_value=8))))
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(internal)))  # a copied internal sentence
        parts.append(draw(filler))
        when = NOW - timedelta(minutes=draw(st.integers(min_value=0, max_value=60 * 24 * 40)))
        entries.append(TimeEntry(
            account=account,
            vendor_id=str(1000 + i),
            client_key="client",
            work_date=when.date(),
            duration_seconds=draw(st.integers(min_value=-60, max_value=4 * 3600)),
            updated_at=NOW,
            started_at=when if draw(st.booleans()) else None,
            worker_name=f"{first} {last}",
            worker_id=str(i),
            work_type=draw(st.sampled_from(WORK_TYPES)),
            ticket_title=draw(st.sampled_from([None, f"Ticket for {first}", draw(filler)])),
            notes="\n".join(p for p in parts if p) or None,
            internal_notes=". ".join(internal) + ".",
            tags=tuple(draw(st.lists(st.sampled_from(["project", "titled"]), unique=True))),
            deleted=draw(st.booleans()) and draw(st.booleans()),
        ))
    return World(techs, marker, entries)


def kept_in_cycle(entries: list[TimeEntry], statement: Statement) -> int:
    tz = ZoneInfo(TZ)
    count = 0
    for e in entries:
        if e.deleted or e.duration_seconds <= 0 or e.work_type == "Travel":
            continue
        day = e.started_at.astimezone(tz).date() if e.started_at else e.work_date
        count += statement.cycle.start <= day < statement.cycle.end
    return count


def name_parts(techs: list[tuple[str, str]]) -> set[str]:
    return {p.casefold() for pair in techs for p in pair}


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(world=worlds())
def test_no_name_or_internal_note_is_published(world: World) -> None:
    technicians = frozenset(f"{a} {b}" for a, b in world.techs)
    statement = pipeline(world.entries, technicians)
    text = published_text(statement)
    for part in name_parts(world.techs):
        assert part not in text
    assert world.marker not in text


@SETTINGS
@given(world=worlds())
def test_every_kept_line_is_published(world: World) -> None:
    technicians = frozenset(f"{a} {b}" for a, b in world.techs)
    statement = pipeline(world.entries, technicians)
    expected = kept_in_cycle(world.entries, statement)
    assert len(statement.lines) == expected
    files = render(statement)
    rows = files["log.csv"].decode("utf-8-sig").strip().split("\r\n")
    assert len(rows) - 1 == expected


@SETTINGS
@given(a=worlds("cw"), b=worlds("tg"), b_text=st.text(alphabet="qxjz", min_size=12, max_size=16))
def test_one_client_never_shows_another_clients_lines(a: World, b: World, b_text: str) -> None:
    distinctive = f"Zz{b_text}"
    b_entries = [
        TimeEntry(**{**e.to_dict(), "client_key": "other", "notes": f"{distinctive} {e.notes or ''}",
                     "work_date": e.work_date, "updated_at": e.updated_at, "started_at": e.started_at,
                     "tags": e.tags})
        for e in b.entries
    ]
    everything = a.entries + b_entries
    for_client = {key: [e for e in everything if e.client_key == key] for key in ("client", "other")}
    # B first, then A: anything cached between runs would show up in A's page.
    pipeline(for_client["other"], frozenset(f"{x} {y}" for x, y in b.techs), "Other")
    page = published_text(pipeline(for_client["client"], frozenset(f"{x} {y}" for x, y in a.techs)))
    assert distinctive.casefold() not in page
