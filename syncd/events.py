"""Named telemetry events: each is one log line and one metric."""

from __future__ import annotations

import structlog
from prometheus_client import Counter, Gauge

from syncd.store import SyncRun

log = structlog.get_logger("syncd")

SYNCS = Counter("syncd_syncs_total", "Account syncs by outcome.", ["account", "kind", "outcome"])
REQUESTS = Counter("syncd_vendor_requests_total", "Requests sent to vendors.", ["account"])
ENTRIES = Counter("syncd_entries_fetched_total", "Entries read from vendors.", ["account"])
PUBLISHES = Counter("syncd_publishes_total", "Client pages written.", ["changed"])
DATA_AGE = Gauge("syncd_client_data_timestamp_seconds", "When a client's oldest source was last read.", ["client"])
FAILING = Gauge("syncd_source_failing", "1 while an account is failing.", ["account"])


def sync_finished(run: SyncRun, clients: int) -> None:
    """The one summary line per sync run."""
    SYNCS.labels(run.account, run.kind, run.outcome).inc()
    REQUESTS.labels(run.account).inc(run.requests)
    ENTRIES.labels(run.account).inc(run.fetched)
    duration_ms = int((run.finished_at - run.started_at).total_seconds() * 1000)
    log.info(
        "sync", account=run.account, kind=run.kind, outcome=run.outcome, requests=run.requests,
        fetched=run.fetched, changed=run.changed, clients=clients, duration_ms=duration_ms,
    )


def source_failed(account: str, kind: str, error: str) -> None:
    """Logged once, on the transition to failing."""
    FAILING.labels(account).set(1)
    log.error("source_failed", account=account, error_kind=kind, error=error)


def source_recovered(account: str) -> None:
    """Logged once, on the first success after a failure."""
    FAILING.labels(account).set(0)
    log.info("source_recovered", account=account)


def reconcile_refused(account: str, listed: int, held: int) -> None:
    """The vendor listed (almost) nothing where we hold entries: deleting them would be a guess."""
    log.warning("reconcile_refused", account=account, listed=listed, held=held)


def published(client: str, changed: bool, stale: bool, data_timestamp: float | None) -> None:
    """A client's page was rendered (and written when it changed)."""
    PUBLISHES.labels("yes" if changed else "no").inc()
    if data_timestamp is not None:
        DATA_AGE.labels(client).set(data_timestamp)
    log.debug("published", client=client, changed=changed, stale=stale)
