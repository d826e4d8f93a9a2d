"""Tests for syncd.rules.redact: the built-in patterns, custom ones, and what is left alone."""

from __future__ import annotations

import pytest

from syncd.rules.redact import BUILTINS, PLACEHOLDER, Redactor, check_pattern

R = PLACEHOLDER

CASES = [
    # (built-in, text, expected)
    ("ip", "Pinged 10.0.0.1.", f"Pinged {R}."),
    ("ip", "Subnet 192.168.1.0/24 and RDP on 10.1.1.1:3389", f"Subnet {R} and RDP on {R}"),
    ("ip", "v6 fe80::1 and 2001:db8::8a2e:370:7334", f"v6 {R} and {R}"),
    ("ip", "2001:0db8:0000:0000:0000:ff00:0042:8329 is full form", f"{R} is full form"),
    ("ip", "at 10:30:15 on version 1.2.3.4.5", "at 10:30:15 on version 1.2.3.4.5"),
    ("ip", "999.1.1.1 is not an address", "999.1.1.1 is not an address"),
    ("ip", "std::vector in the code", "std::vector in the code"),
    ("hostname", "FW rule conflict on edge01", f"FW rule conflict on {R}"),
    ("hostname", "Rebooted DC01 and SRV-FS-02", f"Rebooted {R} and {R}"),
    ("hostname", "Mail via mail.acme.local today", f"Mail via {R} today"),
    ("hostname", r"Mapped \\fs01\scans\2026 for her", f"Mapped {R} for her"),
    ("hostname", "M365 on Win11, the Wi-Fi, e.g. the X-ray PC", "M365 on Win11, the Wi-Fi, e.g. the X-ray PC"),
    ("hostname", "Moved 3.5 TB; version 2.4", "Moved 3.5 TB; version 2.4"),
    ("email", "Sent to jo.bloggs+it@acme-dental.example.", f"Sent to {R}."),
    ("email", "no @ here, nor a@b", "no @ here, nor a@b"),
    ("phone", "Call +44 20 7946 0958 or (212) 555-0100", f"Call {R} or {R}"),
    ("phone", "Call 555-0100 ext or 2125550100", f"Call {R} ext or {R}"),
    ("phone", "Ticket 1234567, 2026-03-10, 12/03/2026, 10.30", "Ticket 1234567, 2026-03-10, 12/03/2026, 10.30"),
    ("url", "See https://portal.example.com/a?b=1, then www.acme.com.", f"See {R}, then {R}."),
    ("url", "Opened rdp://10.0.0.5 (the jump box)", f"Opened {R} (the jump box)"),
    ("url", "not a url: https is a protocol", "not a url: https is a protocol"),
]


@pytest.mark.parametrize(("builtin", "text", "expected"),
                         [pytest.param(b, t, e, id=f"{i:02d}-{b}") for i, (b, t, e) in enumerate(CASES)])
def test_builtin(builtin: str, text: str, expected: str) -> None:
    assert Redactor([builtin]).redact(text) == expected


def test_wider_patterns_run_first_whatever_the_order_asked() -> None:
    text = "Mail jo@mail.acme.local or open https://mail.acme.local/owa from 10.0.0.9"
    assert Redactor(["hostname", "ip", "url", "email"]).redact(text) == f"Mail {R} or open {R} from {R}"


def test_custom_patterns_run_before_the_builtins() -> None:
    redactor = Redactor(["hostname"], [r"\bPO-\d+\b", r"(?i)vault code \d+"])
    assert redactor.redact("PO-4411 for SRV-02, Vault code 1234") == f"{R} for {R}, {R}"
    assert redactor.describe() == r"hostname, /\bPO-\d+\b/, /(?i)vault code \d+/"


def test_an_empty_redactor_changes_nothing() -> None:
    assert not Redactor()
    assert Redactor().redact("10.0.0.1") == "10.0.0.1"


def test_unknown_builtin_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown built-in redaction 'mac'"):
        Redactor(["mac"])


def test_builtins_are_the_documented_five() -> None:
    assert set(BUILTINS) == {"ip", "hostname", "email", "phone", "url"}


@pytest.mark.parametrize(
    ("pattern", "error"),
    [
        pytest.param("(unclosed", "invalid regular expression", id="syntax"),
        pytest.param("a*", "matches empty text", id="star"),
        pytest.param("fw|", "matches empty text", id="empty-branch"),
        pytest.param("", "matches empty text", id="empty"),
    ],
)
def test_check_pattern_refuses(pattern: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        check_pattern(pattern)


@pytest.mark.parametrize("pattern", [r"(?i)\bFW\b", r"\d{3}-\d{4}", r"^Travel$"])
def test_check_pattern_accepts(pattern: str) -> None:
    assert check_pattern(pattern) == pattern
