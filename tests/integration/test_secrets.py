"""A full daemon run with a distinctive value for every kind of credential: none of them, and no
link token, in anything the run writes or answers (logs, database, pages, metrics, alerts)."""

from __future__ import annotations

import asyncio
import base64
import importlib
import inspect
import re
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.sandbox_driver import SandboxDriver
from syncd.config import load_config
from syncd.daemon import run_daemon
from syncd.logs import configure_logging
from syncd.serving import AppServer
from syncd.settings import Settings
from syncd.web import SECURITY_HEADERS

from ..conftest import raw_exchange
from .conftest import leaks

# One distinctive value per credential, each recognisable wherever it turns up.
SECRETS = {
    "HARVEST_TOKEN": "hvst-token-Vq83Lx0Tz1",
    "CW_PUBLIC_KEY": "cw-public-Kp27Wd9Qa4",
    "CW_PRIVATE_KEY": "cw-private-Zm51Ry6Hc8",
    "CW_CLIENT_ID": "cw-clientid-Bn40Ue7Jf2",
    "CW_CALLBACK_KEY": "cw-callback-Xs96Gt3Ld5",
    "AUTOTASK_SECRET": "at-secret-Hw62Pq1Nv7",
    "AUTOTASK_INTEGRATION_CODE": "AT-TRACKING-Mc58Yb2Ke9",
    "HALO_CLIENT_SECRET": "halo-oauth-secret-Fj73Da8Sx0",
    "HALO_WEBHOOK_PASSWORD": "halo-hook-pass-Rg19Vn4Wm6",
    "HALO_WEBHOOK_TOKEN": "halo-hook-token-Ty84Qc5Bz3",
    "TOGGL_TOKEN": "toggl-api-token-Lu26Ke0Pw9",
    "TOGGL_WEBHOOK_SECRET": "toggl-hook-secret-Ei47Ao3Ux1",
    "SMTP_PASSWORD": "smtp-password-Nd68Js2Gq5",
    "OPS_HOOK_SECRET": "ops-hook-path-Cy35Mh9Rt7",  # a webhook URL's secret part, Slack style
    "SYNCD_METRICS_TOKEN": "metrics-bearer-Wb12Xv6Op8",
}
SMTP_USER = "syncd-alerts"
HALO_HOOK_USER = "halo-hook"
SYNC_ROUNDS = 2


@dataclass
class Ops:
    """Where alerts land: a webhook endpoint behind a secret path and an SMTP server with a login."""

    hooks: list[bytes] = field(default_factory=list)
    mails: list[bytes] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def webhook(self, request: Request) -> Response:
        self.hooks.append(await request.body())
        return Response(status_code=200)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.mails.append(envelope.content)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password.decode() == SECRETS["SMTP_PASSWORD"]
        self.logins.append(mechanism)
        return AuthResult(success=ok)


def drivers(now: Callable[[], datetime]) -> dict[str, SandboxDriver]:
    """A seeded sandbox per vendor, each expecting the distinctive credentials above."""
    made = {v: importlib.import_module(f"connectors.{v}.sandbox").make_driver(now)
            for v in ("harvest", "connectwise", "autotask", "halopsa", "toggl")}
    sandboxes: dict[str, Any] = {v: d.sandbox for v, d in made.items()}  # type: ignore[attr-defined]
    sandboxes["harvest"].token = SECRETS["HARVEST_TOKEN"]
    cw = sandboxes["connectwise"]
    cw.public_key, cw.private_key, cw.client_id = (SECRETS["CW_PUBLIC_KEY"], SECRETS["CW_PRIVATE_KEY"],
                                                   SECRETS["CW_CLIENT_ID"])
    sandboxes["autotask"].secret = SECRETS["AUTOTASK_SECRET"]
    sandboxes["autotask"].integration_code = SECRETS["AUTOTASK_INTEGRATION_CODE"]
    sandboxes["halopsa"].client_secret = SECRETS["HALO_CLIENT_SECRET"]
    sandboxes["toggl"].token = SECRETS["TOGGL_TOKEN"]
    sandboxes["toggl"].subscription["secret"] = SECRETS["TOGGL_WEBHOOK_SECRET"]
    return made


ENV_OF = {  # account key → the variable holding it
    ("harvest", "token"): "HARVEST_TOKEN",
    ("connectwise", "public_key"): "CW_PUBLIC_KEY",
    ("connectwise", "private_key"): "CW_PRIVATE_KEY",
    ("connectwise", "client_id"): "CW_CLIENT_ID",
    ("autotask", "secret"): "AUTOTASK_SECRET",
    ("autotask", "integration_code"): "AUTOTASK_INTEGRATION_CODE",
    ("halopsa", "client_secret"): "HALO_CLIENT_SECRET",
    ("toggl", "api_token"): "TOGGL_TOKEN",
}
WEBHOOKS = {
    "connectwise": {"callback_key": "${CW_CALLBACK_KEY}"},
    "halopsa": {"webhook_username": HALO_HOOK_USER, "webhook_password": "${HALO_WEBHOOK_PASSWORD}",
                "webhook_token": "${HALO_WEBHOOK_TOKEN}"},
    "toggl": {"webhook_secret": "${TOGGL_WEBHOOK_SECRET}"},
}


