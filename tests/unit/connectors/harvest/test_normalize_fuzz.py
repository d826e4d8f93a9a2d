"""Harvest time entries, mutated at random: each loads sane or is refused naming entry and field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.harvest.normalize import normalize

from ..hostile import DATES_BAD, INSTANTS_BAD, check, durations, hostile, mutated, not_objects, sandbox_connector
from .test_normalize import NY, raw

BASE = raw()
VENDOR_ID = str(BASE["id"])
CONNECTOR = sandbox_connector("harvest")

NAMED = st.fixed_dictionaries({}, optional={"id": st.one_of(st.integers(), hostile()),
                                            "name": st.one_of(st.text(max_size=30), hostile())})
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(st.integers(), st.text(max_size=200)),
    "spent_date": DATES_BAD,
    "hours": durations(3600),
    "updated_at": INSTANTS_BAD,
    "started_time": st.sampled_from(["3:00pm", "15:00", "25:00", "12:60", "0:00am", "13:00pm", "", "noon", "9"]),
    "notes": st.text(max_size=60),
    "billable": st.one_of(st.booleans(), hostile()),
    "approval_status": st.sampled_from(["approved", "submitted", "unsubmitted"]),
    "user": NAMED,
    "task": NAMED,
    # Routing: unknown and malformed client and project ids.
    "client": NAMED,
    "project": NAMED,
}


@given(mutated(BASE, FIELDS))
def test_any_mutated_entry_loads_sane_or_is_refused_naming_the_entry_and_the_field(
        case: tuple[dict[str, Any], list[str]]) -> None:
    payload, changed = case
    vendor_id = None if "id" in changed else VENDOR_ID
    check(lambda: normalize(payload, account="h", client_key="acme", tz=NY), vendor_id=vendor_id, changed=changed)
    check(lambda: CONNECTOR.normalize(payload), vendor_id=vendor_id, changed=changed)


@given(not_objects())
def test_a_payload_that_is_not_an_object_is_refused(payload: Any) -> None:
    check(lambda: CONNECTOR.normalize(payload), vendor_id=None, changed=["object"])


@pytest.mark.parametrize(("client", "project", "expected"), [
    ({"id": 5001, "name": "Acme Dental"}, None, "c0"),
    ({"id": 999999}, None, None),
    ("Acme Dental", None, None),
    (["5001"], {"id": [7001]}, None),
    ({"id": "5001"}, "x", None),
])
def test_an_unknown_or_malformed_client_routes_to_no_client(client: Any, project: Any, expected: str | None) -> None:
    assert CONNECTOR.route(raw(client=client, project=project)) == expected
