"""Hypothesis strategies for hostile vendor payloads, and the checks every normalizer must pass."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from hypothesis import strategies as st

from connectors.base import ClientRoute, Connector
from connectors.fields import FIRST_DAY, LAST_DAY, MAX_ENTRY_SECONDS, MAX_NAME
from syncd.errors import PayloadError
from syncd.models import TimeEntry

DELETE = object()  # a mutation that removes the key

# Durations as vendors might send them by mistake, in whatever unit the field carries.
NUMBERS_BAD = st.sampled_from([
    0, -0.0, -1, -0.25, 25, 24.01, 1e12, -1e12, 10**30, 2**63, float("nan"), float("inf"), float("-inf"),
    1e-12, 1e308, 86401, 90000,
])
NUMBER_TEXTS = st.sampled_from([
    "NaN", "nan", "-NaN", "sNaN", "inf", "-inf", "Infinity", "-Infinity", "1e12", "1E999999", "1,5", "1.5",
    "0", "-1", "", " ", "0x10", "1_000", "½", "١٢", "1.5h", "01:30", "null", "None", "true",
])
DATES_BAD = st.sampled_from([
    "0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "0000-00-00", "1900-01-01", "1753-01-01",
    "26-11-20", "2026-11-20T25:00:00", "2026/11/20", "20261120", "２０２６-11-20", "2026-11-20\x00",
])
INSTANTS_BAD = st.sampled_from([
    "0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59Z",
    "9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59.9999999Z", "2026-02-30T10:00:00Z",
    "2026-11-20T15:00:00+25:00", "2026-11-20T15:00:00+23:59", "2026-11-20T15:00:00 Europe/Nowhere",
    "2026-11-20T15:00:00+99:99", "2026-11-20T15:00:00Zulu", "2026-11-20", "20261120T150000Z",
    "1970-01-01T00:00:00Z", "2026-11-20T15:00:00.12345678901Z", "2026-11-20T15:00:00z", "yesterday", "",
    "1900-01-01T00:00:00", "1753-01-01T00:00:00",
])
HUGE_TEXT = st.sampled_from(["x" * 100_000, "é" * 30_000 + "\u202e", "\ud800 lone surrogate", "a\x00b"])


def scalars() -> st.SearchStrategy[Any]:
    """Any JSON scalar, weighted towards the values that break parsers."""
    return st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40), NUMBERS_BAD, NUMBER_TEXTS, DATES_BAD, INSTANTS_BAD, HUGE_TEXT,
    )


def not_objects() -> st.SearchStrategy[Any]:
    """A whole payload that is not a JSON object."""
    return st.one_of(scalars(), st.lists(scalars(), max_size=3))


def hostile() -> st.SearchStrategy[Any]:
    """A wrong value of any JSON shape: a scalar, a list or an object of scalars."""
    return st.one_of(
        scalars(),
        st.lists(scalars(), max_size=3),
        st.dictionaries(st.sampled_from(["id", "name", "value", ""]), scalars(), max_size=3),
    )


def durations(unit_seconds: float) -> st.SearchStrategy[Any]:
    """Durations in a field of ``unit_seconds`` per unit: zero, negative, absurd, NaN-like, text."""
    day = MAX_ENTRY_SECONDS / unit_seconds
    return st.one_of(
        NUMBERS_BAD, NUMBER_TEXTS,
        st.sampled_from([day, day + 1 / unit_seconds, day * 2, -day, 0.0]),
        st.floats(min_value=-2 * day, max_value=2 * day),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
    )


@st.composite
def mutated(draw: st.DrawFn, base: Mapping[str, Any], fields: Mapping[str, st.SearchStrategy[Any]],
            *, max_fields: int = 3) -> tuple[dict[str, Any], list[str]]:
    """``base`` with one to ``max_fields`` of its ``fields`` deleted, nulled, or replaced by a
    field-specific bad value or any hostile one; returns the payload and the keys changed."""
    keys = draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=max_fields, unique=True))
    raw = json.loads(json.dumps(base))  # a deep copy that is plain JSON, as a wire payload is
    for key in keys:
        value = draw(st.one_of(st.just(DELETE), st.none(), fields[key], hostile()))
        if value is DELETE:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw, keys


def sandbox_connector(vendor: str) -> Connector:
    """A connector configured as for its sandbox (clients c0, c1, …), whose every request fails:
    normalizing a payload must never send one."""
    import importlib

    from connectors.registry import connector_class, open_connector

    driver = importlib.import_module(f"connectors.{vendor}.sandbox").make_driver(lambda: datetime(2026, 11, 18))
    cls = connector_class(vendor)
    settings = cls.settings_model.model_validate(driver.account("http://sandbox.test"))
    routes = [ClientRoute(f"c{i}", cls.selector_model.model_validate({"account": "src", **sel}))
              for i, sel in enumerate(driver.selectors())]

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"normalize sent {request.method} {request.url}")

    return open_connector("src", settings, routes, transport=httpx.MockTransport(refuse))


def is_utc(moment: datetime | None) -> bool:
    return moment is None or (moment.tzinfo is not None and moment.utcoffset() == timedelta(0))


def assert_sane(entry: TimeEntry) -> None:
    """What the ledger, the rules and the store rely on in every normalized entry."""
    assert isinstance(entry, TimeEntry)
    assert isinstance(entry.vendor_id, str) and entry.vendor_id.strip(), entry.vendor_id
    assert isinstance(entry.duration_seconds, int) and not isinstance(entry.duration_seconds, bool)
    assert 0 <= entry.duration_seconds <= MAX_ENTRY_SECONDS, entry.duration_seconds
    assert type(entry.work_date) is date and FIRST_DAY <= entry.work_date <= LAST_DAY, entry.work_date
    assert len(entry.vendor_id) <= 128 and (entry.worker_name is None or len(entry.worker_name) <= MAX_NAME)
    assert isinstance(entry.updated_at, datetime) and entry.updated_at.tzinfo is not None and is_utc(entry.updated_at)
    assert entry.started_at is None or (isinstance(entry.started_at, datetime) and is_utc(entry.started_at))
    for name in ("worker_id", "worker_name", "work_type", "role", "ticket_id", "ticket_number", "ticket_title",
                 "ticket_type", "project", "task", "notes", "internal_notes", "approval", "client_key"):
        value = getattr(entry, name)
        assert value is None or (isinstance(value, str) and "\x00" not in value), (name, value)
        if value is not None:
            value.encode("utf-8")  # the store and the page write UTF-8
    assert all(isinstance(t, str) for t in entry.tags) and isinstance(entry.tags, tuple)
    assert entry.location in ("remote", "onsite", "unknown")
    assert all(isinstance(getattr(entry, f), bool) for f in ("billable", "travel", "deleted"))
    # The store keeps entries as JSON: what goes in must come back the same.
    assert TimeEntry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry


def check(convert: Callable[[], Any], *, vendor_id: str | None, changed: list[str]) -> Any:
    """Run one normalization: a sane result, or a PayloadError naming the entry and a changed field.

    ``vendor_id`` is the id the message must name (None when the id itself was changed).
    Any other exception fails the property with its traceback.
    """
    try:
        result = convert()
    except PayloadError as err:
        message = str(err)
        if vendor_id is not None:
            assert vendor_id in message, f"{message!r} does not name entry {vendor_id}"
        assert any(field in message for field in changed), f"{message!r} names none of {changed}"
        return None
    for entry in result if isinstance(result, (tuple, list)) else (result,):
        assert_sane(entry)
    return result


def finite(value: Any) -> bool:
    """Whether a float-ish value is a finite number (for assertions about what loaded)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False
