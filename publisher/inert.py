"""Published text made inert: no direction or control characters, no spreadsheet formulas."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

# Removed from every published text, in all three files.
# - Bidi controls (the Unicode Bidi_Control property: ALM U+061C, LRM/RLM U+200E/F, the
#   embeddings and overrides U+202A-U+202E, the isolates U+2066-U+2069) let text display in
#   another order than it is stored: "1 h 0" can show as "0 h 1", a description can appear
#   to end in another file name. Escaping cannot help (an HTML entity, a JSON \u escape and
#   a spreadsheet all still apply them), and isolating them in HTML would leave balance.json
#   and log.csv exposed, so they go. Right-to-left text still reads right: the Unicode bidi
#   algorithm orders it by its own letters; at worst neutral punctuation between scripts
#   settles on another side.
# - Control characters other than tab, line feed and carriage return: they mean nothing in
#   a description, and ESC sequences would drive the terminal of anyone who cats log.csv.
_INVISIBLE = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and
# Google Sheets (OWASP "CSV Injection"): =HYPERLINK(...), +cmd|..., @SUM(...), a tab or CR
# that an importer strips before the "=". Leading spaces are skipped when looking, since
# some importers trim them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def plain(text: str) -> str:
    """``text`` without bidi controls and without control characters other than tab, LF and CR."""
    return _INVISIBLE.sub("", text)


def plain_html(value: Any) -> Any:
    """Jinja's finalize: every value the page prints, made plain (markup stays markup)."""
    if isinstance(value, Markup):
        return Markup(plain(str(value)))
    if isinstance(value, str):
        return plain(value)
    return value


def plain_tree(value: Any) -> Any:
    """A JSON document with every string in it made plain."""
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, dict):
        return {key: plain_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_tree(item) for item in value]
    return value


def csv_text(text: str) -> str:
    """A text cell of log.csv: plain, with a leading quote when it would start a formula
    (spreadsheets then show it as text, without the quote)."""
    text = plain(text)
    return "'" + text if text.lstrip(" ").startswith(FORMULA_STARTS) else text
