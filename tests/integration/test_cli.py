"""The command line as an operator runs it: real processes, a sandbox over loopback."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import httpx

from connectors.harvest.sandbox import HarvestSandbox
from syncd.serving import AppServer

from ..conftest import EXAMPLE_ENV

ROOT = Path(__file__).resolve().parents[2]
URL = re.compile(r"^(?P<name>[^:]+): (?P<url>http://\S+/c/(?P<token>[A-Za-z0-9_-]+)/)$", re.M)
STAMPS = ("generated_at", "next_update_by")


async def syncd(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[int, str, str]:
    """Run the installed CLI in a child process; the event loop keeps serving sandboxes meanwhile."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "syncd", *args, env={**os.environ, **(env or {})}, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


def harvest_env(tmp_path: Path, server: AppServer, sandbox: HarvestSandbox) -> tuple[Path, dict[str, str]]:
    """A copy of the suite's config and the environment pointing it, the store and the pages at ``tmp_path``."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "tests" / "fixtures" / "config", config)
    return config, {"DEMO_HARVEST_URL": server.url, "DEMO_HARVEST_ACCOUNT": sandbox.account_id,
                    "DEMO_HARVEST_TOKEN": sandbox.token, "SYNCD_DATABASE_URL": f"sqlite:///{tmp_path}/s.db",
                    "SYNCD_PUBLISH_DIR": str(tmp_path / "public"), "SYNCD_LOG_FORMAT": "json"}


async def test_validate_lists_three_distinct_mistakes_with_file_and_line_and_exits_78(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "tests" / "fixtures" / "config", config)
    main = config / "syncd.yaml"
    main.write_text(main.read_text().replace("refresh: 30s", "refresh: 30 parsecs"))
    rules = config / "rules" / "standard.yaml"
    rules.write_text(rules.read_text().replace("multiply: 2", "multiply: -2"))
    client = config / "clients" / "cobalt-logistics.yaml"
    client.write_text(client.read_text().replace("name: Cobalt Logistics", "name: Cobalt Logistics\ncolour: blue"))
    env = {"DEMO_HARVEST_URL": "http://x", "DEMO_HARVEST_ACCOUNT": "1", "DEMO_HARVEST_TOKEN": "t"}
    code, out, err = await syncd("validate", "--config", str(config), env=env)
    assert code == 78
    problems = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(problems) == 3, err
    assert any(re.search(r"syncd\.yaml:\d+: defaults\.refresh: expected an interval", p) for p in problems)
    assert any(re.search(r"standard\.yaml:\d+: rules\[2\]\.multiply: ", p) for p in problems)
    assert any(re.search(r"cobalt-logistics\.yaml:2: colour: unknown field", p) for p in problems)
    assert "3 problems found." in err


async def test_validate_accepts_the_example_config() -> None:
    code, out, _ = await syncd("validate", "--config", str(ROOT / "config" / "example"), env=EXAMPLE_ENV)
    assert code == 0
    assert "OK (6 accounts, 6 clients, 2 rule sets)" in out


async def test_demo_once_prints_one_url_per_client_and_exits_0(tmp_path: Path) -> None:
    code, out, err = await syncd("demo", "--once", "--dir", str(tmp_path / "demo"), cwd=tmp_path)
    assert code == 0, err
    urls = URL.findall(out)
    assert len(urls) >= 3
    for _name, _url, token in urls:
        folder = tmp_path / "demo" / "public" / "c" / token
        assert {p.name for p in folder.iterdir()} == {"index.html", "balance.json", "log.csv"}


def without_stamps(doc: dict) -> dict:  # type: ignore[type-arg]
    doc = {k: v for k, v in doc.items() if k not in STAMPS}
    doc["sources"] = [{k: v for k, v in s.items() if k != "data_through"} for s in doc["sources"]]
    return doc


async def test_two_sync_passes_agree_and_upstream_changes_show_after_the_next(tmp_path: Path) -> None:
    sandbox = HarvestSandbox()
    sandbox.seed(now=datetime.now(timezone.utc))
    today = datetime.now(timezone.utc).date()
    edited = sandbox.add_entry(client_id=5003, hours=1.0, notes="Replaced the edge router", spent_date=today)
    moved = sandbox.add_entry(client_id=5003, hours=2.0, notes="Rebuilt the print server", spent_date=today)
    gone = sandbox.add_entry(client_id=5003, hours=3.0, notes="Audited the door access list", spent_date=today)
    async with AppServer(sandbox.app) as server:
        config, env = harvest_env(tmp_path, server, sandbox)

        async def pass_() -> dict[str, dict]:  # type: ignore[type-arg]
            code, _, err = await syncd("sync", "--config", str(config), env=env)
            assert code == 0, err
            code, out, _ = await syncd("links", "--json", "--config", str(config), env=env)
            links = {row["client"]: row["url"].rsplit("/c/", 1)[1].strip("/") for row in json.loads(out)}
            return {c: json.loads((tmp_path / "public" / "c" / t / "balance.json").read_text())
                    for c, t in links.items()}

        first = await pass_()
        second = await pass_()
        assert {c: without_stamps(d) for c, d in first.items()} == {c: without_stamps(d) for c, d in second.items()}
        assert first["cobalt-logistics"]["generated_at"] <= second["cobalt-logistics"]["generated_at"]

        sandbox.edit_entry(edited["id"], hours=1.5)
        sandbox.edit_entry(moved["id"], client_id=5004, project_id=7004)
        sandbox.delete_entry(gone["id"])
        third = await pass_()
    cobalt = {line["description"]: line for line in third["cobalt-logistics"]["lines"]}
    assert cobalt["Replaced the edge router"]["hours_charged"] == "1.50"
    assert "Rebuilt the print server" not in cobalt and "Audited the door access list" not in cobalt
    delta = {line["description"] for line in third["delta-veterinary"]["lines"]}
    assert "Rebuilt the print server" in delta
    before, after = Decimal(second["cobalt-logistics"]["totals"]["used"]), Decimal(third["cobalt-logistics"]["totals"]["used"])
    assert after == before + Decimal("0.50") - 2 - 3


async def test_running_demo_serves_every_page_and_its_balance_adds_up(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from syncd.demo import run_demo
    from syncd.settings import Settings

    printed: list[str] = []
    stop = asyncio.Event()
    ready = asyncio.Event()

    def echo(line: str) -> None:
        printed.append(line)
        if sum(1 for p in printed if URL.match(p)) >= 3:
            ready.set()

    settings = Settings(http_port=0, log_format="json")
    task = asyncio.create_task(run_demo(settings, tmp_path / "demo", once=False, echo=echo, stop=stop))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    assert waiter in done, f"demo did not print its URLs: {printed}"
    try:
        urls = [m["url"] for m in map(URL.match, printed) if m]
        async with httpx.AsyncClient(timeout=10) as http:
            for url in urls:
                page = await http.get(url)
                assert page.status_code == 200
                assert page.headers["content-type"].startswith("text/html")
                assert page.headers["referrer-policy"] == "no-referrer"
                html = page.text
                assert "remaining" in html and "Resets on" in html and "Updated at" in html
                assert "<script" not in html.lower()
                doc = (await http.get(url + "balance.json")).json()
                assert doc["schema"] == "syncd.balance/1"
                total_used = sum(Decimal(p["used"]) for p in doc["pools"])
                assert Decimal(doc["totals"]["used"]) == total_used
                for pool in doc["pools"]:
                    available, used = Decimal(pool["available"]), Decimal(pool["used"])
                    assert Decimal(pool["remaining"]) == max(Decimal(0), available - used)
                    assert Decimal(pool["over"]) == max(Decimal(0), used - available)
                assert (await http.get(url + "log.csv")).status_code == 200
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_run_serves_pages_and_health_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import signal

    sandbox = HarvestSandbox()
    sandbox.seed(now=datetime.now(timezone.utc))
    async with AppServer(sandbox.app) as server:
        config, env = harvest_env(tmp_path, server, sandbox)
        port = free_port()
        env = {**os.environ, **env, "SYNCD_HTTP_PORT": str(port)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "syncd", "run", "--config", str(config), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            published = tmp_path / "public" / "c"
            deadline = asyncio.get_running_loop().time() + 60
            while len(list(published.glob("*/index.html"))) < 4:  # every client's first refresh
                assert asyncio.get_running_loop().time() < deadline, "pages were not published in time"
                assert proc.returncode is None, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
                await asyncio.sleep(0.1)
            token = next(published.glob("*/index.html")).parent.name
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                assert (await http.get("/healthz")).status_code == 200
                assert (await http.get("/readyz")).status_code == 200
                page = await http.get(f"/c/{token}/")
                assert page.status_code == 200 and page.headers["x-robots-tag"] == "noindex, nofollow"
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()
    events = [json.loads(line)["event"] for line in err.decode().splitlines() if line.startswith("{")]
    assert events[-2:] == ["stopping", "stopped"]
    assert token not in err.decode()  # page URLs never reach the log


async def test_validate_runs_the_rule_files_own_tests(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "tests" / "fixtures" / "config", config)
    rules = config / "rules" / "standard.yaml"
    rules.write_text(rules.read_text().replace("work_type: [Travel]", "work_type: [Travle]") +
                     "tests:\n  - entry: {work_type: Travel, duration: 45m}\n    expect: dropped\n")
    env = {"DEMO_HARVEST_URL": "http://x", "DEMO_HARVEST_ACCOUNT": "1", "DEMO_HARVEST_TOKEN": "t"}
    code, _, err = await syncd("validate", "--config", str(config), env=env)
    assert code == 78
    assert re.search(r"standard\.yaml:\d+: tests\[0\]: rule test fails", err), err


async def test_links_rotate_and_revoke_take_old_links_down_for_good(tmp_path: Path) -> None:
    from syncd.web import create_app

    sandbox = HarvestSandbox()
    sandbox.seed(now=datetime.now(timezone.utc))
    async with AppServer(sandbox.app) as server:
        config, env = harvest_env(tmp_path, server, sandbox)

        async def run(*args: str) -> str:
            code, out, err = await syncd(*args, "--config", str(config), env=env)
            assert code == 0, err
            return out

        async def links() -> dict[str, str | None]:
            return {row["client"]: row["url"] for row in json.loads(await run("links", "--json"))}

        await run("sync")
        before = await links()
        rotated = await run("links", "rotate", "acme-dental")
        revoked = await run("links", "revoke", "birchwood-legal")
        code, _, err = await syncd("links", "revoke", "no-such-client", "--config", str(config), env=env)
        await run("sync")
        after = await links()

    assert code == 2 and "no client named no-such-client" in err
    new_url = re.search(r"http://\S+/c/[A-Za-z0-9_-]+/", rotated).group(0)  # type: ignore[union-attr]
    assert "link revoked" in revoked
    assert after == {**before, "acme-dental": new_url, "birchwood-legal": None}
    pages = {p.name for p in (tmp_path / "public" / "c").iterdir()}
    token = {c: u.rsplit("/c/", 1)[1].strip("/") for c, u in {**before, "new": new_url}.items() if u}
    assert pages == {token["new"], token["cobalt-logistics"], token["delta-veterinary"]}
    app = create_app(tmp_path / "public")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pages.test") as http:
        answers = [await http.get(f"/c/{token[c]}/") for c in ("acme-dental", "birchwood-legal")]
        unknown = await http.get("/c/" + "Q" * 32 + "/")
        moved = await http.get(f"/c/{token['new']}/balance.json")
    assert {(a.status_code, a.content) for a in [*answers, unknown]} == {(404, b"Not found\n")}
    assert moved.status_code == 200 and moved.json()["client"] == "Acme Dental"
