"""Toggl Track entries (Reports rows and API v9 payloads), mutated at random: each loads sane or is
refused naming the entry and the field."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connectors.toggl.normalize import normalize_api_entry, normalize_report_entry

from ..hostile import INSTANTS_BAD, check, durations, hostile, mutated, not_objects, sandbox_connector
from .test_normalize import LONDON, LOOKUPS, api, flat

REPORT, API = flat(), api()
CONNECTOR = sandbox_connector("toggl")
IDS = st.one_of(st.integers(), st.sampled_from([202793182, 202793183, 16501871, "16501871", 0, -1]))
COMMON: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(st.integers(), st.text(max_size=200)),
    "start": INSTANTS_BAD,
    "at": INSTANTS_BAD,
    "user_id": IDS,
    "project_id": IDS,
    "description": st.text(max_size=60),
    "billable": st.one_of(st.booleans(), hostile()),
    "tag_ids": st.lists(IDS, max_size=3),
}
REPORT_FIELDS = COMMON | {
    "seconds": durations(1),
    "username": st.text(max_size=30),
    "project_name": st.text(max_size=30),
    "task_name": st.text(max_size=30),
    "tag_names": st.lists(st.text(max_size=10), max_size=3),
}
API_FIELDS = COMMON | {
    "duration": durations(1),
    "server_deleted_at": INSTANTS_BAD,
    "pid": IDS,
    "uid": IDS,
    "tags": st.lists(st.text(max_size=10), max_size=3),
}


@given(mutated(REPORT, REPORT_FIELDS))
def test_any_mutated_report_entry_loads_sane_or_is_refused_naming_the_entry_and_the_field(
        case: tuple[dict[str, Any], list[str]]) -> None:
    payload, changed = case
    vendor_id = None if "id" in changed else str(REPORT["id"])
    check(lambda: normalize_report_entry(payload, account="t", client_key="acme", tz=LONDON, lookups=LOOKUPS),
          vendor_id=vendor_id, changed=changed)
    check(lambda: CONNECTOR.normalize(payload), vendor_id=vendor_id, changed=changed)


@given(mutated(API, API_FIELDS))
def test_any_mutated_api_entry_loads_sane_or_is_refused_naming_the_entry_and_the_field(
        case: tuple[dict[str, Any], list[str]]) -> None:
    payload, changed = case
    vendor_id = None if "id" in changed else str(API["id"])
    check(lambda: normalize_api_entry(payload, account="t", client_key="acme", tz=LONDON, lookups=LOOKUPS),
          vendor_id=vendor_id, changed=changed)
    check(lambda: CONNECTOR.normalize(payload), vendor_id=vendor_id, changed=changed)


@given(not_objects())
def test_a_payload_that_is_not_an_object_is_refused(payload: Any) -> None:
    check(lambda: CONNECTOR.normalize(payload), vendor_id=None, changed=["object"])
