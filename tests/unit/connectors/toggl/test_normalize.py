"""Toggl Reports rows and API v9 payloads → TimeEntry, as tables."""

from __future__ import annotations

from datetime import date, datetime, timezone
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.base import ClientRoute
from connectors.toggl.normalize import (
    Conventions,
    Lookups,
    ProjectRef,
    flatten_rows,
    is_running,
    normalize_api_entry,
    normalize_report_entry,
    route,
    route_order,
    split_description,
)
from syncd.errors import PayloadError

LONDON = ZoneInfo("Europe/London")
CHICAGO = ZoneInfo("America/Chicago")
LOOKUPS = Lookups(
    projects={202793182: ProjectRef("Managed services retainer", 61203441), 202793183: ProjectRef("Internal", None)},
    tags={16501871: "Travel", 16501872: "On-site", 16501873: "Remote", 16501874: "After-hours"},
    users={30809356: "Ingrid Solberg"},
)


def row(**changes: Any) -> dict[str, Any]:
    """A Reports API v3 row shaped like a recorded one (evrone/toggl-python fixtures)."""
    data: dict[str, Any] = {
        "billable": True, "billable_amount_in_cents": 24750, "currency": "USD",
        "description": "Reset MFA for the front desk account", "hourly_rate_in_cents": 16500,
        "project_id": 202793182, "row_number": 1, "tag_ids": [16501873], "task_id": None,
        "time_entries": [{"at": "2026-11-02T16:40:00+00:00", "at_tz": "2026-11-02T16:40:00+00:00", "id": 3545645770,
                          "seconds": 5400, "start": "2026-11-02T15:00:00+00:00", "stop": "2026-11-02T16:30:00+00:00"}],
        "user_id": 30809356, "username": "Ingrid Solberg",
    }
    data.update(changes)
    return data


def flat(**changes: Any) -> dict[str, Any]:
    """One flattened report entry with ``changes`` applied (row or entry fields alike)."""
    entry = flatten_rows([row()])[0]
    entry.update(changes)
    return entry


def api(**changes: Any) -> dict[str, Any]:
    """An API v9 entry as a webhook payload carries it (recorded event, 2023)."""
    data: dict[str, Any] = {
        "at": "2026-11-02T16:40:00+00:00", "billable": True, "description": "Rebuilt the print queue",
        "duration": 3001, "duronly": True, "id": 3095646709, "project_id": 202793182,
        "server_deleted_at": None, "start": "2026-11-02T11:50:51Z", "stop": "2026-11-02T12:40:52Z",
        "tag_ids": [16501872], "tags": ["On-site"], "task_id": None, "uid": 30809356, "user_id": 30809356,
        "wid": 4512877, "workspace_id": 4512877,
    }
    data.update(changes)
    return data


