"""Toggl webhooks: the X-Webhook-Signature-256 check and the event reader, as tables."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.base import ClientRoute
from connectors.toggl.normalize import Lookups, ProjectRef
from connectors.toggl.sandbox import TogglSandbox
from connectors.toggl.webhooks import UnknownWorkspace, parse_event, peek_workspace, signature, verify_signature
from syncd.errors import PayloadError

SECRET = "whsec-test"
BODY = b'{"event_id":1,"payload":"ping"}'
LONDON = ZoneInfo("Europe/London")
WORKSPACE = 7435584
ROUTES = [ClientRoute("acme", SimpleNamespace(client_id=61203441, project_ids=[]))]
LOOKUPS = Lookups(projects={202793182: ProjectRef("Managed services retainer", 61203441)},
                  users={9547721: "Ingrid Solberg"})


def hex_of(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("secret", "body", "header", "ok"),
    [
        pytest.param(SECRET, BODY, "sha256=" + hex_of(SECRET, BODY), True, id="valid"),
        pytest.param(SECRET, BODY, "SHA256=" + hex_of(SECRET, BODY).upper(), True, id="case-insensitive-hex"),
        pytest.param(SECRET, BODY, " sha256=" + hex_of(SECRET, BODY) + " ", True, id="surrounding-space"),
        pytest.param(SECRET, BODY, "sha256=" + hex_of("other", BODY), False, id="wrong-secret"),
        pytest.param(SECRET, BODY + b" ", "sha256=" + hex_of(SECRET, BODY), False, id="body-changed"),
        pytest.param(SECRET, BODY, hex_of(SECRET, BODY), False, id="no-scheme"),
        pytest.param(SECRET, BODY, "sha1=" + hex_of(SECRET, BODY), False, id="other-scheme"),
        pytest.param(SECRET, BODY, None, False, id="no-header"),
        pytest.param(SECRET, BODY, "", False, id="empty-header"),
        pytest.param("", BODY, "sha256=" + hex_of("", BODY), False, id="no-secret-configured"),
        pytest.param(SECRET, BODY, "sha256=é" + hex_of(SECRET, BODY)[1:], False, id="non-ascii-header"),
    ],
)
def test_verify_signature_accepts_only_the_hmac_of_the_raw_body(secret: str, body: bytes, header: str | None,
                                                                  ok: bool) -> None:
    assert verify_signature(secret, body, header) is ok


def test_signature_is_the_header_value_toggl_sends() -> None:
    assert signature(SECRET, BODY) == "sha256=" + hex_of(SECRET, BODY)


def envelope(action: str = "updated", *, model: str = "time_entry", **payload_changes: Any) -> dict[str, Any]:
    """An event as recorded from Toggl (2023), workspace id a string in metadata."""
    payload: dict[str, Any] = {
        "at": "2026-11-18T12:43:35+00:00", "billable": True, "description": "Rebuilt the print queue",
        "duration": 3001, "duronly": True, "id": 3095646709, "project_id": 202793182, "server_deleted_at": None,
        "start": "2026-11-18T11:50:51Z", "stop": "2026-11-18T12:40:52Z", "tag_ids": None, "tags": [],
        "task_id": None, "uid": 9547721, "user_id": 9547721, "wid": WORKSPACE, "workspace_id": WORKSPACE,
    }
    payload.update(payload_changes)
    return {
        "event_id": 8256404788549451, "created_at": "2026-11-18T12:43:35.731Z", "creator_id": 9547721,
        "metadata": {"action": action, "event_user_id": "9547721", "model": model, "model_owner_id": "9547721",
                     "path": f"/api/v9/workspaces/{WORKSPACE}/time_entries/3095646709", "request_type": "PUT",
                     "time_entry_id": "3095646709", "workspace_id": str(WORKSPACE)},
        "payload": payload, "subscription_id": 10713, "timestamp": "2026-11-18T12:43:36.170443406Z",
        "url_callback": "https://balances.example.com/webhooks/toggl",
    }


def parse(event: Any, **kwargs: Any) -> Any:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return parse_event(body, account="tracker", routes=ROUTES, tz=LONDON, lookups=LOOKUPS, **kwargs)


@pytest.mark.parametrize("action", ["created", "updated"])
def test_a_created_or_updated_entry_comes_ready_for_the_store(action: str) -> None:
    event = parse(envelope(action), workspace_id=WORKSPACE)
    assert (event.kind, event.action, event.entity) == ("time_entry", action, "time_entry")
    assert event.workspace_id == WORKSPACE
    assert event.event_id == "8256404788549451"
    entry = event.entry
    assert entry is not None and not entry.deleted
    assert (entry.vendor_id, entry.client_key, entry.duration_seconds) == ("3095646709", "acme", 3001)
    assert (entry.worker_name, entry.project) == ("Ingrid Solberg", "Managed services retainer")
    assert entry.updated_at == datetime(2026, 11, 18, 12, 43, 35, tzinfo=UTC)
    assert not event.wants_sync


def test_a_deleted_entry_comes_as_a_tombstone() -> None:
    event = parse(envelope("deleted", server_deleted_at="2026-11-18T13:00:00+00:00"))
    assert event.entry is not None and event.entry.deleted and event.entry.vendor_id == "3095646709"


def test_a_deletion_with_a_bare_payload_still_yields_a_tombstone() -> None:
    bare = envelope("deleted")
    bare["payload"] = {"id": 3095646709, "workspace_id": WORKSPACE}
    event = parse(bare)
    assert event.entry is not None and event.entry.deleted
    assert event.entry.updated_at == datetime(2026, 11, 18, 12, 43, 35, 731000, tzinfo=UTC)


def test_a_deleted_running_timer_is_still_a_tombstone() -> None:
    event = parse(envelope("deleted", stop=None, duration=-1763470251))
    assert event.entry is not None and event.entry.deleted and event.entry.duration_seconds == 0


@pytest.mark.parametrize("changes", [{"stop": None, "duration": -1763470251}, {"stop": None, "duration": 20}])
def test_a_running_timer_is_not_an_entry_until_it_stops(changes: dict[str, Any]) -> None:
    event = parse(envelope("created", **changes))
    assert (event.kind, event.entry, event.running) == ("time_entry", None, True)


def test_an_entry_without_a_project_is_routed_to_no_one() -> None:
    event = parse(envelope(project_id=None))
    assert event.entry is not None and event.entry.client_key is None


def test_an_entry_on_a_project_not_yet_known_asks_for_a_sync_instead_of_a_guess() -> None:
    event = parse(envelope(project_id=999))
    assert (event.kind, event.entry, event.unknown_project, event.wants_sync) == ("time_entry", None, True, True)
    deleted = parse(envelope("deleted", project_id=999))
    assert deleted.entry is not None and deleted.entry.deleted  # a tombstone needs no route


def test_legacy_pid_and_uid_are_read_when_the_current_names_are_null() -> None:
    event = parse(envelope(project_id=None, pid=202793182, user_id=None))
    assert event.entry is not None and event.entry.client_key == "acme" and event.entry.worker_id == "9547721"


def test_a_ping_carries_the_validation_code_to_answer() -> None:
    ping = {"event_id": 0, "created_at": "2023-07-17T10:57:40.959597671Z", "creator_id": 9547721,
            "metadata": {"request_type": "POST", "event_user_id": 9547721}, "payload": "ping",
            "subscription_id": 10710, "validation_code": "89627dd73f2044f2f73815d665bbce33"}
    event = parse(ping, workspace_id=WORKSPACE)
    assert (event.kind, event.validation_code, event.entry) == ("ping", "89627dd73f2044f2f73815d665bbce33", None)


def test_another_entity_asks_for_a_sync_instead_of_an_entry() -> None:
    event = parse(envelope("updated", model="project"))
    assert (event.kind, event.entity, event.entry, event.wants_sync) == ("other", "project", None, True)


def test_an_event_for_another_workspace_is_refused_clearly() -> None:
    with pytest.raises(UnknownWorkspace, match="workspace 7435584, but account 'tracker' reads workspace 1"):
        parse(envelope(), workspace_id=1)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(json.dumps({"event_id": 1, "payload": {"id": 1}}).encode(), id="no-metadata"),
        pytest.param(json.dumps({**envelope(), "payload": None}).encode(), id="no-payload"),
        pytest.param(json.dumps({**envelope(), "payload": {"description": "x"}}).encode(), id="payload-without-id"),
        pytest.param(json.dumps(envelope(start="tuesday")).encode(), id="unreadable-entry"),
    ],
)
def test_a_malformed_event_is_a_payload_error(body: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(body)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (envelope(), WORKSPACE),
        ({"metadata": {"workspace_id": 42}, "payload": {}}, 42),
        ({"metadata": {}, "payload": {"workspace_id": 43}}, 43),
        ({"payload": "ping"}, None),
        ("garbage", None),
    ],
)
def test_peek_workspace_finds_the_workspace_before_the_signature_is_checked(event: Any, expected: int | None) -> None:
    body = event.encode() if isinstance(event, str) else json.dumps(event).encode()
    assert peek_workspace(body) == expected


async def test_a_sandbox_event_is_signed_so_that_verify_and_parse_accept_it() -> None:
    now = datetime(2026, 11, 18, 15, tzinfo=UTC)
    sandbox = TogglSandbox(clock=lambda: now)
    project = sandbox.client_projects[61203441][0]
    entry = sandbox.add_entry(user_id=30809356, project_id=project, start=datetime(2026, 11, 18, 9, tzinfo=UTC),
                              seconds=1800, description="Patched the firewall")
    received: list[tuple[bytes, str | None]] = []

    async def receiver(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        received.append((body, headers.get(b"x-webhook-signature-256", b"").decode() or None))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    response = await sandbox.send_webhook(receiver, sandbox.events[-1], path="/webhooks/toggl")
    assert response.status_code == 200
    body, header = received[0]
    assert verify_signature(sandbox.subscription["secret"], body, header)
    lookups = Lookups(projects={project: ProjectRef("Managed services retainer", 61203441)})
    event = parse_event(body, account="t", routes=ROUTES, tz=LONDON, workspace_id=sandbox.workspace_id,
                        lookups=lookups)
    assert event.entry is not None and event.entry.vendor_id == str(entry["id"]) and event.entry.client_key == "acme"
