"""The admin's YAML configuration: pydantic models, and a loader that names file and line."""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import babel
import httpx
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from syncd.cadence import check_cron, longest_gap
from syncd.durations import Interval, parse_interval
from syncd.errors import ConfigError, ConfigProblem
from syncd.models import FIRST_DAY, LAST_DAY
from syncd.rules.hours import BusinessHours, parse_business_hours
from syncd.rules.redact import BUILTINS as BUILTIN_REDACTIONS
from syncd.rules.redact import check_pattern

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

# Fields a `describe` template may use. Worker names and internal notes are absent on
# purpose: a template cannot publish what the allow-list does not name.
TEMPLATE_FIELDS = frozenset(
    {"ticket_number", "ticket_title", "ticket_type", "work_type", "role", "task", "project", "notes"}
)


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown timezone {name!r} (use an IANA name such as Europe/London)") from err
    return name


def _locale(name: str) -> str:
    # Checked here so a typo is a config error with file and line, not a failed publish later.
    try:
        babel.Locale.parse(name.replace("-", "_"))
    except (babel.UnknownLocaleError, ValueError) as err:
        raise ValueError(f"unknown locale {name!r} (use a name such as en, en_GB or de_DE)") from err
    return name


def _work_day(day: date) -> date:
    # Dates the ledger sums over (cycle anchors, adjustments, rule-test entries) stay where
    # work can be dated, so no cycle end or timezone shift falls off the calendar.
    on = day.date() if isinstance(day, datetime) else day
    if not FIRST_DAY <= on <= LAST_DAY:
        raise ValueError(f"{on.isoformat()} is outside {FIRST_DAY.year}..{LAST_DAY.year}")
    return day


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as err:
        raise ValueError(f"invalid regular expression {pattern!r}: {err}") from err
    return pattern


def _template(text: str) -> str:
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as err:
        raise ValueError(f"invalid template {text!r}: {err}") from err
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            allowed = ", ".join(sorted(TEMPLATE_FIELDS))
            raise ValueError(f"template field {{{name}}} is not allowed; use one of: {allowed}")
    return text


def _str_list(value: Any) -> Any:
    return [value] if isinstance(value, (str, int)) and not isinstance(value, bool) else value


# How list-or-single fields and durations look to an editor (the validators accept more
# than the Python types say: "Travel" for [Travel], "45m" for 2700).
_STR_LIST_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
    "description": "One value or a list; matches any of them, case-insensitively.",
}
_DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "pattern": r"^\s*(?:\d+\s*[dhmsDHMS]\s*)+$"}, {"type": "integer", "minimum": 1}],
    "description": "A duration such as 15m, 1h30m or 90s (a bare number is seconds).",
}
_WINDOW_SCHEMA = r"[A-Za-z]{3}(-[A-Za-z]{3})?\s+\d{1,2}:\d{2}-\d{1,2}:\d{2}"
_HOURS_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": rf"^\s*{_WINDOW_SCHEMA}(\s*,\s*{_WINDOW_SCHEMA})*\s*$",
    "description": 'Local business hours, e.g. "mon-fri 08:00-18:00, sat 09:00-12:00".',
    "examples": ["mon-fri 08:00-18:00"],
}

Pattern = Annotated[str, AfterValidator(check_pattern)]
NonEmpty = Annotated[str, Field(min_length=1)]
Timezone = Annotated[str, AfterValidator(_timezone)]
Regex = Annotated[str, AfterValidator(_regex)]
Template = Annotated[str, AfterValidator(_template)]
StrList = Annotated[list[str], BeforeValidator(_str_list), WithJsonSchema(_STR_LIST_SCHEMA)]
Hours = Annotated[Decimal, Field(max_digits=9, decimal_places=2)]
WorkingHours = Annotated[BusinessHours, BeforeValidator(parse_business_hours), WithJsonSchema(_HOURS_SCHEMA)]
Duration = Annotated[Interval, WithJsonSchema(_DURATION_SCHEMA)]
# A locale name such as "en", "en_GB" or "pt-BR"; the page formats dates and numbers with it.
Locale = Annotated[str, Field(pattern=r"^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})*$"), AfterValidator(_locale)]
WorkDay = Annotated[date, AfterValidator(_work_day)]
WorkTime = Annotated[datetime, AfterValidator(_work_day)]
LocalDate = date  # for models with a field named `date`, which hides the type in the class body


def _cron(value: str) -> str:
    return check_cron(value)


def _refresh(value: Any) -> Any:
    # `refresh: 15m` and `refresh: "0 7 * * mon,thu"` are shorthands of the mapping form.
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and len(value.split()) == 5:
        return {"cron": value}
    try:
        return {"every": parse_interval(value)}
    except ValueError as err:
        raise ValueError(f"expected an interval such as 15m or 1h, or a cron expression such as "
                         f"\"0 7 * * mon,thu\", got {value!r}") from err


class RefreshConfig(Strict):
    """How often a client's page is refreshed: an interval, or a cron expression read in the
    client's timezone (minute hour day month weekday; 0 and 7 are Sunday)."""

    every: Interval | None = None
    cron: Annotated[str, AfterValidator(_cron)] | None = None

    @model_validator(mode="after")
    def _one(self) -> RefreshConfig:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give an interval (15m) or {cron: \"0 7 * * mon,thu\"}, not both")
        return self


