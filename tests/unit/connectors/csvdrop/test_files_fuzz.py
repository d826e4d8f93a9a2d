"""Export files mutated at random, through the parser and the drop folder: each is imported whole
or rejected whole with an error naming its line (and column), and a rejected file leaves the
ledger as it was."""

from __future__ import annotations

import codecs
import csv
import io
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import ClientRoute
from connectors.csvdrop.client import CsvDropConnector, CsvDropSelector, CsvDropSettings
from connectors.csvdrop.parse import CsvError, decode, read_table
from connectors.http import Funnel
from publisher.sinks import DirectorySink
from syncd.config import load_config
from syncd.coordinator import Coordinator
from syncd.store import Store

from ..hostile import assert_sane

SAMPLES = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "csv"
# Each sample export as (header, rows) of text, whatever encoding and delimiter it was saved in.
TABLES = {p.name: read_table(decode(p.read_bytes())) for p in sorted(SAMPLES.glob("*.csv"))}
# Problems with the whole file, where no line can be named.
WHOLE_FILE = ("the file is empty", "spreadsheet workbook", "only .csv", "without a client column")

CELLS = st.one_of(
    st.sampled_from([
        # durations: zero, negative, absurd, NaN-like, decimal comma, clock forms
        "0", "0:00", "-1", "-0.5", "1e12", "NaN", "inf", "Infinity", "1,5", "1.234,5", "24", "24:00", "24:01",
        "25", "99:99", "1:75", "0.0001", "",
        # dates: far past and future, impossible, ambiguous, named months
        "0001-01-01", "9999-12-31", "1969-12-31", "3000-01-01", "2026-02-30", "02/03/2026", "13/13/2026",
        "Feb 30, 2026", "31.11.2026", "2026-11-18 25:00", "11/18/2026 9:30 PM",
        # formula-looking cells (spreadsheet injection), quotes, separators, newlines
        "=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1:A2)", "=1+1", "\"quoted\"", "a,b;c\td",
        "line one\nline two", "yes", "no", "maybe", "Acme Dental", "Unknown Client", "E00001",
    ]),
    st.text(max_size=20),
    st.sampled_from(["x" * 5000, "é" * 300, "y" * 61]),
)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252", "latin-1",
                             "mac-roman"])
DELIMITERS = st.sampled_from([",", ";", "\t", "|"])
NEWLINES = st.sampled_from(["\n", "\r\n", "\r"])
NAMES = st.sampled_from(["export.csv", "report_2026-11-01_to_2026-11-30.csv", "x_0001-01-01_to_9999-12-31.csv",
                         "x_2026-02-30_to_2026-03-01.csv", "export.CSV", "export.tsv", "export.xlsx"])
SOMETIMES = st.sampled_from([False, False, False, True])


@st.composite
def export_files(draw: st.DrawFn) -> tuple[bytes, str]:
    """A sample export with some cells replaced, rows cut short or lengthened, repeated or
    dropped, written in some encoding, delimiter and line ending; and a file name."""
    table = TABLES[draw(st.sampled_from(sorted(TABLES)))]
    rows = [list(cells) for _, cells in table.rows]
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 4]))):
        row = rows[draw(st.integers(0, len(rows) - 1))]
        row[draw(st.integers(0, len(row) - 1))] = draw(CELLS)
    if draw(SOMETIMES):  # ragged
        row = rows[draw(st.integers(0, len(rows) - 1))]
        if draw(st.booleans()) and len(row) > 1:
            row.pop()
        else:
            row.append(draw(CELLS))
    if draw(st.booleans()):  # an identical row again, or a duplicate entry id
        rows.append(list(rows[draw(st.integers(0, len(rows) - 1))]))
    rows = rows[: draw(st.integers(0, len(rows)))] if draw(SOMETIMES) else rows
    out = io.StringIO()
    writer = csv.writer(out, delimiter=draw(DELIMITERS), lineterminator=draw(NEWLINES),
                        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])))
    writer.writerow(table.header)
    writer.writerows(rows)
    text = out.getvalue()
    encoding = draw(ENCODINGS)
    data = text.encode(encoding, errors="replace")
    if encoding == "utf-16-le" and draw(st.booleans()):
        data = codecs.BOM_UTF16_LE + data
    if draw(SOMETIMES):  # a cut-off file, or stray bytes
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=4))
    return data, draw(NAMES)


def connector(inbox: Path) -> CsvDropConnector:
    settings_ = CsvDropSettings(vendor="csvdrop", inbox=inbox, timezone="America/Chicago")
    routes = [ClientRoute("acme", CsvDropSelector(account="drop", client=["Acme Dental"])),
              ClientRoute("birch", CsvDropSelector(account="drop", client="birchwood legal"))]
    return CsvDropConnector("drop", settings_, routes, Funnel(vendor="CSV", base_url="http://csvdrop.invalid"))


