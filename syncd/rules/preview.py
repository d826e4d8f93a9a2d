"""Admin views on the terminal: `syncd preview` (entries beside their lines) and `syncd explain` (figures traced)."""

from __future__ import annotations

import calendar
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from syncd.config import ClientSpec, Config
from syncd.ledger import build_statement, cycle_containing, local_today, read_from
from syncd.models import Cycle, Line, Statement, TimeEntry, format_hours, hours
from syncd.rules.engine import EntryTrace, RuleContext, RuleResult, apply_rules, compile_rules, sort_key
from syncd.store import Store

__all__ = ["ClientRun", "explain_lines", "preview_lines", "rule_context", "run_client", "select_cycle"]

_SECONDS_PER_HOUR = Decimal(3600)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class ClientRun:
    """One client's entries run through its rules for one cycle, with everything traced."""

    config: Config
    client: ClientSpec
    cycle: Cycle
    now: datetime
    result: RuleResult
    statement: Statement
    rule_files: dict[str, str]  # rule name → the rule set it came from
    by_source: dict[tuple[str, str], EntryTrace]

    @property
    def traces(self) -> list[EntryTrace]:
        """The traces of entries whose local date falls in the cycle, oldest first."""
        tz = ZoneInfo(self.client.timezone)
        found = [t for t in self.result.trace if _in_cycle(_local_date(t.entry, tz), self.cycle)]
        return sorted(found, key=lambda t: sort_key(t.entry, _local_start(t.entry, tz)))

    def trace_of(self, line: Line) -> EntryTrace | None:
        """The trace of the entry a line came from."""
        return self.by_source.get(line.source)


def _in_cycle(day: date, cycle: Cycle) -> bool:
    return cycle.start <= day and (cycle.end is None or day < cycle.end)


def _local_start(entry: TimeEntry, tz: ZoneInfo) -> datetime | None:
    if entry.started_at is None:
        return None
    start = entry.started_at if entry.started_at.tzinfo else entry.started_at.replace(tzinfo=UTC)
    return start.astimezone(tz)


def _local_date(entry: TimeEntry, tz: ZoneInfo) -> date:
    start = _local_start(entry, tz)
    return start.date() if start is not None else entry.work_date


def rule_context(config: Config, store: Store, client_key: str) -> RuleContext:
    """The rule context the coordinator builds for a client's page (names from the store)."""
    client = config.clients[client_key]
    accounts = list(dict.fromkeys(s.account for s in client.sources))
    names = store.worker_names(accounts) | set(config.technicians) | set(client.technicians)
    return RuleContext(client.timezone, client.retainer.default_pool, frozenset(names),
                       account_vendors={a: config.accounts[a].vendor for a in accounts})


def select_cycle(client: ClientSpec, which: str, now: datetime) -> Cycle:
    """The cycle named by ``which``: current, previous, or YYYY-MM.

    YYYY-MM is the cycle holding the anchor day in that month: for a monthly cycle,
    the one that starts in that month. A prepaid block is its only cycle, whichever is asked.
    """
    retainer = client.retainer.cycle
    today = local_today(now, client.timezone)
    current = cycle_containing(today, retainer, client.timezone)
    if which == "current":
        return current
    if which == "previous":
        return cycle_containing(current.start - timedelta(days=1), retainer, client.timezone)
    match = _MONTH.match(which)
    if match and 1 <= int(match[2]) <= 12:
        year, month = int(match[1]), int(match[2])
        day = min(retainer.anchor.day, calendar.monthrange(year, month)[1])
        return cycle_containing(date(year, month, day), retainer, client.timezone)
    raise ValueError(f"cycle {which!r}: use current, previous or a month such as 2026-03")


