"""ConnectWise time entries, mutated at random: each loads sane or is refused naming entry and field."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connectors.connectwise.normalize import normalize

from ..hostile import DATES_BAD, INSTANTS_BAD, check, durations, hostile, mutated, not_objects, sandbox_connector
from .test_normalize import CHICAGO, TRAVEL, raw

BASE = raw()
VENDOR_ID = str(BASE["id"])
CONNECTOR = sandbox_connector("connectwise")


def reference(**inner: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A CW reference object ({id, name}) whose values may be wrong."""
    return st.fixed_dictionaries({}, optional={k: st.one_of(v, hostile()) for k, v in inner.items()})


NAMES = st.text(max_size=30)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(st.integers(), st.text(max_size=200), st.just("1502231")),
    "timeStart": INSTANTS_BAD,
    "timeEnd": INSTANTS_BAD,
    "actualHours": durations(3600),
    "hoursDeduct": durations(3600),
    "_info": st.fixed_dictionaries({"lastUpdated": st.one_of(INSTANTS_BAD, DATES_BAD, hostile())}),
    "dateEntered": INSTANTS_BAD,
    "member": reference(id=st.integers(), name=NAMES),
    "workType": reference(id=st.integers(), name=NAMES),
    "workRole": reference(id=st.integers(), name=NAMES),
    "project": reference(id=st.integers(), name=NAMES),
    "phase": reference(id=st.integers(), name=NAMES),
    "activity": reference(id=st.integers(), name=NAMES),
    "ticket": reference(id=st.integers(), summary=NAMES),
    "chargeToType": st.sampled_from(["ServiceTicket", "ProjectTicket", "Activity", "ChargeCode", ""]),
    "chargeToId": st.integers(),
    "ticketType": NAMES,
    "notes": NAMES,
    "internalNotes": NAMES,
    "status": NAMES,
    "billableOption": st.sampled_from(["Billable", "DoNotBill", "NoCharge", "NoDefault", "Do Not Bill"]),
    # Routing: unknown and malformed client (company) ids.
    "company": reference(id=st.one_of(st.integers(), st.sampled_from(["250", "251", "999999", "-1", "２５０"]))),
}


@given(mutated(BASE, FIELDS))
def test_any_mutated_entry_loads_sane_or_is_refused_naming_the_entry_and_the_field(
        case: tuple[dict[str, Any], list[str]]) -> None:
    payload, changed = case
    vendor_id = None if "id" in changed else VENDOR_ID
    check(lambda: normalize(payload, account="cw", client_key="acme", tz=CHICAGO, travel_names=TRAVEL),
          vendor_id=vendor_id, changed=changed)
    check(lambda: CONNECTOR.normalize(payload), vendor_id=vendor_id, changed=changed)


@given(not_objects())
def test_a_payload_that_is_not_an_object_is_refused(payload: Any) -> None:
    check(lambda: CONNECTOR.normalize(payload), vendor_id=None, changed=["object"])
