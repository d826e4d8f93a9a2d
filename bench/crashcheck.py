"""What a killed daemon may leave behind: whole pages, cursors no further than its commits,
and after a restart the same ledger and pages as a run that was never killed."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import sqlalchemy as sa

from publisher.render import CSV_HEADER, FILE_NAMES, balance_schema
from publisher.sinks import ALLOWED_NAMES
from syncd.store import create_store_engine, cursors, entries, link_tokens, metadata, publishes, sync_runs
from syncd.web import create_app

_VALIDATOR = jsonschema.Draft202012Validator(balance_schema())
_TIME_TAG = re.compile(r'<time datetime="[^"]*">[^<]*</time>')
_FOOTER = re.compile(r"<footer>.*?</footer>", re.S)
_SOURCE_ITEM = re.compile(r"<li>([^<:]+):[^<]*</li>")
STAMPS = ("generated_at", "next_update_by")


def _migrations_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import syncd.store

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(syncd.store.__file__).parent / "migrations"))
    return str(ScriptDirectory.from_config(cfg).get_current_head())


_HEAD = _migrations_head()


@dataclass(frozen=True)
class Held:
    """One stored entry as the ledger sees it (the row's own bookkeeping, synced_at, left out)."""

    client_key: str | None
    deleted: bool
    updated_at: datetime
    digest: str


@dataclass(frozen=True)
class StoreState:
    """What the store holds: entries by vendor id, cursors, live tokens and publish records."""

    ledger: dict[str, Held]
    cursors: dict[str, datetime | None]
    reconciled: dict[str, datetime | None]
    tokens: dict[str, list[str]]
    publishes: dict[str, tuple[str, str]]


EMPTY = StoreState({}, {}, {}, {}, {})


def schema_problems(url: str) -> list[str]:
    """A store must hold all of its tables at the newest migration, or none (a first start
    killed before it migrated): never some tables without the version that made them."""
    engine = create_store_engine(url)
    try:
        present = set(sa.inspect(engine).get_table_names())
        wanted = set(metadata.tables) | {"alembic_version"}
        if not present & wanted:
            return []
        if present >= wanted:
            with engine.connect() as conn:
                version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
            if version == [_HEAD]:
                return []
            return [f"schema at version {version}, not {_HEAD}"]
        return [f"half-made schema: has {sorted(present & wanted)}, lacks {sorted(wanted - present)}"]
    finally:
        engine.dispose()


def read_store(url: str) -> StoreState:
    """Everything the checks compare, read in one go (the daemon is not running); a store
    that was never migrated reads as empty."""
    engine = create_store_engine(url)
    try:
        if "entries" not in sa.inspect(engine).get_table_names():
            return EMPTY
        with engine.connect() as conn:
            ledger = {r.vendor_id: Held(r.client_key, bool(r.deleted), r.updated_at, r.digest)
                      for r in conn.execute(sa.select(entries))}
            rows = list(conn.execute(sa.select(cursors)))
            positions = {r.account: r.position for r in rows}
            reconciled = {r.account: r.reconciled_at for r in rows}
            tokens: dict[str, list[str]] = {}
            for r in conn.execute(sa.select(link_tokens).where(link_tokens.c.revoked_at.is_(None))):
                tokens.setdefault(r.client_key, []).append(r.token)
            published = {r.client_key: (r.token, r.digest) for r in conn.execute(sa.select(publishes))}
    finally:
        engine.dispose()
    return StoreState(ledger, positions, reconciled, tokens, published)


def polls_since(url: str, moment: datetime) -> int:
    """How many polls of any account the store recorded as started at ``moment`` or later."""
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(sync_runs).where(
                sync_runs.c.kind == "poll", sync_runs.c.started_at >= moment)).scalar_one())
    finally:
        engine.dispose()


def rows_synced_since(url: str, moment: datetime) -> int:
    """How many entry rows a process started at ``moment`` wrote (their synced_at is its sync's start)."""
    engine = create_store_engine(url)
    try:
        if "entries" not in sa.inspect(engine).get_table_names():
            return 0
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(entries)
                                    .where(entries.c.synced_at >= moment)).scalar_one())
    finally:
        engine.dispose()


# --- published files ---------------------------------------------------------------------


