"""The HaloPSA sandbox speaks Halo's wire format: OAuth2, Tickets, Actions, Report SQL, throttle, faults, seed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from connectors.halopsa import sql
from connectors.halopsa.client import HaloSettings
from connectors.halopsa.sandbox import (
    RATE_LIMIT_TEXT,
    HaloDriver,
    HaloSandbox,
    ReportQuery,
    make_driver,
    parse_report_sql,
)

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # a Friday
BASE = "http://halo.sandbox"
FORM = {"grant_type": "client_credentials", "client_id": "syncd-sandbox", "client_secret": "sandbox-secret-0f9e",
        "scope": "all"}
AGENT_NAMES = ("Farah Haddad", "Mateus Carvalho", "Yuki Tanabe", "Oluwaseun Adeyemi", "Rhiannon Pryce")


class Clock:
    """A settable clock for the sandbox; tests move it instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sandbox(clock: Clock) -> HaloSandbox:
    return HaloSandbox(clock=clock)


@pytest.fixture
async def http(sandbox: HaloSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE) as client:
        yield client


async def get_token(http: httpx.AsyncClient, **changes: str) -> httpx.Response:
    return await http.post("/auth/token", params={"tenant": changes.pop("tenant", "northbridge")},
                           data={**FORM, **changes})


async def authed(http: httpx.AsyncClient) -> dict[str, str]:
    response = await get_token(http)
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def run_report(http: httpx.AsyncClient, headers: dict[str, str], query: str,
                     body: Any = None) -> httpx.Response:
    return await http.post("/api/Report", headers=headers,
                           json=body if body is not None else [{"_loadreportonly": True, "sql": query}])


def timed(sandbox: HaloSandbox, client_id: int = 12, hours: float = 1.0, **kwargs: Any) -> tuple[int, int]:
    """A new ticket with one timed action now; returns its (ticket, action)."""
    ticket_id = sandbox.add_ticket(client_id=client_id, summary="Printer offline")
    start = kwargs.pop("start", datetime.combine(NOW.date(), time(9, 0), UTC))
    action = sandbox.add_action(ticket_id, agent_id=21, note="Fixed it", hours=hours, start=start, **kwargs)
    return ticket_id, action["id"]


# ------------------------------------------------------------------------------------ OAuth2


