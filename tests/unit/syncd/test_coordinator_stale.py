"""When a failing source makes a client's page stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncd.coordinator import source_is_stale
from syncd.store import SourceStatus

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
REFRESH = 15 * 60.0


def status(*, failing_for: timedelta | None, outcome: str | None = "transient",
           last_ok: timedelta | None = timedelta(hours=2)) -> SourceStatus:
    return SourceStatus(
        account="cw",
        last_success_at=NOW - last_ok if last_ok is not None else None,
        failing_since=NOW - failing_for if failing_for is not None else None,
        last_outcome=outcome if failing_for is not None else "ok",
        last_error=None,
    )


@pytest.mark.parametrize(("source", "stale"), [
    (status(failing_for=None), False),
    (status(failing_for=None, last_ok=timedelta(days=3)), False),  # quiet, not failing
    (status(failing_for=timedelta(minutes=1)), False),
    (status(failing_for=timedelta(minutes=44)), False),
    (status(failing_for=timedelta(minutes=45)), False),  # exactly three intervals: not longer
    (status(failing_for=timedelta(minutes=45, seconds=1)), True),
    (status(failing_for=timedelta(hours=5)), True),
    # Old data alone does not count: the failure itself must be older than three intervals.
    (status(failing_for=timedelta(minutes=10), last_ok=timedelta(days=2)), False),
    (status(failing_for=timedelta(minutes=50), last_ok=None), True),  # never read at all
    (status(failing_for=timedelta(seconds=5), outcome="auth"), True),  # refused credentials
], ids=lambda v: "" if isinstance(v, bool) else None)
def test_a_page_goes_stale_after_three_refresh_intervals_of_failure_or_at_once_on_refused_credentials(
    source: SourceStatus, stale: bool
) -> None:
    assert source_is_stale(source, REFRESH, NOW) is stale
