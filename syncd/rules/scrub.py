"""Technician-name scrubbing of free text: always on, no rule can turn it off."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable

REPLACEMENT = "our technician"

# A name part must have at least this many letters to be scrubbed on its own: initials
# ("J.") would otherwise eat ordinary capitals.
MIN_PART_LETTERS = 2

_APOSTROPHES = "'’ʼ"
# Characters that may sit between a sentence end and the name: quotes and brackets.
_OPENERS = "\"'“‘«([{" + string.whitespace
_SENTENCE_ENDS = ".!?…"


def nfc(text: str) -> str:
    """Text in Unicode NFC form, so "Zoë" typed with a combining mark matches "Zoë"."""
    return unicodedata.normalize("NFC", text)


def fold_accents(text: str) -> str:
    """Text with combining marks removed ("Zoë" → "Zoe"), in NFC form."""
    if text.isascii():
        return text  # nothing to fold, and already NFC: most work notes, at a fraction of the cost
    decomposed = unicodedata.normalize("NFD", text)
    return nfc("".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def name_variants(name: str) -> set[str]:
    """The name as configured (NFC, whitespace collapsed) and without accents."""
    clean = " ".join(nfc(name).split())
    return {clean, fold_accents(clean)} if clean else set()


def full_names(names: Iterable[str]) -> set[str]:
    """Every multi-word name, with its accent-free variant."""
    out: set[str] = set()
    for name in names:
        out |= {v for v in name_variants(name) if len(v.split()) > 1}
    return out


def name_parts(names: Iterable[str]) -> set[str]:
    """First names and surnames (≥ 2 letters, capitalised), hyphenated ones also split.

    Lower-case particles ("de", "van") are not a name on their own and are left to the
    full-name match; so are initials.
    """
    out: set[str] = set()
    for name in names:
        for variant in name_variants(name):
            tokens = variant.split()
            if not any(t[0].isupper() for t in tokens):
                # A name the vendor wrote all in lower case is still a name: its first
                # and last words are the first name and surname; between are particles.
                ends = {0, len(tokens) - 1}
                tokens = [t[0].upper() + t[1:] if i in ends else t for i, t in enumerate(tokens)]
            for token in tokens:
                pieces = [token, *token.split("-")] if "-" in token else [token]
                out |= {p for p in pieces if _is_part(p)}
    return out


def _is_part(token: str) -> bool:
    letters = sum(ch.isalpha() for ch in token)
    return letters >= MIN_PART_LETTERS and token[:1].isupper()


def literal(text: str) -> str:
    """A regex for ``text`` that accepts any apostrophe where the text has one."""
    out = []
    for ch in text:
        out.append(f"[{_APOSTROPHES}]" if ch in _APOSTROPHES else re.escape(ch))
    return "".join(out)


def spaced(name: str) -> str:
    """A regex for a multi-word name tolerant of any run of whitespace between words."""
    return r"\s+".join(literal(word) for word in name.split())


def bounded(alternatives: Iterable[str]) -> str:
    """An alternation (longest first, so the longest name wins) between word boundaries.

    Boundaries are Unicode-aware look-arounds rather than ``\\b`` so names starting or
    ending in a non-word character still bound correctly; an apostrophe is not a word
    character, so possessives ("Priya's") match the name and keep their "'s".
    """
    ordered = sorted(set(alternatives), key=lambda a: (-len(a), a))
    return r"(?<!\w)(?:" + "|".join(ordered) + r")(?!\w)"


def _part_pattern(part: str) -> str:
    # The capital initial is required as written; the rest may be in any case, so
    # "PRIYA" is scrubbed but the ordinary word "will" survives for a technician "Will".
    return literal(part[0]) + "(?i:" + literal(part[1:]) + ")"


class NameScrubber:
    """Replaces technician names in free text with "our technician".

    Full names match case-insensitively with any whitespace between words; single name
    parts (first name, surname) match only with their capital initial, so a lower-case
    ordinary word is left alone. A capitalised word at the start of a sentence that is
    also a technician's first name ("Will reboot tonight.") IS scrubbed: we cannot tell
    it from the name, and privacy wins.
    """

    def __init__(self, names: Iterable[str]) -> None:
        names = list(names)
        fulls = [spaced(n) for n in full_names(names)]
        parts = [_part_pattern(p) for p in name_parts(names)]
        branches = []
        if fulls:
            branches.append("(?i:" + bounded(fulls) + ")")
        if parts:
            branches.append(bounded(parts))
        self._pattern = re.compile("|".join(branches)) if branches else None

    def scrub(self, text: str) -> str:
        """``text`` (NFC) with every technician name replaced."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(_replacement, nfc(text))


def _replacement(match: re.Match[str]) -> str:
    before = match.string[: match.start()].rstrip(_OPENERS)
    at_sentence_start = not before or before[-1] in _SENTENCE_ENDS
    return REPLACEMENT.capitalize() if at_sentence_start else REPLACEMENT
