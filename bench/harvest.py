"""A seeded Harvest sandbox served over loopback from its own process, and the config that reads it.

Benchmarks that measure another process (``syncd sync``, ``syncd run``, a peer's tap) keep
the sandbox's entries out of that process's memory by serving them from here:
``python -m bench.harvest --clients 500 --entries 200000`` seeds the sandbox, listens on a
free loopback port and prints one JSON line (its URL, account, token and client ids); it
serves until its standard input closes. Besides Harvest's API it answers:

- ``GET /_bench/counters``: requests answered (time-entry listings, 429s, Harvest ID calls)
  and how many seconds until Harvest's 15-second window is empty again;
- ``POST /api/v2/oauth2/token`` and ``GET /api/v2/accounts``: the two Harvest ID
  (id.getharvest.com) calls a Singer tap makes to trade its refresh token for an access
  token and find its account.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from connectors.harvest.sandbox import REMOTE_SUPPORT, HarvestSandbox

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "harvest"
STARTUP_TIMEOUT = 180.0  # seeding 200,000 entries takes a few seconds on a quiet machine


class _Recorder:
    """Counts the requests that reach the sandbox and remembers when the last one did."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.last = time.monotonic()
        await self.app(scope, receive, send)


def bench_app(sandbox: HarvestSandbox) -> Starlette:
    """The sandbox's API plus the counters and the Harvest ID calls described above."""
    recorder = _Recorder(sandbox.app)
    id_calls = {"requests": 0}

    async def counters(_: Request) -> Response:
        idle = time.monotonic() - recorder.last
        return JSONResponse({**sandbox.counters, "id_requests": id_calls["requests"],
                             "window_free_in": max(0.0, sandbox.rate_period - idle) if recorder.last else 0.0})

    async def token(request: Request) -> Response:
        id_calls["requests"] += 1
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}  # form-encoded
        if form.get("grant_type") != "refresh_token" or not form.get("refresh_token"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        return JSONResponse({"access_token": sandbox.token, "refresh_token": form["refresh_token"],
                             "token_type": "bearer", "expires_in": 1_209_600})

    async def accounts(request: Request) -> Response:
        id_calls["requests"] += 1
        if request.headers.get("authorization") != f"Bearer {sandbox.token}":
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"user": {"id": sandbox.me["id"], "first_name": sandbox.me["first_name"],
                                      "last_name": sandbox.me["last_name"], "email": sandbox.me["email"]},
                             "accounts": [{"id": int(sandbox.account_id), "name": "Northbridge IT",
                                           "product": "harvest"}]})

    return Starlette(routes=[
        Route("/_bench/counters", counters, methods=["GET"]),
        Route("/api/v2/oauth2/token", token, methods=["POST"]),
        Route("/api/v2/accounts", accounts, methods=["GET"]),
        Mount("/", app=recorder),
    ])


async def _log_work(sandbox: HarvestSandbox, clients: Sequence[int], every: float) -> None:
    """Log a new half hour for one of ``clients`` every ``every`` seconds, so pages keep changing."""
    rng = random.Random(3)
    while True:
        await asyncio.sleep(every)
        sandbox.add_entry(client_id=rng.choice(clients), task_id=REMOTE_SUPPORT, hours=0.5,
                          notes="Reset MFA for the front desk account after a phone swap")


async def _serve(args: argparse.Namespace) -> None:
    from syncd.serving import AppServer

    sandbox = HarvestSandbox()
    clients = [sandbox.add_client(f"Client {i + 1:03d}") for i in range(args.clients)]
    if args.entries:
        sandbox.seed(clients=clients, total=args.entries, days=args.days, seed=args.seed)
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), lambda: closed.set() if not sys.stdin.buffer.read1(4096) else None)
    async with AppServer(bench_app(sandbox)) as server:
        print(json.dumps({"url": server.url, "account_id": sandbox.account_id, "token": sandbox.token,
                          "clients": clients, "entries": len(sandbox.entries)}), flush=True)
        work = asyncio.create_task(_log_work(sandbox, clients[:args.active], args.activity)) if args.activity else None
        await closed.wait()
        if work is not None:
            work.cancel()