def write_config(folder: Path, made: dict[str, SandboxDriver], urls: dict[str, str], smtp_port: int) -> Path:
    """syncd.yaml with every credential as an ${ENV} reference, alerts to both targets, and a
    client per vendor refreshed every two seconds."""
    accounts = {}
    for vendor, driver in made.items():
        account = {k: (f"${{{ENV_OF[(vendor, k)]}}}" if (vendor, k) in ENV_OF else v)
                   for k, v in driver.account(urls[vendor]).items()}
        accounts[vendor] = {**account, **WEBHOOKS.get(vendor, {}), "reconcile_every": "1m"}
    main = {
        "accounts": accounts,
        "defaults": {"refresh": "2s", "timezone": "America/New_York", "notify": ["hook", "mail"],
                     "alert_failing_after": "1s"},
        "notify": {
            "hook": {"webhook": "${OPS_WEBHOOK_URL}"},
            "mail": {"email": {"to": ["ops@msp.example"], "from": "syncd@msp.example", "host": "127.0.0.1",
                               "port": smtp_port, "starttls": False, "username": SMTP_USER,
                               "password": "${SMTP_PASSWORD}"}},
        },
    }
    (folder / "clients").mkdir(parents=True)
    (folder / "syncd.yaml").write_text(yaml.safe_dump(main))
    for vendor, driver in made.items():
        client = {"name": f"{vendor.title()} Client", "sources": [{"account": vendor, **driver.selectors()[0]}],
                  "retainer": {"cycle": {"monthly": "2026-01-01"}, "pools": {"support": {"cap_hours": 400}}}}
        (folder / "clients" / f"{vendor}-client.yaml").write_text(yaml.safe_dump(client))
    return folder


@pytest.fixture
async def ops() -> AsyncIterator[tuple[Ops, str, int]]:
    box = Ops()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=box.authenticate,
                            auth_require_tls=False)
    controller.start()
    app = Starlette(routes=[Route(f"/hooks/{SECRETS['OPS_HOOK_SECRET']}", box.webhook, methods=["POST"])])
    async with AppServer(app) as server:
        yield box, f"{server.url}/hooks/{SECRETS['OPS_HOOK_SECRET']}", port
    controller.stop()


