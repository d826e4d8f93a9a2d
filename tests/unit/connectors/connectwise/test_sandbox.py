"""The ConnectWise sandbox speaks CW's wire format: auth, conditions, paging, throttle, faults, mutations, seed."""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from connectors.connectwise.client import ConnectWiseSettings
from connectors.connectwise.sandbox import (
    AFTER_HOURS,
    MSP_COMPANY,
    TRAVEL,
    ConnectWiseSandbox,
    make_driver,
)
from connectors.sandbox_driver import SandboxDriver

NOW = datetime(2026, 11, 20, 15, 4, 5, tzinfo=UTC)  # a Friday
BASE = "https://api-na.myconnectwise.net"
API = "/v4_6_release/apis/3.0"


class Clock:
    """A settable clock for the sandbox; tests move it instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def auth_headers(sandbox: ConnectWiseSandbox, *, company: str | None = None, private: str | None = None,
                 client_id: str | None = None) -> dict[str, str]:
    credential = f"{company or sandbox.company}+{sandbox.public_key}:{private or sandbox.private_key}"
    return {"Authorization": "Basic " + base64.b64encode(credential.encode()).decode(),
            "clientId": client_id or sandbox.client_id}


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sandbox(clock: Clock) -> ConnectWiseSandbox:
    return ConnectWiseSandbox(clock=clock)


@pytest.fixture
async def client(sandbox: ConnectWiseSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE,
                                 headers=auth_headers(sandbox)) as http:
        yield http


FORWARD = {"pagination-type": "forward-only"}


def conditions(*clauses: str) -> str:
    return "(" + " and ".join(clauses) + ")"


async def listing(client: httpx.AsyncClient, cond: str | None = None, **params: Any) -> httpx.Response:
    query = {"pageSize": 1000, **params} | ({"conditions": cond} if cond is not None else {})
    return await client.get(f"{API}/time/entries", params=query, headers=FORWARD)


async def walk(client: httpx.AsyncClient, cond: str | None, page_size: int = 1000) -> tuple[list[int], int]:
    """Every id a forward-only walk returns, and how many requests it took."""
    response = await listing(client, cond, pageSize=page_size)
    ids, requests = [e["id"] for e in response.json()], 1
    while (next_url := response.links.get("next", {}).get("url")):
        response = await client.get(next_url, headers=FORWARD)
        ids += [e["id"] for e in response.json()]
        requests += 1
    return ids, requests


def add(sandbox: ConnectWiseSandbox, company: int = 250, **changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"start": datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "hours": 1.0, "notes": "Fixed it"}
    return sandbox.add_entry(company_id=company, **(kwargs | changes))


# --- codebase discovery ---------------------------------------------------------------


async def test_companyinfo_answers_the_codebase_without_credentials(sandbox: ConnectWiseSandbox) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE) as anon:
        response = await anon.get(f"/login/companyinfo/{sandbox.company.upper()}")
    assert response.status_code == 200
    assert response.json()["Codebase"] == "v4_6_release/"
    assert set(response.json()) == {"CompanyName", "CompanyID", "Codebase", "VersionCode", "VersionNumber",
                                    "IsCloud", "SiteUrl"}
    assert sandbox.counters["companyinfo"] == 1


async def test_companyinfo_answers_null_for_an_unknown_company(client: httpx.AsyncClient) -> None:
    response = await client.get("/login/companyinfo/nosuchco")
    assert (response.status_code, response.content) == (200, b"null")


async def test_a_moved_codebase_answers_404_at_the_old_path(client: httpx.AsyncClient,
                                                            sandbox: ConnectWiseSandbox) -> None:
    sandbox.move_codebase("v2026_1")
    assert (await listing(client)).status_code == 404
    assert (await client.get("/login/companyinfo/northbridge")).json()["Codebase"] == "v2026_1/"
    moved = await client.get("/v2026_1/apis/3.0/time/entries", headers=FORWARD)
    assert moved.status_code == 200


# --- auth -----------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no-credentials"),
    pytest.param({"private": "wrong"}, id="wrong-private-key"),
    pytest.param({"company": "othermsp"}, id="wrong-company"),
])
async def test_bad_credentials_get_cw_401_body(sandbox: ConnectWiseSandbox, headers: dict[str, str]) -> None:
    sent = auth_headers(sandbox, **headers) if headers else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE) as http:
        response = await http.get(f"{API}/time/entries", headers=sent)
    assert response.status_code == 401
    assert response.json()["code"] == "Unauthorized"
    assert sandbox.counters["401"] == 1 and sandbox.counters["requests"] == 1


async def test_the_client_id_header_is_required(sandbox: ConnectWiseSandbox) -> None:
    headers = auth_headers(sandbox)
    del headers["clientId"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE) as http:
        response = await http.get(f"{API}/time/entries", headers=headers)
    assert response.status_code == 401 and "clientId" in response.json()["message"]


async def test_the_company_id_is_matched_without_regard_to_case(sandbox: ConnectWiseSandbox) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE,
                                 headers=auth_headers(sandbox, company="NorthBridge")) as http:
        assert (await http.get(f"{API}/time/entries")).status_code == 200


async def test_fail_auth_refuses_the_api_but_not_companyinfo(client: httpx.AsyncClient,
                                                             sandbox: ConnectWiseSandbox) -> None:
    sandbox.fail_auth(True)
    assert (await listing(client)).status_code == 401
    assert (await client.get("/login/companyinfo/northbridge")).status_code == 200
    sandbox.fail_auth(False)
    assert (await listing(client)).status_code == 200


# --- conditions -----------------------------------------------------------------------


async def test_last_updated_bounds_select_changed_entries(client: httpx.AsyncClient, sandbox: ConnectWiseSandbox,
                                                          clock: Clock) -> None:
    old = add(sandbox)
    clock.advance(minutes=10)
    new = add(sandbox)
    stamp = new["_info"]["lastUpdated"]
    assert [e["id"] for e in (await listing(client, f"lastUpdated>=[{stamp}]")).json()] == [new["id"]]
    assert (await listing(client, f"lastUpdated>[{stamp}]")).json() == []
    assert [e["id"] for e in (await listing(client, f"lastUpdated<[{stamp}]")).json()] == [old["id"]]


async def test_time_start_bounds_and_company_filters_combine(client: httpx.AsyncClient,
                                                             sandbox: ConnectWiseSandbox) -> None:
    inside = add(sandbox, 250, start=datetime(2026, 11, 10, 9, tzinfo=UTC))
    add(sandbox, 250, start=datetime(2026, 11, 1, 9, tzinfo=UTC))  # before the window
    add(sandbox, 250, start=datetime(2026, 12, 1, 0, tzinfo=UTC))  # at the exclusive end
    other = add(sandbox, 251, start=datetime(2026, 11, 10, 9, tzinfo=UTC))
    add(sandbox, 252, start=datetime(2026, 11, 10, 9, tzinfo=UTC))
    window = ("timeStart>=[2026-11-02T00:00:00Z]", "timeStart<[2026-12-01T00:00:00Z]")
    both = await listing(client, conditions(*window, "company/id in (250,251)"))
    assert [e["id"] for e in both.json()] == [inside["id"], other["id"]]
    one = await listing(client, " and ".join((*window, "company/id = 251")))
    assert [e["id"] for e in one.json()] == [other["id"]]


async def test_conditions_accept_parentheses_around_clauses_and_spaces_around_operators(
        client: httpx.AsyncClient, sandbox: ConnectWiseSandbox) -> None:
    entry = add(sandbox, 250)
    text = "((lastUpdated >= [2026-11-20T00:00:00Z])) AND (company/id in ( 250 , 251 ))"
    assert [e["id"] for e in (await listing(client, text)).json()] == [entry["id"]]


@pytest.mark.parametrize("text", [
    "summary like 'x'", "lastUpdated>2026-11-20", "company/id in ()", "company/id in (1 2)", "company/id in (1,,2)",
    "timeStart>=[yesterday]",
    "(lastUpdated>=[2026-11-20T00:00:00Z]", "lastUpdated>=[2026-11-20T00:00:00Z] or company/id=1",
    "lastUpdated>=[2026-11-20T00:00:00Z] and ",
])
async def test_condition_forms_the_sandbox_does_not_know_are_cw_400s(client: httpx.AsyncClient, text: str) -> None:
    response = await listing(client, text)
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidObject"


# --- paging ---------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "status"), [("1000", 200), ("1001", 400), ("0", 400), ("many", 400)])
async def test_page_size_is_capped_at_1000(client: httpx.AsyncClient, size: str, status: int) -> None:
    assert (await listing(client, pageSize=size)).status_code == status


async def test_the_default_page_size_is_25(client: httpx.AsyncClient, sandbox: ConnectWiseSandbox) -> None:
    for _ in range(30):
        add(sandbox)
    response = await client.get(f"{API}/time/entries")
    assert len(response.json()) == 25


async def test_forward_only_pages_link_to_the_next_by_page_id_and_end_with_an_empty_link(
        client: httpx.AsyncClient, sandbox: ConnectWiseSandbox) -> None:
    added = [add(sandbox)["id"] for _ in range(5)]
    first = await listing(client, None, pageSize=2)
    next_url = first.links["next"]["url"]
    assert parse_qs(urlsplit(next_url).query)["pageId"] == [str(added[1])]
    ids, requests = await walk(client, None, page_size=2)
    assert (ids, requests) == (added, 3)
    last = await client.get(f"{API}/time/entries", params={"pageSize": 2, "pageId": added[3]}, headers=FORWARD)
    assert [e["id"] for e in last.json()] == [added[4]]
    assert last.headers["link"] == ""


async def test_a_full_last_page_has_no_next_link(client: httpx.AsyncClient, sandbox: ConnectWiseSandbox) -> None:
    for _ in range(4):
        add(sandbox)
    ids, requests = await walk(client, None, page_size=2)
    assert (len(ids), requests) == (4, 2)


async def test_page_id_means_id_greater_than(client: httpx.AsyncClient, sandbox: ConnectWiseSandbox) -> None:
    ids = [add(sandbox)["id"] for _ in range(3)]
    response = await client.get(f"{API}/time/entries", params={"pageId": ids[0]}, headers=FORWARD)
    assert [e["id"] for e in response.json()] == ids[1:]


async def test_navigable_paging_links_next_last_prev_and_first(client: httpx.AsyncClient,
                                                               sandbox: ConnectWiseSandbox) -> None:
    for _ in range(5):
        add(sandbox)
    first = await client.get(f"{API}/time/entries", params={"pageSize": 2})
    assert set(first.links) == {"next", "last"}
    assert parse_qs(urlsplit(first.links["last"]["url"]).query)["page"] == ["3"]
    middle = await client.get(first.links["next"]["url"])
    assert set(middle.links) == {"next", "last", "prev", "first"}
    last = await client.get(first.links["last"]["url"])
    assert len(last.json()) == 1 and set(last.links) == {"prev", "first"}


async def test_twenty_thousand_entries_page_through_at_a_thousand_a_request(clock: Clock) -> None:
    big = ConnectWiseSandbox(clock=clock, rate_limit=10**6)
    big.seed(now=NOW, days=400, per_day=70, seed=3)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=big.app), base_url=BASE,
                                 headers=auth_headers(big)) as http:
        ids, requests = await walk(http, "company/id in (250,251,252,253)")
    assert len(ids) >= 18_000 and len(set(ids)) == len(ids) and ids == sorted(ids)
    assert requests == math.ceil(len(ids) / 1000)


# --- throttle -------------------------------------------------------------------------


async def test_past_the_per_minute_limit_cloudflare_answers_429_with_retry_after(clock: Clock) -> None:
    limited = ConnectWiseSandbox(clock=clock, rate_limit=3, rate_period=60)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited.app), base_url=BASE,
                                 headers=auth_headers(limited)) as http:
        for _ in range(3):
            assert (await listing(http)).status_code == 200
            clock.advance(seconds=10)
        refused = await listing(http)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
        assert refused.text == "error code: 1015"
        clock.advance(seconds=30)
        assert (await listing(http)).status_code == 200
    assert limited.counters["429"] == 1 and limited.counters["requests"] == 5


async def test_throttle_next_forces_429s_with_or_without_a_hint(client: httpx.AsyncClient,
                                                                sandbox: ConnectWiseSandbox) -> None:
    sandbox.throttle_next(1, retry_after=4)
    assert (await listing(client)).headers["Retry-After"] == "4"
    sandbox.throttle_next(1, retry_after=None)
    bare = await listing(client)
    assert bare.status_code == 429 and "Retry-After" not in bare.headers
    assert (await listing(client)).status_code == 200


# --- faults ---------------------------------------------------------------------------


async def test_fail_next_5xx_answers_500_then_recovers(client: httpx.AsyncClient, sandbox: ConnectWiseSandbox) -> None:
    sandbox.fail_next(1, "5xx")
    assert (await listing(client)).status_code == 500
    assert (await listing(client)).status_code == 200


async def test_fail_next_malformed_answers_a_body_that_is_not_json(client: httpx.AsyncClient,
                                                                   sandbox: ConnectWiseSandbox) -> None:
    sandbox.fail_next(2, "malformed")
    response = await listing(client)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


async def test_fail_next_replaces_faults_still_queued(client: httpx.AsyncClient, sandbox: ConnectWiseSandbox) -> None:
    sandbox.fail_next(5, "malformed")
    sandbox.fail_next(0, "malformed")
    assert (await listing(client)).json() == []


async def test_answer_empty_lists_nothing_with_an_empty_link(client: httpx.AsyncClient,
                                                             sandbox: ConnectWiseSandbox) -> None:
    add(sandbox)
    sandbox.answer_empty(True)
    response = await listing(client)
    assert (response.json(), response.headers["link"]) == ([], "")
    sandbox.answer_empty(False)
    assert len((await listing(client)).json()) == 1


def test_an_unknown_fault_kind_is_refused(sandbox: ConnectWiseSandbox) -> None:
    with pytest.raises(ValueError):
        sandbox.fail_next(1, "gremlins")


# --- mutations ------------------------------------------------------------------------


async def test_an_added_entry_is_listed_with_cw_fields(client: httpx.AsyncClient, sandbox: ConnectWiseSandbox) -> None:
    entry = add(sandbox, 251, hours=1.5, internal_notes="Password on a sticky note", member_id=178)
    listed = (await listing(client)).json()[0]
    assert listed["id"] == entry["id"]
    assert listed["company"]["id"] == 251 and listed["member"]["name"] == "Rafael Quintero"
    assert (listed["timeStart"], listed["timeEnd"], listed["actualHours"]) == (
        "2026-11-20T09:00:00Z", "2026-11-20T10:30:00Z", 1.5)
    assert listed["_info"]["lastUpdated"] == "2026-11-20T15:04:05Z" == listed["dateEntered"]
    assert (listed["notes"], listed["internalNotes"]) == ("Fixed it", "Password on a sticky note")
    assert listed["chargeToType"] == "ServiceTicket" and listed["ticket"]["id"] == listed["chargeToId"]


async def test_an_edit_bumps_last_updated_and_a_move_changes_the_company(
        client: httpx.AsyncClient, sandbox: ConnectWiseSandbox, clock: Clock) -> None:
    entry = add(sandbox, 250)
    clock.advance(minutes=5)
    sandbox.edit_entry(entry["id"], hours=2.0, company_id=252)
    [edited] = (await listing(client, "lastUpdated>=[2026-11-20T15:09:05Z]")).json()
    assert (edited["actualHours"], edited["timeEnd"], edited["company"]["id"]) == (2.0, "2026-11-20T11:00:00Z", 252)
    assert (await listing(client, "company/id = 250")).json() == []


async def test_a_deleted_entry_is_no_longer_listed(client: httpx.AsyncClient, sandbox: ConnectWiseSandbox) -> None:
    keep, gone = add(sandbox), add(sandbox)
    sandbox.delete_entry(gone["id"])
    assert [e["id"] for e in (await listing(client)).json()] == [keep["id"]]
    assert (await client.get(f"{API}/time/entries/{gone['id']}")).status_code == 404
    assert (await client.get(f"{API}/time/entries/{keep['id']}")).json()["id"] == keep["id"]


async def test_count_answers_the_number_matching_the_conditions(client: httpx.AsyncClient,
                                                                sandbox: ConnectWiseSandbox) -> None:
    add(sandbox, 250)
    add(sandbox, 251)
    response = await client.get(f"{API}/time/entries/count", params={"conditions": "company/id = 250"})
    assert response.json() == {"count": 1}


def test_edit_entry_refuses_unknown_fields(sandbox: ConnectWiseSandbox) -> None:
    entry = add(sandbox)
    with pytest.raises(TypeError, match="colour"):
        sandbox.edit_entry(entry["id"], colour="red")


# --- seed -----------------------------------------------------------------------------


def seeded(seed: int = 7, tz: str = "America/Chicago") -> ConnectWiseSandbox:
    sandbox = ConnectWiseSandbox(clock=lambda: NOW, tz=tz)
    sandbox.seed(seed=seed, now=NOW, days=30, per_day=12)
    return sandbox


def test_the_seed_is_deterministic_by_seed() -> None:
    assert seeded(7).entries == seeded(7).entries
    assert seeded(7).entries != seeded(8).entries


def test_the_seed_has_the_texture_the_privacy_rules_must_cope_with() -> None:
    sandbox = seeded()
    entries = list(sandbox.entries.values())
    names = [m["name"] for m in sandbox.members.values()]
    notes = [e.get("notes", "") for e in entries]
    assert len({e["member"]["id"] for e in entries}) == len(names) >= 4
    assert any(name.split()[0] in note for name in names for note in notes)  # technicians named in notes
    assert sum("internalNotes" in e for e in entries) > len(entries) // 10
    assert any(e["workType"]["id"] == TRAVEL for e in entries)
    local = ZoneInfo("America/Chicago")
    after_hours = [e for e in entries if e["workType"]["id"] == AFTER_HOURS]
    assert after_hours and all(datetime.fromisoformat(e["timeStart"]).astimezone(local).hour >= 18
                               for e in after_hours)
    assert {e["billableOption"] for e in entries} >= {"Billable", "DoNotBill"}
    assert any(e["company"]["id"] == MSP_COMPANY[0] and e["chargeToType"] == "ChargeCode" for e in entries)
    assert all(e["_info"]["lastUpdated"] <= "2026-11-20T15:04:05Z" for e in entries)


def test_weekends_carry_only_a_few_emergencies() -> None:
    sandbox = seeded()
    local = ZoneInfo("America/Chicago")
    by_day: dict[date, int] = {}
    for e in sandbox.entries.values():
        day = datetime.fromisoformat(e["timeStart"]).astimezone(local).date()
        by_day[day] = by_day.get(day, 0) + 1
    assert all(count <= 2 for day, count in by_day.items() if day.weekday() >= 5)


# --- the contract driver --------------------------------------------------------------


def test_the_driver_implements_the_contract_protocol() -> None:
    driver = make_driver(lambda: NOW)
    for member in ("vendor", "app", "max_page_size", "idle_poll_requests", "max_lookup_requests", "workers",
                   *(name for name in vars(SandboxDriver) if not name.startswith("_"))):
        assert hasattr(driver, member), member
    assert (driver.vendor, driver.max_page_size, driver.idle_poll_requests, driver.max_lookup_requests) == (
        "connectwise", 1000, 1, 0)
    assert len(driver.selectors()) >= 2
    account = ConnectWiseSettings.model_validate(driver.account("http://sandbox.test"))
    assert account.base_url == "http://sandbox.test" and account.codebase is None


def test_driver_add_entry_returns_the_vendor_id_as_the_connector_stores_it() -> None:
    driver = make_driver(lambda: NOW)
    vendor_id = driver.add_entry(1, hours=0.5, notes="Reset MFA", day=date(2026, 11, 20), start=time(10),
                                 internal_notes="secret", worker=2)
    entry = driver.sandbox.entries[int(vendor_id)]
    assert vendor_id == str(entry["id"])
    assert (entry["company"]["id"], entry["member"]["name"], entry["internalNotes"]) == (
        251, driver.workers[2], "secret")
    driver.edit_entry(vendor_id, client=2, hours=1.0, notes="Reset MFA again")
    assert (entry["company"]["id"], entry["actualHours"], entry["notes"]) == (252, 1.0, "Reset MFA again")
    driver.delete_entry(vendor_id)
    assert int(vendor_id) not in driver.sandbox.entries