_REFRESH_SCHEMA: dict[str, Any] = {
    "anyOf": [
        _DURATION_SCHEMA,
        {"type": "string", "pattern": r"^\s*\S+(\s+\S+){4}\s*$", "description": "A cron expression."},
        {"type": "object", "additionalProperties": False,
         "properties": {"cron": {"type": "string"}, "every": _DURATION_SCHEMA}},
    ],
    "description": 'An interval (15m, 1h) or a cron expression in the client\'s timezone ("0 7 * * mon,thu").',
    "examples": ["15m", "0 7 * * mon,thu", {"cron": "0 7 * * mon,thu"}],
}
Refresh = Annotated[RefreshConfig, BeforeValidator(_refresh), WithJsonSchema(_REFRESH_SCHEMA)]


def _http_url(value: SecretStr) -> SecretStr:
    # The address itself is not repeated: a webhook URL is a secret.
    if not re.match(r"^https?://[^\s/]+", value.get_secret_value()):
        raise ValueError("a webhook must be an http:// or https:// URL")
    return value


class EmailConfig(Strict):
    """E-mail over SMTP (STARTTLS by default); credentials from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    to: StrList = Field(min_length=1, description="Recipients.")
    sender: str = Field(alias="from", min_length=3, description="The From address.")
    host: str = Field(min_length=1, description="The SMTP server.")
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: SecretStr | None = None


class NotifyTarget(Strict):
    """Where alerts go: a generic JSON webhook (Slack, Teams) or e-mail."""

    webhook: Annotated[SecretStr, AfterValidator(_http_url)] | None = Field(
        default=None, description="A URL that accepts a JSON POST; write it as ${ENV_VAR}.")
    email: EmailConfig | None = None

    @model_validator(mode="after")
    def _one(self) -> NotifyTarget:
        if (self.webhook is None) == (self.email is None):
            raise ValueError("give either webhook or email")
        return self


# --- syncd.yaml -------------------------------------------------------------------------


class Defaults(Strict):
    """What a client gets when its own file says nothing."""

    refresh: Refresh = Field(default="15m", validate_default=True,
                             description="How stale a page may get: 15m, 1h, or a cron expression.")
    timezone: Timezone = "UTC"
    locale: Locale = Field(default="en", description="Language and number/date style of the page.")
    rules: list[str] = Field(default_factory=list, description="Rule sets applied to every client.")
    notify: list[str] = Field(
        default_factory=list,
        description="Targets (from notify:) for failing-source alerts and for clients that name none.")
    alert_failing_after: Interval = Field(
        default=1800, description="How long a source may fail before it alerts (refused credentials alert at once).")


class PublishConfig(Strict):
    """Where pages are published and the address they are reached at."""

    base_url: str | None = Field(
        default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="Public address of the page server; page URLs are base_url/c/<token>/.",
    )


class SyncdFile(Strict):
    """The top-level syncd.yaml."""

    accounts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    publish: PublishConfig = Field(default_factory=PublishConfig)
    technicians: list[str] = Field(
        default_factory=list, description="Extra names always scrubbed from published text."
    )
    notify: dict[str, NotifyTarget] = Field(
        default_factory=dict, description="Named alert targets, referred to by defaults.notify and clients' alerts.")


# --- clients/<key>.yaml --------------------------------------------------------------


CYCLE_KINDS = ("monthly", "quarterly", "yearly", "block")


class CycleConfig(Strict):
    """Exactly one of monthly / quarterly / yearly (each anchored on its first start date)
    or block (a prepaid block from its start date that never resets)."""

    monthly: WorkDay | None = None
    quarterly: WorkDay | None = None
    yearly: WorkDay | None = None
    block: WorkDay | None = Field(
        default=None, description="A prepaid block from this date: never resets; used up by work, topped up "
                                  "by adjustments.")

    @model_validator(mode="after")
    def _one_kind(self) -> CycleConfig:
        given = [k for k in CYCLE_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of monthly, quarterly, yearly (with the first cycle's start date) "
                             "or block (with its start date)")
        return self

    @property
    def months(self) -> int:
        """Length of one cycle in months (0 for a block, which never resets)."""
        return {"monthly": 1, "quarterly": 3, "yearly": 12, "block": 0}[self.kind]

    @property
    def kind(self) -> str:
        return next(k for k in CYCLE_KINDS if getattr(self, k) is not None)

    @property
    def resets(self) -> bool:
        """False for a prepaid block."""
        return self.kind != "block"

    @property
    def anchor(self) -> date:
        value = getattr(self, self.kind)
        assert value is not None
        return value


class PoolConfig(Strict):
    """A bucket of hours with its own cap."""

    label: str | None = None
    cap_hours: Hours | None = Field(
        default=None, ge=0, description="The pool's hours per cycle (once, for a pool that never resets). "
                                        "Optional for a flat-fee pool (tracked: false).")
    overflow_to: str | None = Field(
        default=None, description="Another pool that takes the work once this one is used up; a line that "
                                  "crosses the cap is split between the two.")
    tracked: bool = Field(
        default=True, description="false: flat-fee scope. Its work is shown as covered and counted nowhere.")
    resets: Literal["cycle", "never"] = Field(
        default="cycle", description="never: a prepaid pool whose balance carries across cycles from the "
                                     "retainer's start date, used up by work and topped up by adjustments.")

    @model_validator(mode="after")
    def _cap_given(self) -> PoolConfig:
        if self.tracked and self.cap_hours is None:
            raise ValueError("give cap_hours (only a flat-fee pool, tracked: false, may leave it out)")
        return self

    @property
    def cap(self) -> Decimal:
        """The cap in hours; 0 for a flat-fee pool that gives none."""
        return self.cap_hours if self.cap_hours is not None else Decimal(0)


class AdjustmentConfig(Strict):
    """A top-up (positive) or correction (negative) shown to the client with its note."""

    date: WorkDay
    hours: Hours
    note: str = Field(min_length=1)
    pool: str | None = None


class RolloverConfig(Strict):
    """Unused hours carried into the next cycle, per pool, up to a maximum."""

    max_hours: Hours = Field(ge=0, description="The most a pool carries from one cycle into the next.")


class AlertsConfig(Strict):
    """Low-balance thresholds, in percent of the available hours."""

    at_percent: list[Annotated[int, Field(ge=1, le=1000)]] = Field(default_factory=lambda: [75, 90, 100])
    notify: list[str] | None = Field(default=None, description="Targets (from notify:); else defaults.notify.")


class RetainerConfig(Strict):
    """The agreement: its cycle, pools, rollover and adjustments."""

    cycle: CycleConfig
    pools: dict[str, PoolConfig] = Field(min_length=1)
    rollover: RolloverConfig | None = Field(
        default=None, description="Carry each pool's unused hours (up to max_hours) from the previous cycle only.")
    adjustments: list[AdjustmentConfig] = Field(default_factory=list)
    overage_policy: str | None = Field(default=None, description="What happens to hours over the cap, in words "
                                                                  "shown on the page.")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    @model_validator(mode="after")
    def _consistent(self) -> RetainerConfig:
        errors: list[InitErrorDetails] = []
        for key in self.pools:
            if not KEY_PATTERN.match(key):
                errors.append(_error(("pools", key), key,
                                     f"pool name {key!r} must be lower-case letters, digits, - or _"))
        errors.extend(_overflow_errors(self.pools))
        for i, adj in enumerate(self.adjustments):
            if adj.pool is not None and adj.pool not in self.pools:
                errors.append(_error(("adjustments", i, "pool"), adj.pool,
                                     f"adjustment on {adj.date} names pool {adj.pool!r}, which is not defined"))
            elif not self.cycle.resets and adj.date < self.cycle.anchor:
                errors.append(_error(("adjustments", i, "date"), adj.date,
                                     f"adjustment on {adj.date} is before the block starts on {self.cycle.anchor}"))
        if self.rollover is not None and not self.cycle.resets:
            errors.append(_error(("rollover",), None, "a block never resets, so nothing rolls over: remove rollover"))
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @property
    def default_pool(self) -> str:
        """The pool work lands in when no rule says otherwise: the first one listed."""
        return next(iter(self.pools))

    def resets(self, pool: str) -> bool:
        """Whether ``pool`` starts afresh each cycle (not in a block, not `resets: never`)."""
        return self.cycle.resets and self.pools[pool].resets == "cycle"


def _overflow_errors(pools: Mapping[str, PoolConfig]) -> list[InitErrorDetails]:
    """Each overflow_to names another tracked pool, and no chain of them comes back round."""
    errors = []
    circles: set[frozenset[str]] = set()
    for key, pool in pools.items():
        target = pool.overflow_to
        if target is None:
            continue
        at = ("pools", key, "overflow_to")
        if not pool.tracked:
            errors.append(_error(at, target, f"pool {key!r} is flat-fee (tracked: false): nothing in it is "
                                             "counted, so nothing overflows; remove overflow_to"))
        elif target == key:
            errors.append(_error(at, target, f"pool {key!r} cannot overflow into itself"))
        elif target not in pools:
            errors.append(_error(at, target, f"pool {key!r} overflows to {target!r}, which is not defined "
                                             f"(pools: {', '.join(pools)})"))
        elif not pools[target].tracked:
            errors.append(_error(at, target, f"pool {key!r} overflows to {target!r}, a flat-fee pool "
                                             "(tracked: false) where hours would stop being counted"))
        else:
            chain, current = [key], target
            while current is not None and current not in chain and current in pools:
                chain.append(current)
                current = pools[current].overflow_to
            if current == key and frozenset(chain) not in circles:
                circles.add(frozenset(chain))  # one error per circle, on its first pool
                errors.append(_error(at, target, "overflow_to goes round in a circle: "
                                                 + " → ".join([*chain, key])))
    return errors


class ClientFile(Strict):
    """One client: clients/<key>.yaml."""

    name: str = Field(min_length=1, description="Shown on the client's page.")
    timezone: Timezone | None = None
    locale: Locale | None = None
    refresh: Refresh | None = None
    sources: list[dict[str, Any]] = Field(min_length=1)
    retainer: RetainerConfig
    rules: list[str] | None = None
    technicians: list[str] = Field(default_factory=list)


# --- rules/<name>.yaml ----------------------------------------------------------------


class Condition(Strict):
    """A rule's `when`: every key given must hold (an empty condition always holds).

    Time keys look at the entry's start in the client's timezone; day keys (weekend,
    holiday) at its local date (the start's, or the vendor's work date when there is no
    start). A holiday counts as outside business hours all day.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    vendor: StrList | None = Field(default=None, description="The source's vendor: connectwise, harvest …")
    account: StrList | None = Field(default=None, description="The account name in syncd.yaml.")
    work_type: StrList | None = None
    role: StrList | None = None
    task: StrList | None = None
    project: StrList | None = None
    ticket_type: StrList | None = None
    tags: StrList | None = Field(default=None, description="Holds when the entry has any of these tags.")
    worker: StrList | None = Field(
        default=None, description="Technician name or id: matching is allowed, publishing never is.")
    approval: StrList | None = None
    billable: bool | None = None
    travel: bool | None = None
    location: Literal["remote", "onsite", "unknown"] | None = None
    text: Regex | None = Field(default=None, description="Regex searched in client-facing notes and ticket title.")
    notes: Regex | None = Field(default=None, description="Regex searched in client-facing notes only.")
    title: Regex | None = Field(default=None, description="Regex searched in the ticket title only.")
    internal_notes: Regex | None = Field(
        default=None, description="Regex searched in internal notes (matched, never published).")
    outside_hours: WorkingHours | None = Field(
        default=None, description="Starts outside these local hours, or on a holiday of the rule set.")
    within_hours: WorkingHours | None = Field(
        default=None, description="Starts inside these local hours, and not on a holiday.")
    weekend: bool | None = Field(default=None, description="true: a local Saturday or Sunday; false: a weekday.")
    holiday: bool | None = Field(default=None, description="true: the local date is in the rule set's holidays.")
    min_duration: Duration | None = None
    max_duration: Duration | None = None
    all: list[Condition] | None = Field(default=None, description="Every one of these holds.")
    any: list[Condition] | None = Field(default=None, description="At least one of these holds.")
    not_: Condition | None = Field(default=None, alias="not", description="This does not hold.")

    @model_validator(mode="after")
    def _possible(self) -> Condition:
        if self.min_duration is not None and self.max_duration is not None and self.min_duration > self.max_duration:
            raise ValueError("min_duration is longer than max_duration: this condition can never hold")
        return self