def page_problems(publish_dir: Path) -> list[str]:
    """Every published file that is not whole: balance.json that is not valid JSON of the
    schema, log.csv that does not parse row by row, index.html that does not end its document,
    and anything in a page folder that the server could mistake for a page."""
    problems: list[str] = []
    root = publish_dir / "c"
    if not root.exists():
        return problems
    for folder in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        for path in sorted(folder.iterdir()):
            label = f"{folder.name[:6]}…/{path.name}"
            if path.name not in ALLOWED_NAMES:
                if not is_temp(path.name):
                    problems.append(f"{label}: unexpected file in a page folder")
                continue
            problems.extend(f"{label}: {p}" for p in file_problems(path.name, path.read_bytes()))
    return problems


def file_problems(name: str, data: bytes) -> list[str]:
    """Why the bytes of one published file are not a whole file of its kind (empty when they are)."""
    if name == "balance.json":
        return list(_balance_problems(hashlib.sha256(data).digest(), data))
    if name == "log.csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            return [f"not UTF-8 ({err})"]
        if not text.endswith("\n"):
            return ["last row not ended"]
        rows = list(csv.reader(io.StringIO(text)))
        if not rows or tuple(rows[0]) != CSV_HEADER:
            return ["header missing"]
        bad = [i for i, row in enumerate(rows[1:], start=2) if len(row) != len(CSV_HEADER)]
        return [f"row {bad[0]} has the wrong number of fields"] if bad else []
    text = data.decode("utf-8", errors="replace")
    if not text.startswith("<!DOCTYPE html>") or not text.rstrip().endswith("</html>"):
        return ["not a whole HTML document"]
    return []


@functools.lru_cache(maxsize=256)
def _balance_problems(digest: bytes, data: bytes) -> tuple[str, ...]:
    # Keyed by digest: a page a pass did not rewrite is the same bytes checked before.
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return (f"not whole JSON ({err})",)
    return tuple(f"schema: {e.message}" for e in _VALIDATOR.iter_errors(doc))[:3]


def is_temp(name: str) -> bool:
    """Whether a file name is one of the sink's temp files (``.<name>.<hex>.tmp``)."""
    return bool(re.fullmatch(r"\.(?:%s)\.[0-9a-f]{16}\.tmp" % "|".join(map(re.escape, FILE_NAMES)), name))


def temp_files(publish_dir: Path) -> list[Path]:
    """Temp files left in page folders (a write cut short)."""
    root = publish_dir / "c"
    return sorted(p for p in root.glob("*/.*.tmp") if is_temp(p.name)) if root.exists() else []


async def served_temp_files(publish_dir: Path, temps: Iterable[Path], app: Any = None) -> list[str]:
    """The temp files the page server answers for (there must be none): each is asked for by
    its own name under its token, through the daemon's real web app unless ``app`` is given."""
    app = app or create_app(publish_dir)
    found = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pages") as http:
        for path in temps:
            answer = await http.get(f"/c/{path.parent.name}/{path.name}")
            if answer.status_code != 404:
                found.append(f"{path.name}: the page server answered {answer.status_code}")
    return found


# --- cursors ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Upstream:
    """One entry as the vendor holds it now: its last update and the client that claims it."""

    updated_at: datetime
    client_key: str | None


def cursor_problems(state: StoreState, account: str, upstream: Mapping[str, Upstream],
                    lookback: timedelta) -> list[str]:
    """Entries a cursor claims to cover that the store does not hold as the vendor has them.

    The next poll asks for entries updated since the cursor less the lookback, to the whole
    second; whatever was updated before that is never read again by a poll, so it must
    already be committed at that version: held live under the client that claims it, or, an
    entry no client claims any more, held with the edit that moved it away.
    """
    position = state.cursors.get(account)
    if position is None:
        return []
    horizon = (position - lookback).replace(microsecond=0)
    problems = []
    for vendor_id, up in upstream.items():
        if up.updated_at >= horizon:
            continue
        held = state.ledger.get(vendor_id)
        if up.client_key is None and held is None:
            continue
        if held is None or held.updated_at != up.updated_at or held.client_key != up.client_key or held.deleted:
            have = "nothing" if held is None else f"{held.client_key} updated {held.updated_at:%Y-%m-%d %H:%M:%S}"
            problems.append(f"cursor {position:%Y-%m-%d %H:%M:%S.%f} covers entry {vendor_id} "
                            f"({up.client_key} updated {up.updated_at:%Y-%m-%d %H:%M:%S}) but the store holds {have}")
    return problems[:5] + ([f"… and {len(problems) - 5} more"] if len(problems) > 5 else [])