def run_client(config: Config, store: Store, client_key: str, *, cycle: str = "current",
               now: datetime | None = None) -> ClientRun:
    """Run a client's stored entries through its rules, traced, for the chosen cycle.

    Reads the store only: no vendor API is called. The statement is the one the page
    would show for that cycle (for a past cycle: as on its last day).
    """
    now = now or datetime.now(UTC)
    client = config.clients[client_key]
    chosen = select_cycle(client, cycle, now)
    tz = ZoneInfo(client.timezone)
    # From the start of the page's history, as the coordinator reads it, so the history
    # figures are explained too; a day of slack for vendor dates that differ from local ones.
    since = read_from(client.retainer, client.timezone, chosen.start)
    entries = store.entries_for_client(client_key, since - timedelta(days=1))
    rule_files = {}
    for name in reversed(client.rule_sets):
        for rule in config.rule_sets[name].rules:
            rule_files.setdefault(rule.name, name)
    result = apply_rules(entries, compile_rules(config.rules_for(client_key)), rule_context(config, store, client_key),
                         trace=True)
    today = local_today(now, client.timezone)
    as_of = now if chosen.end is None or _in_cycle(today, chosen) else (
        datetime.combine(chosen.end - timedelta(days=1), time(12), tz).astimezone(UTC))
    statement = build_statement(result.lines, client_key=client_key, client_name=client.name,
                                retainer=client.retainer, timezone=client.timezone, now=as_of)
    by_source = {trace.source: trace for trace in result.trace}
    return ClientRun(config, client, chosen, now, result, statement, rule_files, by_source)


# --- preview -------------------------------------------------------------------------------


def _h(seconds: int) -> str:
    return format_hours(hours(Decimal(seconds) / _SECONDS_PER_HOUR))