async def test_the_token_endpoint_issues_an_opaque_bearer_token_with_expires_in(
        http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    response = await get_token(http)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "all"
    assert len(body["access_token"]) >= 32 and body["access_token"] != (await get_token(http)).json()["access_token"]
    assert sandbox.counters["token"] == 2


@pytest.mark.parametrize(("changes", "error"), [
    ({"client_secret": "wrong"}, "invalid_client"),
    ({"client_id": "someone-else"}, "invalid_client"),
    ({"tenant": "other-msp"}, "invalid_client"),
    ({"grant_type": "password"}, "unsupported_grant_type"),
])
async def test_the_token_endpoint_refuses_bad_client_credentials_with_oauth_errors(
        http: httpx.AsyncClient, changes: dict[str, str], error: str) -> None:
    response = await get_token(http, **changes)
    assert response.status_code == 400 and response.json()["error"] == error


async def test_the_token_endpoint_wants_a_form_body(http: httpx.AsyncClient) -> None:
    response = await http.post("/auth/token", params={"tenant": "northbridge"}, json=FORM)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer made-up"}, {"Authorization": "Basic eDp5"}])
async def test_api_calls_without_a_valid_bearer_token_are_401(
        http: httpx.AsyncClient, sandbox: HaloSandbox, headers: dict[str, str]) -> None:
    response = await http.get("/api/Tickets", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert sandbox.counters["401"] == 1


async def test_a_token_expires_after_expires_in_by_the_clock(http: httpx.AsyncClient, clock: Clock) -> None:
    headers = await authed(http)
    clock.advance(seconds=3599)
    assert (await http.get("/api/Tickets", headers=headers)).status_code == 200
    clock.advance(seconds=1)
    assert (await http.get("/api/Tickets", headers=headers)).status_code == 401


async def test_expire_tokens_invalidates_issued_tokens_but_not_the_credentials(
        http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    headers = await authed(http)
    sandbox.expire_tokens()
    assert (await http.get("/api/Tickets", headers=headers)).status_code == 401
    assert (await http.get("/api/Tickets", headers=await authed(http))).status_code == 200


async def test_fail_auth_refuses_the_client_and_revokes_every_token_until_turned_off(
        http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    headers = await authed(http)
    sandbox.fail_auth(True)
    assert (await http.get("/api/Tickets", headers=headers)).status_code == 401
    assert (await get_token(http)).json() == {"error": "invalid_client"}
    sandbox.fail_auth(False)
    assert (await http.get("/api/Tickets", headers=headers)).status_code == 401  # revoked stays revoked
    assert (await http.get("/api/Tickets", headers=await authed(http))).status_code == 200


# ------------------------------------------------------------------------------------ Tickets


async def test_tickets_page_with_pageinate_page_size_and_page_no(http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    ids = [sandbox.add_ticket(client_id=12, summary=f"T{i}") for i in range(7)]
    headers = await authed(http)
    pages = []
    for page_no in (1, 2, 3):
        response = await http.get("/api/Tickets", headers=headers,
                                  params={"pageinate": "true", "page_size": 3, "page_no": page_no})
        pages.append(response.json())
    assert [p["record_count"] for p in pages] == [7, 7, 7]
    assert [p["page_no"] for p in pages] == [1, 2, 3] and pages[0]["page_size"] == 3
    assert [t["id"] for p in pages for t in p["tickets"]] == ids


@pytest.mark.parametrize(("params", "message"), [
    ({"pageinate": "true", "page_size": 101}, "page_size must be between 1 and 100"),
    ({"pageinate": "true", "page_size": 0}, "page_size"),
    ({"pageinate": "true", "page_no": 0}, "page_no"),
    ({"client_ids": "12,x"}, "client_ids"),
    ({"lastupdatefromdate": "last tuesday"}, "lastupdatefromdate"),
    ({"pageinate": "maybe"}, "pageinate"),
])
async def test_bad_ticket_listing_parameters_are_400(
        http: httpx.AsyncClient, params: dict[str, Any], message: str) -> None:
    response = await http.get("/api/Tickets", headers=await authed(http), params=params)
    assert response.status_code == 400 and message in response.json()


async def test_tickets_filter_on_last_update_and_on_clients(
        http: httpx.AsyncClient, sandbox: HaloSandbox, clock: Clock) -> None:
    old = sandbox.add_ticket(client_id=12, summary="Old")
    clock.advance(hours=1)
    acme, birch, cobalt = (sandbox.add_ticket(client_id=c, summary="New") for c in (12, 13, 14))

    async def ids(**params: Any) -> list[int]:
        response = await http.get("/api/Tickets", headers=await authed(http), params={"pageinate": "true", **params})
        return [t["id"] for t in response.json()["tickets"]]

    since = (NOW + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
    assert await ids(lastupdatefromdate=since) == [acme, birch, cobalt]
    assert await ids(client_ids="12,13") == [old, acme, birch]
    assert await ids(client_id=14) == [cobalt]
    assert await ids(lastupdatefromdate=since, client_ids="12") == [acme]
    clock.advance(hours=1)
    sandbox.add_action(old, agent_id=21, note="Picked it up", hours=0.5)  # an action updates its ticket
    assert await ids(lastupdatefromdate=(clock.now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")) == [old]


async def test_deleted_tickets_are_not_listed(http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    gone = sandbox.add_ticket(client_id=12, summary="Duplicate")
    sandbox.delete_ticket(gone)
    response = await http.get("/api/Tickets", headers=await authed(http))
    assert response.json() == {"record_count": 0, "tickets": []}


# ------------------------------------------------------------------------------------ Actions


async def test_actions_list_one_tickets_actions_and_can_exclude_system_ones(
        http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    ticket_id, _ = timed(sandbox)
    sandbox.add_action(ticket_id, who="System", note="Status changed", system=True)
    headers = await authed(http)
    everything = (await http.get("/api/Actions", headers=headers, params={"ticket_id": ticket_id})).json()
    assert everything["record_count"] == 2 and [a["id"] for a in everything["actions"]] == [1, 2]
    quiet = (await http.get("/api/Actions", headers=headers,
                            params={"ticket_id": ticket_id, "excludesys": "true"})).json()
    assert [a["id"] for a in quiet["actions"]] == [1]
    action = quiet["actions"][0]
    assert action["ticket_id"] == ticket_id and action["who"] == "Farah Haddad" and action["who_agentid"] == 21
    assert action["timetaken"] == 1.0 and action["actionarrivaldate"] == "2026-11-20T09:00:00.000"
    assert action["datetime"] == "2026-11-20T10:00:00.000" and action["last_updated"] == "2026-11-20T15:00:00.000"
    assert not any(key.startswith("_") for key in action)


async def test_actions_filter_on_dates_and_count_limits_but_record_count_tells_the_total(
        http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    early = timed(sandbox, start=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    late = timed(sandbox, start=datetime(2026, 11, 18, 9, 0, tzinfo=UTC))
    headers = await authed(http)
    window = (await http.get("/api/Actions", headers=headers,
                             params={"startdate": "2026-11-10T00:00:00", "enddate": "2026-11-20T00:00:00"})).json()
    assert [(a["ticket_id"], a["id"]) for a in window["actions"]] == [late]
    capped = (await http.get("/api/Actions", headers=headers, params={"count": 1})).json()
    assert capped["record_count"] == 2 and [(a["ticket_id"], a["id"]) for a in capped["actions"]] == [early]


async def test_actions_of_an_unknown_ticket_are_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/Actions", headers=await authed(http), params={"ticket_id": 999})
    assert response.status_code == 404


# ------------------------------------------------------------------------------------ Report


async def test_a_changed_since_report_returns_timed_actions_of_the_clients_as_aliased_rows(
        http: httpx.AsyncClient, sandbox: HaloSandbox, clock: Clock) -> None:
    before = timed(sandbox)
    clock.advance(minutes=10)
    changed = timed(sandbox, travel_hours=0.5, ooh_hours=1.0, chargerate=2)
    other_client = timed(sandbox, client_id=15)
    sandbox.add_action(changed[0], agent_id=22, note="Email sent to user")  # no time: not listed
    response = await run_report(http, await authed(http),
                                sql.changed_since(NOW + timedelta(minutes=5), [12, 13], top=1000))
    assert response.status_code == 200
    body = response.json()
    assert body["report"]["loaded"] is True and body["report"]["load_error"] == ""
    rows = body["report"]["rows"]
    assert [(r["ticket_id"], r["id"]) for r in rows] == [changed]
    assert before not in [(r["ticket_id"], r["id"]) for r in rows] and other_client[0] != rows[0]["ticket_id"]
    assert rows[0] == {
        "ticket_id": changed[0], "id": 1, "who": "Farah Haddad", "who_agentid": 21,
        "datetime": "2026-11-20T10:00:00.000", "actionarrivaldate": "2026-11-20T09:00:00.000", "timetaken": 1.0,
        "nonbilltime": 0.0, "actionchargehours": 0.0, "traveltime": 0.5, "actionoohtime": 1.0,
        "hiddenfromuser": False, "note": "Fixed it", "chargerate": 2, "last_updated": "2026-11-20T15:10:00.000",
        "client_id": 12, "ticket_summary": "Printer offline", "tickettype_id": 1, "tickettype_name": "Incident",
        "rows_left": 1,
    }


async def test_a_ticket_moved_to_another_client_is_in_the_next_changed_report(
        http: httpx.AsyncClient, sandbox: HaloSandbox, clock: Clock) -> None:
    moved = timed(sandbox, client_id=12)
    clock.advance(hours=1)
    sandbox.move_ticket(moved[0], 13)
    rows = (await run_report(http, await authed(http), sql.changed_since(
        clock.now - timedelta(minutes=1), [12, 13], top=1000))).json()["report"]["rows"]
    assert [(r["ticket_id"], r["id"], r["client_id"], r["last_updated"]) for r in rows] == [
        (moved[0], moved[1], 13, "2026-11-20T15:00:00.000")]  # the action's own stamp is unchanged


async def test_a_worked_between_report_filters_on_the_work_start_day(
        http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    inside = timed(sandbox, start=datetime(2026, 11, 10, 23, 30, tzinfo=UTC))
    timed(sandbox, start=datetime(2026, 11, 11, 0, 0, tzinfo=UTC))  # the day after the window
    timed(sandbox, start=datetime(2026, 11, 4, 23, 59, tzinfo=UTC))  # the day before
    no_arrival = sandbox.add_ticket(client_id=12, summary="Quick call")
    sandbox.add_action(no_arrival, agent_id=23, note="Call", hours=0.25, logged=datetime(2026, 11, 7, 12, tzinfo=UTC))
    rows = (await run_report(http, await authed(http), sql.worked_between(
        date(2026, 11, 5), date(2026, 11, 10), [12], top=1000))).json()["report"]["rows"]
    assert [(r["ticket_id"], r["id"]) for r in rows] == [inside, (no_arrival, 1)]


async def test_report_pages_continue_after_the_keyset_position(http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    keys = [timed(sandbox) for _ in range(5)]
    headers = await authed(http)
    first = (await run_report(http, headers, sql.worked_between(NOW.date(), None, [12], top=2))).json()
    rest = (await run_report(http, headers, sql.worked_between(
        NOW.date(), None, [12], top=10, after=sql.After(*keys[1])))).json()
    assert [(r["ticket_id"], r["id"]) for r in first["report"]["rows"]] == keys[:2]
    assert [(r["ticket_id"], r["id"]) for r in rest["report"]["rows"]] == keys[2:]
    # Each row counts the rows matching from its page on: whether more follow is the report's word.
    assert {r["rows_left"] for r in first["report"]["rows"]} == {5}
    assert {r["rows_left"] for r in rest["report"]["rows"]} == {3}


async def test_deleted_tickets_and_deleted_actions_leave_the_report(http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    ticket_gone, action_gone, kept = timed(sandbox), timed(sandbox), timed(sandbox)
    sandbox.delete_ticket(ticket_gone[0])
    sandbox.delete_action(*action_gone)
    rows = (await run_report(http, await authed(http), sql.worked_between(
        NOW.date(), NOW.date(), [12], top=1000))).json()["report"]["rows"]
    assert [(r["ticket_id"], r["id"]) for r in rows] == [kept]


@pytest.mark.parametrize("body", [
    [{"sql": "SELECT * FROM ACTIONS"}],
    {"_loadreportonly": True, "sql": "SELECT TOP 5 * FROM ACTIONS"},
    [{"_loadreportonly": True, "sql": sql.changed_since(NOW, [12], top=5) + "; DROP TABLE FAULTS"}],
    [{"_loadreportonly": True, "sql": sql.changed_since(NOW, [12], top=5).replace("a.note AS note", "a.note AS x")}],
    [{"_loadreportonly": True}],
    [{"sql": sql.changed_since(NOW, [12], top=5)}],
    "not a report",
])
async def test_any_other_report_body_or_sql_is_400(http: httpx.AsyncClient, body: Any) -> None:
    response = await run_report(http, await authed(http), "", body=body)
    assert response.status_code == 400


def test_the_sandbox_parses_the_connectors_sql_shapes() -> None:
    since = datetime(2026, 11, 20, 10, 0, 0, 123000, tzinfo=UTC)
    assert parse_report_sql(sql.changed_since(since, [13, 12], top=1000, after=sql.After(4101, 3))) == ReportQuery(
        top=1000, clients=frozenset({12, 13}), since=since.timestamp(), after=(4101, 3))
    assert parse_report_sql(sql.worked_between(date(2026, 11, 1), date(2026, 11, 30), [12], top=7)) == ReportQuery(
        top=7, clients=frozenset({12}), start=datetime(2026, 11, 1, tzinfo=UTC).timestamp(),
        end=datetime(2026, 12, 1, tzinfo=UTC).timestamp())
    spread = sql.worked_between(date(2026, 11, 1), None, [12], top=7).replace(" WHERE ", "\n  WHERE\n ")
    assert parse_report_sql(spread).start == datetime(2026, 11, 1, tzinfo=UTC).timestamp()


# ------------------------------------------------------------------------------------ throttle


async def test_past_300_requests_in_a_rolling_5_minutes_halo_answers_429_without_retry_after(
        http: httpx.AsyncClient, sandbox: HaloSandbox, clock: Clock) -> None:
    headers = await authed(http)
    for i in range(300):
        if i == 150:
            clock.advance(seconds=150)
        assert (await http.get("/api/Tickets", headers=headers)).status_code == 200
    refused = await http.get("/api/Tickets", headers=headers)
    assert refused.status_code == 429 and refused.text == RATE_LIMIT_TEXT
    assert "retry-after" not in refused.headers
    clock.advance(seconds=150)  # the first 150 leave the window; the 429 took no slot
    assert (await http.get("/api/Tickets", headers=headers)).status_code == 200
    assert sandbox.counters["429"] == 1


async def test_throttle_next_answers_the_next_api_requests_429_but_not_the_token_endpoint(
        http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    sandbox.throttle_next(2)
    headers = await authed(http)
    assert [(await http.get("/api/Tickets", headers=headers)).status_code for _ in range(3)] == [429, 429, 200]


# ------------------------------------------------------------------------------------ faults


async def test_fail_next_breaks_time_entry_listings_only_and_zero_clears_it(
        http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    timed(sandbox)
    headers = await authed(http)
    query = sql.worked_between(NOW.date(), None, [12], top=10)
    sandbox.fail_next(3, "5xx")
    assert (await http.get("/api/Tickets", headers=headers)).status_code == 200
    assert (await run_report(http, headers, query)).status_code == 500
    assert (await http.get("/api/Actions", headers=headers, params={"ticket_id": 4101})).status_code == 502
    sandbox.fail_next(2, "malformed")  # replaces what is still queued
    malformed = await run_report(http, headers, query)
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    sandbox.fail_next(0, "malformed")
    assert len((await run_report(http, headers, query)).json()["report"]["rows"]) == 1
    with pytest.raises(ValueError, match="unknown fault"):
        sandbox.fail_next(1, "gremlins")


async def test_answer_empty_empties_reports_and_action_listings(http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    ticket_id, _ = timed(sandbox)
    headers = await authed(http)
    sandbox.answer_empty(True)
    assert (await run_report(http, headers, sql.worked_between(NOW.date(), None, [12], top=10))
            ).json()["report"]["rows"] == []
    assert (await http.get("/api/Actions", headers=headers, params={"ticket_id": ticket_id})
            ).json() == {"record_count": 0, "actions": []}
    sandbox.answer_empty(False)
    assert len((await run_report(http, headers, sql.worked_between(NOW.date(), None, [12], top=10))
                ).json()["report"]["rows"]) == 1


async def test_counters_count_requests_tokens_listings_and_401s(http: httpx.AsyncClient, sandbox: HaloSandbox) -> None:
    headers = await authed(http)
    await http.get("/api/Tickets", headers=headers)
    await run_report(http, headers, sql.worked_between(NOW.date(), None, [12], top=10))
    await http.get("/api/Tickets")
    assert (sandbox.counters["requests"], sandbox.counters["token"], sandbox.counters["time_entries"],
            sandbox.counters["401"]) == (4, 1, 1, 1)


# ------------------------------------------------------------------------------------ mutations


def test_editing_an_action_bumps_its_and_its_tickets_last_update(sandbox: HaloSandbox, clock: Clock) -> None:
    ticket_id, action_id = timed(sandbox)
    clock.advance(minutes=5)
    edited = sandbox.edit_action(ticket_id, action_id, timetaken=1.5, note="Fixed it properly")
    assert edited["timetaken"] == edited["timetakenadjusted"] == 1.5 and edited["note"] == "Fixed it properly"
    assert edited["last_updated"] == sandbox.tickets[ticket_id]["last_update"] == "2026-11-20T15:05:00.000"
    with pytest.raises(TypeError, match="unknown"):
        sandbox.edit_action(ticket_id, action_id, colour="red")


def test_action_numbers_count_up_per_ticket(sandbox: HaloSandbox) -> None:
    first = sandbox.add_ticket(client_id=12, summary="A")
    second = sandbox.add_ticket(client_id=13, summary="B")
    numbers = [sandbox.add_action(t, agent_id=21, note="x", hours=0.25)["id"] for t in (first, first, second)]
    assert numbers == [1, 2, 1]


def test_the_seed_is_deterministic_and_realistic(clock: Clock) -> None:
    one, two = HaloSandbox(clock=clock), HaloSandbox(clock=clock)
    one.seed(now=NOW)
    two.seed(now=NOW)
    assert one.actions == two.actions and one.tickets == two.tickets
    actions = list(one.actions.values())
    timed_actions = [a for a in actions if a["timetaken"] > 0]
    assert len(timed_actions) > 200
    notes = " ".join(a["note"] for a in timed_actions if not a["hiddenfromuser"])
    assert any(name.split()[0] in notes for name in AGENT_NAMES)  # notes name technicians
    assert {a["who"] for a in timed_actions} == set(AGENT_NAMES)
    assert any(a["hiddenfromuser"] and a["timetaken"] > 0 for a in actions)  # internal work with time
    assert any(a["hiddenfromuser"] and a["timetaken"] == 0 for a in actions)  # private notes
    assert any(a["traveltime"] > 0 for a in actions)
    assert any(a["actionoohtime"] > 0 for a in actions)
    assert any(a["nonbilltime"] == a["timetaken"] > 0 for a in actions)
    assert any(0 < a["nonbilltime"] < a["timetaken"] for a in actions)
    assert any(a["actionchargehours"] > 0 for a in actions)
    assert any("<p>" in a["note"] for a in timed_actions)
    assert any(a["timetaken"] == 0 and not a["hiddenfromuser"] for a in actions)  # emails, system actions
    assert all(datetime.fromisoformat(a["last_updated"]).replace(tzinfo=UTC) <= NOW for a in actions)


def test_twenty_thousand_actions_are_served_and_paged(clock: Clock) -> None:
    sandbox = HaloSandbox(clock=clock)
    ticket_ids = [sandbox.add_ticket(client_id=12 + i % 4, summary="Bulk") for i in range(5000)]
    for i in range(20_000):
        sandbox.add_action(ticket_ids[i % 5000], agent_id=21, note="Bulk work", hours=0.25)
    query = parse_report_sql(sql.worked_between(NOW.date(), None, [12, 13, 14, 15], top=1000))
    keys = sandbox._select_report(query)
    assert len(keys) == 20_000 and keys == sorted(keys)


# ------------------------------------------------------------------------------------ driver


def test_the_driver_account_is_valid_halo_settings(clock: Clock) -> None:
    driver = make_driver(clock)
    account = HaloSettings.model_validate(driver.account("http://sandbox.test"))
    assert account.base_url == "http://sandbox.test" and account.token_url() == "http://sandbox.test/auth/token"
    assert len(driver.selectors()) >= 2 and driver.workers == list(AGENT_NAMES)


def test_the_driver_adds_edits_moves_and_deletes_entries_by_the_stored_vendor_id(clock: Clock) -> None:
    driver: HaloDriver = make_driver(clock)
    vendor_id = driver.add_entry(1, hours=1.25, notes="Set up the scanner", day=NOW.date(), start=time(10, 0),
                                 internal_notes="Private: left the admin logged in", worker=2)
    ticket_id, action_id = (int(part) for part in vendor_id.split(":"))
    action = driver.sandbox.actions[(ticket_id, action_id)]
    assert (action["timetaken"], action["who"], action["note"]) == (1.25, "Yuki Tanabe", "Set up the scanner")
    assert action["actionarrivaldate"] == "2026-11-20T10:00:00.000"
    private = driver.sandbox.actions[(ticket_id, action_id + 1)]
    assert private["hiddenfromuser"] is True and private["timetaken"] == 0
    assert driver.sandbox.tickets[ticket_id]["client_id"] == 13
    driver.edit_entry(vendor_id, hours=2.0, client=2, notes="Set up both scanners")
    assert (action["timetaken"], action["note"]) == (2.0, "Set up both scanners")
    assert driver.sandbox.tickets[ticket_id]["client_id"] == 14
    driver.delete_entry(vendor_id)
    assert (ticket_id, action_id) not in driver.sandbox.actions


def test_an_entry_without_a_start_is_dated_by_its_action_date(clock: Clock) -> None:
    driver = make_driver(clock)
    vendor_id = driver.add_entry(0, hours=0.5, notes="Quick call", day=date(2026, 11, 18))
    ticket_id, action_id = (int(part) for part in vendor_id.split(":"))
    action = driver.sandbox.actions[(ticket_id, action_id)]
    assert action["datetime"] == "2026-11-18T12:00:00.000" and action["actionarrivaldate"] == "1900-01-01T00:00:00"


def test_deleting_a_travel_entry_clears_the_travel_time_only(clock: Clock) -> None:
    driver = make_driver(clock)
    key = timed(driver.sandbox, travel_hours=0.5)
    driver.delete_entry(f"{key[0]}:{key[1]}:travel")
    assert driver.sandbox.actions[key]["traveltime"] == 0 and driver.sandbox.actions[key]["timetaken"] == 1.0
