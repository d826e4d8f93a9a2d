"""Alerts to the MSP: what fires (low balance, failing and recovered sources) and how it is delivered."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

import httpx
import structlog
from prometheus_client import Counter

from syncd.config import Config, NotifyTarget
from syncd.models import Statement, format_hours

log = structlog.get_logger("syncd")

DELIVERIES = Counter("syncd_alert_deliveries_total", "Alert deliveries by target kind and outcome.",
                     ["target", "outcome"])
for _kind in ("webhook", "email"):
    for _outcome in ("sent", "failed"):
        DELIVERIES.labels(_kind, _outcome)  # present at zero from the start


@dataclass(frozen=True)
class Alert:
    """One thing the MSP should hear about, in words and in fields."""

    kind: str  # low_balance | source_failing | source_recovered
    subject: str  # the client key or account name it is about
    title: str
    text: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The JSON body of a webhook: ``text`` is what Slack and Teams incoming webhooks show."""
        return {"text": f"{self.title}\n{self.text}", "kind": self.kind, "subject": self.subject,
                "title": self.title, "fields": dict(self.fields)}


def crossed_thresholds(statement: Statement, thresholds: Iterable[int]) -> list[int]:
    """The low-balance thresholds (percent of the available hours) the cycle has reached."""
    available, used = statement.available, statement.used
    if available <= 0:
        return sorted(t for t in thresholds if used > 0 and t <= 100)
    return sorted(t for t in thresholds if used * 100 >= available * t)


def low_balance_alert(statement: Statement, threshold: int) -> Alert:
    """The alert for one crossed threshold of one client's cycle."""
    overs = [f"{p.label} is {format_hours(p.over)} h over its {format_hours(p.available)} h"
             for p in statement.pools if p.over > 0]
    state = "; ".join(overs) if overs else f"{format_hours(statement.remaining)} h remaining"
    return Alert(
        kind="low_balance",
        subject=statement.client_key,
        title=f"{statement.client_name}: {threshold}% of this cycle's hours used",
        text=(f"{format_hours(statement.used)} h used of {format_hours(statement.available)} h; {state}. "
              f"{_resets(statement)}."),
        fields={"client": statement.client_key, "threshold": threshold,
                "cycle_start": statement.cycle.start.isoformat(), "used": format_hours(statement.used),
                "available": format_hours(statement.available)},
    )


def _resets(statement: Statement) -> str:
    resets_on = statement.cycle.resets_on
    return "The prepaid block does not reset" if resets_on is None else f"The cycle resets on {resets_on:%d %b %Y}"


def source_alert(account: str, vendor: str, *, failing: bool, kind: str = "", since: str = "") -> Alert:
    """A source that started failing, or recovered. Error text stays out: it is in the log."""
    if failing:
        title = f"{vendor} account {account!r} is failing ({kind})"
        text = ("Credentials were refused: polling stopped until they are fixed." if kind == "auth"
                else f"Failing since {since}; client pages keep their last good data, marked stale.")
        return Alert("source_failing", account, title, text, {"account": account, "error_kind": kind})
    return Alert("source_recovered", account, f"{vendor} account {account!r} recovered",
                 "Syncing again; client pages are current.", {"account": account})


@dataclass(frozen=True)
class AlertPolicy:
    """Who hears about what: the notifier, the targets for source alerts, and how long a
    source may fail (other than refused credentials, which alert at once) before it alerts."""

    notifier: Notifier
    source_targets: Sequence[str] = ()
    failing_after: float = 1800.0


class Target(Protocol):
    """Somewhere alerts are delivered."""

    kind: str

    async def send(self, alert: Alert) -> None: ...


@dataclass
class WebhookTarget:
    """A generic JSON webhook (Slack and Teams incoming webhooks accept it)."""

    url: str
    timeout: float = 10.0
    transport: httpx.AsyncBaseTransport | None = None
    kind: str = "webhook"

    async def send(self, alert: Alert) -> None:
        async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as http:
            response = await http.post(self.url, json=alert.payload())
            response.raise_for_status()


@dataclass
class EmailTarget:
    """E-mail over SMTP, with STARTTLS unless told otherwise."""

    host: str
    sender: str
    recipients: Sequence[str]
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    timeout: float = 20.0
    kind: str = "email"

    async def send(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = alert.title
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(alert.text + "\n\n" + "\n".join(f"{k}: {v}" for k, v in alert.fields.items()))
        await asyncio.to_thread(self._deliver, message)

    def _deliver(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(message)


class Notifier:
    """Delivers alerts to named targets; a failed delivery is logged and counted, never raised."""

    def __init__(self, targets: Mapping[str, Target]) -> None:
        self.targets = dict(targets)

    async def notify(self, alert: Alert, names: Iterable[str]) -> int:
        """Send ``alert`` to each named target; returns how many deliveries succeeded."""
        delivered = 0
        for name in dict.fromkeys(names):
            target = self.targets.get(name)
            if target is None:
                continue
            try:
                await target.send(alert)
            except (OSError, httpx.HTTPError, smtplib.SMTPException) as err:
                DELIVERIES.labels(target.kind, "failed").inc()
                # The target's address may hold a secret (webhook URLs do): name it, do not print it.
                log.warning("alert_delivery_failed", target=name, alert=alert.kind, subject=alert.subject,
                            error=type(err).__name__)
                continue
            DELIVERIES.labels(target.kind, "sent").inc()
            delivered += 1
        log.info("alert", kind=alert.kind, subject=alert.subject, delivered=delivered)
        return delivered


def target_from(config: NotifyTarget) -> Target:
    """The delivery target a ``notify:`` entry of syncd.yaml describes."""
    if config.webhook is not None:
        return WebhookTarget(config.webhook.get_secret_value())
    mail = config.email
    assert mail is not None  # the model holds exactly one of webhook and email
    return EmailTarget(host=mail.host, port=mail.port, starttls=mail.starttls, sender=mail.sender,
                       recipients=list(mail.to), username=mail.username,
                       password=mail.password.get_secret_value() if mail.password else None)


def alert_policy(config: Config) -> AlertPolicy | None:
    """Alerts as the config asks for them; None when it names no target."""
    if not config.notify:
        return None
    notifier = Notifier({name: target_from(target) for name, target in config.notify.items()})
    return AlertPolicy(notifier, source_targets=tuple(config.defaults.notify),
                       failing_after=float(config.defaults.alert_failing_after))
