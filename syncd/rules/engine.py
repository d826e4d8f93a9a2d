"""The rules engine: a client's entries in, published lines and dropped entries out (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

import structlog

from syncd.config import TEMPLATE_FIELDS, Condition, Rule
from syncd.models import Dropped, Line, TimeEntry, hours
from syncd.rules.guard import INTERNAL_NOTE, TECHNICIAN_NAME, LeakGuard
from syncd.rules.scrub import NameScrubber

__all__ = [
    "GENERIC_DESCRIPTION",
    "CompiledRules",
    "RuleContext",
    "RuleResult",
    "apply_rules",
    "compile_rules",
    "describe_entry",
]

GENERIC_DESCRIPTION = "Support work"
_ONE = Decimal(1)
_SECONDS_PER_HOUR = Decimal(3600)
_SENTENCE_END = (".", "!", "?", ";", ":", "…")

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RuleContext:
    """What the rules need to know about the client they run for.

    ``account_vendors`` maps account name → vendor ("connectwise", "toggl" …); a
    TimeEntry carries only its account, so the `vendor` condition is answered from here
    and never holds for an account missing from the mapping.
    """

    timezone: str
    default_pool: str
    technicians: frozenset[str]
    account_vendors: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one run: kept lines (oldest first) and what the rules dropped."""

    lines: tuple[Line, ...]
    dropped: tuple[Dropped, ...]


@dataclass(frozen=True, slots=True)
class _View:
    """One entry with what conditions ask of it, computed once."""

    entry: TimeEntry
    local_start: datetime | None
    vendor: str | None
    text: str


Predicate = Callable[[_View], bool]


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    name: str
    matches: Predicate
    drop: bool
    drop_reason: str | None
    describe: str | None
    multiply: Decimal | None
    label: str | None
    pool: str | None


@dataclass(frozen=True)
class CompiledRules:
    """An ordered rule list with conditions compiled to predicates (regexes compiled once)."""

    rules: tuple[_CompiledRule, ...]

    def __len__(self) -> int:
        return len(self.rules)


@dataclass(frozen=True, slots=True)
class _Decision:
    pool: str | None = None
    describe: str | None = None
    multiply: Decimal | None = None
    labels: tuple[str, ...] = ()


# --- compiling ---------------------------------------------------------------------------


def compile_rules(rules: Sequence[Rule]) -> CompiledRules:
    """Compile rules once, in evaluation order, for use by :func:`apply_rules`."""
    return CompiledRules(tuple(_compile_rule(rule) for rule in rules))


def _compile_rule(rule: Rule) -> _CompiledRule:
    return _CompiledRule(
        name=rule.name,
        matches=compile_condition(rule.when),
        drop=bool(rule.drop),
        drop_reason=rule.drop if isinstance(rule.drop, str) else None,
        describe=rule.describe,
        multiply=rule.multiply,
        label=rule.label,
        pool=rule.pool,
    )


def _fold(value: str) -> str:
    return value.strip().casefold()


def _wanted(values: Iterable[str]) -> frozenset[str]:
    return frozenset(_fold(str(v)) for v in values)


def _field_in(name: str, values: Iterable[str]) -> Predicate:
    wanted = _wanted(values)

    def check(view: _View) -> bool:
        value = getattr(view.entry, name)
        return value is not None and _fold(value) in wanted

    return check


def _tags_in(values: Iterable[str]) -> Predicate:
    wanted = _wanted(values)
    return lambda view: any(_fold(tag) in wanted for tag in view.entry.tags)


def _worker_in(values: Iterable[str]) -> Predicate:
    wanted = _wanted(values)

    def check(view: _View) -> bool:
        entry = view.entry
        return any(v is not None and _fold(v) in wanted for v in (entry.worker_name, entry.worker_id))

    return check


def _vendor_in(values: Iterable[str]) -> Predicate:
    wanted = _wanted(values)
    return lambda view: view.vendor is not None and _fold(view.vendor) in wanted


def _equals(name: str, expected: object) -> Predicate:
    return lambda view: getattr(view.entry, name) == expected


_LIST_FIELDS = ("account", "work_type", "role", "task", "project", "ticket_type", "approval")


