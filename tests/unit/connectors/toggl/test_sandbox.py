"""The Toggl sandbox speaks Toggl's wire format: auth, quota, search filters and paging, faults, webhooks, seed."""

from __future__ import annotations

import base64
import inspect
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from connectors.sandbox_driver import SandboxDriver
from connectors.toggl.client import TogglConnector
from connectors.toggl.normalize import flatten_rows
from connectors.toggl.sandbox import (
    AFTER_HOURS_TAG,
    INTERNAL_PROJECT,
    ONSITE_TAG,
    TOKEN,
    TRAVEL_TAG,
    WORKSPACE_ID,
    TogglSandbox,
    make_driver,
)
from connectors.toggl.webhooks import verify_signature

NOW = datetime(2026, 11, 20, 15, 4, 5, tzinfo=UTC)  # a Friday
BASE = "https://api.track.toggl.com"
SEARCH = f"/reports/api/v3/workspace/{WORKSPACE_ID}/search/time_entries"
PROJECTS = f"/api/v9/workspaces/{WORKSPACE_ID}/projects"
TAGS = f"/api/v9/workspaces/{WORKSPACE_ID}/tags"
INGRID, DMITRI = 30809356, 30809359  # London and Chicago
ACME, BIRCHWOOD = 61203441, 61203442
RECORDED_ROW_KEYS = {"billable", "billable_amount_in_cents", "currency", "description", "hourly_rate_in_cents",
                     "project_id", "row_number", "tag_ids", "task_id", "time_entries", "user_id", "username"}


