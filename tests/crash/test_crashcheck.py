"""The crash loop's checks catch what they are there to catch: cut-short pages, served temp
files, cursors ahead of the commits, half-made schemas and any difference from the reference."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench import crashcheck
from bench.crashcheck import Held, StoreState, Upstream
from bench.crashloop import AIM, Timeline, landed
from publisher.render import render
from syncd.models import Cycle, Line, PoolBalance, SourceFreshness, Statement
from syncd.store import Store

NOW = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
TOKEN = "AbCdEfGhIjKlMnOpQrStUvWx"


def statement(hours: str = "1.50", generated: datetime = NOW) -> Statement:
    line = Line(date=date(2026, 12, 2), description="Rebuilt the print queue", hours_logged=Decimal(hours),
                multiplier=Decimal(1), hours_charged=Decimal(hours), pool="support", labels=(), ticket_number=None,
                sort_key=("a",), source=("harvest", "1"), balance_after=Decimal(20) - Decimal(hours))
    return Statement(client_key="acme", client_name="Acme Dental", generated_at=generated,
                     cycle=Cycle(date(2026, 12, 1), date(2027, 1, 1), "America/New_York"),
                     pools=(PoolBalance(name="support", label="Support", cap=Decimal(20), carried_in=Decimal(0),
                                        adjustments=Decimal(0), used=Decimal(hours)),),
                     lines=(line,), sources=(SourceFreshness("Harvest", generated - timedelta(minutes=1)),),
                     next_update_by=generated + timedelta(minutes=10))


def publish(root: Path, files: dict[str, bytes], token: str = TOKEN) -> Path:
    folder = root / "c" / token
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.mark.parametrize("name", ["index.html", "balance.json", "log.csv"])
def test_a_whole_file_passes_and_the_same_file_cut_short_does_not(name: str) -> None:
    data = render(statement())[name]
    assert crashcheck.file_problems(name, data) == []
    for cut in (len(data) // 3, len(data) - 2):
        assert crashcheck.file_problems(name, data[:cut]), f"{name} cut at {cut} of {len(data)} bytes passed"


def test_a_balance_json_off_its_schema_is_named() -> None:
    data = render(statement())["balance.json"].replace(b'"schema": "syncd.balance/1"', b'"schema": "other"')
    assert any(p.startswith("schema:") for p in crashcheck.file_problems("balance.json", data))


def test_page_folders_may_hold_temp_files_but_nothing_else_the_server_could_mistake(tmp_path: Path) -> None:
    files = render(statement())
    folder = publish(tmp_path, files)
    (folder / ".index.html.0123456789abcdef.tmp").write_bytes(files["index.html"][:100])
    assert crashcheck.page_problems(tmp_path) == []
    assert [p.name for p in crashcheck.temp_files(tmp_path)] == [".index.html.0123456789abcdef.tmp"]
    (folder / "index.html.bak").write_bytes(b"old")
    (folder / "log.csv").write_bytes(files["log.csv"][:-5])
    problems = crashcheck.page_problems(tmp_path)
    assert len(problems) == 2
    assert any("index.html.bak: unexpected file" in p for p in problems)
    assert any("log.csv: " in p for p in problems)


async def test_the_page_server_answers_no_temp_file_and_a_server_that_did_would_be_named(tmp_path: Path) -> None:
    files = render(statement())
    folder = publish(tmp_path, files)
    temp = folder / ".balance.json.0123456789abcdef.tmp"
    temp.write_bytes(files["balance.json"][:50])
    assert await crashcheck.served_temp_files(tmp_path, [temp]) == []

    async def any_file(request: Request) -> Response:
        return Response((tmp_path / "c" / request.path_params["token"] / request.path_params["name"]).read_bytes())

    careless = Starlette(routes=[Route("/c/{token}/{name}", any_file)])
    assert await crashcheck.served_temp_files(tmp_path, [temp], app=careless) == [
        ".balance.json.0123456789abcdef.tmp: the page server answered 200"]


def state(ledger: dict[str, Held], position: datetime | None) -> StoreState:
    return StoreState(ledger, {"harvest": position}, {}, {}, {})


BEFORE, CURSOR = NOW - timedelta(minutes=5), NOW
LOOKBACK = timedelta(seconds=1)


@pytest.mark.parametrize(("upstream", "held", "covered"), [
    # an entry updated before the cursor is held at that version: covered, fine
    (Upstream(BEFORE, "acme"), Held("acme", False, BEFORE, "d"), True),
    # updated before the cursor but never committed: the cursor ran ahead
    (Upstream(BEFORE, "acme"), None, False),
    # committed at an older version than the vendor's
    (Upstream(BEFORE, "acme"), Held("acme", False, BEFORE - timedelta(hours=1), "d"), False),
    # moved to another client, the move not committed
    (Upstream(BEFORE, "birch"), Held("acme", False, BEFORE - timedelta(hours=1), "d"), False),
    # moved away from every client and the move not committed
    (Upstream(BEFORE, None), Held("acme", False, BEFORE - timedelta(hours=1), "d"), False),
    # claimed by no client and never held: nothing to commit
    (Upstream(BEFORE, None), None, True),
    # updated within the lookback or after the cursor: the next poll reads it again
    (Upstream(CURSOR - timedelta(milliseconds=500), "acme"), None, True),
    (Upstream(CURSOR + timedelta(seconds=3), "acme"), None, True),
])
def test_a_cursor_covering_an_entry_the_store_does_not_hold_as_the_vendor_has_it_is_named(
        upstream: Upstream, held: Held | None, covered: bool) -> None:
    found = crashcheck.cursor_problems(state({"42": held} if held else {}, CURSOR), "harvest", {"42": upstream},
                                       LOOKBACK)
    assert (found == []) is covered, found


def test_an_account_without_a_cursor_claims_nothing() -> None:
    assert crashcheck.cursor_problems(state({}, None), "harvest", {"42": Upstream(BEFORE, "acme")}, LOOKBACK) == []


def test_a_schema_is_whole_or_absent_never_half_made(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'syncd.db'}"
    assert crashcheck.schema_problems(url) == []  # a first start killed before it migrated
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE entries (id INTEGER PRIMARY KEY)")
    engine.dispose()
    assert crashcheck.schema_problems(url)[0].startswith("half-made schema")
    whole = tmp_path / "whole.db"
    Store.open(f"sqlite:///{whole}").close()
    assert crashcheck.schema_problems(f"sqlite:///{whole}") == []


def test_pages_equal_but_for_their_stamps_are_equal_and_a_changed_figure_is_not() -> None:
    first = render(statement())
    later = render(statement(generated=NOW + timedelta(hours=2, minutes=7)))
    assert first["index.html"] != later["index.html"]
    for name in first:
        assert crashcheck.normalized(name, first[name]) == crashcheck.normalized(name, later[name]), name
    other = render(statement(hours="1.75"))
    for name in first:
        assert crashcheck.normalized(name, first[name]) != crashcheck.normalized(name, other[name]), name


def test_differences_name_the_entries_and_the_pages_that_differ() -> None:
    held = Held("acme", False, BEFORE, "d1")
    reference = StoreState({"1": held, "2": held}, {}, {}, {}, {})
    crashed = StoreState({"1": held, "2": dataclasses.replace(held, deleted=True)}, {}, {}, {}, {})
    pages = {"acme": {"log.csv": "a\nb\n"}}
    assert crashcheck.differences(reference, pages, reference, pages) == []
    found = crashcheck.differences(reference, pages, crashed, {"acme": {"log.csv": "a\nc\n"}})
    assert found[0].startswith("ledger differs in 1 entries: 2 ")
    assert found[1] == "acme/log.csv differs from the reference run's at line 2: 'b' vs 'c'"


def test_bookkeeping_wants_one_token_per_client_a_matching_record_and_no_stray_folder(tmp_path: Path) -> None:
    import hashlib

    files = render(statement())
    publish(tmp_path, files)
    digest = hashlib.sha256(b"".join(files[k] for k in sorted(files))).hexdigest()
    good = StoreState({}, {}, {}, {"acme": [TOKEN]}, {"acme": (TOKEN, digest)})
    assert crashcheck.bookkeeping_problems(good, tmp_path, ["acme"]) == []
    stale = dataclasses.replace(good, publishes={"acme": (TOKEN, "0" * 64)})
    assert crashcheck.bookkeeping_problems(stale, tmp_path, ["acme"]) == [
        "acme: the publish record does not match the published page"]
    twice = dataclasses.replace(good, tokens={"acme": [TOKEN, TOKEN[::-1]]})
    assert crashcheck.bookkeeping_problems(twice, tmp_path, ["acme"]) == ["acme: 2 live tokens"]
    publish(tmp_path, files, token="ZyXwVuTsRqPoNmLkJiHgFeDc")
    (tmp_path / "c" / TOKEN / ".log.csv.0123456789abcdef.tmp").write_bytes(b"x")
    assert crashcheck.bookkeeping_problems(good, tmp_path, ["acme"]) == [
        "page folder ZyXwVu… belongs to no client",
        "AbCdEf…/.log.csv.0123456789abcdef.tmp: temp file still there after the restart"]


def events(*names: str, kinds: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [{"event": "sync", "kind": k} for k in kinds] + [{"event": n} for n in names]


@pytest.mark.parametrize(("facts", "phase"), [
    ({"exited": True}, "after exit"),
    ({}, "startup"),
    ({"requests": 2}, "poll: reading"),
    ({"requests": 2, "committed": 2000}, "poll: between page commits"),
    ({"requests": 3, "committed": 4000, "cursor_moved": True}, "poll: cursor committed"),
    ({"requests": 3, "events": events(kinds=("poll",))}, "reconcile"),
    ({"requests": 3, "events": events(kinds=("poll",)), "reconciles": False}, "publish: 0 of 4 pages"),
    ({"requests": 5, "events": events(kinds=("poll", "reconcile"))}, "publish: 0 of 4 pages"),
    ({"requests": 5, "events": events("published", "published", kinds=("poll", "reconcile"))},
     "publish: 2 of 4 pages"),
    ({"events": events("published")}, "publish: 1 of 4 pages"),  # a daemon whose data was fresh enough
    ({"requests": 5, "events": events(*["published"] * 4, kinds=("poll", "reconcile"))}, "after publish"),
])
def test_where_a_kill_landed_follows_what_the_process_did_before_it(facts: dict[str, Any], phase: str) -> None:
    given = {"exited": False, "requests": 0, "events": [], "committed": 0, "cursor_moved": False,
             "reconciles": True, "clients": 4, **facts}
    assert landed(**given) == phase


def test_a_timeline_splits_a_pass_into_phases_and_kills_are_aimed_inside_them() -> None:
    lines = [(2.0, {"event": "sync", "kind": "poll"}), (2.5, {"event": "sync", "kind": "reconcile"}),
             (2.7, {"event": "published"}), (3.0, {"event": "published"})]
    timeline = Timeline.of([1.0, 1.2], lines, exit=3.5)
    assert timeline.durations == pytest.approx(
        {"startup": 1.0, "poll": 1.0, "reconcile": 0.5, "publish": 0.5, "close": 0.5})
    rng = random.Random(3)
    for _ in range(200):
        phase, offset = timeline.aim(rng)
        assert phase in dict(AIM) and 0 <= offset <= timeline.durations[phase]


def test_a_pass_that_never_reconciled_has_an_empty_reconcile_phase() -> None:
    timeline = Timeline.of([0.8], [(1.5, {"event": "sync", "kind": "poll"}), (1.9, {"event": "published"})], exit=2.0)
    assert timeline.durations["reconcile"] == 0.0
    assert timeline.durations["publish"] == pytest.approx(0.4)
