"""Crash consistency: SIGKILL the real daemon at random points of sync and publish, restart it, compare."""

# A run, from one recorded seed: a Harvest sandbox with some thousands of entries, served over
# loopback by this process (so it outlives every kill), feeds two deployments, each with its
# own store and publish folder. The reference runs `syncd sync` passes that are never
# interrupted, and its phases are timed. The other starts `syncd sync` or `syncd run` and is
# SIGKILLed a moment into one of those phases, once or twice in a row, then completes a
# `syncd sync`. Between steps the vendor's users change the data. The checks are in
# bench/crashcheck.py. `python -m bench.crashloop --seed N` replays a run: the same data, the
# same changes, kills aimed at the same phases (where a kill lands still depends on the pace).

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from bench import crashcheck
from connectors.base import ClientRoute, Connector
from connectors.harvest.sandbox import HarvestSandbox
from connectors.registry import open_connector
from syncd.config import Config, load_config
from syncd.serving import AppServer

ACCOUNT = "harvest"
LOOKBACK = timedelta(seconds=1)  # the config's lookback: short, so a cursor run ahead shows
RECONCILE_EVERY = timedelta(minutes=1)
PASS_TIMEOUT = 300.0
# Where kills are aimed, by phase of the reference pass and the share of kills each gets; a
# kill lands at a uniform moment inside its phase. Startup covers imports, config and migrations.
AIM = (("startup", 0.15), ("poll", 0.35), ("reconcile", 0.15), ("publish", 0.30), ("close", 0.05))
RUNS, PG_RUNS = 50, 6
PG_URL = os.environ.get("SYNCD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# Harvest clients of the seeded sandbox, and projects: 7004 is Delta's retainer project (the
# only one Delta's page reads), 7104 its maintenance project that no client claims.
CLIENT_IDS = (5001, 5002, 5003, 5004)
CLAIMED_PROJECT, UNCLAIMED_PROJECT = 7004, 7104


@dataclass(frozen=True)
class Scenario:
    """How much data a run carries and how hard it is shaken."""

    days: int = 100
    per_day: int = 70
    steps: int = 3
    bulk_edits: int = 2500
    kills_per_step: tuple[int, int] = (1, 2)
    modes: tuple[str, ...] = ("sync", "run")
    database: str = "sqlite"


FULL = Scenario()
# The default test suite's version: a few hundred entries, two steps, one kill each.
SHORT = Scenario(days=40, per_day=15, steps=2, bulk_edits=150, kills_per_step=(1, 1))


@dataclass(frozen=True)
class Kill:
    """One SIGKILL: where it was aimed, and where it landed."""

    step: int
    mode: str
    aimed: str  # the phase the kill was aimed at
    offset: float  # seconds into that phase (its length drawn from the reference pass)
    delay: float  # seconds after the spawn
    phase: str  # where it landed
    temp_left: int  # temp files a write cut short left in page folders


@dataclass
class RunResult:
    """One run: its seed, its kills and every problem the checks found (none when it passed)."""

    seed: int
    database: str
    kills: list[Kill] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    entries: int = 0  # seeded upstream

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        """One line for the console and the replay hint."""
        kills = "; ".join(f"{k.mode} at {k.delay:.2f}s: {k.phase}" for k in self.kills)
        verdict = "ok" if self.ok else f"FAILED ({len(self.problems)} problems)"
        return f"seed {self.seed} ({self.database}): {verdict} in {self.seconds:.0f}s; kills: {kills}"


@dataclass(frozen=True)
class Timeline:
    """How long each phase of a finished pass took (seconds): startup until the first vendor
    request, the poll, the reconcile, publishing every page, and the close until the exit."""

    durations: dict[str, float]

    @classmethod
    def of(cls, requests: Sequence[float], lines: Sequence[tuple[float, dict[str, Any]]], exit: float) -> Timeline:
        """A pass's phases from its vendor requests and its log lines, as seconds after its spawn."""
        first = requests[0] if requests else exit

        def when(kind: str, default: float) -> float:
            return next((t for t, e in lines if e.get("event") == "sync" and e.get("kind") == kind), default)

        polled = when("poll", first)
        reconciled = when("reconcile", polled)
        published = max((t for t, e in lines if e.get("event") == "published"), default=reconciled)
        marks = [0.0, first, polled, reconciled, published, exit]
        for i in range(1, len(marks)):
            marks[i] = min(max(marks[i], marks[i - 1]), exit)
        return cls({name: marks[i + 1] - marks[i] for i, (name, _) in enumerate(AIM)})

    @property
    def total(self) -> float:
        return sum(self.durations.values())

    def aim(self, rng: random.Random) -> tuple[str, float]:
        """A kill point: a phase drawn by its share of the kills, and how far into it."""
        phase = rng.choices([name for name, _ in AIM], weights=[share for _, share in AIM])[0]
        return phase, rng.uniform(0.0, self.durations[phase])


def landed(*, exited: bool, requests: int, events: Sequence[dict[str, Any]], committed: int,
           cursor_moved: bool, reconciles: bool, clients: int) -> str:
    """Where in a pass a kill landed, from what the process did before it died: the vendor
    requests it sent, the log lines it wrote, and the rows and cursor it committed."""
    if exited:
        return "after exit"
    kinds = {e.get("kind") for e in events if e.get("event") == "sync"}
    published = sum(1 for e in events if e.get("event") == "published")
    if published >= clients:
        return "after publish"
    if published or ("poll" in kinds and ("reconcile" in kinds or not reconciles)):
        return f"publish: {published} of {clients} pages"
    if "poll" in kinds:
        return "reconcile"
    if cursor_moved:
        return "poll: cursor committed"
    if committed:
        return "poll: between page commits"
    if requests:
        return "poll: reading"
    return "startup"


class RequestTimes:
    """ASGI middleware noting when each request reached the sandbox (monotonic seconds)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.times: list[float] = []
        self.asked = asyncio.Event()  # cleared at each spawn: the child's first request sets it

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.times.append(time.monotonic())
            self.asked.set()
        await self.app(scope, receive, send)

    def since(self, moment: float) -> list[float]:
        return [t - moment for t in self.times if t >= moment]


class ChildLog:
    """A child's JSON log lines as they arrive, and the progress marks kills are aimed after:
    its poll and its reconcile logged, its first page and every page published."""

    def __init__(self, clients: int) -> None:
        self.lines: list[tuple[float, str]] = []
        self.events: list[dict[str, Any]] = []
        self.marks = {name: asyncio.Event() for name in ("poll", "reconcile", "page", "published")}
        self._clients = clients

    async def read(self, stream: asyncio.StreamReader) -> None:
        """Take lines until the child closes its end (it exited or was killed)."""
        while raw := await stream.readline():
            text = raw.decode(errors="replace").rstrip()
            event = _event(text)
            self.lines.append((time.monotonic(), text))
            self.events.append(event)
            if event.get("event") == "sync" and event.get("kind") in ("poll", "reconcile"):
                self.marks[event["kind"]].set()
            published = sum(e.get("event") == "published" for e in self.events)
            if published:
                self.marks["page"].set()
            if published >= self._clients:
                self.marks["published"].set()


@dataclass
class Deployment:
    """One daemon's store and publish folder, and how to start it against the sandbox."""

    name: str
    url: str
    home: Path
    config_dir: Path
    env: dict[str, str]
    requests: RequestTimes
    clients: int

    @property
    def publish_dir(self) -> Path:
        return self.home / "public"

    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.env, "SYNCD_DATABASE_URL": self.url, "SYNCD_PUBLISH_DIR": str(self.publish_dir),
                "SYNCD_LOG_FORMAT": "json", "SYNCD_LOG_LEVEL": "debug", "SYNCD_HTTP_PORT": "0"}

    async def _spawn(self, mode: str) -> tuple[asyncio.subprocess.Process, ChildLog, asyncio.Task[None], float]:
        self.requests.asked.clear()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "syncd", mode, "--config", str(self.config_dir), env=self._env(),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        assert proc.stderr is not None
        log = ChildLog(self.clients)
        return proc, log, asyncio.create_task(log.read(proc.stderr)), time.monotonic()

    async def complete_pass(self) -> tuple[Timeline | None, str | None]:
        """One ``syncd sync`` left to finish: its timeline, or why it failed (it must also have
        polled the vendor: a pass that exits 0 having read nothing is a failure too)."""
        wall = datetime.now(timezone.utc)
        proc, log, reading, spawned = await self._spawn("sync")
        try:
            code = await asyncio.wait_for(proc.wait(), PASS_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return None, f"{self.name}: syncd sync did not finish in {PASS_TIMEOUT:.0f}s"
        exited = time.monotonic() - spawned
        await reading
        if code != 0:
            return None, f"{self.name}: syncd sync exited {code}: {' | '.join(text for _, text in log.lines[-3:])}"
        if not crashcheck.polls_since(self.url, wall):
            return None, (f"{self.name}: syncd sync exited 0 without polling the vendor: "
                          f"{' | '.join(text for _, text in log.lines[-4:])}")
        return Timeline.of(self.requests.since(spawned), [(t - spawned, e) for (t, _), e in zip(log.lines, log.events)],
                           exited), None

    async def killed_pass(self, mode: str, aimed: str, offset: float, deadline: float) -> tuple[float, str]:
        """Start ``syncd <mode>`` and SIGKILL it ``offset`` seconds after it reaches the start
        of the ``aimed`` phase (or ``deadline`` seconds after the spawn if it never does);
        when that was (seconds after the spawn) and where it landed."""
        before = crashcheck.read_store(self.url) if self.store_exists() else crashcheck.EMPTY
        wall = datetime.now(timezone.utc)
        last = before.reconciled.get(ACCOUNT)
        # `syncd sync` always re-lists the open window; the daemon's first refresh only when
        # the last re-list is older than reconcile_every.
        reconciles = mode == "sync" or last is None or wall - last >= RECONCILE_EVERY
        proc, log, reading, spawned = await self._spawn(mode)
        # The phase starts at its mark; a later mark means the process is already past it (a
        # daemon whose data is fresh enough skips its poll and goes straight to the pages).
        marks = {"asked": self.requests.asked, **log.marks}
        order = list(marks)
        start = {"startup": None, "poll": "asked", "reconcile": "poll", "publish": "reconcile" if reconciles else "poll",
                 "close": "published"}[aimed]
        if start is not None:
            waits = {asyncio.ensure_future(marks[name].wait()) for name in order[order.index(start):]}
            waits.add(asyncio.ensure_future(proc.wait()))
            _, pending = await asyncio.wait(waits, timeout=deadline, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        await asyncio.sleep(offset)  # the kill point itself: a moment into the phase, not a wait for anything
        delay = time.monotonic() - spawned
        exited = proc.returncode is not None
        if not exited:
            proc.kill()
        await proc.wait()
        await reading
        exists = self.store_exists() and not crashcheck.schema_problems(self.url)
        after = crashcheck.read_store(self.url) if exists else crashcheck.EMPTY
        committed = crashcheck.rows_synced_since(self.url, wall) if exists else 0
        return delay, landed(exited=exited, requests=len(self.requests.since(spawned)), events=log.events,
                             committed=committed, cursor_moved=before.cursors.get(ACCOUNT) != after.cursors.get(ACCOUNT),
                             reconciles=reconciles, clients=self.clients)

    def store_exists(self) -> bool:
        """Whether the store was created yet (a SQLite file appears on the first start)."""
        return not self.url.startswith("sqlite") or (self.home / "syncd.db").exists()


def _event(line: str) -> dict[str, Any]:
    try:
        parsed = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


# --- upstream data ---------------------------------------------------------------------------


def write_config(folder: Path, today: date) -> Path:
    """The crash loop's config: one Harvest account, four clients of different cycle kinds
    (one reading a single project, so some entries belong to no client), one rule set."""
    (folder / "clients").mkdir(parents=True)
    (folder / "rules").mkdir()
    account = {"vendor": "harvest", "base_url": "${CRASH_HARVEST_URL}", "account_id": "${CRASH_HARVEST_ACCOUNT}",
               "token": "${CRASH_HARVEST_TOKEN}", "user_agent": "syncd crash loop (ops@example.com)",
               "timezone": "America/New_York", "lookback": f"{int(LOOKBACK.total_seconds())}s",
               "reconcile_every": f"{int(RECONCILE_EVERY.total_seconds())}s"}
    main = {"accounts": {ACCOUNT: account}, "publish": {},
            "defaults": {"refresh": "10m", "timezone": "America/New_York", "rules": ["standard"]}}
    (folder / "syncd.yaml").write_text(yaml.safe_dump(main))
    rules = {"rules": [
        {"name": "no travel", "when": {"work_type": ["Travel"]}, "drop": "travel is not billed"},
        {"name": "internal only", "when": {"billable": False}, "drop": "non-billable internal time"},
        {"name": "after hours", "when": {"outside_hours": "mon-fri 08:00-18:00"}, "multiply": 2,
         "label": "After-hours ×2"},
        {"name": "maintenance", "when": {"project": ["Scheduled maintenance"]}, "pool": "scheduled"},
    ]}
    (folder / "rules" / "standard.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True))
    first = today.replace(day=1)
    clients = {
        "acme": {"name": "Acme Dental", "sources": [{"account": ACCOUNT, "client_id": 5001}],
                 "retainer": {"cycle": {"monthly": "2026-01-15"},
                              "pools": {"reactive": {"cap_hours": 20, "overflow_to": "extra"},
                                        "scheduled": {"cap_hours": 8}, "extra": {"cap_hours": 40}},
                              "rollover": {"max_hours": 5}}},
        "birchwood": {"name": "Birchwood Legal", "sources": [{"account": ACCOUNT, "client_id": 5002}],
                      "retainer": {"cycle": {"quarterly": "2026-01-01"},
                                   "pools": {"support": {"cap_hours": 60}, "scheduled": {"cap_hours": 10}}}},
        "cobalt": {"name": "Cobalt Logistics", "sources": [{"account": ACCOUNT, "client_id": 5003}],
                   "retainer": {"cycle": {"block": (first - timedelta(days=40)).isoformat()},
                                "pools": {"support": {"cap_hours": 200}, "scheduled": {"cap_hours": 40}}}},
        "delta": {"name": "Delta Veterinary Clinic",
                  "sources": [{"account": ACCOUNT, "client_id": 5004, "project_ids": [CLAIMED_PROJECT]}],
                  "retainer": {"cycle": {"monthly": "2026-02-01"},
                               "pools": {"support": {"cap_hours": 20}, "scheduled": {"cap_hours": 4}},
                               "alerts": {"at_percent": [75, 100]}}},
    }
    for key, body in clients.items():
        (folder / "clients" / f"{key}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    return folder


def change_upstream(sandbox: HarvestSandbox, rng: random.Random, scenario: Scenario, today: date) -> None:
    """What the vendor's users do between two passes: new work, late corrections in bulk, moves
    between clients and away from every client, redated, submitted and deleted entries."""
    ids = sorted(sandbox.entries)
    for _ in range(rng.randint(5, 20)):
        sandbox.add_entry(client_id=rng.choice(CLIENT_IDS), hours=rng.choice((0.25, 0.5, 1.0, 1.75)),
                          notes="Checked the overnight backups and cleared two alerts",
                          spent_date=today - timedelta(days=rng.randint(0, 3)))
    for eid in rng.sample(ids, min(scenario.bulk_edits, len(ids))):
        sandbox.edit_entry(eid, hours=round(sandbox.entries[eid]["hours"] + 0.25, 2))
    for eid in rng.sample(ids, 12):
        entry = sandbox.entries[eid]
        choice = rng.randrange(5)
        if choice == 0:
            sandbox.edit_entry(eid, client_id=rng.choice([c for c in CLIENT_IDS if c != entry["client"]["id"]]))
        elif choice == 1:
            sandbox.edit_entry(eid, project_id=UNCLAIMED_PROJECT if entry["project"]["id"] != UNCLAIMED_PROJECT
                               else CLAIMED_PROJECT)
        elif choice == 2:
            sandbox.edit_entry(eid, spent_date=today - timedelta(days=rng.randint(0, scenario.days - 1)))
        elif choice == 3:
            sandbox.edit_entry(eid, approval_status="submitted")
        else:
            sandbox.edit_entry(eid, notes="Replaced the UPS battery in the comms cupboard")
    for eid in rng.sample([i for i in ids if i in sandbox.entries], rng.randint(3, 12)):
        sandbox.delete_entry(eid)


def upstream_view(sandbox: HarvestSandbox, connector: Connector) -> dict[str, crashcheck.Upstream]:
    """Every entry the vendor lists now (running timers are not read), with the client the
    account's connector gives it."""
    route = connector.route  # type: ignore[attr-defined]
    return {str(eid): crashcheck.Upstream(datetime.fromisoformat(raw["updated_at"]), route(raw))
            for eid, raw in sandbox.entries.items() if not raw["is_running"]}


# --- databases -------------------------------------------------------------------------------


@contextlib.contextmanager
def databases(kind: str, folders: Sequence[Path]) -> Any:
    """One empty store URL per folder: a SQLite file in it, or a fresh PostgreSQL schema each."""
    if kind == "sqlite":
        yield [f"sqlite:///{folder / 'syncd.db'}" for folder in folders]
        return
    import sqlalchemy as sa

    schemas = [f"crash_{secrets.token_hex(6)}" for _ in folders]
    admin = sa.create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        yield [f"{PG_URL}?options=-csearch_path%3D{schema}" for schema in schemas]
    finally:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def postgres_reachable() -> bool:
    """Whether the PostgreSQL server the test suite uses answers."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect():
            pass
        engine.dispose()
    except Exception:  # noqa: BLE001 - any failure means "not here"
        return False
    return True


# --- one run ---------------------------------------------------------------------------------


async def run_once(seed: int, scenario: Scenario = FULL) -> RunResult:
    """One run from ``seed``: every step's pass killed and restarted, then checked."""
    rng = random.Random(seed)
    result = RunResult(seed, scenario.database)
    began = time.monotonic()
    now = datetime.now(timezone.utc)
    sandbox = HarvestSandbox()
    sandbox.seed(seed=seed, days=scenario.days, per_day=scenario.per_day, now=now)
    result.entries = len(sandbox.entries)
    requests = RequestTimes(sandbox.app)
    with tempfile.TemporaryDirectory(prefix="syncd-crash-") as tmp:
        root = Path(tmp)
        homes = [root / "reference", root / "crashed"]
        for home in homes:
            home.mkdir()
        with databases(scenario.database, homes) as urls:
            async with AppServer(requests) as server:
                env = {"CRASH_HARVEST_URL": server.url, "CRASH_HARVEST_ACCOUNT": sandbox.account_id,
                       "CRASH_HARVEST_TOKEN": sandbox.token}
                config_dir = write_config(root / "config", now.date())
                config = load_config(config_dir, environ=env)
                reference, crashed = (Deployment(name, url, home, config_dir, env, requests, len(config.clients))
                                      for name, url, home in zip(("reference", "restarted"), urls, homes))
                routes = [ClientRoute(c.key, sel) for c, sel in config.clients_of(ACCOUNT)]
                connector = open_connector(ACCOUNT, config.accounts[ACCOUNT], routes,
                                           default_timezone=config.defaults.timezone)
                try:
                    for step in range(scenario.steps):
                        if step:
                            change_upstream(sandbox, rng, scenario, now.date())
                        problems = await _step(step, rng, scenario, upstream_view(sandbox, connector), config,
                                               reference, crashed, result)
                        result.problems.extend(f"step {step}: {p}" for p in problems)
                        if problems:
                            break
                finally:
                    await connector.aclose()
    result.seconds = time.monotonic() - began
    return result


async def _step(step: int, rng: random.Random, scenario: Scenario, upstream: dict[str, crashcheck.Upstream],
                config: Config, reference: Deployment, crashed: Deployment, result: RunResult) -> list[str]:
    """One step: a reference pass, one or more killed passes each checked, a completed restart
    compared with the reference."""
    timeline, failure = await reference.complete_pass()
    if timeline is None:
        return [failure or "reference pass failed"]
    problems = _settled(reference, config, upstream)
    if problems:
        return [f"reference: {p}" for p in problems]
    for _ in range(rng.randint(*scenario.kills_per_step)):
        mode = rng.choice(scenario.modes)
        aimed, offset = timeline.aim(rng)
        delay, phase = await crashed.killed_pass(mode, aimed, offset, deadline=3 * timeline.total + 5)
        temps = crashcheck.temp_files(crashed.publish_dir)
        result.kills.append(Kill(step, mode, aimed, round(offset, 3), round(delay, 3), phase, len(temps)))
        where = f"after a kill of syncd {mode} at {delay:.2f}s ({phase})"
        problems = crashcheck.page_problems(crashed.publish_dir)
        problems += await crashcheck.served_temp_files(crashed.publish_dir, temps)
        if crashed.store_exists():
            schema = crashcheck.schema_problems(crashed.url)
            problems += schema or crashcheck.cursor_problems(crashcheck.read_store(crashed.url), ACCOUNT, upstream,
                                                             LOOKBACK)
        if problems:
            return [f"{where}: {p}" for p in problems]
        _age(temps)
    recovered, failure = await crashed.complete_pass()
    if recovered is None:
        return [f"restart after {len(result.kills)} kills: {failure}"]
    problems = _settled(crashed, config, upstream)
    ref_state, crash_state = crashcheck.read_store(reference.url), crashcheck.read_store(crashed.url)
    problems += crashcheck.differences(ref_state, crashcheck.pages(ref_state, reference.publish_dir),
                                       crash_state, crashcheck.pages(crash_state, crashed.publish_dir))
    return [f"after the restart: {p}" for p in problems]


def _settled(deployment: Deployment, config: Config, upstream: dict[str, crashcheck.Upstream]) -> list[str]:
    """What must hold after a pass that ran to its end."""
    state = crashcheck.read_store(deployment.url)
    return (crashcheck.page_problems(deployment.publish_dir)
            + crashcheck.cursor_problems(state, ACCOUNT, upstream, LOOKBACK)
            + crashcheck.bookkeeping_problems(state, deployment.publish_dir, config.clients))


def _age(temps: Sequence[Path]) -> None:
    # The restart comes at once here; in life it comes later. Age the leftovers past the
    # sink's grace period, so the restart's own writes must clean them.
    from publisher.sinks import TEMP_GRACE_SECONDS

    old = time.time() - 2 * TEMP_GRACE_SECONDS
    for path in temps:
        with contextlib.suppress(FileNotFoundError):
            os.utime(path, (old, old))


# --- the loop and its report -----------------------------------------------------------------


async def run_loop(seeds: Sequence[int], scenario: Scenario = FULL, *, echo: Any = print,
                   parallel: int = 1) -> list[RunResult]:
    """Run every seed, ``parallel`` at a time, printing each seed as its run starts and its
    outcome when it ends; results in the order of ``seeds``."""
    gate = asyncio.Semaphore(parallel)

    async def one(number: int, seed: int) -> RunResult:
        async with gate:
            echo(f"run {number}/{len(seeds)}: seed {seed} ({scenario.database}) …")
            result = await run_once(seed, scenario)
            echo(f"  {result.line()}")
            for problem in result.problems:
                echo(f"    {problem}")
            return result

    return list(await asyncio.gather(*(one(n, seed) for n, seed in enumerate(seeds, start=1))))


def random_seeds(count: int) -> list[int]:
    """Fresh seeds, each printed and recorded so a failing run can be replayed."""
    draw = random.SystemRandom()
    return [draw.randrange(1, 10**6) for _ in range(count)]


def report(results: Sequence[RunResult], scenario: Scenario, seconds: float) -> str:
    """The Markdown for RESULTS.md: runs, outcomes, where the kills landed, and every seed."""
    kills = [k for r in results for k in r.kills]
    order = ["startup", "poll: reading", "poll: between page commits", "poll: cursor committed", "reconcile",
             "publish", "after publish", "after exit"]
    by_phase = Counter(k.phase for k in kills)
    publishing = sorted(p for p in by_phase if p.startswith("publish"))
    listed = [q for p in order for q in (publishing or ["publish: 0 of 4 pages"] if p == "publish" else [p])]
    rows = ["| where the kill landed | kills | share | of them `syncd run` | temp files left |", "|---|---:|---:|---:|---:|"]
    for phase in listed + sorted(set(by_phase) - set(listed)):
        n = by_phase.get(phase, 0)
        group = [k for k in kills if k.phase == phase]
        rows.append(f"| {phase} | {n} | {n / max(1, len(kills)):.0%} | {sum(k.mode == 'run' for k in group)} | "
                    f"{sum(k.temp_left for k in group)} |")
    per_db = Counter(r.database for r in results)
    failed = [r for r in results if not r.ok]
    outcome_rows = ["| database | runs | kills | passed | failed |", "|---|---:|---:|---:|---:|"]
    for db in sorted(per_db):
        mine = [r for r in results if r.database == db]
        outcome_rows.append(f"| {db} | {len(mine)} | {sum(len(r.kills) for r in mine)} | "
                            f"{sum(r.ok for r in mine)} | {sum(not r.ok for r in mine)} |")
    seeds = ", ".join(f"{r.seed}" + ("" if r.ok else " (failed)") for r in results)
    failures = "".join(f"\n- seed {r.seed} ({r.database}): {r.problems[0]}" for r in failed) or " none."
    return f"""## Crash consistency (SIGKILL during sync and publish, restart, compare)

Each run seeds a Harvest sandbox with {scenario.days} days of work (about
{sum(r.entries for r in results) // max(1, len(results)):,} entries, read in pages of 2,000) and runs {scenario.steps} steps; between steps the vendor's users add
work, correct {scenario.bulk_edits:,} entries and move, redate, submit and delete others. In every step a
reference deployment runs `syncd sync` uninterrupted; the other starts `syncd sync` or `syncd run`
and is SIGKILLed {scenario.kills_per_step[0]}–{scenario.kills_per_step[1]} times in a row, each kill aimed at a phase
(startup, poll, reconcile, publish, close; {", ".join(f"{share:.0%}" for _, share in AIM)} of the kills) and a
moment inside it drawn over that phase's length in the reference pass, counted from the mark that
starts it (the first vendor request, the poll's or reconcile's log line, the last page); then it
completes a `syncd sync`. After each kill:
every published file whole, no temp file served, no cursor past what the store committed. After
the restart: the ledger equal to the reference's entry for entry, every page equal to the
reference's with its stamps taken out, one live token per client, publish records matching
the pages, and leftover temp files (aged past the grace period) cleaned. Replay a run with
`python -m bench.crashloop --seed N` (add `--database postgresql` for a PostgreSQL one).

{chr(10).join(outcome_rows)}

{len(kills)} kills in {len(results)} runs, {seconds / 60:.0f} minutes in all. Where they landed
(from the vendor requests, log lines, rows and cursor the killed process left):

{chr(10).join(rows)}

Aimed at: {", ".join(f"{name} {n}" for name, n in Counter(k.aimed for k in kills).most_common())}.

Failures:{failures}

Seeds: {seeds}.

Goal: every run passes, with kills landing in every phase from reading the vendor to writing the pages.
"""


def section() -> str:
    """This benchmark's part of RESULTS.md: RUNS runs on SQLite and PG_RUNS on PostgreSQL."""
    began = time.monotonic()
    results = asyncio.run(run_loop(random_seeds(RUNS), FULL))
    if postgres_reachable():
        results += asyncio.run(run_loop(random_seeds(PG_RUNS), replace(FULL, database="postgresql")))
    else:
        print(f"PostgreSQL at {PG_URL} not reachable: its runs are left out", file=sys.stderr)
    return report(results, FULL, time.monotonic() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crashloop", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="runs with fresh random seeds (default %(default)s)")
    parser.add_argument("--seed", type=int, action="append", help="replay this seed (repeatable) instead")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--short", action="store_true", help="the test suite's smaller scenario")
    args = parser.parse_args(argv)
    from syncd.logs import configure_logging

    configure_logging("json", "warning")
    scenario = replace(SHORT if args.short else FULL, database=args.database)
    seeds = args.seed or random_seeds(args.runs)
    began = time.monotonic()
    results = asyncio.run(run_loop(seeds, scenario))
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed "
          f"({sum(len(r.kills) for r in results)} kills, {(time.monotonic() - began) / 60:.1f} minutes)")
    for r in failed:
        print(f"replay: python -m bench.crashloop --seed {r.seed} --database {r.database}"
              + (" --short" if args.short else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