class Rounding(Strict):
    """Round logged time up to an increment, with a minimum per entry (before any multiplier)."""

    up_to: Duration | None = Field(default=None, description="Round up to a multiple of this: 15m, 6m …")
    minimum: Duration | None = Field(default=None, description="Charge at least this much per entry.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `round: 15m` is `round: {up_to: 15m}`.
        return {"up_to": value} if isinstance(value, (str, int)) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _something(self) -> Rounding:
        if self.up_to is None and self.minimum is None:
            raise ValueError("give up_to, minimum, or both")
        return self


class Redaction(Strict):
    """One thing to redact: a built-in (ip, hostname, email, phone, url) or `{pattern: REGEX}`."""

    builtin: Literal["ip", "hostname", "email", "phone", "url"] | None = None
    pattern: Pattern | None = None

    @model_validator(mode="before")
    @classmethod
    def _by_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value not in BUILTIN_REDACTIONS:
                raise ValueError(f"unknown built-in redaction {value!r}: use one of "
                                 f"{', '.join(BUILTIN_REDACTIONS)}, or {{pattern: REGEX}} for your own")
            return {"builtin": value}
        return value

    @model_validator(mode="after")
    def _one(self) -> Redaction:
        if (self.builtin is None) == (self.pattern is None):
            raise ValueError("give a built-in name or {pattern: REGEX}")
        return self


def _list_of_one(value: Any) -> Any:
    return [value] if isinstance(value, (str, dict)) else value


Redactions = Annotated[list[Redaction], BeforeValidator(_list_of_one), Field(min_length=1)]
Glossary = Annotated[dict[Pattern, str], Field(min_length=1)]


class Rule(Strict):
    """One rule: a condition and the actions taken on entries that meet it.

    A matching `drop` wins outright. Otherwise the first matching rule that gives each of
    pool, describe, multiply, round and show_ticket_number decides it; labels add up;
    translate and redact apply from every matching rule, in rule order.
    """

    name: NonEmpty
    when: Condition = Field(default_factory=Condition)
    drop: bool | NonEmpty = Field(default=False, description="true, or the reason (shown in previews, counted).")
    pool: str | None = Field(default=None, description="The retainer pool the work counts against.")
    describe: Template | None = Field(
        default=None, description="Fixed text, or a template over " + ", ".join(sorted(TEMPLATE_FIELDS)) + ".")
    multiply: Annotated[Decimal, Field(gt=0, le=10)] | None = Field(
        default=None, description="Hours charged = (rounded) hours logged × this.")
    round: Rounding | None = Field(
        default=None, description="Round logged time up before the multiplier: {up_to: 15m, minimum: 30m}.")
    label: NonEmpty | None = Field(default=None, description="A tag shown on the line, e.g. After-hours ×2.")
    translate: Glossary | None = Field(
        default=None, description="Regex → plain phrase, applied to the description.")
    redact: Redactions | None = Field(
        default=None, description='Replace matches in the description with "[redacted]".')
    show_ticket_number: bool | None = Field(default=None, description="Publish the entry's ticket number.")

    # The holidays of the rule set the rule came from; set by RuleSetFile, not by YAML.
    _holidays: frozenset[date] = PrivateAttr(default_factory=frozenset)

    @property
    def holidays(self) -> frozenset[date]:
        """Dates the rule's `holiday` and business-hours conditions treat as holidays."""
        return self._holidays

    @model_validator(mode="after")
    def _has_action(self) -> Rule:
        others = [k for k in ("pool", "describe", "multiply", "round", "label", "translate", "redact",
                              "show_ticket_number") if getattr(self, k) is not None]
        if self.drop and others:
            raise ValueError(f"rule {self.name!r} drops entries, so {', '.join(others)} would never apply; "
                             "split it into two rules")
        if not (self.drop or others):
            raise ValueError(f"rule {self.name!r} has no action (drop, pool, describe, multiply, round, "
                             "label, translate, redact or show_ticket_number)")
        return self


class SampleEntry(Strict):
    """A rule test's input: a time entry in normalized field names, with sensible defaults."""

    vendor: str | None = Field(default=None, description="The vendor of the entry's account (for `vendor:`).")
    account: str = "test"
    vendor_id: str | None = Field(default=None, description="Default: test-<index>.")
    work_date: WorkDay | None = Field(default=None, description="Default: the start's local date, else today.")
    start: WorkTime | None = Field(
        default=None, description="Local start, e.g. 2026-03-09 19:30, in the test's timezone.")
    duration: Duration = Field(default=3600, description="How long: 45m, 1h30m … (default 1h).")
    billable: bool = True
    worker_id: str | None = None
    worker_name: str | None = None
    work_type: str | None = None
    role: str | None = None
    ticket_id: str | None = None
    ticket_number: str | None = None
    ticket_title: str | None = None
    ticket_type: str | None = None
    project: str | None = None
    task: str | None = None
    notes: str | None = None
    internal_notes: str | None = None
    location: Literal["remote", "onsite", "unknown"] = "unknown"
    travel: bool = False
    tags: StrList = Field(default_factory=list)
    approval: str | None = None


class ExpectedLine(Strict):
    """What a rule test expects: `dropped` (optionally by a named rule), or a line's fields.

    Only the fields given are checked. `pool: default` means no rule chose a pool.
    """

    dropped: bool | NonEmpty | None = Field(default=None, description="true, or the name of the rule that drops it.")
    description: str | None = None
    pool: str | None = None
    multiplier: Decimal | None = None
    labels: list[str] | None = None
    hours_logged: Decimal | None = None
    hours_charged: Decimal | None = None
    ticket_number: str | None = None
    date: LocalDate | None = Field(default=None, description="The line's local date.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value not in ("dropped", "kept"):
                raise ValueError(f"expected `dropped`, `kept` or line fields such as {{pool: scheduled}}, "
                                 f"got {value!r}")
            return {"dropped": value == "dropped"}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ExpectedLine:
        given = [k for k in type(self).model_fields if k != "dropped" and getattr(self, k) is not None]
        if self.dropped and given:
            raise ValueError(f"a dropped entry has no line, so {', '.join(given)} cannot be checked")
        return self


class RuleTest(Strict):
    """An input entry and what this file's rules must make of it."""

    name: str | None = Field(default=None, description="Shown when the test fails.")
    timezone: Timezone | None = Field(
        default=None, description="The client timezone to test in (default: defaults.timezone in syncd.yaml).")
    entry: SampleEntry
    expect: ExpectedLine = Field(description="`dropped`, `kept`, {dropped: <rule name>} or line fields.")


class RuleSetFile(Strict):
    """rules/<name>.yaml: ordered rules, the holidays they observe, and their own tests."""

    rules: list[Rule] = Field(default_factory=list)
    holidays: list[date] = Field(
        default_factory=list,
        description="Dates this file's rules treat as holidays: `holiday: true` holds, and they count as "
                    "outside business hours all day.",
    )
    tests: list[RuleTest] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> RuleSetFile:
        errors: list[InitErrorDetails] = []
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.name in seen:
                errors.append(_error(("rules", i, "name"), rule.name,
                                     f"another rule is already named {rule.name!r}; rule names must be unique "
                                     "in a file (previews and tests name rules)"))
            seen.add(rule.name)
        for i, test in enumerate(self.tests):
            named = test.expect.dropped
            if isinstance(named, str) and named not in seen:
                errors.append(_error(("tests", i, "expect", "dropped"), named,
                                     f"no rule in this file is named {named!r}"))
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        # Each rule carries its file's holidays, so a client's rule list (several files
        # merged) still knows which calendar each rule observes.
        holidays = frozenset(self.holidays)
        for rule in self.rules:
            rule._holidays = holidays
        return self


def _error(loc: tuple[str | int, ...], value: Any, message: str) -> InitErrorDetails:
    # A located error from a model-level check, so the loader can name the exact line.
    return InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=value)


# --- the loaded, cross-checked configuration -------------------------------------------


@dataclass(frozen=True)
class SourceSpec:
    """A client's source: the account it reads and the validated selector."""

    account: str
    selector: Any


@dataclass(frozen=True)
class ClientSpec:
    """A client with every default resolved."""

    key: str
    name: str
    timezone: str
    refresh: int
    sources: tuple[SourceSpec, ...]
    retainer: RetainerConfig
    rule_sets: tuple[str, ...]
    technicians: tuple[str, ...]
    file: str
    locale: str = "en"
    cron: str | None = None  # when set, refresh is the cron's longest gap between fires


@dataclass(frozen=True)
class Config:
    """Everything in a config directory, validated and cross-checked."""

    root: Path
    accounts: Mapping[str, Any]
    clients: Mapping[str, ClientSpec]
    rule_sets: Mapping[str, RuleSetFile]
    defaults: Defaults
    publish: PublishConfig
    technicians: tuple[str, ...] = ()
    files: tuple[str, ...] = field(default=())
    notify: Mapping[str, NotifyTarget] = field(default_factory=dict)

    def clients_of(self, account: str) -> list[tuple[ClientSpec, Any]]:
        """Each client reading ``account``, with its selector for that account."""
        return [
            (client, src.selector)
            for client in self.clients.values()
            for src in client.sources
            if src.account == account
        ]

    def rules_for(self, client_key: str) -> list[Rule]:
        """The client's rules in evaluation order: later rule sets first, so they override."""
        client = self.clients[client_key]
        return [rule for name in reversed(client.rule_sets) for rule in self.rule_sets[name].rules]


# --- YAML with line numbers ------------------------------------------------------------

# A config file is small: past these, a document is a mistake or an attack (aliases that
# expand exponentially), refused before it is walked, built or validated.
MAX_NODES = 100_000
MAX_DEPTH = 64
_ENV = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
Path_ = tuple[str | int, ...]


class LineMap:
    """Line numbers (1-based) of every key and list item of a YAML document, by path."""

    def __init__(self) -> None:
        self._lines: dict[Path_, int] = {}

    def set(self, path: Path_, line: int) -> None:
        self._lines.setdefault(path, line)

    def line(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), None)


