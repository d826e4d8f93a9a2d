"""Shared fixtures: a store on SQLite and on the real PostgreSQL server; raw bytes to a real server."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings

from syncd.store import Store

ROOT = Path(__file__).resolve().parents[1]

# Property and fuzz tests: a quick default that keeps the suite's fuzzing near a minute, a
# derandomized one for CI (the same examples every run), and HYPOTHESIS_PROFILE=long for
# a deep search. Expensive properties take a share of the profile's max_examples.
settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True, database=None,
                          print_blob=True)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default"))

PG_URL = os.environ.get("SYNCD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# A placeholder for every variable deploy/syncd.env.example lists: what config/example refers
# to (tests/deploy checks the file lists them all), plus the demo config's Harvest variables.
# Digits, since some keys (Harvest's account id) accept nothing else.
EXAMPLE_ENV = {name: str(10_000 + i) for i, name in
               enumerate(re.findall(r"(?m)^#? ?(\w+)=", (ROOT / "deploy" / "syncd.env.example").read_text()))}
EXAMPLE_ENV |= {"DEMO_HARVEST_URL": "http://x", "DEMO_HARVEST_ACCOUNT": "1", "DEMO_HARVEST_TOKEN": "t"}


def _pg_reachable() -> str | None:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as err:  # noqa: BLE001 - any failure means "not here"
        return f"PostgreSQL at {PG_URL} is not reachable: {type(err).__name__}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    """A migrated, empty store on SQLite and on PostgreSQL (each test its own schema)."""
    if request.param == "sqlite":
        store = Store.open(f"sqlite:///{tmp_path / 'syncd.db'}")
        yield store
        store.close()
        return
    with _pg_schema() as url:
        store = Store.open(url)
        yield store
        store.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty schema on the PostgreSQL server (dropped afterwards)."""
    with _pg_schema() as url:
        yield url


@pytest.fixture
def other_pg_url() -> Iterator[str]:
    """A second fresh schema in the same database as ``pg_url``'s: another deployment beside it."""
    with _pg_schema() as url:
        yield url


@contextmanager
def _pg_schema() -> Iterator[str]:
    reason = _pg_reachable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI machines have the server: its absence is a failure there
        pytest.skip(reason)
    schema = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def sqlite_store(tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    """A migrated, empty SQLite store."""
    store = Store.open(f"sqlite:///{tmp_path / 'syncd.db'}")
    yield store
    store.close()


async def raw_exchange(url: str, request: bytes, *, close_early: bool = False) -> bytes:
    """Send raw bytes to a server at ``url`` (http://host:port) and read until it closes the
    connection; with ``close_early``, hang up right after sending instead."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        if close_early:
            return b""
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