def test_a_report_entry_maps_every_field_toggl_has() -> None:
    e = normalize_report_entry(flat(), account="t", client_key="acme", tz=LONDON, lookups=LOOKUPS)
    assert (e.account, e.vendor_id, e.client_key) == ("t", "3545645770", "acme")
    assert e.started_at == datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)
    assert e.updated_at == datetime(2026, 11, 2, 16, 40, tzinfo=timezone.utc)
    assert (e.work_date, e.duration_seconds, e.billable) == (date(2026, 11, 2), 5400, True)
    assert (e.worker_id, e.worker_name) == ("30809356", "Ingrid Solberg")
    assert (e.project, e.task, e.work_type) == ("Managed services retainer", None, None)
    assert (e.notes, e.internal_notes) == ("Reset MFA for the front desk account", None)
    assert (e.tags, e.location, e.travel, e.deleted, e.approval) == (("Remote",), "remote", False, False, None)


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        pytest.param({"start": "2026-11-02T11:13:46+03:00"}, "started_at",
                     datetime(2026, 11, 2, 8, 13, 46, tzinfo=timezone.utc), id="user-offset-to-utc"),
        pytest.param({"start": "2026-11-02T23:30:00-05:00"}, "work_date", date(2026, 11, 3),
                     id="work-date-in-account-timezone-not-the-rows-offset"),
        pytest.param({"seconds": 52}, "duration_seconds", 52, id="seconds"),
        pytest.param({"seconds": 900.0}, "duration_seconds", 900, id="float-seconds"),
        pytest.param({"seconds": -1790000000}, "duration_seconds", 0, id="running-clamped"),
        pytest.param({"billable": False}, "billable", False, id="non-billable"),
        pytest.param({"description": None}, "notes", None, id="no-description"),
        pytest.param({"description": ""}, "notes", None, id="empty-description"),
        pytest.param({"description": "Patched the server Internal: do not bill"}, "internal_notes",
                     "Internal: do not bill", id="inline-internal-remark"),
        pytest.param({"description": "Patched the server Internal: do not bill"}, "notes", "Patched the server",
                     id="public-part-before-remark"),
        pytest.param({"tag_ids": []}, "tags", (), id="no-tags"),
        pytest.param({"tag_ids": [16501871, 16501872]}, "tags", ("Travel", "On-site"), id="tag-names-from-lookups"),
        pytest.param({"tag_ids": [99999999, 16501871]}, "tags", ("Travel",), id="unknown-tag-left-out"),
        pytest.param({"tag_names": ["Urgent"]}, "tags", ("Urgent",), id="enriched-tag-names-win"),
        pytest.param({"tag_ids": [16501871]}, "travel", True, id="travel-tag"),
        pytest.param({"tag_ids": [16501872]}, "location", "onsite", id="onsite-tag"),
        pytest.param({"tag_ids": [16501874]}, "location", "unknown", id="no-location-tag"),
        pytest.param({"project_id": None}, "project", None, id="no-project"),
        pytest.param({"project_id": 111}, "project", None, id="unknown-project"),
        pytest.param({"project_name": "Retainer (enriched)"}, "project", "Retainer (enriched)", id="enriched-project"),
        pytest.param({"task_name": "Remote support"}, "work_type", "Remote support", id="task-is-work-type"),
        pytest.param({"username": None}, "worker_name", "Ingrid Solberg", id="name-from-lookups"),
        pytest.param({"username": None, "user_id": 1}, "worker_name", None, id="unknown-user"),
        pytest.param({"id": "3545645770"}, "vendor_id", "3545645770", id="id-as-string"),
    ],
)
def test_each_report_field_maps(changes: dict[str, Any], field: str, expected: Any) -> None:
    e = normalize_report_entry(flat(**changes), account="t", client_key=None, tz=LONDON, lookups=LOOKUPS)
    assert getattr(e, field) == expected


@pytest.mark.parametrize(
    ("conventions", "changes", "field", "expected"),
    [
        pytest.param(Conventions.of(use_billable_flag=False), {"billable": False}, "billable", True,
                     id="free-plan-billable-ignored"),
        pytest.param(Conventions.of(internal_prefix=""), {"description": "Done Internal: x"}, "notes",
                     "Done Internal: x", id="prefix-off"),
        pytest.param(Conventions.of(internal_prefix="[int]"), {"description": "Done [INT] secret"}, "internal_notes",
                     "[INT] secret", id="custom-prefix"),
        pytest.param(Conventions.of(travel_tags=["Drive"]), {"tag_ids": [16501871]}, "travel", False,
                     id="travel-tags-configurable"),
        pytest.param(Conventions.of(remote_tags=[]), {"tag_ids": [16501873]}, "location", "unknown",
                     id="remote-tags-configurable"),
    ],
)
def test_team_conventions_decide_what_toggl_has_no_field_for(
    conventions: Conventions, changes: dict[str, Any], field: str, expected: Any
) -> None:
    e = normalize_report_entry(flat(**changes), account="t", client_key=None, tz=LONDON, lookups=LOOKUPS,
                               conventions=conventions)
    assert getattr(e, field) == expected


