"""The store on SQLite and PostgreSQL: upserts, moves, deletions, cursors, runs and tokens."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from syncd import store as store_module
from syncd.models import TimeEntry
from syncd.store import Applied, Store, SyncRun

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


def entry(vendor_id: str, client: str | None = "acme", **changes: object) -> TimeEntry:
    base = TimeEntry(account="h", vendor_id=vendor_id, client_key=client, work_date=date(2026, 11, 2),
                     duration_seconds=3600, updated_at=NOW - timedelta(hours=1), worker_name="Priya Raman")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_migrations_create_every_table_and_are_idempotent(any_store: Store) -> None:
    any_store.migrate()
    names = set(sa.inspect(any_store.engine).get_table_names())
    assert {"entries", "cursors", "sync_runs", "publishes", "link_tokens", "alembic_version"} <= names


def test_upsert_by_account_and_vendor_id_never_doubles(any_store: Store) -> None:
    assert any_store.apply_entries("h", [entry("1"), entry("2")], now=NOW) == Applied(2, {"acme"})
    assert any_store.apply_entries("h", [entry("1"), entry("2")], now=NOW) == Applied(0, set())
    assert any_store.count_entries("h") == 2
    assert any_store.apply_entries("h", [entry("1", duration_seconds=7200)], now=NOW) == Applied(1, {"acme"})
    got = {e.vendor_id: e.duration_seconds for e in any_store.entries_for_client("acme", date(2026, 1, 1))}
    assert got == {"1": 7200, "2": 3600}


def test_same_vendor_id_on_two_accounts_are_two_entries(any_store: Store) -> None:
    any_store.apply_entries("h", [entry("1")], now=NOW)
    any_store.apply_entries("t", [dataclasses.replace(entry("1"), account="t")], now=NOW)
    assert any_store.count_entries() == 2


def test_an_entry_moved_between_clients_touches_both_and_leaves_the_old(any_store: Store) -> None:
    any_store.apply_entries("h", [entry("1")], now=NOW)
    assert any_store.apply_entries("h", [entry("1", client="birch")], now=NOW).clients == {"acme", "birch"}
    assert any_store.entries_for_client("acme", date(2026, 1, 1)) == []
    assert [e.vendor_id for e in any_store.entries_for_client("birch", date(2026, 1, 1))] == ["1"]


def test_unclaimed_entries_are_not_stored_but_a_move_away_is(any_store: Store) -> None:
    assert any_store.apply_entries("h", [entry("9", client=None)], now=NOW) == Applied()
    assert any_store.count_entries() == 0
    any_store.apply_entries("h", [entry("1")], now=NOW)
    assert any_store.apply_entries("h", [entry("1", client=None)], now=NOW).clients == {"acme"}
    assert any_store.entries_for_client("acme", date(2026, 1, 1)) == []


def test_deletion_hides_an_entry_and_reports_its_client(any_store: Store) -> None:
    any_store.apply_entries("h", [entry("1"), entry("2")], now=NOW)
    assert any_store.live_ids("h", date(2026, 11, 1), date(2026, 11, 30)) == {"1", "2"}
    assert any_store.mark_deleted("h", ["2"], now=NOW) == Applied(1, {"acme"})
    assert any_store.mark_deleted("h", ["2"], now=NOW) == Applied()
    assert [e.vendor_id for e in any_store.entries_for_client("acme", date(2026, 1, 1))] == ["1"]
    assert any_store.live_ids("h", date(2026, 11, 1), date(2026, 11, 30)) == {"1"}
    # An entry deleted and then seen again upstream (restored) comes back.
    assert any_store.apply_entries("h", [entry("2")], now=NOW).clients == {"acme"}


def test_entries_round_trip_every_field(any_store: Store) -> None:
    full = entry("1", started_at=NOW, tags=("a", "b"), internal_notes="x", location="onsite", travel=True)
    any_store.apply_entries("h", [full], now=NOW)
    assert any_store.entries_for_client("acme", date(2026, 1, 1)) == [full]


def test_cursor_only_moves_forward_and_is_utc(any_store: Store) -> None:
    assert any_store.cursor("h") is None
    any_store.advance_cursor("h", NOW, now=NOW)
    any_store.advance_cursor("h", NOW - timedelta(hours=1), now=NOW)
    assert any_store.cursor("h") == NOW
    assert any_store.cursor("h").tzinfo is not None  # type: ignore[union-attr]


def test_source_status_tracks_failure_since_and_recovery(any_store: Store) -> None:
    def run(minutes: int, outcome: str) -> SyncRun:
        at = NOW + timedelta(minutes=minutes)
        return SyncRun("h", "poll", at, at + timedelta(seconds=1), outcome, error=None if outcome == "ok" else "boom")

    any_store.record_run(run(0, "ok"))
    any_store.record_run(run(5, "transient"))
    any_store.record_run(run(10, "auth"))
    status = any_store.source_status("h")
    assert status.failing_since == NOW + timedelta(minutes=5)
    assert status.last_success_at == NOW + timedelta(seconds=1)
    assert (status.last_outcome, status.last_error) == ("auth", "boom")
    any_store.record_run(run(15, "ok"))
    assert any_store.source_status("h").failing_since is None


def test_tokens_are_stable_per_client_long_and_url_safe(any_store: Store) -> None:
    token = any_store.token_for("acme", now=NOW)
    assert any_store.token_for("acme", now=NOW) == token
    assert any_store.token_for("birch", now=NOW) != token
    assert len(token) >= 32 and token.replace("-", "").replace("_", "").isalnum()
    assert any_store.client_for_token(token) == "acme"
    assert any_store.client_for_token("unknown-token-value") is None


def test_many_first_publishes_of_one_client_at_once_mint_a_single_token(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two accounts of one client synced together publish it from two threads (and two
    # replicas from two processes): each must find the token the other minted. Minting is
    # held open until a second thread also decides to mint, or for half a second when none
    # does, so an unguarded read-then-insert is caught every time rather than by luck.
    ask, minting, second = threading.Barrier(8), [], threading.Event()
    mint = store_module.new_token

    def slow_mint() -> str:
        minting.append(1)
        if len(minting) >= 2:
            second.set()
        second.wait(timeout=0.5)
        return mint()

    monkeypatch.setattr(store_module, "new_token", slow_mint)

    def first_publish(_: int) -> str | None:
        ask.wait(timeout=10)
        return any_store.token_for("acme", now=NOW)

    with ThreadPoolExecutor(max_workers=8) as pool:
        tokens = set(pool.map(first_publish, range(8)))
    with any_store.engine.connect() as conn:
        held = conn.execute(sa.text("SELECT count(*) FROM link_tokens WHERE client_key = 'acme'")).scalar()
    assert len(tokens) == 1 and held == 1


def test_rotating_a_token_revokes_the_old_one_and_issues_a_new_one(any_store: Store) -> None:
    old = any_store.token_for("acme", now=NOW)
    new, replaced = any_store.rotate_token("acme", now=NOW + timedelta(minutes=1))
    assert replaced == [old] and new != old
    assert any_store.client_for_token(old) is None and any_store.client_for_token(new) == "acme"
    assert any_store.token_for("acme", now=NOW + timedelta(minutes=2)) == new
    assert any_store.token_for("birch", now=NOW) not in (old, new)


def test_a_revoked_client_gets_no_token_until_it_is_rotated(any_store: Store) -> None:
    old = any_store.token_for("acme", now=NOW)
    assert any_store.revoke_tokens("acme", now=NOW) == [old]
    assert any_store.client_for_token(old) is None
    assert any_store.token_for("acme", now=NOW + timedelta(hours=1)) is None  # no quiet new link
    assert any_store.revoke_tokens("acme", now=NOW) == []
    new, replaced = any_store.rotate_token("acme", now=NOW + timedelta(hours=2))
    assert replaced == [] and any_store.token_for("acme", now=NOW + timedelta(hours=3)) == new


def test_revoking_a_client_that_never_had_a_link_keeps_it_from_getting_one(any_store: Store) -> None:
    assert any_store.revoke_tokens("birch", now=NOW) == []
    assert any_store.token_for("birch", now=NOW) is None
    assert any_store.linked_clients() == {"birch"}


def test_updated_at_of_says_which_held_entries_are_deleted(any_store: Store) -> None:
    any_store.apply_entries("h", [entry("1"), entry("2")], now=NOW)
    any_store.mark_deleted("h", ["2"], now=NOW)
    held = any_store.updated_at_of("h", ["1", "2", "3"])
    assert held == {"1": (NOW - timedelta(hours=1), False), "2": (NOW - timedelta(hours=1), True)}


def test_worker_names_are_collected_per_account(any_store: Store) -> None:
    any_store.apply_entries("h", [entry("1"), entry("2", worker_name="Sven Lindqvist")], now=NOW)
    assert any_store.worker_names(["h"]) == {"Priya Raman", "Sven Lindqvist"}
    assert any_store.worker_names(["other"]) == set()


def test_worker_names_are_every_distinct_name_of_the_accounts_asked_and_no_other(any_store: Store) -> None:
    names = ["Åsa Ek", "Priya", "Priya Raman", "priya raman", "Zoë Ng", "Ólafur Arnalds", "Sven Lindqvist"]
    # Each name on several entries (one name's all deleted), and an entry without a worker.
    any_store.apply_entries("h", [entry(f"{i}-{n}", worker_name=name) for i, name in enumerate(names) for n in range(3)]
                            + [entry("anon", worker_name=None)], now=NOW)
    any_store.apply_entries("cw", [dataclasses.replace(entry("9"), account="cw", worker_name="Kwame Asante")], now=NOW)
    any_store.mark_deleted("h", {"6-0", "6-1", "6-2"}, now=NOW)
    assert any_store.worker_names(["h"]) == set(names)
    assert any_store.worker_names(["h", "cw", "h"]) == {*names, "Kwame Asante"}
    assert any_store.worker_names(["cw"]) == {"Kwame Asante"}
    assert any_store.worker_names([]) == set()


def test_a_large_page_is_upserted_in_chunks(any_store: Store) -> None:
    page = [entry(str(i)) for i in range(1_234)]
    assert any_store.apply_entries("h", page, now=NOW) == Applied(1_234, {"acme"})
    assert any_store.count_entries("h") == 1_234


def test_naive_datetimes_are_refused(sqlite_store: Store) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        sqlite_store.advance_cursor("h", datetime(2026, 1, 1), now=NOW)


def test_sqlite_runs_in_wal_mode(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_migrations_match_the_table_definitions(any_store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from syncd.store import metadata

    with any_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_an_alert_fires_once_until_released(any_store: Store) -> None:
    assert any_store.claim_alert("acme", "low_balance", "2026-11-15:90", now=NOW) is True
    assert any_store.claim_alert("acme", "low_balance", "2026-11-15:90", now=NOW) is False
    assert any_store.claim_alert("acme", "low_balance", "2026-12-15:90", now=NOW) is True
    assert any_store.release_alert("acme", "low_balance", "2026-11-15:90") is True
    assert any_store.release_alert("acme", "low_balance", "2026-11-15:90") is False
    assert any_store.claim_alert("acme", "low_balance", "2026-11-15:90", now=NOW) is True


def test_a_migration_that_fails_half_way_leaves_no_table_behind_and_the_next_start_completes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A table the last migration wants to create makes it fail after the earlier ones ran,
    # as a crash half-way through the first start would. Nothing of that start may survive:
    # on SQLite, DDL outside a transaction commits at once and left tables without a version,
    # so every later start failed on "table entries already exists".
    url = f"sqlite:///{tmp_path / 'syncd.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE shard_leases (x INTEGER)")
    with pytest.raises(sa.exc.OperationalError, match="shard_leases"):
        Store.open(url)
    assert set(sa.inspect(engine).get_table_names()) == {"shard_leases"}
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE shard_leases")
    engine.dispose()
    store = Store.open(url)
    assert {"entries", "cursors", "link_tokens", "shard_leases"} <= set(sa.inspect(store.engine).get_table_names())
    store.close()


@pytest.mark.postgres
def test_account_locks_exclude_replicas_of_one_store_but_not_another_store_in_the_same_database(
        pg_url: str, other_pg_url: str) -> None:
    # Advisory locks are database-wide: keyed by account name alone, a deployment in another
    # schema syncing an account of the same name made this one's `syncd sync` skip its poll.
    replica_a, replica_b, neighbour = Store.open(pg_url), Store.open(pg_url), Store.open(other_pg_url)
    try:
        held = replica_a.try_lock_account("harvest")
        assert held is not None
        assert replica_b.try_lock_account("harvest") is None
        other = neighbour.try_lock_account("harvest")
        assert other is not None
        other.release()
        held.release()
        again = replica_b.try_lock_account("harvest")
        assert again is not None
        again.release()
    finally:
        for store in (replica_a, replica_b, neighbour):
            store.close()
