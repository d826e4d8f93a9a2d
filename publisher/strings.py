"""Every piece of text on the client page, in English, and the lookup of a translation."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from babel import Locale
from markupsafe import Markup, escape

# The page's words. A translation is one file, publisher/translations/<language>.json, with
# the same keys and the same {placeholders}; a key it leaves out falls back to English.
# Figures arrive already formatted for the client's locale; keep the "h" (hours) in the text
# so a translation can place or replace it.
ENGLISH: dict[str, str] = {
    # head and header
    "page_title": "{client} · Retainer balance",
    "eyebrow": "Retainer balance",
    # the balance at the top
    "heading_cycle": "Hours this cycle",
    "heading_block": "Hours in this block",
    "hours_remaining": "{hours} h remaining",
    "of_hours": "of {hours} h",
    "hours_used": "{hours} h used",
    "included": "{hours} h included",
    "carried_over": "{hours} h carried over",
    "adjusted": "{hours} h adjusted",
    "bar_label": "{percent}% of {hours} h used",
    "bar_text": "{percent}% used",
    "over_cap": "{over} h over the {cap} h cap",
    "overage_policy": "Overage: {policy}",
    "pending_total": "{hours} h awaiting approval, may still change",
    # pools
    "heading_pools": "By pool",
    "pool_prepaid": "Prepaid, does not reset",
    "pool_overflow": "Draws on {pool} when used up",
    "pool_pending": "{hours} h awaiting approval",
    "pool_covered": "Covered by the agreement: {hours} h of work, not counted against your hours",
    # the chart
    "heading_chart": "Hours used over time",
    "chart_title_cycle": "Hours used this cycle against the hours available",
    "chart_title_block": "Hours used in this block against the hours available",
    "chart_summary_cycle": "{used} h of {available} h used by {today}, day {day} of {days} of the cycle.",
    "chart_summary_block": "{used} h of {available} h used between {start} and {today}.",
    "chart_summary_forecast": "At this pace the hours run out around {date}.",
    "chart_summary_no_forecast": "No run-out date is forecast.",
    "legend_used": "Hours used",
    "legend_available": "Hours available",
    "legend_forecast": "Forecast at the current pace",
    "legend_today": "Today",
    # the cycle
    "cycle_range": "Cycle {start} – {last}",
    "block_since": "Prepaid block since {start}",
    "resets_on": "Resets on {date}",
    "no_reset": "Prepaid block, does not reset",
    "forecast": "At the current pace, the hours run out around {date}.",
    # the stale banner
    "stale_heading": "These figures may be out of date.",
    "stale_failing": "We could not read new data from every source, so the page shows the last data we have:",
    "stale_since": "{source}: work after {through} may be missing",
    "stale_never": "{source}: no data read yet, so all of this period may be incomplete",
    "stale_pending_refresh": "The latest refresh has not completed yet.",
    # adjustments
    "heading_adjustments": "Adjustments",
    "adjustment_hours": "{hours} h",
    # the work log
    "heading_log": "Work log",
    "log_caption_cycle": "Work done this cycle, newest first",
    "log_caption_block": "Work done in this block, newest first",
    "col_date": "Date",
    "col_work": "Work done",
    "col_pool": "Pool",
    "col_hours": "Hours",
    "col_balance": "Balance after",
    "ticket": "Ticket {ticket}",
    "logged": "logged {hours} h",
    "hours": "{hours} h",
    "hours_over": "{hours} h over",
    "pending_mark": "Pending approval",
    "covered": "Covered",
    "no_work_cycle": "No work logged yet this cycle.",
    "no_work_block": "No work logged yet in this block.",
    # past cycles
    "heading_history": "Past cycles",
    "history_caption": "Hours available and used in earlier cycles, newest first",
    "col_cycle": "Cycle",
    "col_available": "Available",
    "col_used": "Used",
    "date_range": "{start} – {last}",
    # freshness and downloads
    "updated_at": "Updated at {time}",
    "source_through": "{source}: work logged through {time}",
    "source_never": "{source}: no data read yet",
    "source_failing": "(not refreshing)",
    "next_update": "Next update by {time}",
    "times_in": "Times are shown in {timezone}.",
    "downloads": "Download:",
    "download_json": "(data)",
    "download_csv": "(spreadsheet)",
}

_TRANSLATIONS = "translations"


@dataclass(frozen=True, slots=True)
class Strings:
    """The page's words for one locale, and the language they are written in (for ``lang``)."""

    language: str
    messages: dict[str, str]

    def __call__(self, key: str, **values: Any) -> str:
        """The text for ``key`` with its placeholders filled in."""
        return self.messages[key].format(**values)

    def markup(self, key: str, **values: Any) -> Markup:
        """As a call, for HTML: the text is escaped, and only Markup values go in unescaped."""
        return escape(self.messages[key]).format(**values)


def strings_for(locale: Locale) -> Strings:
    """The most specific translation for ``locale`` (de_AT, then de), else English."""
    for name in (str(locale), locale.language):
        translated = _translation(name)
        if translated is not None:
            return Strings(locale.language, {**ENGLISH, **translated})
    return Strings("en", ENGLISH)


def available_translations() -> list[str]:
    """The locale names that have a translation file."""
    folder = resources.files(__package__).joinpath(_TRANSLATIONS)
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def placeholders(text: str) -> set[str]:
    """The {names} a message expects, so a translation can be checked against English."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@cache
def _translation(name: str) -> dict[str, str] | None:
    path = resources.files(__package__).joinpath(_TRANSLATIONS, f"{name}.json")
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"publisher/translations/{name}.json: {err}") from err
    return {k: v for k, v in data.items() if k in ENGLISH}
