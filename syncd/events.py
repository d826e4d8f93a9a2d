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
DEFERRED = Counter("syncd_syncs_deferred_total", "Account syncs put off to keep within the hourly budget.",
                   ["account", "reason"])
POLL_INTERVAL = Gauge("syncd_account_poll_interval_seconds",
                      "How often an account is polled: its clients' shortest refresh, or longer when stretched.",
                      ["account"])
PUSHED = Counter("syncd_push_events_total", "Webhook and callback deliveries by vendor and outcome.",
                 ["vendor", "outcome"])


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


def refresh_deferred(account: str, reason: str) -> None:
    """A sync was put off: the account's hourly budget (or the vendor's quota) has no room now."""
    DEFERRED.labels(account, reason).inc()


def refresh_stretched(account: str, per_hour: int, asked_every: float, polled_every: float) -> None:
    """Logged once, when an account's budget starts stretching its clients' refreshes."""
    POLL_INTERVAL.labels(account).set(polled_every)
    log.warning("refresh_stretched", account=account, budget_per_hour=per_hour, asked_every_s=int(asked_every),
                polled_every_s=int(polled_every))


def refresh_restored(account: str, per_hour: int, asked_every: float) -> None:
    """Logged once, when the budget meets every refresh again."""
    POLL_INTERVAL.labels(account).set(asked_every)
    log.info("refresh_restored", account=account, budget_per_hour=per_hour, asked_every_s=int(asked_every))


def push_received(vendor: str, outcome: str, account: str | None = None, **details: object) -> None:
    """One webhook or callback delivery and what became of it (never its secret or body)."""
    PUSHED.labels(vendor, outcome).inc()
    log.info("push", vendor=vendor, account=account, outcome=outcome, **details)


def published(client: str, changed: bool, stale: bool, data_timestamp: float | None) -> None:
    """A client's page was rendered (and written when it changed)."""
    PUBLISHES.labels("yes" if changed else "no").inc()
    if data_timestamp is not None:
        DATA_AGE.labels(client).set(data_timestamp)
    log.debug("published", client=client, changed=changed, stale=stale)