def _walk(node: yaml.Node, path: Path_, lines: LineMap, problems: list[str | tuple[int, str]],
          environ: Mapping[str, str]) -> None:
    lines.set(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append((line, f"duplicate key {key!r} (first on line {seen[key]})"))
            seen[key] = line
            lines.set((*path, key), line)
            _walk(value_node, (*path, key), lines, problems, environ)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, problems, environ)
    elif isinstance(node, yaml.ScalarNode) and "${" in node.value:
        def substitute(match: re.Match[str]) -> str:
            name, default = match["name"], match["default"]
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            problems.append((node.start_mark.line + 1, f"environment variable {name} is not set"))
            return ""

        node.value = _ENV.sub(substitute, node.value)


def read_yaml(path: Path, *, environ: Mapping[str, str] | None = None) -> tuple[Any, LineMap]:
    """Parse one YAML file with ``${ENV}`` substitution; raise ConfigError naming file and line."""
    environ = os.environ if environ is None else environ
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(ConfigProblem(name, None, None, f"cannot read: {err}")) from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ConfigError(ConfigProblem(name, line, None, f"not UTF-8 text: byte {data[err.start]:#04x} "
                                                          "cannot be read (save the file as UTF-8)")) from err
    loader = yaml.SafeLoader(text)
    lines = LineMap()
    try:
        try:
            node = loader.get_single_node()
        except RecursionError as err:
            raise ConfigError(ConfigProblem(name, loader.line + 1, None,
                                            f"nested more than {MAX_DEPTH} levels deep")) from err
        if node is None:
            lines.set((), 1)  # an empty document: what it lacks is missing from its top
            return {}, lines
        _check_expansion(node, name)
        found: list[str | tuple[int, str]] = []
        _walk(node, (), lines, found, environ)
        if found:
            raise ConfigError([ConfigProblem(name, ln, None, msg) for ln, msg in found])  # type: ignore[misc]
        try:
            data = loader.construct_document(node)
        except ValueError as err:  # a well-formed scalar PyYAML cannot build, e.g. 2026-02-30
            line, value = _unbuildable_scalar(node)
            raise ConfigError(ConfigProblem(name, line, None, f"{value!r} is not a valid value: {err}")) from err
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(ConfigProblem(name, line, None, f"YAML syntax: {err.problem}")) from err
    except yaml.YAMLError as err:
        raise ConfigError(ConfigProblem(name, None, None, f"YAML: {err}")) from err
    finally:
        loader.dispose()
    return data, lines