async def until(check: Callable[[], Any], what: str, timeout: float = 60) -> None:
    """Wait for ``check()`` (awaited when it is a coroutine) to come true, up to ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (await result if inspect.isawaitable(result := check()) else result):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_no_credential_or_link_token_reaches_logs_database_pages_metrics_or_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ops: tuple[Ops, str, int]
) -> None:
    box, hook_url, smtp_port = ops
    made = drivers(lambda: datetime.now(timezone.utc))
    answers: list[httpx.Response] = []
    metrics: list[str] = []
    configure_logging("json", "debug")
    try:
        async with AsyncExitStack() as stack:
            urls = {v: (await stack.enter_async_context(AppServer(d.app))).url for v, d in made.items()}
            environ = {**SECRETS, "OPS_WEBHOOK_URL": hook_url}
            config_dir = write_config(tmp_path / "config", made, urls, smtp_port)
            load = partial(load_config, environ=environ)
            settings = Settings(http_port=0, log_format="json", database_url=f"sqlite:///{tmp_path / 'syncd.db'}",
                                publish_dir=tmp_path / "public", metrics_token=SECRETS["SYNCD_METRICS_TOKEN"])
            base: list[str] = []
            stop = asyncio.Event()

            async def on_ready(_: Any, url: str) -> None:
                base.append(url)

            # The registry is the process's: other tests may have counted syncs of these names.
            polled = {v: REGISTRY.get_sample_value("syncd_syncs_total", {"account": v, "kind": "poll",
                                                                       "outcome": "ok"}) or 0.0 for v in made}
            daemon = asyncio.create_task(run_daemon(settings, load(config_dir), load=load, on_ready=on_ready,
                                                    stop=stop))
            try:
                await until(lambda: base, "the daemon to listen")
                http = await stack.enter_async_context(httpx.AsyncClient(base_url=base[0], timeout=10))
                bearer = {"authorization": f"Bearer {SECRETS['SYNCD_METRICS_TOKEN']}"}

                async def rounds() -> bool:
                    metrics.append((await http.get("/metrics", headers=bearer)).text)
                    polls = {account: float(n) for account, n in re.findall(
                        r'syncd_syncs_total\{account="(\w+)",kind="poll",outcome="ok"\} (\S+)', metrics[-1])}
                    return all(polls.get(v, 0) >= polled[v] + SYNC_ROUNDS for v in made)

                await until(rounds, f"{SYNC_ROUNDS} refreshes of every account")
                # Every push endpoint, refused and accepted.
                toggl = made["toggl"].sandbox  # type: ignore[attr-defined]
                made["toggl"].add_entry(0, hours=1.0, notes="Rebuilt the VPN", day=datetime.now(timezone.utc).date())
                answers.append(await toggl.send_webhook(f"{base[0]}/webhooks/toggl/toggl", toggl.events[-1]))
                answers.append(await toggl.send_webhook(f"{base[0]}/webhooks/toggl/toggl", toggl.events[-1],
                                                        secret="a-guess"))
                for key in ("not-the-callback-key", SECRETS["CW_CALLBACK_KEY"]):
                    answers.append(await http.post(f"/webhooks/connectwise/connectwise/{key}",
                                                   json={"Type": "time", "Action": "updated", "ID": 1}))
                for auth in ((HALO_HOOK_USER, "wrong-password"), (HALO_HOOK_USER, SECRETS["HALO_WEBHOOK_PASSWORD"])):
                    answers.append(await http.post("/webhooks/halopsa/halopsa", json={"event": "Action Added"},
                                                   auth=auth))
                answers.append(await http.post("/webhooks/halopsa/halopsa", json={"event": "Action Added"},
                                               headers={"authorization": f"Bearer {SECRETS['HALO_WEBHOOK_TOKEN']}"}))
                answers.append(await http.get("/metrics", headers={"authorization": "Bearer wrong"}))
                # A login refused: the error is logged, stored, alerted and shown.
                made["harvest"].fail_auth(True)

                async def alerted() -> bool:
                    return any(b"harvest" in hook for hook in box.hooks) and len(box.mails) >= 1

                await until(alerted, "the refused login's alert")
                metrics.append((await http.get("/metrics", headers=bearer)).text)
                garbage = await raw_exchange(base[0], b"NOT HTTP\r\n\r\n")
            finally:
                stop.set()
                await asyncio.wait_for(daemon, timeout=30)
    finally:
        structlog.reset_defaults()
    printed = capsys.readouterr()

    assert [a.status_code for a in answers] == [200, 401, 401, 200, 401, 200, 200, 404]
    assert garbage.startswith(b"HTTP/1.1 400 ") and all(
        f"\r\n{k}: {v}\r\n".encode() in garbage for k, v in SECURITY_HEADERS.items())
    assert box.logins and box.hooks and box.mails  # the alerts really went out, with the SMTP login
    halo_tokens = set(made["halopsa"].sandbox._tokens)  # type: ignore[attr-defined] # issued OAuth tokens
    credentials = {*SECRETS.values(), *halo_tokens, *basic_headers()}
    pages = {p: p.read_bytes() for p in (tmp_path / "public").rglob("*") if p.is_file()}
    link_tokens = {p.parent.name for p in pages}
    assert len(link_tokens) == len(made) and halo_tokens
    database = {p: p.read_bytes() for p in tmp_path.glob("syncd.db*")}
    assert all(t.encode() in database[tmp_path / "syncd.db"] or any(t.encode() in d for d in database.values())
               for t in link_tokens)  # link tokens live in the store, by design

    everywhere = {"stderr": printed.err, "stdout": printed.out, **{f"metrics {i}": m for i, m in enumerate(metrics)},
                  **{f"alert hook {i}": h for i, h in enumerate(box.hooks)},
                  **{f"alert mail {i}": m for i, m in enumerate(box.mails)},
                  **{f"answer {a.request.url.path}": a.content + str(a.headers).encode() for a in answers},
                  **{str(p): data for p, data in pages.items()}}
    assert leaks(credentials, {**everywhere, **{str(p): d for p, d in database.items()}}) == []
    assert leaks(link_tokens, everywhere) == []
    assert '"event": "sync"' in printed.err and "auth" in printed.err  # the logs were there, refusal included


def basic_headers() -> set[str]:
    """The Basic credentials the connectors build from the secrets, as they go over the wire."""
    pairs = [f"northbridge+{SECRETS['CW_PUBLIC_KEY']}:{SECRETS['CW_PRIVATE_KEY']}", f"{SECRETS['TOGGL_TOKEN']}:api_token",
             f"{HALO_HOOK_USER}:{SECRETS['HALO_WEBHOOK_PASSWORD']}"]
    return {base64.b64encode(p.encode()).decode() for p in pairs}
