"""The client page's content: a Statement turned into the texts and figures the template lays out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from publisher.chart import AXIS_Y, BOTTOM, HEIGHT, LABEL_X, LEFT, RIGHT, TOP, WIDTH, Series, burn_chart
from markupsafe import Markup

from publisher.localize import Formatter, utc_iso
from publisher.strings import Strings, strings_for
from syncd.models import Line, PastCycle, PoolBalance, Statement

_ZERO = Decimal("0.00")


def newest_first(lines: Sequence[Line]) -> list[Line]:
    """Lines newest first, whatever order a statement holds them in (the ledger's is newest first)."""
    order = sorted(range(len(lines)), key=lambda i: (lines[i].date, lines[i].sort_key, i), reverse=True)
    return [lines[i] for i in order]


def history_newest_first(history: Sequence[PastCycle]) -> list[PastCycle]:
    """Past cycles, the most recent first."""
    return sorted(history, key=lambda h: h.start, reverse=True)


def last_day(exclusive_end: date) -> date:
    """The last day of a period whose end is exclusive."""
    return exclusive_end - timedelta(days=1)


def page_context(statement: Statement) -> dict[str, Any]:
    """Everything the page template shows, formatted for the client's locale and timezone."""
    fmt = Formatter.of(statement.locale, statement.cycle.timezone)
    t = strings_for(fmt.locale)
    block = statement.cycle.end is None
    pools = {p.name: p for p in statement.pools}
    labels = {p.name: p.label for p in statement.pools}
    show_pools = len(statement.pools) > 1
    return {
        "t": t,
        # The words decide the page's language: a locale with no translation reads in English.
        "lang": fmt.tag if t.language == fmt.locale.language else "en",
        "client": statement.client_name,
        "block": block,
        "totals": _totals(statement, fmt, t),
        "pools": [_pool(p, labels, fmt, t) for p in statement.pools] if show_pools else [],
        "chart": _chart(statement, fmt, t),
        "cycle": _cycle(statement, fmt, t),
        "stale": statement.stale,
        "failing": [
            t("stale_since", source=s.name, through=fmt.moment(s.data_through)) if s.data_through
            else t("stale_never", source=s.name)
            for s in statement.sources if s.failing
        ],
        "notices": list(statement.notices),
        "adjustments": [
            {
                "date": fmt.date(a.date),
                "iso": a.date.isoformat(),
                "hours": t("adjustment_hours", hours=fmt.signed_hours(a.hours)),
                "note": a.note,
                "pool": labels.get(a.pool, a.pool) if show_pools else "",
            }
            for a in statement.adjustments
        ],
        "show_pool": show_pools,
        "lines": [_line_row(line, pools, fmt, t) for line in newest_first(statement.lines)],
        "history": [_history_row(h, fmt, t) for h in history_newest_first(statement.history)],
        "updated": t.markup("updated_at", time=moment_tag(statement.generated_at, fmt)),
        "sources": [
            (t("source_through", source=s.name, time=fmt.moment(s.data_through)) if s.data_through
             else t("source_never", source=s.name)) + (" " + t("source_failing") if s.failing else "")
            for s in statement.sources
        ],
        "next_update": (
            t.markup("next_update", time=moment_tag(statement.next_update_by, fmt)) if statement.next_update_by else ""
        ),
        "timezone": statement.cycle.timezone,
    }


def _totals(statement: Statement, fmt: Formatter, t: Strings) -> dict[str, Any]:
    counted = statement.counted_pools
    totals = _meter(statement.available, statement.used, statement.remaining, fmt, t)
    # With one counted pool the total is that pool, so its overage is stated against its cap
    # here; across pools each pool states its own (one pool's overage is not the total's).
    totals["over_text"] = (
        t("over_cap", over=fmt.hours(statement.over), cap=fmt.hours(statement.available))
        if len(counted) == 1 and statement.over > 0 else ""
    )
    totals["any_over"] = statement.over > 0
    totals["breakdown"] = _breakdown(counted, fmt, t)
    totals["pending"] = t("pending_total", hours=fmt.hours(statement.pending)) if statement.pending > 0 else ""
    return totals


def _pool(pool: PoolBalance, labels: dict[str, str], fmt: Formatter, t: Strings) -> dict[str, Any]:
    if not pool.tracked:
        return {"label": pool.label, "covered": t("pool_covered", hours=fmt.hours(pool.used))}
    notes = []
    if not pool.resets:
        notes.append(t("pool_prepaid"))
    if pool.overflow_to:
        notes.append(t("pool_overflow", pool=labels.get(pool.overflow_to, pool.overflow_to)))
    if pool.pending > 0:
        notes.append(t("pool_pending", hours=fmt.hours(pool.pending)))
    return {
        "label": pool.label,
        "covered": "",
        **_meter(pool.available, pool.used, pool.remaining, fmt, t),
        "over_text": t("over_cap", over=fmt.hours(pool.over), cap=fmt.hours(pool.available)) if pool.over > 0 else "",
        "notes": notes,
    }


def _meter(available: Decimal, used: Decimal, remaining: Decimal, fmt: Formatter, t: Strings) -> dict[str, Any]:
    percent = percent_used(used, available)
    return {
        "remaining": t("hours_remaining", hours=fmt.hours(remaining)),
        "of": t("of_hours", hours=fmt.hours(available)),
        "used": t("hours_used", hours=fmt.hours(used)),
        "bar_label": t("bar_label", percent=fmt.percent(percent), hours=fmt.hours(available)),
        "bar_text": t("bar_text", percent=fmt.percent(percent)),
        # SVG attribute values: plain ASCII numbers whatever the locale.
        "fill": str(min(percent, Decimal(100))) if percent > 0 else "",
        "is_over": used > available,
    }


def percent_used(used: Decimal, available: Decimal) -> Decimal:
    """Share of the available hours used, one place; the rule PoolBalance.percent_used follows."""
    if available <= 0:
        return Decimal("100.0") if used > 0 else Decimal("0.0")
    return (used * 100 / available).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _breakdown(pools: Sequence[PoolBalance], fmt: Formatter, t: Strings) -> str:
    # Says where "of Y h" comes from when it is more than the plain cap.
    carried = sum((p.carried_in for p in pools), _ZERO)
    added = sum((p.adjustments for p in pools), _ZERO)
    if not carried and not added:
        return ""
    parts = [t("included", hours=fmt.hours(sum((p.cap for p in pools), _ZERO)))]
    if carried:
        parts.append(t("carried_over", hours=fmt.hours(carried)))
    if added:
        parts.append(t("adjusted", hours=fmt.signed_hours(added)))
    return ", ".join(parts)


def _cycle(statement: Statement, fmt: Formatter, t: Strings) -> dict[str, Any]:
    cycle = statement.cycle
    start = time_tag(cycle.start, fmt)
    if cycle.end is None:
        period = t.markup("block_since", start=start)
        resets = t.markup("no_reset")
    else:
        period = t.markup("cycle_range", start=start, last=time_tag(last_day(cycle.end), fmt))
        resets = t.markup("resets_on", date=time_tag(cycle.end, fmt))
    return {
        "period": period,
        "resets": resets,
        "forecast": t.markup("forecast", date=time_tag(statement.forecast, fmt)) if statement.forecast else "",
        "policy": t("overage_policy", policy=statement.overage_policy) if statement.overage_policy else "",
    }


def time_tag(value: date, fmt: Formatter) -> Markup:
    """A date as the reader's text inside a machine-readable <time> element."""
    return Markup('<time datetime="{}">{}</time>').format(value.isoformat(), fmt.date(value))


def moment_tag(value: datetime, fmt: Formatter) -> Markup:
    """An instant as the client's local time inside a <time> element carrying it in UTC."""
    return Markup('<time datetime="{}">{}</time>').format(utc_iso(value), fmt.moment(value))


def _chart(statement: Statement, fmt: Formatter, t: Strings) -> dict[str, Any]:
    chart = burn_chart(chart_series(statement, fmt.local_date(statement.generated_at)))
    used, available = fmt.hours(statement.used), fmt.hours(statement.available)
    if statement.cycle.end is None:
        title = t("chart_title_block")
        summary = t("chart_summary_block", used=used, available=available,
                    start=fmt.date(chart.first_day), today=fmt.date(chart.today))
    else:
        title = t("chart_title_cycle")
        summary = t("chart_summary_cycle", used=used, available=available, today=fmt.date(chart.today),
                    day=fmt.number(chart.day), days=fmt.number(chart.days))
    outlook = (t("chart_summary_forecast", date=fmt.date(statement.forecast)) if chart.forecast and statement.forecast
               else t("chart_summary_no_forecast"))
    return {
        "geometry": chart,
        "frame": {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": RIGHT, "top": TOP, "bottom": BOTTOM,
                  "label_x": LABEL_X, "axis_y": AXIS_Y},
        "title": title,
        "summary": f"{summary} {outlook}",
        "ticks": [(tick.y, fmt.hours(tick.hours).rstrip("0").rstrip(".,") or "0") for tick in chart.ticks],
        "first": fmt.short_date(chart.first_day),
        "last": fmt.short_date(chart.last_day),
    }


def chart_series(statement: Statement, today: date) -> Series:
    """The chart's data from a statement: counted lines by day, available hours as they grew."""
    counted = {p.name for p in statement.counted_pools}
    by_day: dict[date, Decimal] = defaultdict(Decimal)
    for line in statement.lines:
        if line.pool in counted:
            by_day[line.date] += line.hours_charged
    shown = sum(by_day.values(), _ZERO)
    start = statement.cycle.start
    # Top-ups dated inside the period raise the available line on their day; earlier ones
    # are part of where it starts.
    steps = sorted((a.date, a.hours) for a in statement.adjustments if a.pool in counted and a.date > start)
    available = statement.available - sum((h for _, h in steps), _ZERO)
    available_from = [(start, available)]
    for when, amount in steps:
        available += amount
        available_from.append((when, available))
    return Series(
        start=start,
        end=statement.cycle.end,
        today=today,
        used_by_day=dict(by_day),
        used_before=max(_ZERO, statement.used - shown),
        available_from=available_from,
        forecast=statement.forecast,
    )


def _line_row(line: Line, pools: dict[str, PoolBalance], fmt: Formatter, t: Strings) -> dict[str, Any]:
    pool = pools.get(line.pool)
    covered = pool is not None and not pool.tracked
    balance = line.balance_after
    if covered:
        balance_text = t("covered")
    elif balance is None:
        balance_text = "–"
    elif balance < 0:
        balance_text = t("hours_over", hours=fmt.hours(-balance))
    else:
        balance_text = t("hours", hours=fmt.hours(balance))
    return {
        "date": fmt.date(line.date),
        "iso": line.date.isoformat(),
        "description": line.description,
        "ticket": t("ticket", ticket=line.ticket_number) if line.ticket_number else "",
        "labels": list(line.labels),
        "pending": t("pending_mark") if line.pending else "",
        "pool": pool.label if pool else line.pool,
        "charged": t("hours", hours=fmt.hours(line.hours_charged)),
        # Shown whenever the charge differs from the time logged: a multiplier or rounding.
        "logged": t("logged", hours=fmt.hours(line.hours_logged)) if line.hours_charged != line.hours_logged else "",
        "balance": balance_text,
        "balance_over": not covered and balance is not None and balance < 0,
        "covered": covered,
    }


def _history_row(past: PastCycle, fmt: Formatter, t: Strings) -> dict[str, str]:
    over = past.used - past.available
    return {
        "period": t("date_range", start=fmt.date(past.start), last=fmt.date(last_day(past.end))),
        "available": t("hours", hours=fmt.hours(past.available)),
        "used": t("hours", hours=fmt.hours(past.used)),
        "over": t("hours_over", hours=fmt.hours(over)) if over > 0 else "",
    }
