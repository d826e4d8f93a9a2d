"""The store: SQLAlchemy tables and the repository that is the only code touching the database."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError

from syncd.models import TimeEntry

metadata = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("vendor_id", String(128), nullable=False),
    Column("client_key", String(64), nullable=True),
    Column("work_date", Date, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("worker_name", String(256), nullable=True),
    Column("digest", String(64), nullable=False),
    Column("data", JSON, nullable=False),
    Column("synced_at", UTCDateTime, nullable=False),
    UniqueConstraint("account", "vendor_id", name="uq_entries_account_vendor_id"),
    Index("ix_entries_client_date", "client_key", "work_date"),
    Index("ix_entries_account_date", "account", "work_date"),
    Index("ix_entries_account_worker", "account", "worker_name"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("position", UTCDateTime, nullable=True),
    Column("reconciled_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("requests", Integer, nullable=False, default=0),
    Column("fetched", Integer, nullable=False, default=0),
    Column("changed", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Index("ix_sync_runs_account_started", "account", "started_at"),
)

publishes = Table(
    "publishes",
    metadata,
    Column("client_key", String(64), primary_key=True),
    Column("token", String(128), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("stale", Boolean, nullable=False, default=False),
)

link_tokens = Table(
    "link_tokens",
    metadata,
    Column("token", String(128), primary_key=True),
    Column("client_key", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index("ix_link_tokens_client", "client_key"),
)

alert_state = Table(
    "alert_state",
    metadata,
    Column("subject", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("key", String(64), nullable=False),
    Column("fired_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("subject", "kind", "key", name="pk_alert_state"),
)

shard_leases = Table(
    "shard_leases",
    metadata,
    Column("shard_count", Integer, nullable=False),
    Column("shard", Integer, nullable=False),
    Column("holder", String(128), nullable=False),
    Column("home", Boolean, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("shard_count", "shard", name="pk_shard_leases"),
)

# Bound parameters per statement stay well under SQLite's limit.
_CHUNK = 500


def entry_digest(data: dict[str, Any]) -> str:
    """A fingerprint of an entry's content (its :meth:`TimeEntry.to_dict`), so re-reading an
    unchanged entry changes nothing."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def new_token() -> str:
    """A page token: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


@dataclass
class Applied:
    """What a write to the entries did: how many entries changed, and whose lines."""

    changed: int = 0
    clients: set[str] = field(default_factory=set)

    def __ior__(self, other: Applied) -> Applied:
        self.changed += other.changed
        self.clients |= other.clients
        return self


@dataclass(frozen=True)
class SourceStatus:
    """An account's health as its sync runs tell it."""

    account: str
    last_success_at: datetime | None
    failing_since: datetime | None
    last_outcome: str | None
    last_error: str | None

    @property
    def failing(self) -> bool:
        return self.failing_since is not None


@dataclass(frozen=True)
class SyncRun:
    """One finished sync of an account, for the runs table and the summary log line."""

    account: str
    kind: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    requests: int = 0
    fetched: int = 0
    changed: int = 0
    error: str | None = None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the page server read while a sync writes; NORMAL is durable with WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets its folder created and WAL mode switched on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


class AccountLock:
    """A held PostgreSQL advisory lock on one account (session-level, on its own connection)."""

    def __init__(self, conn: Connection | None, key: int) -> None:
        self._conn = conn
        self._key = key

    def release(self) -> None:
        """Let another replica sync the account."""
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
        finally:
            self._conn.close()
            self._conn = None


def lock_key(account: str, schema: str = "public", *, kind: str = "account") -> int:
    """A stable signed 64-bit key for an account's advisory lock in the store kept in ``schema``
    (``kind="link"`` with a client key: the lock on that client's page links).

    Advisory locks span the whole database, so the key names the schema: two deployments kept
    in two schemas of one database never hold each other up. The default schema keeps the
    key it always had, so replicas of different versions still exclude each other.
    """
    name = f"syncd:{kind}:{account}" if schema == "public" else f"syncd:{schema}:{kind}:{account}"
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


