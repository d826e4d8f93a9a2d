"""Privacy properties: no technician name or internal note reaches a published file, no line is lost.

The whole pipeline runs: apply_rules → build_statement → publisher.render.render. Generated
names, filler words and internal-note markers are drawn from disjoint alphabets, so a hit
in the output can only be a leak, never a coincidence. Technicians are also drawn from
names that are ordinary English words ("Will Hart", "Grace Field") and from accented names
("Zoë Müller"); those are looked for as whole words, accents and case folded away, and the
notes use the same words in their ordinary sense ("we will call back"). Names appear in
notes and ticket titles, upper-case, lower-case, swapped case, without accents, decomposed,
possessive and split across lines. A last test breaks the pipeline on purpose and checks
that the same property then fails: a property that cannot fail proves nothing.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from publisher.render import render
from syncd.config import RetainerConfig, RuleSetFile
from syncd.ledger import build_statement
from syncd.models import Line, SourceFreshness, Statement, TimeEntry
from syncd.rules import engine
from syncd.rules.engine import RuleContext, apply_rules, compile_rules
from syncd.rules.scrub import NameScrubber, fold_accents, nfc

TZ = "America/Chicago"
NOW = datetime(2026, 3, 20, 17, 0, tzinfo=UTC)
RETAINER = RetainerConfig.model_validate({
    "cycle": {"monthly": "2026-03-01"},
    "pools": {"reactive": {"label": "Reactive support", "cap_hours": 20},
              "projects": {"label": "Project hours", "cap_hours": 10}},
    "adjustments": [{"date": "2026-03-02", "hours": 2, "note": "Top-up approved"}],
})
RULES = compile_rules(RuleSetFile.model_validate({"holidays": ["2026-03-17"], "rules": [
    {"name": "no travel", "when": {"work_type": "Travel"}, "drop": "travel"},
    {"name": "after hours", "when": {"outside_hours": "mon-fri 08:00-18:00"}, "multiply": 2,
     "label": "After-hours ×2"},
    {"name": "projects", "when": {"tags": "project"}, "pool": "projects", "label": "Project"},
    {"name": "titled", "when": {"tags": "titled"}, "describe": "{ticket_title}: {notes}", "show_ticket_number": True},
    {"name": "house style", "round": {"up_to": "15m", "minimum": "30m"}, "translate": {"(?i)\\bfw\\b": "firewall"},
     "redact": ["ip", "email"]},
]}).rules)
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


def fold(text: str) -> str:
    """Text as the leak check compares it: NFC, accents removed, case-folded."""
    return fold_accents(nfc(text)).casefold()


def as_word(part: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(fold(part))}(?!\w)")


FOLDED_BASELINE = fold(BASELINE)

# First names and surnames that are also ordinary words, and accented names. Any that the
# page prints on its own ("Page", "May") would be a false alarm, so they are left out.
COMMON_WORD_NAMES = [
    (first, last)
    for first, last in [("Will", "Hart"), ("Mark", "Wood"), ("Grace", "Field"), ("Hope", "Stone"), ("Faith", "Bush"),
                        ("Joy", "Rice"), ("Rose", "Best"), ("Bill", "Little"), ("Frank", "Young"), ("Sue", "Long"),
                        ("Pat", "Price"), ("Drew", "Waters"), ("Chase", "Fox"), ("Hunter", "Bell"),
                        ("Bob", "Gray"), ("Summer", "Snow"), ("Dawn", "Brown"), ("Art", "Cook"), ("Page", "Max")]
    if not any(as_word(p).search(FOLDED_BASELINE) for p in (first, last))
]
ACCENTED_NAMES = [("Zoë", "Müller"), ("José", "Núñez"), ("Siobhán", "Ní Bhriain"), ("Łukasz", "Dvořák"),
                  ("Renée", "Lefèvre"), ("Björn", "Ångström"), ("Chloé", "Dubois-Lévesque"), ("Søren", "Kierkegård"),
                  ("François", "Brûlé"), ("Jiří", "Novák"), ("Ana-María", "Peña"), ("Øyvind", "Næss")]
# The ordinary sense of those words, for notes: the scrubber must leave them alone or the
# guard must catch them; either way the page may not carry them.
ORDINARY = ["we will call back", "mark the ticket resolved", "hope this helps", "checked the field laptops",
            "frank exchange with the vendor", "drew a network diagram", "a little slow", "price list updated",
            "will chase the supplier", "stone cold server room", "joy, it works"]


def technician(alpha: Alphabets) -> st.SearchStrategy[tuple[str, str]]:
    part = token(alpha.names, 4, 10).map(str.capitalize).filter(lambda p: p.casefold() not in BASELINE)
    return st.one_of(st.tuples(part, part), st.sampled_from(COMMON_WORD_NAMES), st.sampled_from(ACCENTED_NAMES))


def sentence(alpha: Alphabets, marker: str) -> st.SearchStrategy[str]:
    # Every sentence carries the marker, so any internal sentence that leaks is detectable.
    words = st.lists(token(alpha.words, 2, 8), min_size=2, max_size=6)
    return words.map(lambda ws: " ".join([ws[0].capitalize(), marker, *ws[1:]]))


@dataclass(frozen=True)
class World:
    techs: list[tuple[str, str]]
    marker: str
    entries: list[TimeEntry]


MENTION_FORMS = 15


def name_mention(first: str, last: str, form: int) -> str:
    return [f"{first} {last}", first, last, f"{first}'s", f"{last}'s", f"{first.lower()} {last.lower()}",
            f"{first}  \n {last}", first.upper(), first.lower(), last.upper(), first.swapcase(),
            fold_accents(first), fold_accents(f"{first} {last}").lower(), unicodedata.normalize("NFD", first),
            f"({last})"][form]


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
        mention = st.integers(min_value=0, max_value=MENTION_FORMS - 1).map(lambda f: name_mention(first, last, f))
        parts = [draw(filler)]
        if draw(st.booleans()):
            parts.append(draw(mention))
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(internal)))  # a copied internal sentence
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(ORDINARY)))
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
            ticket_title=draw(st.sampled_from([None, f"Ticket for {first}", draw(filler),
                                               f"{draw(mention)}'s laptop", f"Call back {draw(mention)}"])),
            ticket_number=draw(st.sampled_from([None, str(4000 + i), f"{fold_accents(first).upper()}-{i}"])),
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
    """Every first name, surname and hyphen-half of the technicians (two letters or more)."""
    parts = set()
    for pair in techs:
        for name in pair:
            for word in name.split():
                parts |= {p for p in (word, *word.split("-")) if sum(ch.isalpha() for ch in p) >= 2}
    return parts


# Parts of the listed names: real words may occur inside other words ("art" in "start"),
# so only generated names are also looked for as bare substrings.
REAL_NAME_PARTS = name_parts(COMMON_WORD_NAMES + ACCENTED_NAMES)


def leaks(world: World, text: str) -> list[str]:
    """What of the world's names and internal notes the published text holds.

    Generated names are looked for anywhere (their letters occur nowhere else); names
    that are words are looked for as whole words, with accents and case folded away.
    """
    folded = fold(text)
    found = [part for part in sorted(name_parts(world.techs))
             if (part not in REAL_NAME_PARTS and part.casefold() in text) or as_word(part).search(folded)]
    if world.marker in text:
        found.append(f"internal note marker {world.marker!r}")
    return found


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(world=worlds())
def test_no_name_or_internal_note_is_published(world: World) -> None:
    technicians = frozenset(f"{a} {b}" for a, b in world.techs)
    statement = pipeline(world.entries, technicians)
    assert leaks(world, published_text(statement)) == []


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


# --- the property can fail ----------------------------------------------------------------------


class _BlindGuard:
    """A leak guard that sees nothing."""

    def __init__(self, *_: object) -> None:
        pass

    def check(self, text: str) -> None:
        return None

    def holds_internal_note(self, text: str) -> bool:
        return False


def _leaky(world: World) -> bool:
    technicians = frozenset(f"{a} {b}" for a, b in world.techs)
    return bool(leaks(world, published_text(pipeline(world.entries, technicians))))


def test_the_property_fails_when_scrubbing_and_the_guard_are_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "LeakGuard", _BlindGuard)
    monkeypatch.setattr(engine, "_scrubber", lambda names: NameScrubber([]))
    found = find(worlds(), _leaky, settings=settings(max_examples=300, deadline=None, database=None,
                                                     suppress_health_check=list(HealthCheck)))
    assert leaks(found, published_text(pipeline(found.entries, frozenset(f"{a} {b}" for a, b in found.techs))))


def test_the_property_fails_when_only_the_guard_is_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # The scrubber alone leaves lower-case name parts and internal-note text: the guard is
    # what stops them, and without it the property must catch the leak.
    monkeypatch.setattr(engine, "LeakGuard", _BlindGuard)
    find(worlds(), _leaky, settings=settings(max_examples=500, deadline=None, database=None,
                                             suppress_health_check=list(HealthCheck)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds())
def test_the_guard_alone_still_keeps_every_name_off_the_page(world: World) -> None:
    # Defence in depth: with the scrubber switched off the guard replaces whole descriptions.
    original = engine._scrubber
    engine._scrubber = lambda names: NameScrubber([])  # type: ignore[assignment]
    try:
        technicians = frozenset(f"{a} {b}" for a, b in world.techs)
        assert leaks(world, published_text(pipeline(world.entries, technicians))) == []
    finally:
        engine._scrubber = original  # type: ignore[assignment]