class Clock:
    """A settable clock for the sandbox; tests move it instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def basic(user: str = TOKEN, password: str = "api_token") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sandbox(clock: Clock) -> TogglSandbox:
    return TogglSandbox(clock=clock, requests_per_hour=600)


@pytest.fixture
async def http(sandbox: TogglSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with client(sandbox) as session:
        yield session


def client(sandbox: TogglSandbox, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE,
                             headers={"Authorization": basic(), **headers})


async def search(http: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await http.post(SEARCH, json={"start_date": "2026-11-01", "end_date": "2026-11-30", **body})


async def search_all(http: httpx.AsyncClient, **body: Any) -> tuple[list[dict[str, Any]], int]:
    """Every row, following X-Next-Row-Number / X-Next-ID; returns (rows, requests)."""
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    requests = 0
    while True:
        response = await search(http, **body, **extra)
        requests += 1
        assert response.status_code == 200, response.text
        rows.extend(response.json())
        if "X-Next-Row-Number" not in response.headers:
            return rows, requests
        extra = {"first_row_number": int(response.headers["X-Next-Row-Number"]),
                 "first_id": int(response.headers["X-Next-ID"])}


def track(sandbox: TogglSandbox, *, user: int = INGRID, client_id: int = ACME, start: datetime | None = None,
          seconds: int | None = 1800, description: str = "Patched the firewall", **kwargs: Any) -> dict[str, Any]:
    project = kwargs.pop("project_id", sandbox.client_projects[client_id][0])
    return sandbox.add_entry(user_id=user, project_id=project, start=start or datetime(2026, 11, 20, 9, tzinfo=UTC),
                             seconds=seconds, description=description, **kwargs)


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [e["id"] for e in flatten_rows(rows)]


# ------------------------------------------------------------------------------------ auth


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param(basic("wrong-token"), id="wrong-token"),
        pytest.param(basic(TOKEN, "secret"), id="password-not-api_token"),
        pytest.param(f"Bearer {TOKEN}", id="bearer-scheme"),
        pytest.param("Basic !!!", id="garbage-base64"),
    ],
)
async def test_a_request_without_the_token_and_api_token_is_refused_with_403(
    sandbox: TogglSandbox, authorization: str | None
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE) as session:
        headers = {"Authorization": authorization} if authorization else {}
        response = await session.post(SEARCH, json={"start_date": "2026-11-01"}, headers=headers)
    assert response.status_code == 403
    assert QUOTA_HEADERS.isdisjoint(response.headers)
    assert (sandbox.counters["403"], sandbox.counters["401"], sandbox.counters["time_entries"]) == (1, 1, 0)


QUOTA_HEADERS = {"x-toggl-quota-remaining", "x-toggl-quota-resets-in"}


async def test_fail_auth_refuses_even_the_right_token_until_it_is_lifted(sandbox: TogglSandbox,
                                                                          http: httpx.AsyncClient) -> None:
    sandbox.fail_auth(True)
    assert (await search(http)).status_code == 403
    sandbox.fail_auth(False)
    assert (await search(http)).status_code == 200


async def test_another_workspace_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.post("/reports/api/v3/workspace/1/search/time_entries", json={"start_date": "2026-11-01"})
    assert response.status_code == 403
    assert (await http.get("/api/v9/workspaces/1/projects")).status_code == 403


# ------------------------------------------------------------------------------------ quota


async def test_past_the_hourly_quota_toggl_answers_402_with_its_quota_headers(clock: Clock) -> None:
    sandbox = TogglSandbox(clock=clock, requests_per_hour=3)
    async with client(sandbox) as session:
        remaining = []
        for _ in range(3):
            response = await search(session)
            remaining.append(response.headers["X-Toggl-Quota-Remaining"])
            clock.advance(seconds=10)
        assert remaining == ["2", "1", "0"]
        refused = await search(session)
    assert refused.status_code == 402
    assert refused.headers["X-Toggl-Quota-Remaining"] == "0"
    assert refused.headers["X-Toggl-Quota-Resets-In"] == str(3600 - 30)
    assert sandbox.counters["402"] == 1


async def test_the_quota_window_slides_with_the_injected_clock(clock: Clock) -> None:
    sandbox = TogglSandbox(clock=clock, requests_per_hour=2)
    async with client(sandbox) as session:
        assert (await search(session)).status_code == 200
        clock.advance(minutes=30)
        assert (await search(session)).status_code == 200
        assert (await search(session)).status_code == 402
        clock.advance(minutes=30)  # the first request leaves the window
        ok = await search(session)
        assert ok.status_code == 200 and ok.headers["X-Toggl-Quota-Resets-In"] == "1800"
        assert (await search(session)).status_code == 402


@pytest.mark.parametrize(("resets_in", "header"), [(2, "2"), (None, None)])
async def test_throttle_next_answers_402_for_the_next_requests(sandbox: TogglSandbox, http: httpx.AsyncClient,
                                                               resets_in: int | None, header: str | None) -> None:
    sandbox.throttle_next(2, resets_in)
    first, second, third = [await search(http) for _ in range(3)]
    assert [first.status_code, second.status_code, third.status_code] == [402, 402, 200]
    assert first.headers.get("X-Toggl-Quota-Resets-In") == header


# ------------------------------------------------------------------------------------ search


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"end_date": "2026-11-30"}, id="no-start-date"),
        pytest.param({"start_date": "20261101"}, id="compact-date"),
        pytest.param({"start_date": "2026-11-01T00:00:00Z"}, id="timestamp-not-date"),
        pytest.param({"start_date": "2026-11-30", "end_date": "2026-11-01"}, id="end-before-start"),
        pytest.param({"start_date": "2025-11-01", "end_date": "2026-11-02"}, id="longer-than-a-year"),
        pytest.param({"start_date": "2026-11-01", "page_size": 51}, id="page-size-over-50"),
        pytest.param({"start_date": "2026-11-01", "page_size": 0}, id="page-size-zero"),
        pytest.param({"start_date": "2026-11-01", "page_size": "50"}, id="page-size-text"),
        pytest.param({"start_date": "2026-11-01", "first_row_number": 0}, id="row-number-zero"),
        pytest.param({"start_date": "2026-11-01", "order_by": "at"}, id="unknown-order"),
        pytest.param({"start_date": "2026-11-01", "order_dir": "UP"}, id="unknown-direction"),
        pytest.param({"start_date": "2026-11-01", "client_ids": [ACME, "x"]}, id="client-id-text"),
        pytest.param({"start_date": "2026-11-01", "user_ids": [None]}, id="null-user"),
        pytest.param({"start_date": "2026-11-01", "grouped": "no"}, id="grouped-text"),
        pytest.param([], id="not-an-object"),
    ],
)
async def test_a_search_toggl_cannot_read_is_a_400_with_a_text_reason(http: httpx.AsyncClient, body: Any) -> None:
    response = await http.post(SEARCH, json=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain") and response.text


async def test_a_year_long_search_and_a_default_week_are_accepted(sandbox: TogglSandbox,
                                                                   http: httpx.AsyncClient) -> None:
    inside = track(sandbox, start=datetime(2026, 11, 7, 9, tzinfo=UTC))
    outside = track(sandbox, start=datetime(2026, 11, 8, 9, tzinfo=UTC))
    assert (await http.post(SEARCH, json={"start_date": "2025-11-20", "end_date": "2026-11-20"})).status_code == 200
    week = await http.post(SEARCH, json={"start_date": "2026-11-01"})
    assert ids(week.json()) == [inside["id"]] and outside["id"] not in ids(week.json())


async def test_filters_narrow_the_search(sandbox: TogglSandbox, http: httpx.AsyncClient) -> None:
    acme = track(sandbox, client_id=ACME, tag_ids=[TRAVEL_TAG], description="Travel to Acme Dental")
    birch = track(sandbox, client_id=BIRCHWOOD, user=DMITRI, billable=False)
    loose = track(sandbox, project_id=None, description="Unfiled call")
    internal = track(sandbox, project_id=INTERNAL_PROJECT)
    cases: list[tuple[dict[str, Any], set[int]]] = [
        ({"client_ids": [ACME]}, {acme["id"]}),
        ({"client_ids": [ACME, BIRCHWOOD]}, {acme["id"], birch["id"]}),
        ({"client_ids": [None]}, {loose["id"], internal["id"]}),
        ({"project_ids": [sandbox.client_projects[BIRCHWOOD][0]]}, {birch["id"]}),
        ({"project_ids": [None]}, {loose["id"]}),
        ({"user_ids": [DMITRI]}, {birch["id"]}),
        ({"tag_ids": [TRAVEL_TAG]}, {acme["id"]}),
        ({"billable": False}, {birch["id"], loose["id"], internal["id"]}),
        ({"description": "travel to"}, {acme["id"]}),
        ({"time_entry_ids": [loose["id"]]}, {loose["id"]}),
    ]
    for body, expected in cases:
        response = await search(http, **body)
        assert set(ids(response.json())) == expected, body


async def test_dates_are_each_users_own_local_dates(sandbox: TogglSandbox, http: httpx.AsyncClient) -> None:
    # 02:30 UTC on the 20th is 20:30 on the 19th in Chicago
    evening = track(sandbox, user=DMITRI, start=datetime(2026, 11, 20, 2, 30, tzinfo=UTC))
    on_19th = await search(http, start_date="2026-11-19", end_date="2026-11-19")
    on_20th = await search(http, start_date="2026-11-20", end_date="2026-11-20")
    assert ids(on_19th.json()) == [evening["id"]] and ids(on_20th.json()) == []
    item = on_19th.json()[0]["time_entries"][0]
    assert item["start"] == "2026-11-19T20:30:00-06:00"


async def test_pages_carry_x_next_id_and_x_next_row_number_until_the_last(sandbox: TogglSandbox,
                                                                          http: httpx.AsyncClient) -> None:
    sandbox.seed(now=NOW, days=30, per_day=8)
    first = await search(http, page_size=50)
    rows = first.json()
    assert len(rows) == 50
    assert first.headers["X-Next-Row-Number"] == "51"
    all_rows, requests = await search_all(http, page_size=50)
    assert [r["row_number"] for r in all_rows] == list(range(1, len(all_rows) + 1))
    assert len(set(ids(all_rows))) == len(all_rows) > 100
    assert requests == -(-len(all_rows) // 50)
    second = await search(http, page_size=50, first_row_number=51, first_id=int(first.headers["X-Next-ID"]))
    assert ids(second.json())[0] == int(first.headers["X-Next-ID"])


async def test_a_first_row_past_the_end_answers_an_empty_list(http: httpx.AsyncClient) -> None:
    response = await search(http, first_row_number=10_000)
    assert response.status_code == 200 and response.json() == []
    assert "X-Next-Row-Number" not in response.headers


@pytest.mark.parametrize(("order_by", "key"), [("date", "start"), ("last_update", "at"), ("duration", "seconds")])
@pytest.mark.parametrize("order_dir", ["ASC", "DESC"])
async def test_rows_come_in_the_asked_order(sandbox: TogglSandbox, http: httpx.AsyncClient, order_by: str, key: str,
                                            order_dir: str) -> None:
    sandbox.seed(now=NOW, days=10, per_day=6)
    rows, _ = await search_all(http, order_by=order_by, order_dir=order_dir)
    values = [datetime.fromisoformat(e[key]) if key != "seconds" else e[key] for e in flatten_rows(rows)]
    assert values == sorted(values, reverse=order_dir == "DESC")


async def test_grouped_rows_hold_every_entry_sharing_their_fields(sandbox: TogglSandbox,
                                                                  http: httpx.AsyncClient) -> None:
    a = track(sandbox, description="Daily backup check", start=datetime(2026, 11, 18, 9, tzinfo=UTC))
    b = track(sandbox, description="Daily backup check", start=datetime(2026, 11, 19, 9, tzinfo=UTC))
    c = track(sandbox, description="Other work")
    rows = (await search(http, grouped=True)).json()
    assert sorted(len(r["time_entries"]) for r in rows) == [1, 2]
    assert sorted(ids(rows)) == sorted([a["id"], b["id"], c["id"]])


async def test_a_row_has_the_recorded_field_set_and_time_formats(sandbox: TogglSandbox,
                                                                 http: httpx.AsyncClient) -> None:
    done = track(sandbox, user=DMITRI, start=datetime(2026, 11, 20, 15, tzinfo=UTC), seconds=5400, tag_ids=[ONSITE_TAG])
    running = track(sandbox, start=datetime(2026, 11, 20, 14, tzinfo=UTC), seconds=None)
    rows = {r["time_entries"][0]["id"]: r for r in (await search(http)).json()}
    row = rows[done["id"]]
    assert set(row) == RECORDED_ROW_KEYS
    assert (row["username"], row["tag_ids"], row["hourly_rate_in_cents"]) == ("Dmitri Volkov", [ONSITE_TAG], 16500)
    assert row["time_entries"][0] == {"id": done["id"], "seconds": 5400, "start": "2026-11-20T09:00:00-06:00",
                                      "stop": "2026-11-20T10:30:00-06:00", "at": "2026-11-20T15:04:05+00:00",
                                      "at_tz": "2026-11-20T09:04:05-06:00"}
    timer = rows[running["id"]]["time_entries"][0]
    assert timer["stop"] is None and timer["seconds"] < 0


# ------------------------------------------------------------------------------------ faults


async def test_injected_faults_hit_only_report_searches(sandbox: TogglSandbox, http: httpx.AsyncClient) -> None:
    sandbox.fail_next(2, "5xx")
    assert (await http.get(PROJECTS)).status_code == 200
    assert (await search(http)).status_code == 500
    sandbox.fail_next(1, "malformed")
    broken = await search(http)
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    assert (await search(http)).status_code == 200
    # Every request is counted; only the healthy search reached the report handler.
    assert (sandbox.counters["requests"], sandbox.counters["time_entries"]) == (4, 1)


async def test_fail_next_zero_clears_pending_faults(sandbox: TogglSandbox, http: httpx.AsyncClient) -> None:
    sandbox.fail_next(5, "malformed")
    sandbox.fail_next(0, "malformed")
    assert (await search(http)).json() == []


async def test_answer_empty_makes_searches_answer_nothing(sandbox: TogglSandbox, http: httpx.AsyncClient) -> None:
    track(sandbox)
    sandbox.answer_empty(True)
    response = await search(http)
    assert response.json() == [] and "X-Next-Row-Number" not in response.headers
    sandbox.answer_empty(False)
    assert len((await search(http)).json()) == 1


# ------------------------------------------------------------------------------------ mutations


async def test_edits_stops_and_deletions_bump_the_last_update_and_queue_events(sandbox: TogglSandbox, clock: Clock,
                                                                               http: httpx.AsyncClient) -> None:
    entry = track(sandbox)
    timer = track(sandbox, seconds=None, start=datetime(2026, 11, 20, 14, tzinfo=UTC))
    clock.advance(minutes=5)
    sandbox.edit_entry(entry["id"], seconds=2700, project_id=sandbox.client_projects[BIRCHWOOD][0])
    sandbox.stop_entry(timer["id"])
    assert [e["metadata"]["action"] for e in sandbox.events] == ["created", "created", "updated", "updated"]
    rows = {r["time_entries"][0]["id"]: r for r in (await search(http, client_ids=[BIRCHWOOD, ACME])).json()}
    assert rows[entry["id"]]["project_id"] == sandbox.client_projects[BIRCHWOOD][0]
    assert rows[entry["id"]]["time_entries"][0]["at"] == "2026-11-20T15:09:05+00:00"
    assert rows[timer["id"]]["time_entries"][0]["seconds"] == 4145
    sandbox.delete_entry(entry["id"])
    assert entry["id"] not in ids((await search(http)).json())
    deleted = sandbox.events[-1]
    assert deleted["metadata"]["action"] == "deleted" and deleted["payload"]["server_deleted_at"] is not None


async def test_a_project_moved_to_another_client_moves_its_entries(sandbox: TogglSandbox,
                                                                   http: httpx.AsyncClient) -> None:
    entry = track(sandbox, client_id=ACME)
    sandbox.move_project(sandbox.client_projects[ACME][0], BIRCHWOOD)
    assert ids((await search(http, client_ids=[BIRCHWOOD])).json()) == [entry["id"]]


def test_an_event_is_the_recorded_envelope_with_an_api_v9_payload(sandbox: TogglSandbox) -> None:
    entry = track(sandbox, tag_ids=[TRAVEL_TAG])
    event = sandbox.events[-1]
    assert set(event) == {"event_id", "created_at", "creator_id", "metadata", "payload", "subscription_id",
                          "timestamp", "url_callback"}
    assert event["metadata"]["model"] == "time_entry" and event["metadata"]["workspace_id"] == str(WORKSPACE_ID)
    payload = event["payload"]
    assert (payload["id"], payload["tags"], payload["tag_ids"], payload["duration"]) == (
        entry["id"], ["Travel"], [TRAVEL_TAG], 1800)
    assert payload["start"] == "2026-11-20T09:00:00Z" and payload["at"] == "2026-11-20T15:04:05+00:00"
    assert sandbox.ping_event()["payload"] == "ping"


async def test_send_webhook_posts_the_event_signed_with_the_subscription_secret(sandbox: TogglSandbox) -> None:
    seen: dict[str, Any] = {}

    async def receiver(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        seen.update(path=scope["path"], body=message["body"], headers=dict(scope["headers"]))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"validation_code": "89627dd73f2044f2f73815d665bbce33"}'})

    response = await sandbox.send_webhook(receiver, sandbox.ping_event(), path="/webhooks/toggl")
    assert response.json() == {"validation_code": "89627dd73f2044f2f73815d665bbce33"}
    assert seen["path"] == "/webhooks/toggl" and json.loads(seen["body"])["payload"] == "ping"
    header = seen["headers"][b"x-webhook-signature-256"].decode()
    assert verify_signature(sandbox.subscription["secret"], seen["body"], header)
    assert not verify_signature("other", seen["body"], header)
    assert sandbox.counters["webhooks_sent"] == 1


# ------------------------------------------------------------------------------------ lookups


async def test_projects_filter_by_client_page_at_most_200_and_include_archived_with_both(
    sandbox: TogglSandbox, http: httpx.AsyncClient
) -> None:
    sandbox.projects[sandbox.client_projects[ACME][1]]["active"] = False
    active = (await http.get(PROJECTS, params={"client_ids": f"{ACME},{BIRCHWOOD}"})).json()
    both = (await http.get(PROJECTS, params={"client_ids": f"{ACME},{BIRCHWOOD}", "active": "both"})).json()
    assert {p["client_id"] for p in both} == {ACME, BIRCHWOOD} and len(both) == len(active) + 1 == 4
    first = (await http.get(PROJECTS, params={"active": "both", "per_page": 2, "page": 1})).json()
    past = (await http.get(PROJECTS, params={"active": "both", "per_page": 2, "page": 6})).json()
    assert len(first) == 2 and past == []
    assert (await http.get(PROJECTS, params={"per_page": 201})).status_code == 400
    assert (await http.get(PROJECTS, params={"active": "maybe"})).status_code == 400


async def test_tags_list_the_workspaces_tags(http: httpx.AsyncClient) -> None:
    tags = (await http.get(TAGS)).json()
    assert {"Travel", "On-site", "Remote", "After-hours"} <= {t["name"] for t in tags}
    assert all(t["workspace_id"] == WORKSPACE_ID for t in tags)


# ------------------------------------------------------------------------------------ seed


def test_the_seed_is_deterministic_and_realistic(clock: Clock) -> None:
    a, b = TogglSandbox(clock=clock), TogglSandbox(clock=clock)
    a.seed(now=NOW, days=30, per_day=6)
    b.seed(now=NOW, days=30, per_day=6)
    assert a.entries == b.entries
    entries = list(a.entries.values())
    firsts = {u["fullname"].split()[0] for u in a.users.values()}
    texts = [e["description"] for e in entries]
    assert any(first in text for text in texts for first in firsts)  # technicians named in free text
    assert any(" Internal: " in text for text in texts)
    assert any(TRAVEL_TAG in e["tag_ids"] for e in entries) and any(ONSITE_TAG in e["tag_ids"] for e in entries)
    assert any(AFTER_HOURS_TAG in e["tag_ids"] for e in entries)
    admin = [e for e in entries if e["project_id"] == INTERNAL_PROJECT]
    assert admin and not any(e["billable"] for e in admin)
    assert all(e["at"] <= NOW.timestamp() and e["duration"] > 0 for e in entries)


async def test_twenty_thousand_entries_page_from_one_selection(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox = TogglSandbox(clock=clock, requests_per_hour=600)
    assert sandbox.seed(now=NOW, days=350, per_day=60) >= 20_000
    computed: list[str] = []
    order_key = sandbox._order_key
    monkeypatch.setattr(sandbox, "_order_key", lambda order_by: computed.append(order_by) or order_key(order_by))
    async with client(sandbox) as session:
        extra: dict[str, Any] = {}
        for _ in range(3):
            response = await session.post(SEARCH, json={"start_date": "2025-12-05", "end_date": "2026-11-20",
                                                        "page_size": 50, **extra})
            assert len(response.json()) == 50
            extra = {"first_row_number": int(response.headers["X-Next-Row-Number"])}
    assert computed == ["date"]


# ------------------------------------------------------------------------------------ driver


def test_the_driver_has_every_member_of_the_contract() -> None:
    driver = make_driver(lambda: NOW)
    members = set(SandboxDriver.__annotations__) | {
        name for name, _ in inspect.getmembers(SandboxDriver, inspect.isfunction) if not name.startswith("_")}
    missing = sorted(name for name in members if not hasattr(driver, name))
    assert not missing
    assert len(driver.selectors()) >= 2 and len(set(driver.workers)) == len(driver.workers) >= 3
    assert TogglConnector.settings_model.model_validate(driver.account("http://sandbox.test"))


async def test_the_driver_returns_ids_as_the_connector_stores_them() -> None:
    driver = make_driver(lambda: NOW)
    vendor_id = driver.add_entry(1, hours=1.25, notes="Swapped the UPS battery", day=date(2026, 11, 20),
                                 start=time(10, 30), internal_notes="their UPS is out of warranty", worker=3)
    driver.edit_entry(vendor_id, hours=1.5, notes="Swapped the UPS battery and tested it")
    async with client(driver.sandbox) as session:
        rows = (await session.post(SEARCH, json={"start_date": "2026-11-20", "client_ids": [BIRCHWOOD]})).json()
    entry = next(e for e in flatten_rows(rows) if str(e["id"]) == vendor_id)
    assert (entry["seconds"], entry["description"], entry["username"]) == (
        5400, "Swapped the UPS battery and tested it", "Dmitri Volkov")
    assert entry["start"] == "2026-11-20T10:30:00-06:00"