def assert_names_where(err: CsvError) -> None:
    """A rejection says where: a line (with the column, for a cell), unless it is about the whole file."""
    if err.line is None:
        assert any(w in err.problem for w in WHOLE_FILE) or err.problem.startswith(("neither UTF-8", "unreadable UTF-16")), err
        return
    assert err.line >= 1
    if err.problem.startswith(("not ", "no ", "impossible", "unreadable date", "unreadable time", "ambiguous")) \
            or "24 hours" in err.problem:
        assert err.column, f"a cell's problem without its column: {err}"


CONNECTOR = connector(Path("/nonexistent-inbox"))


@given(export_files(), st.sampled_from([None, "acme"]))
def test_every_file_is_read_whole_or_refused_naming_where(file: tuple[bytes, str], folder: str | None) -> None:
    data, name = file
    try:
        result = CONNECTOR.read_file(data, name=name, folder=folder)
    except CsvError as err:
        assert_names_where(err)
        return
    page = result.page
    assert page, "an imported file has rows"
    for entry in page:
        assert_sane(entry)
        assert len(entry.vendor_id) <= 128
    assert len({e.vendor_id for e in page}) == len(page)
    assert all(page.replaces.start <= e.work_date <= page.replaces.end for e in page)


@settings(max_examples=max(10, settings.default.max_examples // 2))
@given(st.binary(max_size=2000), st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE,
                                                  b"Date,Client,Hours,Description\n"]))
def test_random_bytes_are_refused_naming_where_or_read(data: bytes, prefix: bytes) -> None:
    try:
        CONNECTOR.read_file(prefix + data, name="random.csv", folder="acme")
    except CsvError as err:
        assert_names_where(err)


def test_a_large_export_of_many_rows_is_read_whole() -> None:
    rows = [f"2026-11-{1 + i % 28:02d},Acme Dental,0:{15 + i % 30},Call {i},Priya Raman" for i in range(20_000)]
    data = ("Date,Client,Hours,Description,Worker\n" + "\n".join(rows)).encode()
    page = CONNECTOR.read_file(data, name="big.csv", folder=None).page
    assert len(page) == 20_000 and len({e.vendor_id for e in page}) == 20_000


# --- through the drop folder and the coordinator, into a real store -------------------------


class DropRig:
    """A config with one drop-folder account and two clients, a SQLite store and a coordinator."""

    def __init__(self, root: Path) -> None:
        self.inbox = root / "inbox"
        (self.inbox / "acme").mkdir(parents=True)
        config = root / "config"
        (config / "clients").mkdir(parents=True)
        (config / "syncd.yaml").write_text(yaml.safe_dump({
            "accounts": {"drop": {"vendor": "csvdrop", "inbox": str(self.inbox), "timezone": "America/Chicago"}},
            "defaults": {"timezone": "UTC"}}))
        for key, name in (("acme", "Acme Dental"), ("birch", "Birchwood Legal")):
            (config / "clients" / f"{key}.yaml").write_text(yaml.safe_dump({
                "name": name, "sources": [{"account": "drop", "client": name}],
                "retainer": {"cycle": {"monthly": "2026-01-01"}, "pools": {"support": {"cap_hours": 40}}}}))
        self.store = Store.open(f"sqlite:///{root / 'syncd.db'}")
        self.coordinator = Coordinator(load_config(config, environ={}), self.store, DirectorySink(root / "public"),
                                       clock=lambda: datetime(2026, 11, 20, tzinfo=timezone.utc))
        self.dropped = 0

    def ledger(self) -> list[tuple[Any, ...]]:
        with self.store.engine.connect() as conn:
            return sorted(tuple(r) for r in conn.exec_driver_sql(
                "SELECT vendor_id, client_key, work_date, deleted, digest FROM entries"))

    def drop(self, data: bytes, name: str, folder: str | None) -> Path:
        self.dropped += 1
        path = (self.inbox / folder if folder else self.inbox) / f"{self.dropped:05d}-{name}"
        path.write_bytes(data)
        settled = time.time() - 3600
        os.utime(path, (settled, settled))
        return path


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> DropRig:
    return DropRig(tmp_path_factory.mktemp("drop"))


@settings(max_examples=max(10, settings.default.max_examples // 3),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(export_files(), st.sampled_from([None, "acme"]))
async def test_a_dropped_file_is_archived_whole_or_rejected_leaving_the_ledger_as_it_was(
        rig: DropRig, file: tuple[bytes, str], folder: str | None) -> None:
    data, name = file
    before = rig.ledger()
    path = rig.drop(data, name, folder)
    outcome = await rig.coordinator.sync_account("drop", reconcile=False)
    assert outcome.ok, outcome.error
    assert not path.exists(), "every ready file is read once: archived or rejected"
    rejected = list(rig.inbox.rglob(f"rejected/**/{path.name}"))
    if rejected:
        assert rig.ledger() == before
        report = rejected[0].with_name(rejected[0].name + ".error.txt").read_text()
        assert "nothing from it reached the ledger" in report and "Problem: " in report
    else:
        assert list(rig.inbox.rglob(f"archive/**/{path.name}"))