def _mult(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _cycle_text(cycle: Cycle) -> str:
    if cycle.end is None:
        return f"prepaid block from {cycle.start} ({cycle.timezone})"
    return f"{cycle.start} – {cycle.end - timedelta(days=1)} ({cycle.timezone})"


def _entry_head(entry: TimeEntry, tz: ZoneInfo) -> str:
    start = _local_start(entry, tz)
    when = start.strftime("%Y-%m-%d %a %H:%M") if start else f"{entry.work_date:%Y-%m-%d %a}   -- "
    facts = [entry.work_type or entry.task or "no work type"]
    if entry.worker_name:
        facts.append(entry.worker_name)
    if entry.ticket_number or entry.ticket_type:
        facts.append(" ".join(x for x in (entry.ticket_type, f"#{entry.ticket_number}" if entry.ticket_number else "")
                              if x))
    if entry.project:
        facts.append(f"project {entry.project}")
    if not entry.billable:
        facts.append("non-billable")
    if entry.travel:
        facts.append("travel")
    if entry.location != "unknown":
        facts.append(entry.location)
    if entry.tags:
        facts.append("tags " + ",".join(entry.tags))
    return f"{when}  {entry.account}:{entry.vendor_id}  {_h(entry.duration_seconds)} h  " + " · ".join(facts)


def _one_line(text: str | None, width: int = 110) -> str:
    flat = " ⏎ ".join(part.strip() for part in (text or "").splitlines() if part.strip())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _rule_name(run: ClientRun, name: str) -> str:
    source = run.rule_files.get(name)
    return f"{name!r} ({source})" if source else repr(name)


def _line_text(line: Line, trace: EntryTrace) -> str:
    logged = line.hours_logged
    rounded = ""
    if trace.charged_seconds is not None and trace.charged_seconds != trace.entry.duration_seconds:
        rounded = f" rounded to {_h(trace.charged_seconds)}"
    labels = f"  [{', '.join(line.labels)}]" if line.labels else ""
    ticket = f"  #{line.ticket_number}" if line.ticket_number else ""
    return (f"→ line {line.date}  pool {line.pool}  {logged} h logged{rounded} ×{_mult(line.multiplier)}"
            f" = {line.hours_charged} h charged{labels}{ticket}  {line.description!r}")


def preview_lines(run: ClientRun) -> list[str]:
    """The preview as terminal lines: every entry of the cycle, its fate, the rules, the totals."""
    tz = ZoneInfo(run.client.timezone)
    traces = run.traces
    kept = [t for t in traces if t.line is not None]
    dropped = [t for t in traces if t.dropped is not None]
    skipped = [t for t in traces if t.skipped is not None]
    order = ", ".join(_rule_name(run, r.name) for r in run.config.rules_for(run.client.key)) or "none"
    out = [
        f"Preview of {run.client.name} ({run.client.key}), cycle {_cycle_text(run.cycle)}",
        f"Rules in evaluation order: {order}",
        f"From the store (no API requests): {len(traces)} entries; {len(kept)} become lines, "
        f"{len(dropped)} dropped, {len(skipped)} skipped.",
        "Internal fields (technicians, internal notes) appear here only; they are never published.",
        "",
    ]
    for trace in traces:
        entry = trace.entry
        out.append(_entry_head(entry, tz))
        if entry.ticket_title:
            out.append(f"    title:    {_one_line(entry.ticket_title)}")
        if entry.notes:
            out.append(f"    notes:    {_one_line(entry.notes)}")
        if entry.internal_notes:
            out.append(f"    internal: {_one_line(entry.internal_notes)}")
        if trace.fired:
            fired = "; ".join(f"{_rule_name(run, f.name)}: {', '.join(f.effects)}" for f in trace.fired)
            out.append(f"    fired:    {fired}")
        else:
            out.append("    fired:    no rule")
        if trace.dropped is not None:
            reason = f": {trace.dropped.reason}" if trace.dropped.reason else ""
            out.append(f"    ✗ dropped by rule {_rule_name(run, trace.dropped.rule)}{reason}")
        elif trace.skipped is not None:
            out.append(f"    – skipped: {trace.skipped}")
        elif trace.line is not None:
            out.append(f"    {_line_text(trace.line, trace)}")
        for note in trace.notes:
            out.append(f"    ! {note}")
    out.append("")
    out.extend(_totals(run.statement, "Totals that would be published for this cycle:"))
    if dropped:
        by_rule: Counter[str] = Counter()
        seconds: Counter[str] = Counter()
        for trace in dropped:
            assert trace.dropped is not None
            by_rule[trace.dropped.rule] += 1
            seconds[trace.dropped.rule] += trace.entry.duration_seconds
        parts = [f"{name!r} {n} ({_h(seconds[name])} h)" for name, n in by_rule.most_common()]
        total = sum(seconds.values())
        noun = "entry" if len(dropped) == 1 else "entries"
        out.append(f"Dropped: {len(dropped)} {noun}, {_h(total)} h logged: " + ", ".join(parts))
    return out


def _totals(statement: Statement, heading: str) -> list[str]:
    out = [heading]
    width = max([len(f"{p.label} ({p.name})") for p in statement.pools] + [10])
    for p in statement.pools:
        out.append(f"  {f'{p.label} ({p.name})':<{width}}  used {format_hours(p.used):>7}  "
                   f"of {format_hours(p.available):>7} available  remaining {format_hours(p.remaining):>7}  "
                   f"over {format_hours(p.over)}")
    out.append(f"  {'All pools':<{width}}  used {format_hours(statement.used):>7}  "
               f"of {format_hours(statement.available):>7} available  remaining "
               f"{format_hours(statement.remaining):>7}  over {format_hours(statement.over)}")
    return out


# --- explain -------------------------------------------------------------------------------


def explain_lines(run: ClientRun) -> list[str]:
    """Every figure of the page traced: pools to lines, lines to source entries, sums checked."""
    statement = run.statement
    tz = ZoneInfo(run.client.timezone)
    out = [
        f"Explain {run.client.name} ({run.client.key}): the page as it would be published now, from the store",
        f"Cycle {_cycle_text(statement.cycle)}, "
        + (f"resets on {statement.cycle.resets_on}" if statement.cycle.resets_on else "never resets"),
        "",
    ]
    problems = 0
    for pool in statement.pools:
        lines = sorted((line for line in statement.lines if line.pool == pool.name),
                       key=lambda line: (line.date, line.sort_key))
        out.append(f"Pool {pool.name} ({pool.label})")
        out.append(f"  available {format_hours(pool.available)} = cap {format_hours(pool.cap)} + carried in "
                   f"{format_hours(pool.carried_in)} + adjustments {format_hours(pool.adjustments)}")
        for adj in statement.adjustments:
            if adj.pool == pool.name:
                out.append(f"    adjustment {adj.date}  {format_hours(adj.hours)} h  {adj.note!r}")
        total = sum((line.hours_charged for line in lines), _ZERO)
        out.append(f"  used {format_hours(pool.used)} = the sum of {len(lines)} line{'s' if len(lines) != 1 else ''}"
                   f" (hours charged):")
        for line in lines:
            out.append("    " + _explained_line(run, line, tz))
        if total != pool.used:
            problems += 1
            out.append(f"  ! the lines add up to {format_hours(total)}, not {format_hours(pool.used)}")
        out.append(f"  remaining {format_hours(pool.remaining)} = max(0, {format_hours(pool.available)} − "
                   f"{format_hours(pool.used)});  over {format_hours(pool.over)} = max(0, "
                   f"{format_hours(pool.used)} − {format_hours(pool.available)});  {pool.percent_used}% used")
        out.append("")
    # Flat-fee pools are shown above but counted nowhere, so they stay out of the totals.
    names = " + ".join(f"{p.name} {format_hours(p.used)}" for p in statement.counted_pools) or "no counted pool"
    out.append(f"Totals: used {format_hours(statement.used)} = {names}")
    out.append(f"        available {format_hours(statement.available)}, remaining {format_hours(statement.remaining)}, "
               f"over {format_hours(statement.over)}")
    if statement.forecast is not None:
        out.append(f"        forecast: at this cycle's pace the hours run out on {statement.forecast}")
    if statement.history:
        out.append("")
        out.append("History (past cycles on the page):")
        by_cycle = _lines_by_cycle(run.result.lines, statement)
        for past in statement.history:
            lines = by_cycle.get(past.start, [])
            sources = ", ".join(f"{a}:{v}" for a, v in (line.source for line in lines[:6]))
            more = f" and {len(lines) - 6} more" if len(lines) > 6 else ""
            out.append(f"  {past.start} – {past.end - timedelta(days=1)}: used {format_hours(past.used)} = "
                       f"{len(lines)} line{'s' if len(lines) != 1 else ''} ({sources}{more}); "
                       f"available {format_hours(past.available)}")
        out.append(f"  (`syncd preview {run.client.key} --cycle YYYY-MM` lists a past cycle's lines and entries)")
    out.append("")
    out.append("Every figure adds up." if not problems else f"{problems} figure(s) do not add up: see '!' above.")
    return out


def _explained_line(run: ClientRun, line: Line, tz: ZoneInfo) -> str:
    trace = run.trace_of(line)
    balance = f"  balance after {format_hours(line.balance_after)}" if line.balance_after is not None else ""
    head = (f"{line.date}  {format_hours(line.hours_charged)} h = {format_hours(line.hours_logged)} logged"
            f"{_rounding(trace)} ×{_mult(line.multiplier)}{balance}  {line.description!r}")
    if trace is None:
        return head
    entry = trace.entry
    start = _local_start(entry, tz)
    when = start.strftime("%Y-%m-%d %H:%M") if start else str(entry.work_date)
    return f"{head}\n      ← {entry.account}:{entry.vendor_id}  {when}  {_h(entry.duration_seconds)} h logged"


def _rounding(trace: EntryTrace | None) -> str:
    if trace is None or trace.charged_seconds is None or trace.charged_seconds == trace.entry.duration_seconds:
        return ""
    return f" (rounded to {_h(trace.charged_seconds)})"


def _lines_by_cycle(lines: Iterable[Line], statement: Statement) -> dict[date, list[Line]]:
    out: dict[date, list[Line]] = {}
    for past in statement.history:
        out[past.start] = [line for line in lines if past.start <= line.date < past.end]
    return out
