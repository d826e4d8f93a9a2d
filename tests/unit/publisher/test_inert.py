"""publisher.inert: what is taken out of published text, and which CSV cells get a leading quote."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from publisher.inert import csv_text, plain, plain_html, plain_tree

BIDI_CONTROLS = ["\u061c", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
                 "\u2066", "\u2067", "\u2068", "\u2069"]


@pytest.mark.parametrize("control", BIDI_CONTROLS, ids=[f"U+{ord(c):04X}" for c in BIDI_CONTROLS])
def test_every_bidi_control_is_removed(control: str) -> None:
    assert plain(f"Invoice{control} 1 h{control}0") == "Invoice 1 h0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bell\x07 and escape \x1b[2J", "bell and escape [2J"),
        ("nul\x00byte", "nulbyte"),
        ("del\x7f and c1 \x85\x9b", "del and c1 "),
        ("tab\tand\nnew\rlines", "tab\tand\nnew\rlines"),  # whitespace stays data
        ("שלום עולם and עברית", "שלום עולם and עברית"),  # right-to-left letters are text, not controls
        ("zero\u200bwidth and ＝full width", "zero\u200bwidth and ＝full width"),
    ],
)
def test_plain_removes_control_characters_but_keeps_whitespace_and_letters(text: str, expected: str) -> None:
    assert plain(text) == expected


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ('=HYPERLINK("http://evil.example","Click")', '\'=HYPERLINK("http://evil.example","Click")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("\n=1+1", "'\n=1+1"),
        ("   =1+1", "'   =1+1"),  # importers that trim spaces would still see a formula
        ("\u202e=1+1", "'=1+1"),  # a bidi control in front does not hide the formula
        ("\u2066\u202b@cmd", "'@cmd"),
        ("Reset = done", "Reset = done"),
        ("Patched 3 PCs - done", "Patched 3 PCs - done"),
        ("", ""),
    ],
)
def test_csv_text_quotes_cells_that_would_start_a_formula(text: str, cell: str) -> None:
    assert csv_text(text) == cell


def test_plain_html_keeps_markup_as_markup_and_escapes_nothing_itself() -> None:
    markup = plain_html(Markup("<strong>\u202e5 h</strong>"))
    assert isinstance(markup, Markup) and markup == Markup("<strong>5 h</strong>")
    assert plain_html("<b>\u202e</b>") == "<b></b>"  # plain text stays text: autoescape escapes it later
    assert plain_html(42) == 42


def test_plain_tree_cleans_every_string_at_any_depth_and_leaves_the_rest() -> None:
    document = {"a": "x\u202ey", "b": [{"c": "\x1b[31m"}, 2, None, True], "d": 1.5}
    assert plain_tree(document) == {"a": "xy", "b": [{"c": "[31m"}, 2, None, True], "d": 1.5}


@given(st.text())
def test_plain_text_never_holds_a_bidi_or_non_whitespace_control(text: str) -> None:
    cleaned = plain(text)
    assert not any(ch in cleaned for ch in BIDI_CONTROLS)
    assert all(ch in "\t\n\r" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F) for ch in cleaned)
    assert plain(cleaned) == cleaned


@given(st.text())
def test_no_csv_text_cell_starts_a_formula(text: str) -> None:
    cell = csv_text(text).lstrip(" ")
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n"))