# --- a restarted run against a run that was never killed --------------------------------------


def normalized(name: str, data: bytes) -> str:
    """A published file without its stamps (when generated, data through, next update)."""
    text = data.decode("utf-8-sig")
    if name == "balance.json":
        doc = json.loads(text)
        for key in STAMPS:
            doc.pop(key, None)
        for source in doc.get("sources", []):
            source.pop("data_through", None)
        return json.dumps(doc, indent=1, ensure_ascii=False)
    if name == "index.html":
        return _FOOTER.sub(lambda m: _SOURCE_ITEM.sub(r"<li>\1: …</li>", _TIME_TAG.sub("<time>…</time>", m[0])),
                           text)
    return text


def pages(state: StoreState, publish_dir: Path) -> dict[str, dict[str, str]]:
    """Each client's published files, stamps taken out, by client key and file name."""
    found: dict[str, dict[str, str]] = {}
    for client, tokens in state.tokens.items():
        folder = publish_dir / "c" / tokens[-1]
        found[client] = {p.name: normalized(p.name, p.read_bytes())
                         for p in folder.glob("*") if p.name in ALLOWED_NAMES} if folder.exists() else {}
    return found


def bookkeeping_problems(state: StoreState, publish_dir: Path, clients: Iterable[str]) -> list[str]:
    """After a completed pass: one live token per client, a whole page under it, its publish
    record naming that token and those bytes, and no page folder that no client owns."""
    problems = []
    live = set()
    for client in sorted(clients):
        tokens = state.tokens.get(client, [])
        live.update(tokens)
        if len(tokens) != 1:
            problems.append(f"{client}: {len(tokens)} live tokens")
            continue
        folder = publish_dir / "c" / tokens[0]
        files = {name: (folder / name).read_bytes() for name in FILE_NAMES if (folder / name).exists()}
        if len(files) != len(FILE_NAMES):
            problems.append(f"{client}: page has only {sorted(files)}")
            continue
        digest = hashlib.sha256(b"".join(files[k] for k in sorted(files))).hexdigest()
        if state.publishes.get(client) != (tokens[0], digest):
            problems.append(f"{client}: the publish record does not match the published page")
    root = publish_dir / "c"
    orphans = {p.name for p in root.iterdir() if not p.name.startswith(".")} - live if root.exists() else set()
    problems.extend(f"page folder {o[:6]}… belongs to no client" for o in sorted(orphans))
    leftovers = temp_files(publish_dir)
    problems.extend(f"{p.parent.name[:6]}…/{p.name}: temp file still there after the restart" for p in leftovers)
    return problems


def differences(reference: StoreState, ref_pages: Mapping[str, Mapping[str, str]],
                crashed: StoreState, crashed_pages: Mapping[str, Mapping[str, str]]) -> list[str]:
    """How the restarted run's ledger and pages differ from the reference run's (empty when equal)."""
    problems = []
    ids = sorted(reference.ledger.keys() | crashed.ledger.keys())
    differ = [i for i in ids if reference.ledger.get(i) != crashed.ledger.get(i)]
    if differ:
        shown = ", ".join(f"{i} (reference {reference.ledger.get(i)}, crashed {crashed.ledger.get(i)})"
                          for i in differ[:3])
        problems.append(f"ledger differs in {len(differ)} entries: {shown}")
    for client in sorted(ref_pages.keys() | crashed_pages.keys()):
        want, got = ref_pages.get(client, {}), crashed_pages.get(client, {})
        for name in sorted(want.keys() | got.keys()):
            if want.get(name) != got.get(name):
                problems.append(f"{client}/{name} differs from the reference run's{_first_difference(want.get(name), got.get(name))}")
    return problems


def _first_difference(want: str | None, got: str | None) -> str:
    if want is None or got is None:
        return " (missing on one side)"
    lines = zip(want.splitlines(), got.splitlines())
    for number, (a, b) in enumerate(lines, start=1):
        if a != b:
            return f" at line {number}: {a.strip()[:80]!r} vs {b.strip()[:80]!r}"
    return " (one is longer)"