def compile_condition(condition: Condition) -> Predicate:
    """A predicate that holds when every key given in ``condition`` holds (AND).

    Time-of-day keys (``outside_hours``, ``within_hours``) look at the entry's start in
    the client's timezone; an entry with no start time never matches either of them:
    we never guess a time. (Under ``not``, that non-match becomes a match.)
    """
    checks: list[Predicate] = []
    for name in _LIST_FIELDS:
        values = getattr(condition, name)
        if values is not None:
            checks.append(_field_in(name, values))
    if condition.tags is not None:
        checks.append(_tags_in(condition.tags))
    if condition.worker is not None:
        checks.append(_worker_in(condition.worker))
    if condition.vendor is not None:
        checks.append(_vendor_in(condition.vendor))
    for name in ("billable", "travel", "location"):
        expected = getattr(condition, name)
        if expected is not None:
            checks.append(_equals(name, expected))
    checks.extend(_compile_text_and_time(condition))
    checks.extend(_compile_nested(condition))
    if not checks:
        return lambda view: True
    if len(checks) == 1:
        return checks[0]
    return lambda view: all(check(view) for check in checks)


def _compile_text_and_time(condition: Condition) -> list[Predicate]:
    checks: list[Predicate] = []
    if condition.text is not None:
        pattern = re.compile(condition.text)
        checks.append(lambda view: pattern.search(view.text) is not None)
    if condition.outside_hours is not None:
        outside = condition.outside_hours
        checks.append(lambda view: view.local_start is not None and not outside.contains(view.local_start))
    if condition.within_hours is not None:
        within = condition.within_hours
        checks.append(lambda view: view.local_start is not None and within.contains(view.local_start))
    if condition.min_duration is not None:
        low = condition.min_duration
        checks.append(lambda view: view.entry.duration_seconds >= low)
    if condition.max_duration is not None:
        high = condition.max_duration
        checks.append(lambda view: view.entry.duration_seconds <= high)
    return checks


def _compile_nested(condition: Condition) -> list[Predicate]:
    checks: list[Predicate] = []
    if condition.all is not None:
        every = [compile_condition(c) for c in condition.all]
        checks.append(lambda view: all(p(view) for p in every))
    if condition.any is not None:
        some = [compile_condition(c) for c in condition.any]
        checks.append(lambda view: any(p(view) for p in some))
    if condition.not_ is not None:
        negated = compile_condition(condition.not_)
        checks.append(lambda view: not negated(view))
    return checks


# --- applying ----------------------------------------------------------------------------


def apply_rules(entries: Iterable[TimeEntry], rules: CompiledRules, ctx: RuleContext) -> RuleResult:
    """Turn a client's entries into published lines, oldest first, and the dropped entries.

    Deleted entries and entries of zero or negative duration are skipped (neither lines
    nor dropped). Every description and label is scrubbed of technician names and then
    checked by the leak guard; this cannot be turned off by any rule.
    """
    entries = list(entries)
    tz = ZoneInfo(ctx.timezone)
    # Workers on the entries themselves are technicians even if the caller missed them.
    names = frozenset(ctx.technicians) | {e.worker_name for e in entries if e.worker_name}
    scrubber = _scrubber(names)
    guard = LeakGuard(names, (e.internal_notes for e in entries if e.internal_notes))
    lines: list[Line] = []
    dropped: list[Dropped] = []
    for entry in entries:
        if entry.deleted or entry.duration_seconds <= 0:
            continue
        view = _view(entry, tz, ctx)
        outcome = _decide(rules, view)
        if isinstance(outcome, Dropped):
            dropped.append(outcome)
        else:
            lines.append(_line(view, outcome, ctx, scrubber, guard))
    lines.sort(key=lambda line: line.sort_key)
    return RuleResult(tuple(lines), tuple(dropped))


@lru_cache(maxsize=64)
def _scrubber(names: frozenset[str]) -> NameScrubber:
    # One compiled regex per set of names, reused across refreshes of the same client.
    return NameScrubber(sorted(names))


def _view(entry: TimeEntry, tz: ZoneInfo, ctx: RuleContext) -> _View:
    local = None
    if entry.started_at is not None:
        local = _as_utc(entry.started_at).astimezone(tz)
    text = f"{entry.notes or ''}\n{entry.ticket_title or ''}"
    return _View(entry, local, ctx.account_vendors.get(entry.account), text)


