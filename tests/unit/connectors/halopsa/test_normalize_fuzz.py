"""HaloPSA actions, mutated at random: each loads sane or is refused naming the action and the field."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.halopsa.normalize import normalize_action

from ..hostile import INSTANTS_BAD, check, durations, hostile, mutated, not_objects, sandbox_connector
from .test_normalize import RATES, row

BASE = row()
VENDOR_ID = f"{BASE['ticket_id']}:{BASE['id']}"
CONNECTOR = sandbox_connector("halopsa")
HALO_HOURS = durations(3600)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(st.integers(), st.text(max_size=200)),
    "ticket_id": st.one_of(st.integers(), st.text(max_size=200)),
    "last_updated": INSTANTS_BAD,
    "datetime": INSTANTS_BAD,
    "actionarrivaldate": INSTANTS_BAD,
    "actiontravelstartdate": INSTANTS_BAD,
    "timetaken": HALO_HOURS,
    "traveltime": HALO_HOURS,
    "nonbilltime": HALO_HOURS,
    "actionchargehours": HALO_HOURS,
    "actionoohtime": HALO_HOURS,
    "hiddenfromuser": st.one_of(st.booleans(), st.sampled_from([0, 1, "true", "0", "maybe"])),
    "private_note": st.one_of(st.booleans(), st.text(max_size=40)),
    "note": st.text(max_size=60).map(lambda t: f"<p>{t}</p>"),
    "who": st.text(max_size=30),
    "who_agentid": st.integers(),
    "chargerate": st.one_of(st.integers(), st.sampled_from(["-1", "1", "x"])),
    "ticket_summary": st.text(max_size=30),
    "tickettype_id": st.integers(),
    "tickettype_name": st.text(max_size=30),
    # Routing: unknown and malformed client ids.
    "client_id": st.one_of(st.integers(), st.sampled_from([12, 13, "12", 999999, -1])),
}


@given(mutated(BASE, FIELDS))
def test_any_mutated_action_loads_sane_or_is_refused_naming_the_action_and_the_field(
        case: tuple[dict[str, Any], list[str]]) -> None:
    payload, changed = case
    vendor_id = None if {"id", "ticket_id"} & set(changed) else VENDOR_ID
    check(lambda: normalize_action(payload, account="halo", client_key="acme", tz=ZoneInfo("Pacific/Kiritimati"),
                                   charge_rates=RATES), vendor_id=vendor_id, changed=changed)
    check(lambda: CONNECTOR.entries(payload), vendor_id=vendor_id, changed=changed)


@given(not_objects())
def test_a_payload_that_is_not_an_object_is_refused(payload: Any) -> None:
    check(lambda: CONNECTOR.normalize(payload), vendor_id=None, changed=["object"])


@pytest.mark.parametrize(("client_id", "expected"), [
    (12, "c0"), ("12", "c0"), (999999, None), (-1, None), (float("inf"), None), (float("nan"), None), ("x", None),
    (None, None), (True, None), ([12], None),
])
def test_an_unknown_or_malformed_client_id_routes_to_no_client(client_id: Any, expected: str | None) -> None:
    assert CONNECTOR.route(row(client_id=client_id)) == expected
