"""The last line of defence: refuse published text holding a technician name or internal-note text."""

from __future__ import annotations

import re
from collections.abc import Iterable

from syncd.rules.scrub import bounded, fold_accents, full_names, name_parts, nfc, spaced

TECHNICIAN_NAME = "technician name"
INTERNAL_NOTE = "internal note"

# Internal-note fragments shorter than this are ordinary phrases ("see ticket"), not
# evidence of a leak; the whole note is still matched, as a phrase.
MIN_FRAGMENT = 12

_SENTENCE_SPLIT = re.compile(r"[.!?;…\r\n]+")


def normalize(text: str) -> str:
    """Text as the guard compares it: NFC, case-folded, whitespace runs collapsed."""
    return " ".join(nfc(text).casefold().split())


def fragments(note: str) -> set[str]:
    """The pieces of an internal note worth guarding: the whole note and its 12+ char sentences."""
    pieces = {normalize(note)}
    pieces |= {normalize(p) for p in _SENTENCE_SPLIT.split(note)}
    whole = normalize(note)
    return {p for p in pieces if len(p) >= MIN_FRAGMENT or (p == whole and _has_word(p))}


def _has_word(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


class LeakGuard:
    """Flags text that contains a technician name or any internal-note text.

    Names: every full name and name part (≥ 2 letters), case-insensitively on word
    boundaries, accents or not. Internal notes: the whole note, or any fragment of 12+
    characters between sentence punctuation or newlines, compared case-insensitively
    with whitespace collapsed. A whole note shorter than that is matched as a phrase on
    word boundaries, so the note "ok" does not flag "booked".
    """

    def __init__(self, names: Iterable[str], internal_texts: Iterable[str]) -> None:
        names = list(names)
        alternatives = [spaced(n) for n in full_names(names)] + [spaced(p) for p in name_parts(names)]
        self._names = re.compile(bounded(alternatives), re.IGNORECASE) if alternatives else None
        long: dict[str, list[str]] = {}
        short: set[str] = set()
        for note in internal_texts:
            if not note:
                continue
            for piece in fragments(note):
                if len(piece) >= MIN_FRAGMENT:
                    long.setdefault(piece[:MIN_FRAGMENT], []).append(piece)
                else:
                    short.add(spaced(piece))
        # Indexed by their first MIN_FRAGMENT characters: one dict lookup per position of
        # the checked text, however many notes there are.
        self._long = {key: tuple(sorted(set(v), key=len)) for key, v in long.items()}
        self._short = re.compile(bounded(short)) if short else None

    def check(self, text: str) -> str | None:
        """Why ``text`` must not be published ("technician name" / "internal note"), or None."""
        if not text:
            return None
        if self._names is not None:
            plain = nfc(text)
            if self._names.search(plain) or self._names.search(fold_accents(plain)):
                return TECHNICIAN_NAME
        if self.holds_internal_note(text):
            return INTERNAL_NOTE
        return None

    def holds_internal_note(self, text: str) -> bool:
        """Whether ``text`` contains internal-note text (names aside)."""
        return bool(text) and self._has_internal(normalize(text))

    def _has_internal(self, text: str) -> bool:
        if self._short is not None and self._short.search(text):
            return True
        if not self._long:
            return False
        for i in range(len(text) - MIN_FRAGMENT + 1):
            candidates = self._long.get(text[i : i + MIN_FRAGMENT])
            if candidates and any(text.startswith(c, i) for c in candidates):
                return True
        return False
