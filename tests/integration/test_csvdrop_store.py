"""Store.replace_period on SQLite and PostgreSQL: one source's period replaced, nothing else touched."""

from __future__ import annotations

from datetime import date, datetime, timezone

from syncd.models import TimeEntry
from syncd.store import Store

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def entry(vendor_id: str, day: int, seconds: int = 3600, client: str = "acme") -> TimeEntry:
    return TimeEntry(account="drop", vendor_id=vendor_id, client_key=client, work_date=date(2026, 11, day),
                     duration_seconds=seconds, updated_at=datetime(2026, 11, day, tzinfo=timezone.utc))


def live(store: Store) -> dict[str, int]:
    return {e.vendor_id: e.duration_seconds
            for c in ("acme", "birch") for e in store.entries_for_client(c, date(2026, 1, 1))}


def test_replacing_a_period_upserts_the_page_and_deletes_only_that_sources_missing_entries(any_store: Store) -> None:
    any_store.apply_entries("drop", [entry("/generic/a", 3), entry("/generic/b", 4), entry("/generic/edge", 30),
                                     entry("/toggl/t", 4), entry("acme/generic/f", 4),
                                     entry("/generic_x/y", 4), entry("/generic/old", 1)], now=NOW)
    applied = any_store.replace_period(
        "drop", [entry("/generic/a", 3, 5400), entry("/generic/c", 5, client="birch")],
        scope="/generic/", start=date(2026, 11, 2), end=date(2026, 11, 29), now=NOW)
    assert live(any_store) == {"/generic/a": 5400, "/generic/c": 3600, "/generic/edge": 3600, "/toggl/t": 3600,
                               "acme/generic/f": 3600, "/generic_x/y": 3600, "/generic/old": 3600}
    assert applied.changed == 3 and applied.clients == {"acme", "birch"}


def test_replacing_with_the_same_page_again_changes_nothing(any_store: Store) -> None:
    page = [entry("/generic/a", 3), entry("/generic/b", 4)]
    any_store.replace_period("drop", page, scope="/generic/", start=date(2026, 11, 3), end=date(2026, 11, 4), now=NOW)
    again = any_store.replace_period("drop", page, scope="/generic/", start=date(2026, 11, 3), end=date(2026, 11, 4),
                                     now=NOW)
    assert again.changed == 0 and again.clients == set()


def test_a_scope_with_like_wildcards_matches_only_itself(any_store: Store) -> None:
    any_store.apply_entries("drop", [entry("a_b/generic/1", 3), entry("axb/generic/2", 3)], now=NOW)
    any_store.replace_period("drop", [entry("a_b/generic/3", 3)], scope="a_b/generic/", start=date(2026, 11, 1),
                             end=date(2026, 11, 30), now=NOW)
    assert set(live(any_store)) == {"axb/generic/2", "a_b/generic/3"}
