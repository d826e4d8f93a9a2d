"""The Toggl connector's requests (respx): auth, search bodies, paging, lookups, routing, error mapping."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from connectors.base import Budget, ClientRoute
from connectors.http import Funnel
from connectors.toggl.client import TogglAuth, TogglConnector, TogglSelector, TogglSettings, spans
from connectors.toggl.webhooks import signature
from syncd.errors import AuthError, PayloadError, RateLimited, TransientError
from syncd.models import TimeEntry

BASE = "https://api.track.toggl.com"
WS = 4512877
SEARCH = f"{BASE}/reports/api/v3/workspace/{WS}/search/time_entries"
PROJECTS = f"{BASE}/api/v9/workspaces/{WS}/projects"
TAGS = f"{BASE}/api/v9/workspaces/{WS}/tags"
ACME, BIRCHWOOD = 61203441, 61203442
ACME_RETAINER, BIRCHWOOD_RETAINER = 202793182, 202793192
TODAY = date(2026, 11, 18)


class Ticker:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(**changes: Any) -> TogglSettings:
    return TogglSettings.model_validate({"vendor": "toggl", "workspace_id": WS, "api_token": "tok-123", **changes})


def connector(
    selectors: Sequence[dict[str, Any]] = ({"client_id": ACME}, {"client_id": BIRCHWOOD}),
    *,
    attempts: int = 1,
    sleeps: list[float] | None = None,
    ticker: Ticker | None = None,
    **changes: Any,
) -> TogglConnector:
    account = settings(**changes)
    routes = [ClientRoute(f"c{i}", TogglSelector.model_validate({"account": "t", **sel}))
              for i, sel in enumerate(selectors)]
    record = sleeps if sleeps is not None else []

    async def sleep(seconds: float) -> None:
        record.append(seconds)

    http = Funnel(vendor="Toggl Track", base_url=BASE, attempts=attempts, sleep=sleep,
                  **TogglConnector.http_options(account))
    toggl = TogglConnector("t", account, routes, http, default_timezone="Europe/London")
    toggl.today = lambda: TODAY
    toggl.monotonic = ticker or Ticker()
    return toggl


def item(entry_id: int, *, at: str = "2026-11-10T10:00:00+00:00", start: str = "2026-11-10T09:00:00+00:00",
         seconds: int = 900, running: bool = False) -> dict[str, Any]:
    stop = None if running else (datetime.fromisoformat(start) + timedelta(seconds=seconds)).isoformat()
    return {"id": entry_id, "seconds": -1763456400 if running else seconds, "start": start, "stop": stop,
            "at": at, "at_tz": at}


def row(entry_id: int, *, project_id: int | None = ACME_RETAINER, tag_ids: Sequence[int] = (),
        description: str = "Reset MFA", user: tuple[int, str] = (30809356, "Ingrid Solberg"),
        **item_changes: Any) -> dict[str, Any]:
    return {"billable": True, "billable_amount_in_cents": 4125, "currency": "USD", "description": description,
            "hourly_rate_in_cents": 16500, "project_id": project_id, "row_number": 1, "tag_ids": list(tag_ids),
            "task_id": None, "time_entries": [item(entry_id, **item_changes)], "user_id": user[0],
            "username": user[1]}


def projects_answer(*projects: tuple[int, str, int | None]) -> httpx.Response:
    return httpx.Response(200, json=[{"id": p, "name": n, "client_id": c, "workspace_id": WS, "active": True}
                                     for p, n, c in projects])


DEFAULT_PROJECTS = ((ACME_RETAINER, "Managed services retainer", ACME),
                    (BIRCHWOOD_RETAINER, "Managed services retainer", BIRCHWOOD))


def mock_lookups() -> tuple[respx.Route, respx.Route]:
    return (respx.get(PROJECTS).mock(return_value=projects_answer(*DEFAULT_PROJECTS)),
            respx.get(TAGS).mock(return_value=httpx.Response(200, json=[{"id": 16501871, "name": "Travel"}])))


def bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


async def collect(pages: Any) -> list[list[TimeEntry]]:
    return [page async for page in pages]


# ------------------------------------------------------------------------------------ account


@respx.mock
async def test_requests_authenticate_with_the_token_and_the_literal_password_api_token() -> None:
    mock_lookups()
    search = respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[]))
    await collect(connector().changes(None, TODAY))
    request = search.calls[0].request
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"tok-123:api_token").decode()
    assert request.headers["User-Agent"] == "syncd"
    assert request.headers["Content-Type"] == "application/json"


def test_the_token_and_webhook_secret_stay_out_of_every_repr() -> None:
    account = settings(webhook_secret="whsec-xyz")
    auth = TogglConnector.http_options(account)["auth"]
    for text in (repr(account), str(account), repr(auth), repr(account.model_dump())):
        assert "tok-123" not in text and "whsec-xyz" not in text


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, Budget(27, 3600.0, 2)),
        ({"plan": "starter"}, Budget(216, 3600.0, 2)),
        ({"plan": "premium"}, Budget(540, 3600.0, 2)),
        ({"plan": "premium", "requests_per_hour": 1000}, Budget(900, 3600.0, 2)),
        ({"requests_per_hour": 1}, Budget(1, 3600.0, 2)),
    ],
)
def test_the_budget_is_the_hourly_quota_less_a_tenth(changes: dict[str, Any], expected: Budget) -> None:
    assert TogglConnector.budget_for(settings(**changes)) == expected


def test_the_workspace_id_may_come_from_the_environment_as_text() -> None:
    assert settings(workspace_id="4512877").workspace_id == WS


@pytest.mark.parametrize("changes", [{"workspace_id": 0}, {"api_token": None}, {"plan": "gold"}, {"colour": "red"}])
def test_bad_account_settings_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        settings(**changes)


@pytest.mark.parametrize("selector", [{}, {"project_ids": []}, {"client_id": 0}])
def test_a_selector_needs_a_client_or_some_projects(selector: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TogglSelector.model_validate({"account": "t", **selector})


# ------------------------------------------------------------------------------------ searches


@respx.mock
async def test_a_backfill_searches_the_clients_from_backfill_from_to_tomorrow_oldest_first() -> None:
    mock_lookups()
    search = respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[row(1)]))
    pages = await collect(connector().changes(None, date(2026, 10, 1)))
    assert [e.vendor_id for page in pages for e in page] == ["1"]
    assert bodies(search) == [{
        "start_date": "2026-10-01", "end_date": "2026-11-19", "page_size": 50, "grouped": False, "rounding": 0,
        "order_by": "date", "order_dir": "ASC", "client_ids": [ACME, BIRCHWOOD],
    }]


@pytest.mark.parametrize(
    ("selectors", "expected"),
    [
        pytest.param([{"client_id": BIRCHWOOD}, {"client_id": ACME}], {"client_ids": [ACME, BIRCHWOOD]},
                     id="clients-one-query"),
        pytest.param([{"project_ids": [3, 1]}, {"client_id": ACME, "project_ids": [2]}], {"project_ids": [1, 2, 3]},
                     id="projects-narrowest"),
        pytest.param([{"client_id": ACME}, {"project_ids": [5]}], {}, id="mixed-workspace-wide"),
    ],
)
@respx.mock
async def test_the_account_is_filtered_server_side_in_one_query(selectors: list[dict[str, Any]],
                                                                expected: dict[str, list[int]]) -> None:
    mock_lookups()
    search = respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[]))
    await collect(connector(selectors).changes(None, date(2026, 11, 1)))
    sent = bodies(search)[0]
    assert {k: sent[k] for k in ("client_ids", "project_ids") if k in sent} == expected
    assert search.call_count == 1


@respx.mock
async def test_pages_follow_x_next_row_number_and_x_next_id_back_as_first_row_number_and_first_id() -> None:
    mock_lookups()
    search = respx.post(SEARCH).mock(side_effect=[
        httpx.Response(200, json=[row(i) for i in range(1, 51)],
                       headers={"X-Next-ID": "51", "X-Next-Row-Number": "51"}),
        httpx.Response(200, json=[row(51)]),
    ])
    pages = await collect(connector().changes(None, date(2026, 11, 1)))
    assert [len(p) for p in pages] == [50, 1]
    first, second = bodies(search)
    assert "first_row_number" not in first and "first_id" not in first
    assert (second["first_row_number"], second["first_id"]) == (51, 51)
    assert {k: v for k, v in second.items() if not k.startswith("first_")} == first


@respx.mock
async def test_a_backfill_longer_than_a_year_is_cut_into_year_long_searches() -> None:
    mock_lookups()
    search = respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[]))
    await collect(connector().changes(None, date(2025, 6, 1)))
    assert [(b["start_date"], b["end_date"]) for b in bodies(search)] == [
        ("2025-06-01", "2026-05-31"), ("2026-06-01", "2026-11-19")]


def test_spans_cover_the_range_without_gaps_or_overlap() -> None:
    cut = list(spans(date(2024, 1, 1), date(2026, 3, 1)))
    assert cut[0][0] == date(2024, 1, 1) and cut[-1][1] == date(2026, 3, 1)
    assert all((b - a).days <= 364 for a, b in cut)
    assert all(nxt[0] == prev[1] + timedelta(days=1) for prev, nxt in zip(cut, cut[1:], strict=False))


@respx.mock
async def test_an_incremental_poll_reads_newest_updates_first_and_stops_at_the_first_older_entry() -> None:
    mock_lookups()
    search = respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[
        row(3, at="2026-11-18T10:05:00+00:00"), row(2, at="2026-11-18T10:00:00+00:00"),
        row(1, at="2026-11-17T09:00:00+00:00")], headers={"X-Next-ID": "9", "X-Next-Row-Number": "4"}))
    since = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
    pages = await collect(connector().changes(since, date(2026, 10, 1)))
    assert [e.vendor_id for page in pages for e in page] == ["3", "2"]  # the cursor's own second is re-read
    assert search.call_count == 1
    sent = bodies(search)[0]
    assert (sent["order_by"], sent["order_dir"]) == ("last_update", "DESC")
    assert (sent["start_date"], sent["end_date"]) == ("2026-10-01", "2026-11-19")


@respx.mock
async def test_an_incremental_poll_reads_on_while_every_entry_of_a_page_changed() -> None:
    mock_lookups()
    newer = [row(100 - i, at="2026-11-18T12:00:00+00:00") for i in range(50)]
    search = respx.post(SEARCH).mock(side_effect=[
        httpx.Response(200, json=newer, headers={"X-Next-ID": "50", "X-Next-Row-Number": "51"}),
        httpx.Response(200, json=[row(50, at="2026-11-01T12:00:00+00:00")],
                       headers={"X-Next-ID": "49", "X-Next-Row-Number": "52"}),
    ])
    pages = await collect(connector().changes(datetime(2026, 11, 18, 11, tzinfo=UTC), date(2026, 10, 1)))
    assert [len(p) for p in pages] == [50, 0]
    assert search.call_count == 2


@pytest.mark.parametrize(
    ("backfill_from", "since", "expected"),
    [
        pytest.param(date(2025, 1, 1), datetime(2026, 11, 18, 9, tzinfo=UTC), ("2025-11-20", "2026-11-19"),
                     id="a-year-back-at-most"),
        pytest.param(date(2026, 10, 31), datetime(2026, 11, 18, 9, tzinfo=UTC), ("2026-10-31", "2026-11-19"),
                     id="not-before-backfill-from"),
        pytest.param(date(2026, 10, 31), datetime(2026, 11, 19, 23, tzinfo=UTC), ("2026-10-31", "2026-11-20"),
                     id="cursor-past-the-clock"),
    ],
)
@respx.mock
async def test_an_incremental_poll_lists_the_recent_year_up_to_tomorrow(
    backfill_from: date, since: datetime, expected: tuple[str, str]
) -> None:
    mock_lookups()
    search = respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[]))
    await collect(connector().changes(since, backfill_from))
    sent = bodies(search)[0]
    assert (sent["start_date"], sent["end_date"]) == expected


@respx.mock
async def test_the_reconcile_window_is_listed_a_day_wider_on_each_side() -> None:
    mock_lookups()
    search = respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[row(1)]))
    pages = await collect(connector().window(date(2026, 10, 1), date(2026, 11, 18)))
    assert [e.vendor_id for p in pages for e in p] == ["1"]
    sent = bodies(search)[0]
    assert (sent["start_date"], sent["end_date"], sent["order_by"]) == ("2026-09-30", "2026-11-19", "date")


@respx.mock
async def test_a_running_timer_is_not_listed_until_it_stops() -> None:
    mock_lookups()
    respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[row(1), row(2, running=True)]))
    pages = await collect(connector().window(date(2026, 11, 1), date(2026, 11, 18)))
    assert [e.vendor_id for p in pages for e in p] == ["1"]


# ------------------------------------------------------------------------------------ lookups and routing


@respx.mock
async def test_project_and_tag_names_are_read_once_and_serve_later_listings() -> None:
    projects, tags = mock_lookups()
    respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[row(1, tag_ids=[16501871])]))
    toggl = connector()
    first = await collect(toggl.window(date(2026, 11, 1), date(2026, 11, 18)))
    await collect(toggl.changes(datetime(2026, 11, 18, tzinfo=UTC), date(2026, 11, 1)))
    assert (projects.call_count, tags.call_count) == (1, 1)
    params = projects.calls[0].request.url.params
    assert dict(params) == {"active": "both", "per_page": "200", "page": "1", "client_ids": f"{ACME},{BIRCHWOOD}"}
    entry = first[0][0]
    assert (entry.project, entry.tags, entry.travel, entry.client_key) == ("Managed services retainer", ("Travel",),
                                                                         True, "c0")


@respx.mock
async def test_names_are_read_again_once_lookup_refresh_has_passed() -> None:
    projects, tags = mock_lookups()
    respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[row(1, tag_ids=[16501871])]))
    ticker = Ticker()
    toggl = connector(ticker=ticker, lookup_refresh="1h")
    await collect(toggl.window(date(2026, 11, 1), date(2026, 11, 18)))
    ticker.now += 3599
    await collect(toggl.window(date(2026, 11, 1), date(2026, 11, 18)))
    assert (projects.call_count, tags.call_count) == (1, 1)
    ticker.now += 1
    await collect(toggl.window(date(2026, 11, 1), date(2026, 11, 18)))
    assert (projects.call_count, tags.call_count) == (2, 2)


@respx.mock
async def test_an_unknown_project_is_looked_up_at_most_once_per_listing_then_left_unrouted() -> None:
    projects, _ = mock_lookups()
    respx.post(SEARCH).mock(side_effect=[
        httpx.Response(200, json=[row(1)]),
        httpx.Response(200, json=[row(2, project_id=999)], headers={"X-Next-ID": "3", "X-Next-Row-Number": "2"}),
        httpx.Response(200, json=[row(3, project_id=998)]),
    ])
    toggl = connector()
    first = await collect(toggl.window(date(2026, 11, 1), TODAY))
    assert projects.call_count == 1
    second = await collect(toggl.window(date(2026, 11, 1), TODAY))
    assert projects.call_count == 2  # one refresh for project 999; 998 on the next page waits
    assert [(e.vendor_id, e.client_key) for p in first + second for e in p] == [("1", "c0"), ("2", None), ("3", None)]


@respx.mock
async def test_tags_are_not_read_when_no_entry_carries_one() -> None:
    projects, tags = mock_lookups()
    respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[row(1)]))
    await collect(connector().window(date(2026, 11, 1), date(2026, 11, 18)))
    assert (projects.call_count, tags.call_count) == (1, 0)


@respx.mock
async def test_projects_are_read_200_a_page_and_workspace_wide_when_a_selector_names_projects() -> None:
    many = [(300000000 + i, f"Project {i}", None) for i in range(200)]
    projects = respx.get(PROJECTS).mock(side_effect=[projects_answer(*many),
                                                     projects_answer((ACME_RETAINER, "Retainer", ACME))])
    respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[row(1)]))
    pages = await collect(connector([{"project_ids": [ACME_RETAINER]}]).window(date(2026, 11, 1), TODAY))
    assert [call.request.url.params["page"] for call in projects.calls] == ["1", "2"]
    assert "client_ids" not in projects.calls[0].request.url.params
    assert pages[0][0].client_key == "c0" and pages[0][0].project == "Retainer"


@respx.mock
async def test_entries_route_to_the_client_of_their_project() -> None:
    mock_lookups()
    respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[
        row(1, project_id=ACME_RETAINER), row(2, project_id=BIRCHWOOD_RETAINER), row(3, project_id=None)]))
    pages = await collect(connector().window(date(2026, 11, 1), TODAY))
    assert [(e.vendor_id, e.client_key) for p in pages for e in p] == [("1", "c0"), ("2", "c1"), ("3", None)]


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("answer", "error", "retry_after"),
    [
        pytest.param(httpx.Response(403), AuthError, None, id="403-credentials"),
        pytest.param(httpx.Response(401), AuthError, None, id="401-credentials"),
        pytest.param(httpx.Response(402, text="You have hit your hourly limit",
                                    headers={"X-Toggl-Quota-Remaining": "0", "X-Toggl-Quota-Resets-In": "1187"}),
                     RateLimited, 1187, id="402-quota-with-reset"),
        pytest.param(httpx.Response(402, text="limit"), RateLimited, None, id="402-quota-without-reset"),
        pytest.param(httpx.Response(429, headers={"Retry-After": "1"}), RateLimited, 1, id="429-leaky-bucket"),
        pytest.param(httpx.Response(400, text="end_date must not be earlier than start_date"), PayloadError, None,
                     id="400-bad-request"),
        pytest.param(httpx.Response(500, text="Internal Server Error"), TransientError, None, id="500"),
        pytest.param(httpx.Response(200, text="<html>"), PayloadError, None, id="not-json"),
        pytest.param(httpx.Response(200, json={"data": []}), PayloadError, None, id="not-a-list"),
        pytest.param(httpx.Response(200, json=[{"user_id": 1}]), PayloadError, None, id="row-without-entries"),
    ],
)
@respx.mock
async def test_toggls_answers_map_onto_the_error_vocabulary(answer: httpx.Response, error: type[Exception],
                                                            retry_after: float | None) -> None:
    respx.post(SEARCH).mock(return_value=answer)
    with pytest.raises(error) as caught:
        await collect(connector().window(date(2026, 11, 1), TODAY))
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == retry_after
    assert "tok-123" not in str(caught.value)


@respx.mock
async def test_a_402_with_a_short_reset_is_waited_out_and_the_search_retried() -> None:
    mock_lookups()
    sleeps: list[float] = []
    search = respx.post(SEARCH).mock(side_effect=[
        httpx.Response(402, headers={"X-Toggl-Quota-Remaining": "0", "X-Toggl-Quota-Resets-In": "5"}),
        httpx.Response(200, json=[row(1)], headers={"X-Toggl-Quota-Remaining": "20"}),
    ])
    pages = await collect(connector(attempts=4, sleeps=sleeps).window(date(2026, 11, 1), TODAY))
    assert [e.vendor_id for p in pages for e in p] == ["1"]
    assert search.call_count == 2 and sleeps == [5]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-Next-ID": "7"}, id="id-without-row-number"),
        pytest.param({"X-Next-Row-Number": "two"}, id="row-number-not-a-number"),
        pytest.param({"X-Next-Row-Number": "0"}, id="row-number-zero"),
        pytest.param({"X-Next-Row-Number": "1"}, id="paging-loop"),
    ],
)
@respx.mock
async def test_unreadable_or_looping_paging_headers_are_a_payload_error(headers: dict[str, str]) -> None:
    mock_lookups()
    respx.post(SEARCH).mock(side_effect=[
        httpx.Response(200, json=[row(1)], headers={"X-Next-Row-Number": "2"}),
        httpx.Response(200, json=[row(2)], headers=headers),
    ])
    with pytest.raises(PayloadError):
        await collect(connector().window(date(2026, 11, 1), TODAY))


@respx.mock
async def test_an_empty_page_that_says_more_follow_is_a_payload_error() -> None:
    respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[], headers={"X-Next-Row-Number": "51"}))
    with pytest.raises(PayloadError, match="empty report page"):
        await collect(connector().window(date(2026, 11, 1), TODAY))


@respx.mock
async def test_the_quota_headers_are_read_and_a_spent_quota_defers_before_a_doomed_request() -> None:
    mock_lookups()
    search = respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[row(1)], headers={
        "X-Next-Row-Number": "2", "X-Toggl-Quota-Remaining": "0", "X-Toggl-Quota-Resets-In": "1800"}))
    toggl = connector()
    with pytest.raises(RateLimited) as caught:
        await collect(toggl.window(date(2026, 11, 1), TODAY))
    assert caught.value.retry_after == 1800
    assert search.call_count == 1
    assert (toggl.quota.remaining, toggl.quota.resets_in) == (0, 1800)


@respx.mock
async def test_a_lookup_answering_something_else_than_a_list_is_a_payload_error() -> None:
    respx.get(PROJECTS).mock(return_value=httpx.Response(200, json={"projects": []}))
    respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[row(1)]))
    with pytest.raises(PayloadError, match="list of projects"):
        await collect(connector().window(date(2026, 11, 1), TODAY))


def test_the_auth_sends_basic_with_the_token_and_never_rewrites_an_answer() -> None:
    auth = TogglAuth(settings().api_token)
    flow = auth.auth_flow(httpx.Request("POST", SEARCH))
    request = next(flow)
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"tok-123:api_token").decode()
    quota_answer = httpx.Response(402, headers={"X-Toggl-Quota-Resets-In": "12.2"})
    with pytest.raises(StopIteration):
        flow.send(quota_answer)
    assert quota_answer.status_code == 402 and "Retry-After" not in quota_answer.headers
    assert "tok-123" not in repr(auth)


# ------------------------------------------------------------------------------------ webhooks


@respx.mock
async def test_the_connector_checks_its_subscription_secret_and_routes_events_with_cached_names() -> None:
    mock_lookups()
    respx.post(SEARCH).mock(return_value=httpx.Response(200, json=[row(1)]))
    toggl = connector(webhook_secret="whsec-xyz")
    await collect(toggl.window(date(2026, 11, 1), TODAY))  # fills the project and user caches
    event = {"event_id": 5, "created_at": "2026-11-18T12:00:00.000Z",
             "metadata": {"action": "created", "model": "time_entry", "workspace_id": str(WS)},
             "payload": {"id": 77, "workspace_id": WS, "project_id": BIRCHWOOD_RETAINER, "user_id": 30809356,
                         "start": "2026-11-18T09:00:00Z", "stop": "2026-11-18T10:00:00Z", "duration": 3600,
                         "description": "Swapped the UPS battery", "billable": True, "tags": [], "tag_ids": None,
                         "at": "2026-11-18T10:00:05+00:00", "server_deleted_at": None}}
    body = json.dumps(event).encode()
    assert toggl.verify_webhook(body, signature("whsec-xyz", body))
    assert not toggl.verify_webhook(body, signature("other", body))
    assert not connector().verify_webhook(body, signature("whsec-xyz", body))  # no secret configured
    parsed = toggl.parse_webhook(body)
    assert parsed.entry is not None
    assert (parsed.entry.client_key, parsed.entry.worker_name) == ("c1", "Ingrid Solberg")
