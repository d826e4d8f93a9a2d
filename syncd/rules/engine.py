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
from syncd.durations import format_interval
from syncd.models import Dropped, Line, TimeEntry, hours
from syncd.rules.approval import is_pending
from syncd.rules.guard import INTERNAL_NOTE, TECHNICIAN_NAME, LeakGuard
from syncd.rules.redact import Redactor
from syncd.rules.scrub import NameScrubber

__all__ = [
    "GENERIC_DESCRIPTION",
    "CompiledRules",
    "EntryTrace",
    "FiredRule",
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
    and never holds for an account missing from the mapping. ``holidays`` are the
    client's own holidays, observed by every rule on top of its rule set's.
    """

    timezone: str
    default_pool: str
    technicians: frozenset[str]
    account_vendors: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    holidays: frozenset[date] = frozenset()


@dataclass(frozen=True, slots=True)
class FiredRule:
    """A rule whose condition held for an entry, and what it did (or would have done)."""

    name: str
    effects: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EntryTrace:
    """How one entry fared: for previews and `syncd explain`; never published.

    Exactly one of ``line``, ``dropped`` and ``skipped`` is set. ``charged_seconds`` is
    the time after rounding, before the multiplier.
    """

    entry: TimeEntry
    fired: tuple[FiredRule, ...] = ()
    line: Line | None = None
    dropped: Dropped | None = None
    skipped: str | None = None
    charged_seconds: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def source(self) -> tuple[str, str]:
        return (self.entry.account, self.entry.vendor_id)


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one run: kept lines (oldest first), what the rules dropped, and,
    when asked for, a trace of every entry (input order)."""

    lines: tuple[Line, ...]
    dropped: tuple[Dropped, ...]
    trace: tuple[EntryTrace, ...] = ()


@dataclass(frozen=True, slots=True)
class _View:
    """One entry with what conditions ask of it, computed once."""

    entry: TimeEntry
    local_start: datetime | None
    local_date: date
    vendor: str | None
    text: str
    holidays: frozenset[date]


Predicate = Callable[[_View], bool]


@dataclass(frozen=True, slots=True)
class _Round:
    """Round up to a multiple of ``increment`` seconds, then to at least ``minimum``."""

    increment: int | None
    minimum: int | None

    def apply(self, seconds: int) -> int:
        """The rounded duration in seconds (never less than ``seconds``)."""
        if self.increment:
            seconds = -(-seconds // self.increment) * self.increment
        if self.minimum:
            seconds = max(seconds, self.minimum)
        return seconds

    def __str__(self) -> str:
        parts = []
        if self.increment:
            parts.append(f"up to {format_interval(self.increment)}")
        if self.minimum:
            parts.append(f"minimum {format_interval(self.minimum)}")
        return ", ".join(parts)


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
    rounding: _Round | None
    translate: tuple[tuple[re.Pattern[str], str], ...]
    redact: Redactor | None
    show_ticket_number: bool | None


@dataclass(frozen=True)
class CompiledRules:
    """An ordered rule list with conditions compiled to predicates (regexes compiled once)."""

    rules: tuple[_CompiledRule, ...]

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def names(self) -> tuple[str, ...]:
        """Rule names in evaluation order."""
        return tuple(rule.name for rule in self.rules)


@dataclass(slots=True)
class _Decision:
    pool: str | None = None
    describe: str | None = None
    multiply: Decimal | None = None
    rounding: _Round | None = None
    show_ticket_number: bool | None = None
    labels: list[str] = field(default_factory=list)
    translate: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    redact: list[Redactor] = field(default_factory=list)
    fired: list[FiredRule] = field(default_factory=list)


# --- compiling ---------------------------------------------------------------------------


def compile_rules(rules: Sequence[Rule]) -> CompiledRules:
    """Compile rules once, in evaluation order, for use by :func:`apply_rules`."""
    return CompiledRules(tuple(_compile_rule(rule) for rule in rules))


def _compile_rule(rule: Rule) -> _CompiledRule:
    redactor = None
    if rule.redact:
        redactor = Redactor([r.builtin for r in rule.redact if r.builtin],
                            [r.pattern for r in rule.redact if r.pattern])
    rounding = _Round(rule.round.up_to, rule.round.minimum) if rule.round is not None else None
    return _CompiledRule(
        name=rule.name,
        matches=compile_condition(rule.when, rule.holidays),
        drop=bool(rule.drop),
        drop_reason=rule.drop if isinstance(rule.drop, str) else None,
        describe=rule.describe,
        multiply=rule.multiply,
        label=rule.label,
        pool=rule.pool,
        rounding=rounding,
        translate=tuple((re.compile(p), phrase) for p, phrase in (rule.translate or {}).items()),
        redact=redactor,
        show_ticket_number=rule.show_ticket_number,
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


def _searches(pattern: str, text: Callable[[_View], str | None]) -> Predicate:
    compiled = re.compile(pattern)

    def check(view: _View) -> bool:
        value = text(view)
        return value is not None and compiled.search(value) is not None

    return check


_LIST_FIELDS = ("account", "work_type", "role", "task", "project", "ticket_type", "approval")


def compile_condition(condition: Condition, holidays: frozenset[date] = frozenset()) -> Predicate:
    """A predicate that holds when every key given in ``condition`` holds (AND).

    ``holidays`` are the rule set's; the client's (RuleContext.holidays) are added at
    run time. Time-of-day keys (``outside_hours``, ``within_hours``) look at the entry's
    start in the client's timezone. An entry with no start time matches ``outside_hours``
    only on a holiday (the whole day is outside hours) and never ``within_hours``: we
    never guess a time. (Under ``not``, a non-match becomes a match.)
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
    checks.extend(_compile_text(condition))
    checks.extend(_compile_time(condition, holidays))
    checks.extend(_compile_nested(condition, holidays))
    if not checks:
        return lambda view: True
    if len(checks) == 1:
        return checks[0]
    return lambda view: all(check(view) for check in checks)


def _compile_text(condition: Condition) -> list[Predicate]:
    checks: list[Predicate] = []
    if condition.text is not None:
        checks.append(_searches(condition.text, lambda view: view.text))
    if condition.notes is not None:
        checks.append(_searches(condition.notes, lambda view: view.entry.notes))
    if condition.title is not None:
        checks.append(_searches(condition.title, lambda view: view.entry.ticket_title))
    if condition.internal_notes is not None:
        checks.append(_searches(condition.internal_notes, lambda view: view.entry.internal_notes))
    if condition.min_duration is not None:
        low = condition.min_duration
        checks.append(lambda view: view.entry.duration_seconds >= low)
    if condition.max_duration is not None:
        high = condition.max_duration
        checks.append(lambda view: view.entry.duration_seconds <= high)
    return checks


def _compile_time(condition: Condition, holidays: frozenset[date]) -> list[Predicate]:
    checks: list[Predicate] = []

    def is_holiday(view: _View) -> bool:
        return view.local_date in holidays or view.local_date in view.holidays

    if condition.outside_hours is not None:
        outside = condition.outside_hours
        checks.append(lambda view: is_holiday(view) or (
            view.local_start is not None and not outside.contains(view.local_start)))
    if condition.within_hours is not None:
        within = condition.within_hours
        checks.append(lambda view: view.local_start is not None and not is_holiday(view)
                      and within.contains(view.local_start))
    if condition.weekend is not None:
        weekend = condition.weekend
        checks.append(lambda view: (view.local_date.weekday() >= 5) is weekend)
    if condition.holiday is not None:
        holiday = condition.holiday
        checks.append(lambda view: is_holiday(view) is holiday)
    return checks


def _compile_nested(condition: Condition, holidays: frozenset[date]) -> list[Predicate]:
    checks: list[Predicate] = []
    if condition.all is not None:
        every = [compile_condition(c, holidays) for c in condition.all]
        checks.append(lambda view: all(p(view) for p in every))
    if condition.any is not None:
        some = [compile_condition(c, holidays) for c in condition.any]
        checks.append(lambda view: any(p(view) for p in some))
    if condition.not_ is not None:
        negated = compile_condition(condition.not_, holidays)
        checks.append(lambda view: not negated(view))
    return checks


# --- applying ----------------------------------------------------------------------------


def apply_rules(entries: Iterable[TimeEntry], rules: CompiledRules, ctx: RuleContext, *,
                trace: bool = False) -> RuleResult:
    """Turn a client's entries into published lines, oldest first, and the dropped entries.

    Deleted entries and entries of zero or negative duration are skipped (neither lines
    nor dropped). Every description and label is scrubbed of technician names and then
    checked by the leak guard; this cannot be turned off by any rule. With ``trace``,
    the result also says, entry by entry, which rules fired and what came of it.
    """
    entries = list(entries)
    tz = ZoneInfo(ctx.timezone)
    # Workers on the entries themselves are technicians even if the caller missed them.
    names = frozenset(ctx.technicians) | {e.worker_name for e in entries if e.worker_name}
    scrubber = _scrubber(names)
    guard = LeakGuard(names, (e.internal_notes for e in entries if e.internal_notes))
    lines: list[Line] = []
    dropped: list[Dropped] = []
    traces: list[EntryTrace] = []
    for entry in entries:
        if entry.deleted or entry.duration_seconds <= 0:
            if trace:
                traces.append(EntryTrace(entry, skipped="deleted" if entry.deleted else "no time logged"))
            continue
        view = _view(entry, tz, ctx)
        outcome = _decide(rules, view, trace)
        if isinstance(outcome, _Dropping):
            dropped.append(outcome.dropped)
            if trace:
                traces.append(EntryTrace(entry, tuple(outcome.fired), dropped=outcome.dropped))
        else:
            notes: list[str] = []
            line, charged = _line(view, outcome, ctx, scrubber, guard, notes)
            lines.append(line)
            if trace:
                traces.append(EntryTrace(entry, tuple(outcome.fired), line=line, charged_seconds=charged,
                                         notes=tuple(notes)))
    lines.sort(key=lambda line: line.sort_key)
    return RuleResult(tuple(lines), tuple(dropped), tuple(traces))


@lru_cache(maxsize=64)
def _scrubber(names: frozenset[str]) -> NameScrubber:
    # One compiled regex per set of names, reused across refreshes of the same client.
    return NameScrubber(sorted(names))


def _view(entry: TimeEntry, tz: ZoneInfo, ctx: RuleContext) -> _View:
    local = None
    if entry.started_at is not None:
        local = _as_utc(entry.started_at).astimezone(tz)
    text = f"{entry.notes or ''}\n{entry.ticket_title or ''}"
    day = local.date() if local is not None else entry.work_date
    return _View(entry, local, day, ctx.account_vendors.get(entry.account), text, ctx.holidays)


def _as_utc(value: datetime) -> datetime:
    # Model datetimes are UTC; a naive one is taken as UTC, never as server-local time.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass(frozen=True, slots=True)
class _Dropping:
    dropped: Dropped
    fired: list[FiredRule]


def _decide(rules: CompiledRules, view: _View, trace: bool) -> _Dropping | _Decision:
    decision = _Decision()
    for rule in rules.rules:
        if not rule.matches(view):
            continue
        if rule.drop:
            # A drop wins outright, whatever matched before it.
            effect = f"drop: {rule.drop_reason}" if rule.drop_reason else "drop"
            decision.fired.append(FiredRule(rule.name, (effect,)))
            return _Dropping(Dropped((view.entry.account, view.entry.vendor_id), rule.name, rule.drop_reason),
                             decision.fired)
        effects = _take(decision, rule)
        if trace:
            decision.fired.append(FiredRule(rule.name, tuple(effects)))
    return decision


def _take(decision: _Decision, rule: _CompiledRule) -> list[str]:
    """Fold one matching rule into the decision; return what it did, for the trace."""
    effects: list[str] = []
    later = " (an earlier rule decided)"
    if rule.pool is not None:
        effects.append(f"pool {rule.pool}" + (later if decision.pool is not None else ""))
        decision.pool = decision.pool if decision.pool is not None else rule.pool
    if rule.describe is not None:
        effects.append("describe" + (later if decision.describe is not None else ""))
        decision.describe = decision.describe if decision.describe is not None else rule.describe
    if rule.multiply is not None:
        effects.append(f"multiply ×{rule.multiply}" + (later if decision.multiply is not None else ""))
        decision.multiply = decision.multiply if decision.multiply is not None else rule.multiply
    if rule.rounding is not None:
        effects.append(f"round {rule.rounding}" + (later if decision.rounding is not None else ""))
        decision.rounding = decision.rounding if decision.rounding is not None else rule.rounding
    if rule.show_ticket_number is not None:
        what = "show ticket number" if rule.show_ticket_number else "hide ticket number"
        effects.append(what + (later if decision.show_ticket_number is not None else ""))
        if decision.show_ticket_number is None:
            decision.show_ticket_number = rule.show_ticket_number
    if rule.label:
        effects.append(f"label {rule.label}")
        if rule.label not in decision.labels:
            decision.labels.append(rule.label)
    if rule.translate:
        effects.append(f"translate ({len(rule.translate)} term{'s' if len(rule.translate) != 1 else ''})")
        decision.translate.extend(rule.translate)
    if rule.redact is not None:
        effects.append(f"redact {rule.redact.describe()}")
        decision.redact.append(rule.redact)
    return effects


def _line(view: _View, decision: _Decision, ctx: RuleContext, scrubber: NameScrubber,
          guard: LeakGuard, notes: list[str]) -> tuple[Line, int]:
    entry = view.entry
    source = (entry.account, entry.vendor_id)
    described = describe_entry(entry, decision.describe)
    description = _client_text(described, decision)
    if not description:
        notes.append("translations left nothing: generic description")
        description = _generic(entry, guard)
    description = scrubber.scrub(description)
    reason = guard.check(description)
    if reason is None and guard.holds_internal_note(described):
        # Checked before translation too: a rule that rewrites a word of a copied internal
        # sentence ("FW" → "firewall") must not carry the rest of it past the guard.
        reason = INTERNAL_NOTE
    if reason is not None:
        _log_replaced(source, reason, "description")
        notes.append(f"leak guard ({reason}): description replaced")
        description = _generic(entry, guard)
    labels = []
    for label in (scrubber.scrub(label) for label in decision.labels):
        reason = guard.check(label)
        if reason is None:
            labels.append(label)
        else:
            _log_replaced(source, reason, "label")
            notes.append(f"leak guard ({reason}): a label removed")
    ticket_number = None
    if decision.show_ticket_number and entry.ticket_number:
        ticket_number = clean_text(entry.ticket_number) or None
        reason = guard.check(ticket_number or "")
        if reason is not None:
            _log_replaced(source, reason, "ticket_number")
            notes.append(f"leak guard ({reason}): ticket number withheld")
            ticket_number = None
    multiplier = decision.multiply if decision.multiply is not None else _ONE
    seconds = entry.duration_seconds
    # Rounding applies to the logged time, before the multiplier; the line still shows
    # what was logged.
    charged = decision.rounding.apply(seconds) if decision.rounding is not None else seconds
    line = Line(
        date=view.local_date,
        description=description,
        hours_logged=hours(Decimal(seconds) / _SECONDS_PER_HOUR),
        multiplier=multiplier,
        # Multiply before dividing so the one half-up rounding sees the exact value.
        hours_charged=hours(Decimal(charged) * multiplier / _SECONDS_PER_HOUR),
        pool=decision.pool or ctx.default_pool,
        labels=tuple(labels),
        ticket_number=ticket_number,
        sort_key=sort_key(entry, view.local_start),
        source=source,
        pending=is_pending(ctx.account_vendors.get(entry.account), entry.approval),
    )
    return line, charged


def _client_text(text: str, decision: _Decision) -> str:
    """The described text translated, then redacted: the description before scrubbing."""
    for pattern, phrase in decision.translate:
        # A function replacement: the phrase is plain text, never a backreference template.
        text = pattern.sub(lambda _m, phrase=phrase: phrase, text)
    for redactor in decision.redact:
        text = redactor.redact(text)
    return clean_text(text)


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
