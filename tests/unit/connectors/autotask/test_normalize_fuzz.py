"""Autotask time entries, mutated at random: each loads sane or is refused naming entry and field."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connectors.autotask.normalize import normalize

from ..hostile import INSTANTS_BAD, check, durations, hostile, mutated, not_objects, sandbox_connector
from .test_normalize import REFS, raw

BASE = raw()
VENDOR_ID = str(BASE["id"])
CONNECTOR = sandbox_connector("autotask")

# Reference ids: known ones (7401 a ticket, 41011 a task…), unknown ones, and malformed ones.
REF_IDS = st.one_of(st.sampled_from([7401, 7402, 41011, 29682885, 29682801, 29682806, 99999, -1, "7401"]),
                    st.integers())
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(st.integers(), st.text(max_size=200), st.just("54012")),
    "dateWorked": INSTANTS_BAD,
    "hoursWorked": durations(3600),
    "lastModifiedDateTime": INSTANTS_BAD,
    "createDateTime": INSTANTS_BAD,
    "startDateTime": INSTANTS_BAD,
    "ticketID": REF_IDS,
    "taskID": REF_IDS,
    "resourceID": REF_IDS,
    "roleID": REF_IDS,
    "billingCodeID": REF_IDS,
    "summaryNotes": st.text(max_size=60),
    "internalNotes": st.text(max_size=60),
    "isNonBillable": st.one_of(st.booleans(), hostile()),
    "billingApprovalDateTime": INSTANTS_BAD,
}


@given(mutated(BASE, FIELDS))
def test_any_mutated_entry_loads_sane_or_is_refused_naming_the_entry_and_the_field(
        case: tuple[dict[str, Any], list[str]]) -> None:
    payload, changed = case
    vendor_id = None if "id" in changed else VENDOR_ID
    check(lambda: normalize(payload, account="at", client_key="acme", refs=REFS), vendor_id=vendor_id,
          changed=changed)
    check(lambda: CONNECTOR.normalize(payload), vendor_id=vendor_id, changed=changed)


@given(not_objects())
def test_a_payload_that_is_not_an_object_is_refused(payload: Any) -> None:
    check(lambda: CONNECTOR.normalize(payload), vendor_id=None, changed=["object"])