def _check_expansion(root: yaml.Node, file: str) -> None:
    """Refuse a document whose aliases expand it past MAX_NODES values ("billion laughs"),
    that nests deeper than MAX_DEPTH, or whose alias refers to the node holding it: each would
    hang or exhaust the loader. Aliases are counted as what they expand to, each node once."""
    sizes: dict[int, int] = {}
    holding: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        line = node.start_mark.line + 1
        if key in holding:
            raise ConfigError(ConfigProblem(file, line, None, "an alias refers to the value that holds it"))
        if depth > MAX_DEPTH:
            raise ConfigError(ConfigProblem(file, line, None, f"nested more than {MAX_DEPTH} levels deep"))
        holding.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total = 1 + sum(size(child, depth + 1) for child in children)
        holding.discard(key)
        if total > MAX_NODES:
            raise ConfigError(ConfigProblem(file, line, None, f"aliases expand this to more than {MAX_NODES:,} "
                                                              "values: write it out, or use fewer aliases"))
        sizes[key] = total
        return total

    size(root, 0)


def _unbuildable_scalar(node: yaml.Node) -> tuple[int | None, str]:
    """The line and text of the first scalar under ``node`` that PyYAML cannot construct."""
    loader = yaml.SafeLoader("")  # a fresh one: the failed loader is left mid-construction
    stack = [node]
    while stack:
        current = stack.pop(0)
        if isinstance(current, yaml.ScalarNode):
            try:
                loader.construct_object(current, deep=True)
            except ValueError:
                return current.start_mark.line + 1, current.value
        elif isinstance(current, yaml.MappingNode):
            stack.extend(v for pair in current.value for v in pair)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return None, "?"