def main(argv: list[str] | None = None) -> None:
    """Seed a sandbox and serve it until standard input closes."""
    parser = argparse.ArgumentParser(prog="python -m bench.harvest", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--entries", type=int, default=0, help="entries spread over the clients (0: none)")
    parser.add_argument("--days", type=int, default=300, help="days of history the entries span")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--activity", type=float, default=0.0, help="seconds between new entries (0: none)")
    parser.add_argument("--active", type=int, default=1, help="new entries go to the first ACTIVE clients")
    asyncio.run(_serve(parser.parse_args(argv)))


@dataclass
class Counters:
    """What the sandbox had answered at one moment."""

    requests: int
    time_entries: int
    throttled: int
    id_requests: int
    window_free_in: float

    def __sub__(self, other: Counters) -> Counters:
        return Counters(self.requests - other.requests, self.time_entries - other.time_entries,
                        self.throttled - other.throttled, self.id_requests - other.id_requests,
                        self.window_free_in)


class HarvestProcess:
    """``with HarvestProcess(clients=…, entries=…) as harvest:`` a sandbox served by a child process."""

    def __init__(self, *, clients: int, entries: int = 0, days: int = 300, activity: float = 0.0,
                 active: int = 1) -> None:
        self.args = ["--clients", str(clients), "--entries", str(entries), "--days", str(days),
                     "--activity", str(activity), "--active", str(active)]
        self.url = ""
        self.account_id = ""
        self.token = ""
        self.clients: list[int] = []
        self.entries = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> HarvestProcess:
        self._proc = subprocess.Popen([sys.executable, "-m", "bench.harvest", *self.args], cwd=ROOT,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=os.environ)
        try:
            info = json.loads(_first_line(self._proc, STARTUP_TIMEOUT))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.url, self.account_id, self.token = info["url"], info["account_id"], info["token"]
        self.clients, self.entries = info["clients"], info["entries"]
        return self

    def __exit__(self, *_: object) -> None:
        if self._proc is None:
            return
        if self._proc.stdin:
            self._proc.stdin.close()  # the server's signal to stop
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._proc = None

    def counters(self) -> Counters:
        """The sandbox's request counters now."""
        data = httpx.get(f"{self.url}/_bench/counters", timeout=10).json()
        return Counters(data.get("requests", 0), data.get("time_entries", 0), data.get("429", 0),
                        data["id_requests"], data["window_free_in"])

    def wait_for_window(self, deadline: float = 30.0) -> None:
        """Wait until Harvest's rate-limit window holds none of the requests made so far."""
        end = time.monotonic() + deadline
        while (free_in := self.counters().window_free_in) > 0:
            if time.monotonic() > end:
                raise TimeoutError("the sandbox's rate-limit window did not clear")
            time.sleep(min(free_in, 1.0) + 0.05)


def _first_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The child's first line of output, or an error when it exits or stays silent."""
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    end = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        chunk = proc.stdout.read()
        if chunk:
            buffer += chunk
            continue
        if proc.poll() is not None:
            raise RuntimeError(f"the sandbox process exited ({proc.returncode}) before it was serving")
        if time.monotonic() > end:
            raise TimeoutError(f"the sandbox process was not serving after {timeout:.0f} s")
        time.sleep(0.05)
    os.set_blocking(proc.stdout.fileno(), True)
    return buffer.split(b"\n", 1)[0].decode()


def write_config(folder: Path, harvest: HarvestProcess, *, refresh: str = "15m",
                 clients: Sequence[int] | None = None) -> Path:
    """A config directory reading ``harvest``: one client file per sandbox client, the demo's rules."""
    (folder / "clients").mkdir(parents=True)
    shutil.copytree(ROOT / "config" / "demo" / "rules", folder / "rules")
    account = {"vendor": "harvest", "base_url": harvest.url, "account_id": harvest.account_id,
               "token": harvest.token, "user_agent": "syncd bench (bench@example.com)"}
    main = {"accounts": {ACCOUNT: account}, "defaults": {"refresh": refresh, "timezone": "UTC"}}
    (folder / "syncd.yaml").write_text(yaml.safe_dump(main))
    for cid in clients if clients is not None else harvest.clients:
        client = {"name": f"Client {cid}", "sources": [{"account": ACCOUNT, "client_id": cid}],
                  "retainer": {"cycle": {"monthly": "2026-01-01"},
                               "pools": {"support": {"label": "Support", "cap_hours": 20},
                                         "scheduled": {"label": "Scheduled maintenance", "cap_hours": 6}}},
                  "rules": ["standard", "maintenance-pool"]}
        (folder / "clients" / f"c{cid}.yaml").write_text(yaml.safe_dump(client, allow_unicode=True))
    return folder


def syncd_env(folder: Path) -> dict[str, str]:
    """The environment for a ``syncd`` command whose database and pages live in ``folder``."""
    return {**os.environ, "SYNCD_DATABASE_URL": f"sqlite:///{folder / 'syncd.db'}",
            "SYNCD_PUBLISH_DIR": str(folder / "public"), "SYNCD_LOG_FORMAT": "json", "SYNCD_LOG_LEVEL": "warning"}


if __name__ == "__main__":
    main()
