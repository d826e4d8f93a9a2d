"""The Harvest sandbox speaks Harvest's wire format: auth, filters, paging, rate limits, faults, seed."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connectors.harvest.sandbox import HarvestSandbox

NOW = datetime(2026, 11, 20, 15, 4, 5, tzinfo=UTC)  # a Friday
BASE = "https://api.harvestapp.com"
HEADERS = {
    "Authorization": "Bearer sandbox-token",
    "Harvest-Account-Id": "100200",
    "User-Agent": "syncd-tests (ops@example.com)",
}
TECH_FIRST_NAMES = ("Priya", "Tomasz", "Aoife", "Marcus", "Sven")


class Clock:
    """A settable clock for the sandbox; tests move it instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sandbox(clock: Clock) -> HarvestSandbox:
    return HarvestSandbox(clock=clock)


@pytest.fixture
async def client(sandbox: HarvestSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(sandbox) as http:
        yield http


def _client(sandbox: HarvestSandbox, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE, headers={**HEADERS, **headers}
    )


async def list_all(http: httpx.AsyncClient, **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Follow links.next from the first page; returns (entries, page envelopes)."""
    response = await http.get("/v2/time_entries", params=params)
    pages = []
    while True:
        assert response.status_code == 200, response.text
        pages.append(response.json())
        next_url = pages[-1]["links"]["next"]
        if next_url is None:
            break
        response = await http.get(next_url)
    return [entry for page in pages for entry in page["time_entries"]], pages


# ------------------------------------------------------------------------------------ auth


@pytest.mark.parametrize(
    "override",
    [
        {"Authorization": None},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Basic c2FuZGJveC10b2tlbg=="},
        {"Harvest-Account-Id": None},
        {"Harvest-Account-Id": "999"},
    ],
    ids=["no-token", "bad-token", "not-bearer", "no-account-header", "wrong-account"],
)
async def test_bad_credentials_answer_401_with_harvests_error_body(
    sandbox: HarvestSandbox, override: dict[str, str | None]
) -> None:
    async with _client(sandbox) as http:
        for name, value in override.items():
            if value is None:
                del http.headers[name]
            else:
                http.headers[name] = value
        response = await http.get("/v2/time_entries")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert "error_description" in response.json()
    assert sandbox.counters["401"] == 1
    assert sandbox.counters["requests"] == 1
    assert sandbox.counters["time_entries"] == 0


@pytest.mark.parametrize("blank", [True, False], ids=["blank", "absent"])
async def test_missing_user_agent_is_a_400(sandbox: HarvestSandbox, blank: bool) -> None:
    async with _client(sandbox) as http:
        if blank:
            http.headers["User-Agent"] = " "
        else:
            del http.headers["User-Agent"]
        response = await http.get("/v2/time_entries")
    assert response.status_code == 400
    assert sandbox.counters["time_entries"] == 0


async def test_fail_auth_refuses_good_credentials_until_switched_off(
    sandbox: HarvestSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.fail_auth()
    refused = await client.get("/v2/time_entries")
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    sandbox.fail_auth(False)
    assert (await client.get("/v2/time_entries")).status_code == 200
    assert sandbox.counters["401"] == 1
    assert sandbox.counters["time_entries"] == 1


# ------------------------------------------------------------------------------------ filters


async def test_updated_since_is_inclusive_to_the_second(
    sandbox: HarvestSandbox, client: httpx.AsyncClient, clock: Clock
) -> None:
    old = sandbox.add_entry(client_id=5001)
    clock.advance(minutes=10)
    new = sandbox.add_entry(client_id=5002)
    boundary = NOW + timedelta(minutes=10)

    at_boundary, _ = await list_all(client, updated_since=iso(boundary))
    with_offset, _ = await list_all(client, updated_since=boundary.astimezone(timezone(timedelta(hours=2))).isoformat())
    after, _ = await list_all(client, updated_since=iso(boundary + timedelta(seconds=1)))
    everything, _ = await list_all(client, updated_since=iso(NOW - timedelta(days=1)))

    assert [e["id"] for e in at_boundary] == [new["id"]]
    assert [e["id"] for e in with_offset] == [new["id"]]  # 17:14:05+02:00 is 15:14:05Z
    assert after == []
    assert {e["id"] for e in everything} == {old["id"], new["id"]}


async def test_unparseable_updated_since_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/time_entries", params={"updated_since": "last tuesday"})
    assert response.status_code == 422
    assert "updated_since" in response.json()["message"]


async def test_from_and_to_bound_spent_date_inclusively(sandbox: HarvestSandbox, client: httpx.AsyncClient) -> None:
    days = [date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)]
    ids = {d: sandbox.add_entry(client_id=5001, spent_date=d)["id"] for d in days}

    only_middle, _ = await list_all(client, **{"from": "2026-11-03", "to": "2026-11-03"})
    from_middle, _ = await list_all(client, **{"from": "2026-11-03"})
    to_middle, _ = await list_all(client, to="2026-11-03")

    assert [e["id"] for e in only_middle] == [ids[days[1]]]
    assert [e["id"] for e in from_middle] == [ids[days[2]], ids[days[1]]]
    assert [e["id"] for e in to_middle] == [ids[days[1]], ids[days[0]]]


async def test_client_project_and_user_filters(sandbox: HarvestSandbox, client: httpx.AsyncClient) -> None:
    acme = sandbox.add_entry(client_id=5001, user_id=9002)
    acme_maintenance = sandbox.add_entry(client_id=5001, task_id=3003, user_id=9003)
    cobalt = sandbox.add_entry(client_id=5003, user_id=9002)

    by_client, _ = await list_all(client, client_id=5001)
    by_project, _ = await list_all(client, project_id=7101)
    by_user, _ = await list_all(client, user_id=9002)
    combined, _ = await list_all(client, client_id=5003, user_id=9002, updated_since=iso(NOW))

    assert {e["id"] for e in by_client} == {acme["id"], acme_maintenance["id"]}
    assert acme_maintenance["project"]["id"] == 7101  # maintenance work lands on the maintenance project
    assert [e["id"] for e in by_project] == [acme_maintenance["id"]]
    assert {e["id"] for e in by_user} == {acme["id"], cobalt["id"]}
    assert [e["id"] for e in combined] == [cobalt["id"]]


async def test_is_running_filter(sandbox: HarvestSandbox, client: httpx.AsyncClient) -> None:
    running = sandbox.add_entry(client_id=5004, is_running=True, started_time="2:30pm")
    stopped = sandbox.add_entry(client_id=5004)

    only_running, _ = await list_all(client, is_running="true")
    only_stopped, _ = await list_all(client, is_running="false")

    assert [e["id"] for e in only_running] == [running["id"]]
    assert running["timer_started_at"] == iso(NOW) and running["ended_time"] is None
    assert [e["id"] for e in only_stopped] == [stopped["id"]]


async def test_listing_order_is_spent_date_desc_then_newest_created(
    sandbox: HarvestSandbox, client: httpx.AsyncClient, clock: Clock
) -> None:
    first_today = sandbox.add_entry(client_id=5001, spent_date=date(2026, 11, 20))
    yesterday = sandbox.add_entry(client_id=5001, spent_date=date(2026, 11, 19))
    clock.advance(minutes=5)
    second_today = sandbox.add_entry(client_id=5001, spent_date=date(2026, 11, 20))

    entries, _ = await list_all(client)

    assert [e["id"] for e in entries] == [second_today["id"], first_today["id"], yesterday["id"]]


async def test_seeded_listing_is_sorted_and_complete(sandbox: HarvestSandbox, client: httpx.AsyncClient) -> None:
    sandbox.seed(now=NOW)
    entries, _ = await list_all(client, per_page=100)
    keys = [(e["spent_date"], e["created_at"], e["id"]) for e in entries]
    assert keys == sorted(keys, reverse=True)
    assert len(entries) == len(sandbox.entries) == len({e["id"] for e in entries})


# ------------------------------------------------------------------------------------ paging


async def test_4500_entries_take_exactly_three_pages_chained_by_links(
    sandbox: HarvestSandbox, client: httpx.AsyncClient
) -> None:
    for i in range(4500):
        sandbox.add_entry(client_id=5001 + i % 4, spent_date=date(2026, 11, 1) + timedelta(days=i % 19))

    entries, pages = await list_all(client, **{"from": "2026-11-01"})

    assert sandbox.counters["time_entries"] == 3
    assert [len(p["time_entries"]) for p in pages] == [2000, 2000, 500]
    assert len({e["id"] for e in entries}) == 4500
    first, second, last = pages
    assert (first["page"], first["total_pages"], first["total_entries"], first["per_page"]) == (1, 3, 4500, 2000)
    assert (first["next_page"], first["previous_page"]) == (2, None)
    assert (second["next_page"], second["previous_page"]) == (3, 1)
    assert (last["page"], last["next_page"], last["previous_page"]) == (3, None, 2)
    assert last["links"]["next"] is None
    next_link = urlsplit(first["links"]["next"])
    assert f"{next_link.scheme}://{next_link.netloc}{next_link.path}" == f"{BASE}/v2/time_entries"
    assert parse_qs(next_link.query) == {
        "from": ["2026-11-01"], "page": ["2"], "per_page": ["2000"], "ref": ["next"]}
    assert parse_qs(urlsplit(first["links"]["last"]).query)["page"] == ["3"]
    assert parse_qs(urlsplit(last["links"]["previous"]).query)["page"] == ["2"]


async def test_empty_listing_is_one_page_and_one_request(sandbox: HarvestSandbox, client: httpx.AsyncClient) -> None:
    entries, pages = await list_all(client, updated_since=iso(NOW))

    assert entries == []
    assert sandbox.counters["time_entries"] == 1
    page = pages[0]
    assert (page["page"], page["total_pages"], page["total_entries"]) == (1, 1, 0)
    assert page["links"]["next"] is None and page["next_page"] is None
    assert parse_qs(urlsplit(page["links"]["last"]).query)["page"] == ["1"]


@pytest.mark.parametrize("per_page", ["0", "2001", "lots"])
async def test_per_page_outside_1_to_2000_is_a_422(client: httpx.AsyncClient, per_page: str) -> None:
    response = await client.get("/v2/time_entries", params={"per_page": per_page})
    assert response.status_code == 422
    assert "per_page" in response.json()["message"]


async def test_small_pages_partition_the_listing(sandbox: HarvestSandbox, client: httpx.AsyncClient) -> None:
    for day in range(1, 8):
        sandbox.add_entry(client_id=5002, spent_date=date(2026, 11, day))
    entries, pages = await list_all(client, per_page=3)
    assert [len(p["time_entries"]) for p in pages] == [3, 3, 1]
    assert [e["spent_date"] for e in entries] == [f"2026-11-0{d}" for d in range(7, 0, -1)]


# ------------------------------------------------------------------------------------ rate limit


async def test_rate_limit_is_a_sliding_window_on_the_injected_clock(clock: Clock) -> None:
    sandbox = HarvestSandbox(clock=clock, rate_limit=3, rate_period=15.0)
    async with _client(sandbox) as http:
        for _ in range(3):
            assert (await http.get("/v2/time_entries")).status_code == 200
            clock.advance(seconds=1)  # requests at t=0, 1, 2

        throttled = await http.get("/v2/time_entries")  # t=3
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "12"  # the t=0 slot frees at t=15
        assert throttled.content == b""

        clock.advance(seconds=11.5)  # t=14.5
        assert (await http.get("/v2/time_entries")).headers["Retry-After"] == "1"

        clock.advance(seconds=0.5)  # t=15: the first request has left the window
        assert (await http.get("/v2/time_entries")).status_code == 200
        assert (await http.get("/v2/time_entries")).status_code == 429  # t=1, 2, 15 fill it again

    assert sandbox.counters["429"] == 3
    assert sandbox.counters["time_entries"] == 4
    assert sandbox.counters["requests"] == 7


async def test_throttle_next_answers_429_for_exactly_n_requests(
    sandbox: HarvestSandbox, client: httpx.AsyncClient
) -> None:
    sandbox.throttle_next(2, retry_after=7)
    responses = [await client.get("/v2/time_entries") for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert [r.headers.get("Retry-After") for r in responses[:2]] == ["7", "7"]
    assert sandbox.counters["429"] == 2


# ------------------------------------------------------------------------------------ changes


async def test_edit_shows_up_in_incremental_listing_with_bumped_updated_at(
    sandbox: HarvestSandbox, client: httpx.AsyncClient, clock: Clock
) -> None:
    entry = sandbox.add_entry(client_id=5001, hours=1.0, started_time="9:00am", notes="Reset MFA")
    clock.advance(hours=1)
    sandbox.edit_entry(entry["id"], hours=2.5, notes="Reset MFA for the front desk")

    changed, _ = await list_all(client, updated_since=iso(NOW + timedelta(hours=1)))

    assert len(changed) == 1
    edited = changed[0]
    assert edited["id"] == entry["id"]
    assert (edited["hours"], edited["rounded_hours"], edited["notes"]) == (2.5, 2.5, "Reset MFA for the front desk")
    assert edited["ended_time"] == "11:30am"
    assert edited["created_at"] == iso(NOW)
    assert edited["updated_at"] == iso(NOW + timedelta(hours=1))


async def test_moving_an_entry_to_another_client(sandbox: HarvestSandbox, client: httpx.AsyncClient) -> None:
    entry = sandbox.add_entry(client_id=5001)
    sandbox.edit_entry(entry["id"], client_id=5003)

    acme, _ = await list_all(client, client_id=5001)
    cobalt, _ = await list_all(client, client_id=5003)

    assert acme == []
    assert [e["id"] for e in cobalt] == [entry["id"]]
    assert cobalt[0]["client"]["name"] == "Cobalt Logistics"
    assert cobalt[0]["project"]["id"] == 7003  # the client's first project, the retainer


def test_moving_by_project_follows_the_projects_client(sandbox: HarvestSandbox) -> None:
    entry = sandbox.add_entry(client_id=5001)
    sandbox.edit_entry(entry["id"], project_id=7102)
    assert (entry["client"]["id"], entry["project"]["name"]) == (5002, "Scheduled maintenance")
    with pytest.raises(ValueError):
        sandbox.edit_entry(entry["id"], client_id=5004, project_id=7101)
    with pytest.raises(TypeError):
        sandbox.edit_entry(entry["id"], colour="red")


async def test_deleted_entries_vanish_from_listings(
    sandbox: HarvestSandbox, client: httpx.AsyncClient
) -> None:
    keep = sandbox.add_entry(client_id=5001)
    gone = sandbox.add_entry(client_id=5001)
    before, _ = await list_all(client)  # warms the selection cache; delete must invalidate it
    sandbox.delete_entry(gone["id"])
    after, _ = await list_all(client)

    assert len(before) == 2
    assert [e["id"] for e in after] == [keep["id"]]
    assert (await client.get(f"/v2/time_entries/{gone['id']}")).json() == {"status": 404, "error": "Not Found"}


# ------------------------------------------------------------------------------------ wire shape


async def test_entry_has_harvests_full_wire_shape(sandbox: HarvestSandbox, client: httpx.AsyncClient) -> None:
    sandbox.add_entry(client_id=5002, user_id=9004, task_id=3002, hours=1.33, started_time="3:00pm",
                      notes="Cabled two points")
    entries, _ = await list_all(client)
    entry = entries[0]
    assert list(entry) == [
        "id", "spent_date", "hours", "hours_without_timer", "rounded_hours", "notes", "is_locked",
        "locked_reason", "approval_status", "is_closed", "is_billed", "timer_started_at", "started_time",
        "ended_time", "is_running", "billable", "budgeted", "billable_rate", "cost_rate", "created_at",
        "updated_at", "user", "client", "project", "task", "user_assignment", "task_assignment", "invoice",
        "external_reference",
    ]
    assert entry["user"] == {"id": 9004, "name": "Marcus Oyelaran"}
    assert entry["client"] == {"id": 5002, "name": "Birchwood Legal", "currency": "USD"}
    assert set(entry["project"]) == {"id", "name", "code"}
    assert entry["task"] == {"id": 3002, "name": "On-site support"}
    assert (entry["started_time"], entry["ended_time"]) == ("3:00pm", "4:20pm")
    assert entry["spent_date"] == "2026-11-20"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["created_at"])


async def test_users_me_and_clients(client: httpx.AsyncClient) -> None:
    me = await client.get("/v2/users/me")
    clients = await client.get("/v2/clients", params={"per_page": 3})

    assert me.status_code == 200 and {"id", "first_name", "last_name", "email"} <= set(me.json())
    body = clients.json()
    assert (body["total_entries"], body["total_pages"], len(body["clients"])) == (4, 2, 3)
    rest = (await client.get(body["links"]["next"])).json()
    assert {c["name"] for c in body["clients"] + rest["clients"]} == {
        "Acme Dental", "Birchwood Legal", "Cobalt Logistics", "Delta Veterinary Clinic"}


# ------------------------------------------------------------------------------------ seed


def test_same_seed_gives_the_same_data_and_another_seed_does_not() -> None:
    def seeded(seed: int) -> dict[int, dict[str, Any]]:
        sandbox = HarvestSandbox(clock=lambda: NOW)
        sandbox.seed(seed=seed, now=NOW)
        return sandbox.entries

    assert seeded(11) == seeded(11)
    assert seeded(11) != seeded(12)


def test_seed_is_realistic_msp_history() -> None:
    sandbox = HarvestSandbox(clock=lambda: NOW)
    sandbox.seed(now=NOW, days=70, per_day=12)

    entries = list(sandbox.entries.values())
    notes = [e["notes"] or "" for e in entries]
    assert len(entries) > 500
    assert {e["client"]["id"] for e in entries} == {5001, 5002, 5003, 5004}
    assert {e["user"]["id"] for e in entries} == {9001, 9002, 9003, 9004, 9005}
    assert all(NOW.date() - timedelta(days=69) <= date.fromisoformat(e["spent_date"]) <= NOW.date()
               for e in entries)
    assert all(e["created_at"] <= e["updated_at"] <= iso(NOW) for e in entries)
    assert sum(e["created_at"] != e["updated_at"] for e in entries) > 10  # some were edited later

    # Free text names technicians, by first or full name, in someone else's entry.
    naming = [e for e, n in zip(entries, notes) if any(first in n for first in TECH_FIRST_NAMES)]
    assert len(naming) > 20
    assert any("Tomasz Kowalczyk" in n or "Priya Raman" in n or "Aoife Brennan" in n for n in notes)
    # Internal remarks sit on their own line.
    internal = [n for n in notes if "Internal:" in n]
    assert len(internal) > 20
    assert all(any(line.startswith("Internal:") for line in n.splitlines()[1:]) for n in internal)

    by_task = {t: [e for e in entries if e["task"]["id"] == t] for t in (3001, 3002, 3003, 3004, 3005)}
    assert all(by_task[t] for t in by_task)
    assert all(e["billable"] is False and e["billable_rate"] is None for e in by_task[3005])
    # Travel comes before an on-site visit by the same technician on the same day.
    visits = {(e["user"]["id"], e["spent_date"], e["client"]["id"]) for e in by_task[3002]}
    assert all((e["user"]["id"], e["spent_date"], e["client"]["id"]) in visits for e in by_task[3004])

    def after_hours(e: dict[str, Any]) -> bool:
        weekend = date.fromisoformat(e["spent_date"]).weekday() >= 5
        evening = e["started_time"] is not None and e["started_time"].endswith("pm") and (
            6 <= int(e["started_time"].split(":")[0]) < 12)
        return weekend or evening

    assert sum(after_hours(e) for e in entries) > 30
    quarter = sum(round(e["hours"] * 4) == e["hours"] * 4 for e in entries)
    assert quarter / len(entries) > 0.75
    assert any(e["hours"] in (0.17, 0.33, 1.33) for e in entries)


def test_simulate_activity_logs_todays_work(sandbox: HarvestSandbox, clock: Clock) -> None:
    sandbox.seed(now=NOW)
    before = len(sandbox.entries)
    rng = random.Random(3)
    added = [sandbox.simulate_activity(rng) for _ in range(10)]
    assert len(sandbox.entries) == before + 10
    assert all(e["spent_date"] == "2026-11-20" and e["created_at"] == iso(NOW) for e in added)
    assert all(e["id"] in sandbox.entries for e in added)
