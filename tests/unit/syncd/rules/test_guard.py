"""Tests for syncd.rules.guard: the final refusal of names and internal-note text."""

from __future__ import annotations

import time

import pytest

from syncd.rules.guard import INTERNAL_NOTE, TECHNICIAN_NAME, LeakGuard, fragments

TEAM = ["Priya Patel", "Will Hart", "Zoë Smith-Jones"]
NOTES = [
    "Customer was rude on the phone. Admin password is Hunter2-Alpha!\nBill them later",
    "ok",
    "   ",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Reset the router", None, id="clean"),
        pytest.param("", None, id="empty"),
        pytest.param("Priya Patel reset it", TECHNICIAN_NAME, id="full-name"),
        pytest.param("priya   PATEL reset it", TECHNICIAN_NAME, id="full-name-any-case-any-space"),
        pytest.param("ask priya", TECHNICIAN_NAME, id="first-name-lower-case"),
        pytest.param("patel's laptop", TECHNICIAN_NAME, id="surname-possessive"),
        pytest.param("zoe fixed it", TECHNICIAN_NAME, id="accent-free-spelling"),
        pytest.param("smith-jones", TECHNICIAN_NAME, id="hyphenated"),
        # The guard is deliberately stricter than the scrubber: an ordinary "will" next to a
        # technician called Will is flagged, and the line falls back to a generic text.
        pytest.param("we will call", TECHNICIAN_NAME, id="name-part-as-ordinary-word"),
        pytest.param("willing to help", None, id="not-inside-words"),
        pytest.param("priyanka", None, id="not-prefix"),
        pytest.param("Our technician reset it", None, id="scrubbed-text"),
        pytest.param("the customer was rude on the phone", INTERNAL_NOTE, id="fragment-any-case"),
        pytest.param("CUSTOMER   was\nrude on the phone", INTERNAL_NOTE, id="fragment-whitespace-collapsed"),
        pytest.param("note: admin password is hunter2-alpha", INTERNAL_NOTE, id="second-sentence"),
        pytest.param("bill them later please", INTERNAL_NOTE, id="fragment-after-newline"),
        # Fragments are whole sentences/lines of the note; part of one is not matched.
        pytest.param("customer was rude", None, id="part-of-a-fragment-not-matched"),
        pytest.param("Customer was rude on the phone. Admin password is Hunter2-Alpha! Bill them later",
                     INTERNAL_NOTE, id="whole-note"),
        pytest.param("OK, rebooted", INTERNAL_NOTE, id="short-whole-note-as-a-word"),
        pytest.param("booked a visit", None, id="short-whole-note-not-inside-words"),
        pytest.param("the phone", None, id="shorter-than-12-is-not-a-fragment"),
    ],
)
def test_check(text: str, expected: str | None) -> None:
    assert LeakGuard(TEAM, NOTES).check(text) == expected


def test_a_name_is_reported_before_an_internal_note() -> None:
    guard = LeakGuard(["Priya Patel"], ["customer was rude on the phone"])
    assert guard.check("Priya: customer was rude on the phone") == TECHNICIAN_NAME


def test_nothing_configured_flags_nothing() -> None:
    assert LeakGuard([], []).check("Priya Patel said the customer was rude") is None


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        pytest.param("ok", {"ok"}, id="short-whole"),
        pytest.param("---", set(), id="no-words"),
        pytest.param("Short. Rebooted the server twice", {"short. rebooted the server twice",
                                                          "rebooted the server twice"}, id="sentences"),
        pytest.param("Line one is long enough\nshort", {"line one is long enough short",
                                                         "line one is long enough"}, id="newlines"),
    ],
)
def test_fragments(note: str, expected: set[str]) -> None:
    assert fragments(note) == expected


def test_many_internal_notes_stay_fast() -> None:
    notes = [f"Internal remark number {i} about server {i * 7}. Spare line {i}" for i in range(5000)]
    guard = LeakGuard(["Priya Patel"], notes)
    started = time.perf_counter()
    flagged = [guard.check(f"Rebooted the printer on floor {i} and tested it") for i in range(5000)]
    elapsed = time.perf_counter() - started
    assert flagged == [None] * 5000
    assert guard.check("see internal remark number 4999 about server 34993") == INTERNAL_NOTE
    assert elapsed < 10