def _location(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problems_from(err: ValidationError, file: str, lines: LineMap, prefix: Path_ = ()) -> list[ConfigProblem]:
    """Turn a pydantic ValidationError into located problems, one per error."""
    problems = []
    for item in err.errors(include_url=False):
        # pydantic adds the failing validator's name for Annotated and union types; keep
        # only the parts that are real keys of the document.
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and "[" in p))
        loc = tuple("not" if p == "not_" else p for p in loc)
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field (check its spelling; see config/example/)"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        path = (*prefix, *loc)
        problems.append(ConfigProblem(file, lines.line(path), _location(path) or None, message))
    return problems


def _yaml_files(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        yield from sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _unknown_targets(names: list[str], targets: set[str] | None, file: str, lines: LineMap,
                     at: Path_) -> list[ConfigProblem]:
    """A problem for each alert target name that notify: in syncd.yaml does not define
    (none when syncd.yaml itself is broken: that is reported already)."""
    if targets is None:
        return []
    known = ", ".join(sorted(targets)) or "none"
    return [ConfigProblem(file, lines.line((*at, i)), _location((*at, i)),
                          f"no alert target named {name!r} in syncd.yaml notify: (known: {known})")
            for i, name in enumerate(names) if name not in targets]


def _unsendable(settings: Any) -> list[tuple[str | None, str]]:
    """(field, message) for each account setting an HTTP request cannot carry: credentials and
    header values are plain ASCII, and a value that is not would stop the connector being built."""
    from connectors.registry import connector_class

    found = []
    for field, value in settings:
        text = value.get_secret_value() if isinstance(value, SecretStr) else None
        if text is not None and not (text.isascii() and text.isprintable()):
            found.append((field, "holds characters a credential cannot have (letters, digits and ASCII "
                                 "punctuation only)"))
    if found:
        return found
    try:
        httpx.Headers(connector_class(settings.vendor).http_options(settings).get("headers") or {})
    except (UnicodeEncodeError, ValueError):
        return [(None, "a value sent in the vendor's request headers (such as user_agent) holds characters "
                       "other than ASCII")]
    return []


def load_config(root: Path | str, *, environ: Mapping[str, str] | None = None) -> Config:
    """Load and cross-check a config directory; raise ConfigError listing every problem."""
    from connectors.registry import connector_class, vendors

    root = Path(root)
    problems: list[ConfigProblem] = []
    main = root / "syncd.yaml"
    if not main.is_file():
        raise ConfigError(ConfigProblem(str(main), None, None, "not found: a config directory needs syncd.yaml"))

    def parse(path: Path, model: type[BaseModel]) -> tuple[Any, LineMap, Any]:
        """(model or None, line map, raw data or None): the raw data serves later checks
        even when the model failed, so one mistake is reported once, not once per reader."""
        try:
            data, lines = read_yaml(path, environ=environ)
        except ConfigError as err:
            problems.extend(err.problems)
            return None, LineMap(), None
        if not isinstance(data, dict):
            problems.append(ConfigProblem(str(path), 1, None, "expected a mapping at the top of the file"))
            return None, lines, None
        try:
            return model.model_validate(data), lines, data
        except ValidationError as err:
            problems.extend(problems_from(err, str(path), lines))
            return None, lines, data

    # syncd.yaml and its accounts, each account checked against its vendor's own model.
    parsed_main, main_lines, main_data = parse(main, SyncdFile)
    syncd_file = parsed_main or SyncdFile()
    accounts: dict[str, Any] = {}
    raw_accounts = (main_data or {}).get("accounts")
    known_accounts = set(raw_accounts) if isinstance(raw_accounts, dict) else set()
    for name, raw in (raw_accounts.items() if isinstance(raw_accounts, dict) else ()):
        at = ("accounts", name)
        if not isinstance(name, str) or not KEY_PATTERN.match(name):
            problems.append(ConfigProblem(str(main), main_lines.line(at), _location(at),
                                          "account names are lower-case letters, digits, - or _"))
            continue
        vendor = raw.get("vendor") if isinstance(raw, dict) else None
        if not isinstance(vendor, str) or vendor not in vendors():
            problems.append(ConfigProblem(
                str(main), main_lines.line((*at, "vendor")), _location((*at, "vendor")),
                f"unknown vendor {vendor!r}; known: {', '.join(sorted(vendors()))}"))
            continue
        try:
            accounts[name] = connector_class(vendor).settings_model.model_validate(raw)
        except ValidationError as err:
            problems.extend(problems_from(err, str(main), main_lines, at))
            continue
        for field, message in _unsendable(accounts[name]):
            where = (*at, field) if field else at
            problems.append(ConfigProblem(str(main), main_lines.line(where), _location(where), message))

    rule_sets: dict[str, RuleSetFile] = {}
    rule_lines: dict[str, tuple[str, LineMap]] = {}
    known_rule_sets: set[str] = set()
    files = [str(main)]
    for path in _yaml_files(root / "rules"):
        files.append(str(path))
        known_rule_sets.add(path.stem)
        rule_set, lines, _ = parse(path, RuleSetFile)
        if rule_set is not None:
            rule_sets[path.stem] = rule_set
            rule_lines[path.stem] = (str(path), lines)

    clients: dict[str, ClientSpec] = {}
    defaults = syncd_file.defaults
    for i, name in enumerate(defaults.rules):
        if name not in known_rule_sets:
            at = ("defaults", "rules", i)
            problems.append(ConfigProblem(str(main), main_lines.line(at), _location(at),
                                          f"no rule set named {name!r} in rules/"))
    targets = set(syncd_file.notify) if parsed_main is not None else None
    problems.extend(_unknown_targets(defaults.notify, targets, str(main), main_lines, ("defaults", "notify")))
    for path in _yaml_files(root / "clients"):
        files.append(str(path))
        if not KEY_PATTERN.match(path.stem):
            problems.append(ConfigProblem(str(path), None, None,
                                          "client file names are lower-case letters, digits, - or _"))
            continue
        client, lines, _ = parse(path, ClientFile)
        if client is None:
            continue
        sources = []
        for i, raw in enumerate(client.sources):
            at = ("sources", i)
            account = raw.get("account") if isinstance(raw, dict) else None
            if main_data is None or (isinstance(account, str) and account in known_accounts
                                     and account not in accounts):
                continue  # syncd.yaml or the account itself is broken, and already reported
            if not isinstance(account, str) or account not in accounts:
                known = ", ".join(sorted(accounts)) or "none"
                problems.append(ConfigProblem(str(path), lines.line(at), _location((*at, "account")),
                                              f"no account named {account!r} in syncd.yaml (known: {known})"))
                continue
            model = connector_class(accounts[account].vendor).selector_model
            try:
                sources.append(SourceSpec(account, model.model_validate(raw)))
            except ValidationError as err:
                problems.extend(problems_from(err, str(path), lines, at))
        chosen = tuple(client.rules if client.rules is not None else defaults.rules)
        for i, name in enumerate(chosen):
            if name in known_rule_sets and name not in rule_sets:
                continue  # the rule file itself is broken, and already reported
            if name not in rule_sets:
                problems.append(ConfigProblem(str(path), lines.line(("rules", i)), _location(("rules", i)),
                                              f"no rule set named {name!r} in rules/"))
            else:
                rule_file, rule_map = rule_lines[name]
                for j, rule in enumerate(rule_sets[name].rules):
                    if rule.pool is not None and rule.pool not in client.retainer.pools:
                        at = ("rules", j, "pool")
                        problems.append(ConfigProblem(
                            rule_file, rule_map.line(at), _location(at),
                            f"rule {rule.name!r} sends work to pool {rule.pool!r}, which client "
                            f"{path.stem} does not have (its pools: {', '.join(client.retainer.pools)})"))
        problems.extend(_unknown_targets(client.retainer.alerts.notify or [], targets, str(path), lines,
                                         ("retainer", "alerts", "notify")))
        retainer = client.retainer
        if retainer.alerts.notify is None:
            retainer = retainer.model_copy(update={"alerts": retainer.alerts.model_copy(
                update={"notify": list(defaults.notify)})})
        timezone = client.timezone or defaults.timezone
        refresh = client.refresh or defaults.refresh
        clients[path.stem] = ClientSpec(
            key=path.stem,
            name=client.name,
            timezone=timezone,
            refresh=refresh.every or longest_gap(refresh.cron or "", timezone) or 86400,
            cron=refresh.cron,
            sources=tuple(sources),
            retainer=retainer,
            rule_sets=chosen,
            technicians=tuple(client.technicians),
            file=str(path),
            locale=client.locale or defaults.locale,
        )
    if not clients and not problems:
        problems.append(ConfigProblem(str(root / "clients"), None, None, "no client files found"))
    if problems:
        raise ConfigError(problems)
    return Config(
        root=root,
        accounts=accounts,
        clients=clients,
        rule_sets=rule_sets,
        defaults=defaults,
        publish=syncd_file.publish,
        technicians=tuple(syncd_file.technicians),
        files=tuple(files),
        notify=dict(syncd_file.notify),
    )
