"""Named telemetry events: each is one log line and one metric."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable

import structlog
from prometheus_client import Counter, Gauge

from syncd.store import SyncRun

log = structlog.get_logger("syncd")

SYNCS = Counter("syncd_syncs_total", "Account syncs by outcome.", ["account", "kind", "outcome"])
REQUESTS = Counter("syncd_vendor_requests_total", "Requests sent to vendors.", ["vendor", "account"])
THROTTLES = Counter("syncd_vendor_throttles_total", "Rate-limit answers (429, 402, thresholds) from vendors.",
                    ["vendor", "account"])
ENTRIES = Counter("syncd_entries_fetched_total", "Entries read from vendors.", ["vendor", "account"])
LINES = Gauge("syncd_client_entries_published", "Entries on a client's page (lines, all cycles shown).",
              ["client"])
DROPPED = Gauge("syncd_client_entries_dropped", "Entries a client's rules keep off its page, by rule.",
                ["client", "rule"])
PUBLISHES = Counter("syncd_publishes_total", "Client pages written.", ["changed"])
DATA_TIME = Gauge("syncd_client_data_timestamp_seconds", "When a client's oldest source was last read.", ["client"])
DATA_AGE = Gauge("syncd_client_data_age_seconds", "Seconds since a client's oldest source was last read.",
                 ["client"])
FAILING = Gauge("syncd_source_failing", "1 while an account is failing.", ["account"])
DEFERRED = Counter("syncd_syncs_deferred_total", "Account syncs put off to keep within the hourly budget.",
                   ["account", "reason"])
POLL_INTERVAL = Gauge("syncd_account_poll_interval_seconds",
                      "How often an account is polled: its clients' shortest refresh, or longer when stretched.",
                      ["account"])
PUSHED = Counter("syncd_push_events_total", "Webhook and callback deliveries by vendor and outcome.",
                 ["vendor", "outcome"])
RELOADS = Counter("syncd_config_reloads_total", "Config reloads by outcome.", ["outcome"])
for _outcome in ("applied", "rejected"):
    RELOADS.labels(_outcome)  # present at zero, so a dashboard can tell "none yet" from "not scraped"

_data_times: dict[str, float] = {}
_dropped_rules: dict[str, set[str]] = {}


def sync_finished(run: SyncRun, clients: int, *, vendor: str = "unknown", throttles: int = 0) -> None:
    """The one summary line per sync run."""
    SYNCS.labels(run.account, run.kind, run.outcome).inc()
    REQUESTS.labels(vendor, run.account).inc(run.requests)
    THROTTLES.labels(vendor, run.account).inc(throttles)
    ENTRIES.labels(vendor, run.account).inc(run.fetched)
    duration_ms = int((run.finished_at - run.started_at).total_seconds() * 1000)
    log.info(
        "sync", account=run.account, vendor=vendor, kind=run.kind, outcome=run.outcome, requests=run.requests,
        throttles=throttles, fetched=run.fetched, changed=run.changed, clients=clients, duration_ms=duration_ms,
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


def rules_applied(client: str, kept: int, dropped_by: Iterable[str]) -> None:
    """What a client's rules made of its entries: lines kept, and entries dropped per rule."""
    LINES.labels(client).set(kept)
    counts = Tally(dropped_by)
    for rule in _dropped_rules.get(client, set()) - set(counts):
        DROPPED.labels(client, rule).set(0)  # a rule that no longer drops anything reads 0, not its old count
    for rule, count in counts.items():
        DROPPED.labels(client, rule).set(count)
    _dropped_rules[client] = set(counts) | _dropped_rules.get(client, set())


def published(client: str, changed: bool, stale: bool, data_timestamp: float | None) -> None:
    """A client's page was rendered (and written when it changed)."""
    PUBLISHES.labels("yes" if changed else "no").inc()
    if data_timestamp is not None:
        DATA_TIME.labels(client).set(data_timestamp)
        if client not in _data_times:
            # Computed at scrape time, so the age keeps growing while nothing is read.
            DATA_AGE.labels(client).set_function(lambda: max(0.0, time.time() - _data_times[client]))
        _data_times[client] = data_timestamp
    log.debug("published", client=client, changed=changed, stale=stale)


def reload_applied(clients: int, accounts: int) -> None:
    """A changed config directory was loaded and now runs."""
    RELOADS.labels("applied").inc()
    log.info("reloaded", clients=clients, accounts=accounts)


def reload_rejected(problems: list[str]) -> None:
    """A changed config directory failed validation or its rule tests; the old one runs on."""
    RELOADS.labels("rejected").inc()
    log.error("reload_rejected", problems=problems, count=len(problems))