def _as_utc(value: datetime) -> datetime:
    # Model datetimes are UTC; a naive one is taken as UTC, never as server-local time.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _decide(rules: CompiledRules, view: _View) -> Dropped | _Decision:
    pool = describe = multiply = None
    labels: list[str] = []
    for rule in rules.rules:
        if not rule.matches(view):
            continue
        if rule.drop:
            # A drop wins outright, whatever matched before it.
            return Dropped((view.entry.account, view.entry.vendor_id), rule.name, rule.drop_reason)
        pool = pool if pool is not None else rule.pool
        describe = describe if describe is not None else rule.describe
        multiply = multiply if multiply is not None else rule.multiply
        if rule.label and rule.label not in labels:
            labels.append(rule.label)
    return _Decision(pool, describe, multiply, tuple(labels))


def _line(view: _View, decision: _Decision, ctx: RuleContext, scrubber: NameScrubber,
          guard: LeakGuard) -> Line:
    entry = view.entry
    source = (entry.account, entry.vendor_id)
    description = scrubber.scrub(describe_entry(entry, decision.describe))
    reason = guard.check(description)
    if reason is not None:
        _log_replaced(source, reason, "description")
        description = _generic(entry, guard)
    labels = []
    for label in (scrubber.scrub(label) for label in decision.labels):
        reason = guard.check(label)
        if reason is None:
            labels.append(label)
        else:
            _log_replaced(source, reason, "label")
    multiplier = decision.multiply if decision.multiply is not None else _ONE
    seconds = Decimal(entry.duration_seconds)
    return Line(
        date=view.local_start.date() if view.local_start is not None else entry.work_date,
        description=description,
        hours_logged=hours(seconds / _SECONDS_PER_HOUR),
        multiplier=multiplier,
        # Multiply before dividing so the one half-up rounding sees the exact value.
        hours_charged=hours(seconds * multiplier / _SECONDS_PER_HOUR),
        pool=decision.pool or ctx.default_pool,
        labels=tuple(labels),
        ticket_number=None,
        sort_key=sort_key(entry, view.local_start),
        source=source,
    )


def _log_replaced(source: tuple[str, str], reason: str, what: str) -> None:
    # The offending text is never logged: logs are shipped and kept, pages are not the only leak.
    kind = reason if reason in (TECHNICIAN_NAME, INTERNAL_NOTE) else "unknown"
    log.warning("leak_guard_replaced", account=source[0], vendor_id=source[1], reason=kind, field=what)


def _generic(entry: TimeEntry, guard: LeakGuard) -> str:
    work_type = clean_text(entry.work_type)
    if work_type and guard.check(work_type) is None:
        return work_type
    return GENERIC_DESCRIPTION


def sort_key(entry: TimeEntry, local_start: datetime | None) -> tuple[str, str, str, str]:
    """Chronological order as strings: local date, start instant, account, padded vendor id.

    The second element is the start as a UTC timestamp rather than the local clock time:
    within one local date it orders the same, and it stays right across a DST fall-back
    where the local clock repeats an hour.
    """
    day: date = local_start.date() if local_start is not None else entry.work_date
    start = ""
    if local_start is not None:
        start = local_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    vendor_id = entry.vendor_id
    if vendor_id.isascii() and vendor_id.isdigit():
        vendor_id = vendor_id.zfill(20)  # so "9" sorts before "10"
    return (day.isoformat(), start, entry.account, vendor_id)


# --- descriptions ------------------------------------------------------------------------


def clean_text(text: str | None) -> str:
    """Whitespace collapsed; multi-line text joined with "; " (a space after a line's own stop)."""
    if not text:
        return ""
    out = ""
    for line in (" ".join(part.split()) for part in text.splitlines()):
        if not line:
            continue
        if out:
            out += " " if out.endswith(_SENTENCE_END) else "; "
        out += line
    return out


class _Blank(dict[str, str]):
    # str.format_map over the allow-listed fields; anything else (already refused by the
    # config loader) renders empty rather than raising mid-refresh.
    def __missing__(self, key: str) -> str:
        return ""


def describe_entry(entry: TimeEntry, template: str | None = None) -> str:
    """The client-facing description before scrubbing.

    With a template: ``str.format`` over the allow-listed TEMPLATE_FIELDS, missing values
    empty. Without one, or when the template comes out empty: client-facing notes, then
    ticket title, task, work type, then "Support work".
    """
    if template is not None:
        values = _Blank({name: clean_text(getattr(entry, name)) for name in TEMPLATE_FIELDS})
        text = clean_text(template.format_map(values))
        if text:
            return text
    for candidate in (entry.notes, entry.ticket_title, entry.task, entry.work_type):
        text = clean_text(candidate)
        if text:
            return text
    return GENERIC_DESCRIPTION