def test_an_api_v9_entry_maps_its_own_field_names() -> None:
    e = normalize_api_entry(api(), account="t", client_key="acme", tz=CHICAGO, lookups=LOOKUPS)
    assert (e.vendor_id, e.duration_seconds, e.deleted) == ("3095646709", 3001, False)
    assert e.started_at == datetime(2026, 11, 2, 11, 50, 51, tzinfo=timezone.utc)
    assert e.work_date == date(2026, 11, 2)
    assert (e.worker_id, e.worker_name, e.project) == ("30809356", "Ingrid Solberg", "Managed services retainer")
    assert (e.tags, e.location) == (("On-site",), "onsite")


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        pytest.param({"server_deleted_at": "2026-11-02T17:00:00+00:00"}, "deleted", True, id="tombstone"),
        pytest.param({"tags": None, "tag_ids": [16501871]}, "tags", ("Travel",), id="names-from-ids"),
        pytest.param({"tags": [], "tag_ids": None}, "tags", (), id="null-tag-ids"),
        pytest.param({"user_id": None, "uid": 30809356}, "worker_id", "30809356", id="legacy-uid"),
        pytest.param({"project_id": None, "pid": 202793182}, "project", "Managed services retainer", id="legacy-pid"),
        pytest.param({"start": "2026-11-03T02:00:00Z"}, "work_date", date(2026, 11, 2), id="chicago-evening"),
    ],
)
def test_each_api_field_maps(changes: dict[str, Any], field: str, expected: Any) -> None:
    e = normalize_api_entry(api(**changes), account="t", client_key=None, tz=CHICAGO, lookups=LOOKUPS)
    assert getattr(e, field) == expected


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"id": None}, id="no-id"),
        pytest.param({"id": True}, id="bool-id"),
        pytest.param({"id": "12a"}, id="non-digit-id"),
        pytest.param({"start": None}, id="no-start"),
        pytest.param({"start": "yesterday"}, id="bad-start"),
        pytest.param({"at": 1730000000}, id="numeric-at"),
        pytest.param({"seconds": "5400"}, id="seconds-as-text"),
        pytest.param({"seconds": True}, id="seconds-bool"),
        pytest.param({"billable": "yes"}, id="billable-as-text"),
        pytest.param({"tag_ids": "16501871"}, id="tag-ids-not-a-list"),
        pytest.param({"tag_ids": [1.5]}, id="fractional-tag-id"),
        pytest.param({"tag_names": [1]}, id="tag-names-not-text"),
        pytest.param({"description": 42}, id="description-not-text"),
        pytest.param({"project_id": "x"}, id="bad-project-id"),
    ],
)
def test_an_unreadable_report_entry_is_a_payload_error_naming_it(changes: dict[str, Any]) -> None:
    raw = flat(**changes)
    with pytest.raises(PayloadError, match="Toggl Track time entry"):
        normalize_report_entry(raw, account="t", client_key=None, tz=LONDON)


def test_a_missing_report_field_is_a_payload_error_naming_the_entry() -> None:
    raw = flat()
    del raw["seconds"]
    with pytest.raises(PayloadError, match="3545645770"):
        normalize_report_entry(raw, account="t", client_key=None, tz=LONDON)


@pytest.mark.parametrize("changes", [{"duration": None}, {"at": None}, {"start": "2026-13-01T00:00:00Z"}])
def test_an_unreadable_api_entry_is_a_payload_error_naming_it(changes: dict[str, Any]) -> None:
    with pytest.raises(PayloadError, match="3095646709"):
        normalize_api_entry(api(**changes), account="t", client_key=None, tz=LONDON)


@pytest.mark.parametrize("raw", [None, [], "entry"])
def test_a_payload_that_is_not_an_object_is_a_payload_error(raw: Any) -> None:
    with pytest.raises(PayloadError):
        normalize_report_entry(raw, account="t", client_key=None, tz=LONDON)
    with pytest.raises(PayloadError):
        normalize_api_entry(raw, account="t", client_key=None, tz=LONDON)


def test_a_grouped_row_flattens_into_entries_sharing_its_fields() -> None:
    second = {"at": "2026-11-02T18:00:00+00:00", "id": 3545645771, "seconds": 600,
              "start": "2026-11-02T17:00:00+00:00", "stop": "2026-11-02T17:10:00+00:00"}
    grouped = row(time_entries=[row()["time_entries"][0], second])
    entries = flatten_rows([grouped])
    assert [e["id"] for e in entries] == [3545645770, 3545645771]
    assert {e["description"] for e in entries} == {"Reset MFA for the front desk account"}
    assert all(e["username"] == "Ingrid Solberg" and "time_entries" not in e for e in entries)


