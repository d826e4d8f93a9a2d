"""Redaction of technical identifiers (addresses, host names, e-mail, phone numbers, URLs) from descriptions."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

PLACEHOLDER = "[redacted]"

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_HEX = r"[0-9A-Fa-f]{1,4}"

# Each built-in is one compiled pattern. They run in this order whatever order a rule
# lists them in: a URL or an e-mail address holds a host name, so the wider pattern
# must see the text first or a half-redacted address would be left behind.
_BUILTIN_SOURCES: dict[str, str] = {
    "url": r"(?i)(?:\b(?:https?|s?ftp|smb|rdp|ssh|file)://|\bwww\.)[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]}]",
    "email": r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    "ip": (
        # IPv4 with an optional /prefix or :port; not the middle of a longer dotted number.
        rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?:/\d{{1,2}}|:\d{{1,5}})?(?!\w|\.\d)"
        # IPv6: eight groups, or a compressed form with "::" (a bare time like 10:30:15
        # has neither, so it is left alone).
        rf"|(?<![\w:])(?:{_HEX}:){{7}}{_HEX}(?![\w:])"
        rf"|(?<![\w:])(?=[:\w]*[0-9A-Fa-f])(?:{_HEX}(?::{_HEX})*)?::(?:{_HEX}(?::{_HEX})*)?(?:/\d{{1,3}})?(?![\w:])"
    ),
    "hostname": (
        # UNC paths: \\server\share\folder
        r"\\\\[\w.$-]+(?:\\[^\s\\]+)*\\?"
        # Dotted names: mail.acme.local, srv01.corp.example.com (a top-level part of letters).
        r"|(?<![\w@.-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-]|\.[A-Za-z0-9])"
        # Machine names as MSPs write them: letters then a zero-padded number (edge01, DC02)
        # or a hyphenated number (srv-fs-2, web-01). "Win11" and "M365" are left alone.
        r"|(?<![\w.-])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*?(?:-\d+|(?<=[A-Za-z])0\d+)(?![\w-])"
    ),
    "phone": r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?!\w)",
}
BUILTINS: tuple[str, ...] = tuple(_BUILTIN_SOURCES)
_COMPILED = {name: re.compile(source) for name, source in _BUILTIN_SOURCES.items()}
_DATE_LIKE = re.compile(r"^(?:\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})$")


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    marked = text.startswith("+") or "(" in text or any(ch in text for ch in " .-")
    # Seven digits with some phone-like punctuation, or ten in a row: shorter runs are
    # ticket numbers, amounts and times, and dates are dates.
    if not 7 <= digits <= 15 or (not marked and digits < 10) or _DATE_LIKE.match(text):
        return text
    return PLACEHOLDER


def check_pattern(pattern: str) -> str:
    """``pattern`` if it compiles and cannot match empty text; raise ValueError otherwise.

    A pattern that matches nothing at all (``a*``, ``x|``) would put its replacement
    between every character, which is never what the admin meant.
    """
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise ValueError(f"invalid regular expression {pattern!r}: {err}") from err
    if any(m.start() == m.end() for m in compiled.finditer("Ab 1.2 x@y.z\n")) or compiled.fullmatch(""):
        raise ValueError(f"regular expression {pattern!r} matches empty text; it must match something")
    return pattern


class Redactor:
    """Replaces what the chosen built-ins and custom patterns match with "[redacted]".

    Custom patterns run first (they are the admin's specific knowledge), then the
    built-ins in a fixed order: url, email, ip, hostname, phone.
    """

    def __init__(self, builtins: Iterable[str] = (), custom: Sequence[str] = ()) -> None:
        chosen = set(builtins)
        unknown = chosen - set(BUILTINS)
        if unknown:
            raise ValueError(f"unknown built-in redaction {sorted(unknown)[0]!r}; use one of {', '.join(BUILTINS)}")
        self.builtins = tuple(name for name in BUILTINS if name in chosen)
        self.custom = tuple(re.compile(p) for p in custom)

    def __bool__(self) -> bool:
        return bool(self.builtins or self.custom)

    def describe(self) -> str:
        """A short account of what this redactor removes, for previews."""
        parts = list(self.builtins) + [f"/{p.pattern}/" for p in self.custom]
        return ", ".join(parts)

    def redact(self, text: str) -> str:
        """``text`` with every match replaced by the placeholder."""
        for pattern in self.custom:
            text = pattern.sub(PLACEHOLDER, text)
        for name in self.builtins:
            text = _COMPILED[name].sub(_phone if name == "phone" else PLACEHOLDER, text)
        return text