class Store:
    """Repository over the tables above. Methods are synchronous and short; callers in the
    event loop run them in a worker thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Open the database at ``url`` and bring its schema up to date."""
        store = cls(create_store_engine(url))
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> None:
        """Apply Alembic migrations up to head."""
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                # pysqlite runs DDL outside any transaction unless one is open, so a start
                # killed half-way through left tables without their version, and every later
                # start failed on "table already exists". One explicit transaction makes the
                # whole upgrade all or nothing; IMMEDIATE also queues a second process that
                # starts at the same moment until this one has committed.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def try_lock_account(self, account: str) -> AccountLock | None:
        """Take the account's sync lock, or None when another replica holds it.

        On PostgreSQL this is an advisory lock, so several replicas sharing the store never
        sync one account at once (a store in another schema of the same database has locks of
        its own). SQLite serves one process: the lock always succeeds.
        """
        if self.engine.dialect.name != "postgresql":
            return AccountLock(None, 0)
        conn = self.engine.connect()
        try:
            key = lock_key(account, conn.execute(text("SELECT current_schema()")).scalar() or "public")
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
            conn.commit()
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return None
        return AccountLock(conn, key)

    # --- entries ---------------------------------------------------------------------

    def apply_entries(self, account: str, batch: Sequence[TimeEntry], *, now: datetime) -> Applied:
        """Upsert one page of entries by (account, vendor id), in one transaction.

        Reports the entries that changed and the clients whose lines may have: a new entry's
        client, and for an edited entry both its old and new client (an entry moved between
        clients). An entry no configured client claims is stored only if we already held it
        (so a move away from a client is seen); re-reading an unchanged entry changes nothing.
        """
        touched: set[str] = set()
        if not batch:
            return Applied()
        by_id = {e.vendor_id: e for e in batch}  # the last copy of a repeated id wins
        with self._tx() as conn:
            existing: dict[str, tuple[str | None, str]] = {}
            ids = list(by_id)
            for i in range(0, len(ids), _CHUNK):
                rows = conn.execute(
                    select(entries.c.vendor_id, entries.c.client_key, entries.c.digest).where(
                        entries.c.account == account, entries.c.vendor_id.in_(ids[i : i + _CHUNK])
                    )
                )
                existing.update({r.vendor_id: (r.client_key, r.digest) for r in rows})
            inserts, updates = [], []
            for vendor_id, entry in by_id.items():
                data = entry.to_dict()
                digest = entry_digest(data)
                row = {
                    "account": account,
                    "vendor_id": vendor_id,
                    "client_key": entry.client_key,
                    "work_date": entry.work_date,
                    "updated_at": entry.updated_at,
                    "deleted": entry.deleted,
                    "worker_name": entry.worker_name,
                    "digest": digest,
                    "data": data,
                    "synced_at": now,
                }
                if vendor_id not in existing:
                    if entry.client_key is None or entry.deleted:
                        continue
                    inserts.append(row)
                    touched.add(entry.client_key)
                    continue
                old_client, old_digest = existing[vendor_id]
                if old_digest == digest:
                    continue
                updates.append({**row, "b_vendor_id": vendor_id})
                touched.update(k for k in (old_client, entry.client_key) if k is not None)
            if inserts:
                conn.execute(insert(entries), inserts)
            if updates:
                stmt = (
                    update(entries)
                    .where(and_(entries.c.account == account, entries.c.vendor_id == bindparam("b_vendor_id")))
                    .values({c: bindparam(c) for c in updates[0] if c not in ("b_vendor_id", "account", "vendor_id")})
                )
                conn.execute(stmt, updates)
        return Applied(len(inserts) + len(updates), touched)

    def updated_at_of(self, account: str, vendor_ids: Iterable[str]) -> dict[str, tuple[datetime, bool]]:
        """The vendor updated-at we hold for each of these entries, and whether we hold it as
        deleted (ones we do not hold are absent)."""
        ids = list(vendor_ids)
        found: dict[str, tuple[datetime, bool]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), _CHUNK):
                rows = conn.execute(select(entries.c.vendor_id, entries.c.updated_at, entries.c.deleted).where(
                    entries.c.account == account, entries.c.vendor_id.in_(ids[i : i + _CHUNK])))
                found.update({r.vendor_id: (r.updated_at, bool(r.deleted)) for r in rows})
        return found

    def mark_deleted(self, account: str, vendor_ids: Iterable[str], *, now: datetime) -> Applied:
        """Mark entries deleted (a vendor tombstone or a reconcile)."""
        ids = list(vendor_ids)
        applied = Applied()
        with self._tx() as conn:
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                where = and_(entries.c.account == account, entries.c.vendor_id.in_(chunk), entries.c.deleted.is_(False))
                applied.clients.update(
                    k for (k,) in conn.execute(select(entries.c.client_key).where(where).distinct()) if k
                )
                done = conn.execute(update(entries).where(where).values(deleted=True, synced_at=now, digest="deleted"))
                applied.changed += done.rowcount
        return applied

    def replace_period(self, account: str, batch: Sequence[TimeEntry], *, scope: str, start: date, end: date,
                       now: datetime) -> Applied:
        """Make ``batch`` the whole of one source's period, in one transaction.

        Upserts the batch (as :meth:`apply_entries`), then marks deleted every live entry
        whose vendor id starts with ``scope`` and whose work date lies in [start, end] but
        which the batch no longer carries: an updated export of a period never doubles
        hours and leaves no ghosts, and reading the same export again changes nothing.
        """
        ids = {e.vendor_id for e in batch}
        with self._tx() as conn:
            held = {r.vendor_id for r in conn.execute(
                select(entries.c.vendor_id).where(
                    entries.c.account == account,
                    entries.c.deleted.is_(False),
                    entries.c.work_date >= start,
                    entries.c.work_date <= end,
                    entries.c.vendor_id.startswith(scope, autoescape=True),
                ))}
            one = _InTransaction(self.engine, conn)
            applied = one.apply_entries(account, batch, now=now)
            applied |= one.mark_deleted(account, held - ids, now=now)
        return applied

    def live_ids(self, account: str, start: date, end: date) -> set[str]:
        """Vendor ids of live entries whose vendor work date lies in [start, end]."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(entries.c.vendor_id).where(
                    entries.c.account == account,
                    entries.c.deleted.is_(False),
                    entries.c.work_date >= start,
                    entries.c.work_date <= end,
                )
            )
            return {r.vendor_id for r in rows}

    def entries_for_client(self, client_key: str, since: date) -> list[TimeEntry]:
        """The client's live entries with a work date on or after ``since``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(entries.c.data).where(
                    entries.c.client_key == client_key,
                    entries.c.deleted.is_(False),
                    entries.c.work_date >= since,
                )
            )
            return [TimeEntry.from_dict(r.data) for r in rows]

    def worker_names(self, accounts: Iterable[str]) -> set[str]:
        """Every technician name seen on these accounts (for the scrubber and the leak guard).

        Every page build asks, so the cost must not grow with the account's history: the
        names are walked on the (account, worker_name) index, one seek per distinct name,
        rather than by reading every entry the account ever had.
        """
        names: set[str] = set()
        with self.engine.connect() as conn:
            for account in dict.fromkeys(accounts):
                mine = entries.c.account == account
                walk = select(func.min(entries.c.worker_name).label("name")).where(
                    mine, entries.c.worker_name.is_not(None)).cte("walk", recursive=True)
                following = select(func.min(entries.c.worker_name)).where(
                    mine, entries.c.worker_name > walk.c.name).scalar_subquery()
                walk = walk.union_all(select(following).where(walk.c.name.is_not(None)))
                names.update(r.name for r in conn.execute(select(walk.c.name).where(walk.c.name.is_not(None))))
        return names

    def count_entries(self, account: str | None = None) -> int:
        """How many live entries the store holds (for one account, or all)."""
        stmt = select(func.count()).select_from(entries).where(entries.c.deleted.is_(False))
        if account is not None:
            stmt = stmt.where(entries.c.account == account)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def reset_sync_state(self) -> None:
        """Forget every entry, cursor, run and publish record; link tokens stay (the demo's reset)."""
        with self._tx() as conn:
            for table in (entries, cursors, sync_runs, publishes):
                conn.execute(table.delete())

    # --- cursors ---------------------------------------------------------------------

    def cursor(self, account: str) -> datetime | None:
        """The account's position: the newest vendor updated-at already committed."""
        with self.engine.connect() as conn:
            return conn.execute(select(cursors.c.position).where(cursors.c.account == account)).scalar()

    def reconciled_at(self, account: str) -> datetime | None:
        """When the account's open window was last re-listed."""
        with self.engine.connect() as conn:
            return conn.execute(select(cursors.c.reconciled_at).where(cursors.c.account == account)).scalar()

    def _set_cursor_fields(self, account: str, now: datetime, **values: Any) -> None:
        with self._tx() as conn:
            done = conn.execute(update(cursors).where(cursors.c.account == account).values(updated_at=now, **values))
            if done.rowcount == 0:
                conn.execute(insert(cursors).values(account=account, updated_at=now, **values))

    def advance_cursor(self, account: str, position: datetime, *, now: datetime) -> None:
        """Move the cursor forward to ``position`` (never backwards)."""
        current = self.cursor(account)
        if current is None or position > current:
            self._set_cursor_fields(account, now, position=position)

    def mark_reconciled(self, account: str, *, now: datetime) -> None:
        """Remember that the account's open window was re-listed now."""
        self._set_cursor_fields(account, now, reconciled_at=now)

    # --- sync runs ---------------------------------------------------------------------

    def record_run(self, run: SyncRun) -> None:
        """Keep one finished sync run; runs older than 30 days are pruned as we go."""
        with self._tx() as conn:
            conn.execute(insert(sync_runs).values(**run.__dict__))
            conn.execute(
                sync_runs.delete().where(
                    sync_runs.c.account == run.account,
                    sync_runs.c.started_at < run.started_at - timedelta(days=30),
                )
            )

    def source_status(self, account: str) -> SourceStatus:
        """Last success, and since when the account has failed (None when it has not)."""
        with self.engine.connect() as conn:
            last_ok = conn.execute(
                select(func.max(sync_runs.c.finished_at)).where(
                    sync_runs.c.account == account, sync_runs.c.outcome == "ok"
                )
            ).scalar()
            last = conn.execute(
                select(sync_runs.c.outcome, sync_runs.c.error)
                .where(sync_runs.c.account == account)
                .order_by(sync_runs.c.finished_at.desc(), sync_runs.c.id.desc())
                .limit(1)
            ).first()
            failing_since = None
            if last is not None and last.outcome != "ok":
                cond = [sync_runs.c.account == account, sync_runs.c.outcome != "ok"]
                if last_ok is not None:
                    cond.append(sync_runs.c.started_at > last_ok)
                failing_since = conn.execute(select(func.min(sync_runs.c.started_at)).where(*cond)).scalar()
        return SourceStatus(
            account=account,
            last_success_at=last_ok,
            failing_since=failing_since,
            last_outcome=last.outcome if last else None,
            last_error=last.error if last else None,
        )

    def runs(self, account: str, limit: int = 50) -> list[SyncRun]:
        """The account's most recent runs, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(sync_runs).where(sync_runs.c.account == account)
                .order_by(sync_runs.c.started_at.desc(), sync_runs.c.id.desc()).limit(limit)
            )
            return [SyncRun(**{k: v for k, v in r._mapping.items() if k != "id"}) for r in rows]

    # --- link tokens and publishes ---------------------------------------------------------

    def token_for(self, client_key: str, *, now: datetime) -> str | None:
        """The client's live page token, created on first use; None once its link is revoked
        (a revoked client stays unpublished until :meth:`rotate_token` gives it a new link)."""
        with self._links_tx(client_key) as conn:
            rows = conn.execute(
                select(link_tokens.c.token, link_tokens.c.revoked_at)
                .where(link_tokens.c.client_key == client_key)
                .order_by(link_tokens.c.created_at.desc())
            ).all()
            live = [r.token for r in rows if r.revoked_at is None]
            if live:
                return str(live[0])
            if rows:
                return None
            token = new_token()
            conn.execute(insert(link_tokens).values(token=token, client_key=client_key, created_at=now))
            return token

    def client_for_token(self, token: str) -> str | None:
        """The client a live token belongs to; None for unknown or revoked tokens."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(link_tokens.c.client_key).where(
                    link_tokens.c.token == token, link_tokens.c.revoked_at.is_(None)
                )
            ).scalar()

    def rotate_token(self, client_key: str, *, now: datetime) -> tuple[str, list[str]]:
        """Give the client a new live token (also after a revoke); returns it and the tokens it replaced."""
        with self._links_tx(client_key) as conn:
            old = self._revoke_live(conn, client_key, now)
            token = new_token()
            conn.execute(insert(link_tokens).values(token=token, client_key=client_key, created_at=now))
            return token, old

    def revoke_tokens(self, client_key: str, *, now: datetime) -> list[str]:
        """Revoke the client's live tokens (returned) and issue none: its page goes unpublished.

        A client that never had a token gets one already revoked, so a later publish does
        not quietly hand it a first link.
        """
        with self._links_tx(client_key) as conn:
            old = self._revoke_live(conn, client_key, now)
            has_any = conn.execute(select(func.count()).select_from(link_tokens).where(
                link_tokens.c.client_key == client_key)).scalar_one()
            if not has_any:
                conn.execute(insert(link_tokens).values(token=new_token(), client_key=client_key,
                                                        created_at=now, revoked_at=now))
            return old

    @contextmanager
    def _links_tx(self, client_key: str) -> Iterator[Connection]:
        """A transaction that holds the client's link tokens to itself until it commits.

        Reading "no live token" and inserting one is not atomic on its own: two publishes of
        one client (two of its accounts synced at once, or two replicas) would each mint a
        token, and the client would get two pages at two addresses. SQLite takes its write
        lock before the read; PostgreSQL a transaction-scoped advisory lock on the client.
        """
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif conn.dialect.name == "postgresql":
                schema = conn.execute(text("SELECT current_schema()")).scalar() or "public"
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": lock_key(client_key, schema, kind="link")})
            yield conn

    def linked_clients(self) -> set[str]:
        """Every client key that has had a page token (live or revoked)."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(link_tokens.c.client_key).distinct()).scalars())

    @staticmethod
    def _revoke_live(conn: Connection, client_key: str, now: datetime) -> list[str]:
        live = list(conn.execute(select(link_tokens.c.token).where(
            link_tokens.c.client_key == client_key, link_tokens.c.revoked_at.is_(None))).scalars())
        if live:
            conn.execute(update(link_tokens).where(link_tokens.c.token.in_(live)).values(revoked_at=now))
        return live

    # --- alerts -----------------------------------------------------------------------------

    def claim_alert(self, subject: str, kind: str, key: str, *, now: datetime) -> bool:
        """Record that an alert fires; False when it already had (so it fires once, even
        across restarts and replicas: the primary key settles races)."""
        try:
            with self._tx() as conn:
                conn.execute(insert(alert_state).values(subject=subject, kind=kind, key=key, fired_at=now))
        except IntegrityError:
            return False
        return True

    def release_alert(self, subject: str, kind: str, key: str) -> bool:
        """Forget a fired alert (its condition cleared); True when there was one."""
        with self._tx() as conn:
            done = conn.execute(alert_state.delete().where(
                alert_state.c.subject == subject, alert_state.c.kind == kind, alert_state.c.key == key))
            return done.rowcount > 0

    # --- shard leases ------------------------------------------------------------------------

    def claim_shards(self, holder: str, home: int, count: int, *, now: datetime, ttl: float) -> set[int]:
        """Renew or take shard leases for ``holder``; returns the shards it holds until now + ttl.

        The home shard is taken whenever it is free, expired, or held by a replica that only
        covers for it (home replicas win their shard back). Every other shard whose lease is
        missing or expired is taken over: its replica died or never started. Each claim is its
        own conditional write, so two replicas racing for one shard cannot both win.
        """
        until = now + timedelta(seconds=ttl)
        key = and_(shard_leases.c.shard_count == count)
        for shard in range(count):
            mine = shard == home
            takeable = shard_leases.c.expires_at < now
            if mine:
                takeable = takeable | (shard_leases.c.home.is_(False)) | (shard_leases.c.holder == holder)
            else:
                takeable = takeable | ((shard_leases.c.holder == holder) & shard_leases.c.home.is_(False))
            try:
                with self._tx() as conn:
                    done = conn.execute(update(shard_leases).where(key, shard_leases.c.shard == shard, takeable)
                                        .values(holder=holder, home=mine, expires_at=until))
                    if done.rowcount == 0 and conn.execute(select(func.count()).select_from(shard_leases).where(
                            key, shard_leases.c.shard == shard)).scalar() == 0:
                        conn.execute(insert(shard_leases).values(shard_count=count, shard=shard, holder=holder,
                                                                 home=mine, expires_at=until))
            except IntegrityError:
                continue  # another replica inserted it first: it is theirs
        with self.engine.connect() as conn:
            return set(conn.execute(select(shard_leases.c.shard).where(
                key, shard_leases.c.holder == holder, shard_leases.c.expires_at >= until)).scalars())

    def release_shards(self, holder: str, *, now: datetime) -> None:
        """Give up every lease ``holder`` has (a clean stop): the others take them at once."""
        with self._tx() as conn:
            conn.execute(update(shard_leases).where(shard_leases.c.holder == holder)
                         .values(expires_at=now - timedelta(seconds=1)))

    def record_publish(self, client_key: str, token: str, digest: str, *, now: datetime, stale: bool) -> None:
        """Remember what was last published for a client."""
        values = {"token": token, "digest": digest, "published_at": now, "stale": stale}
        with self._tx() as conn:
            done = conn.execute(update(publishes).where(publishes.c.client_key == client_key).values(**values))
            if done.rowcount == 0:
                conn.execute(insert(publishes).values(client_key=client_key, **values))

    def last_publish(self, client_key: str) -> dict[str, Any] | None:
        """The client's last publish record, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(select(publishes).where(publishes.c.client_key == client_key)).first()
            return dict(row._mapping) if row else None


class _InTransaction(Store):
    """The store's methods run on one open transaction, so an operation can compose them atomically."""

    def __init__(self, engine: Engine, conn: Connection) -> None:
        super().__init__(engine)
        self._conn = conn

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        yield self._conn