@pytest.mark.parametrize("rows", [[None], [{"user_id": 1}], [{"time_entries": "x"}], [{"time_entries": [1]}]])
def test_a_row_without_readable_time_entries_is_a_payload_error(rows: list[Any]) -> None:
    with pytest.raises(PayloadError):
        flatten_rows(rows)


@pytest.mark.parametrize(
    ("text", "prefix", "expected"),
    [
        ("Replaced the switch", "Internal:", ("Replaced the switch", None)),
        ("Replaced the switch. Internal: our fault", "Internal:", ("Replaced the switch.", "Internal: our fault")),
        ("Replaced the switch | internal: our fault", "Internal:", ("Replaced the switch", "internal: our fault")),
        ("Internal: only a remark", "Internal:", (None, "Internal: only a remark")),
        ("Checked the non-Internal: wording", "Internal:", ("Checked the non-Internal: wording", None)),
        ("Qzx-internal-4471: marker", "Internal:", ("Qzx-internal-4471: marker", None)),
        ("Done Internal: a Internal: b", "Internal:", ("Done", "Internal: a Internal: b")),
        ("  ", "Internal:", (None, None)),
        (None, "Internal:", (None, None)),
        ("Done Internal: x", "", ("Done Internal: x", None)),
    ],
)
def test_split_description_cuts_at_the_first_word_starting_with_the_prefix(
    text: str | None, prefix: str, expected: tuple[str | None, str | None]
) -> None:
    assert split_description(text, prefix) == expected


@pytest.mark.parametrize(
    ("raw", "running"),
    [
        ({"stop": "2026-11-02T16:30:00+00:00", "seconds": 5400}, False),
        ({"stop": None, "seconds": -1790000000}, True),
        ({"stop": None, "seconds": 120}, True),
        ({"stop": "2026-11-02T16:30:00Z", "duration": -1790000000}, True),
        ({"stop": "2026-11-02T16:30:00Z", "duration": 0}, False),
    ],
)
def test_is_running_spots_a_timer_that_has_not_stopped(raw: dict[str, Any], running: bool) -> None:
    assert is_running(raw) is running


def _route(key: str, client_id: int | None = None, project_ids: tuple[int, ...] = ()) -> ClientRoute:
    return ClientRoute(key, SimpleNamespace(client_id=client_id, project_ids=list(project_ids)))


@pytest.mark.parametrize(
    ("project_id", "client_id", "expected"),
    [
        (202793182, 61203441, "acme-maintenance"),  # a project selector beats the whole client
        (202793999, 61203441, "acme"),
        (202793999, 61203442, "birchwood"),
        (202793999, 61203443, None),
        (None, None, None),
        (300000001, None, "by-project"),
    ],
)
def test_route_picks_the_most_specific_selector(project_id: int | None, client_id: int | None,
                                                expected: str | None) -> None:
    routes = route_order([
        _route("acme", 61203441), _route("birchwood", 61203442),
        _route("acme-maintenance", 61203441, (202793182,)), _route("by-project", None, (300000001,)),
    ])
    assert route(routes, project_id, client_id) == expected


@pytest.mark.parametrize(("seconds", "message"), [
    (float("nan"), "seconds: nan is not a finite number"),
    (float("inf"), "seconds: inf is not a finite number"),
    (float("-inf"), "seconds: -inf is not a finite number"),
    (86401, "seconds: 86401 is more than 24 hours in one entry"),
    ("5400", "seconds: expected a number of seconds, got '5400'"),
])
def test_a_duration_that_cannot_be_right_is_refused_naming_the_entry_and_the_field(seconds: Any, message: str) -> None:
    with pytest.raises(PayloadError, match=f"^Toggl Track time entry 3545645770: {message}$"):
        normalize_report_entry(flat(seconds=seconds), account="t", client_key=None, tz=LONDON)


def test_a_whole_day_is_the_longest_entry_and_a_running_timer_counts_nothing() -> None:
    assert normalize_report_entry(flat(seconds=86400), account="t", client_key=None, tz=LONDON).duration_seconds == 86400
    assert normalize_api_entry(api(duration=-1790000000), account="t", client_key=None,
                               tz=LONDON).duration_seconds == 0
