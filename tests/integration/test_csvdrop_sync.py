"""A drop folder through the real coordinator and store: no doubles, no ghosts, nothing lost."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from publisher.sinks import DirectorySink
from syncd.config import load_config
from syncd.coordinator import Coordinator
from syncd.errors import TransientError
from syncd.store import Store

from .conftest import Clock

ACCOUNT = "drop"
HEADER = "Date,Client,Hours,Description,Worker,Internal note,Work type,Billable\n"
PERIOD = "2026-11-01_to_2026-11-30"


def write_config(folder: Path, inbox: Path) -> Path:
    (folder / "clients").mkdir(parents=True)
    main = {"accounts": {ACCOUNT: {"vendor": "csvdrop", "inbox": str(inbox), "settle_seconds": 60}},
            "defaults": {"refresh": "15m", "timezone": "UTC"}}
    (folder / "syncd.yaml").write_text(yaml.safe_dump(main))
    retainer = {"cycle": {"monthly": "2026-11-01"}, "pools": {"support": {"cap_hours": 20}}}
    for key, name, selector in (("acme", "Acme Dental", {"client": "Acme Dental"}),
                                ("birch", "Birchwood Legal", {"client": ["Birchwood Legal", "Birchwood LLP"]}),
                                ("cobalt", "Cobalt Logistics", {})):
        client = {"name": name, "sources": [{"account": ACCOUNT, **selector}], "retainer": retainer}
        (folder / "clients" / f"{key}.yaml").write_text(yaml.safe_dump(client))
    return folder


@dataclass
class Drop:
    """An inbox, a store and a coordinator over them."""

    inbox: Path
    clock: Clock
    store: Store
    coordinator: Coordinator
    sink: DirectorySink

    def put(self, name: str, rows: list[str], *, header: str = HEADER, folder: str | None = None,
            settled: bool = True, encoding: str = "utf-8") -> Path:
        """Drop a file as a finished copy would (an hour old), or just written (``settled`` False)."""
        where = self.inbox / folder if folder else self.inbox
        where.mkdir(parents=True, exist_ok=True)
        path = where / name
        path.write_bytes((header + "".join(r + "\n" for r in rows)).encode(encoding))
        # A fresh file's mtime is set ahead of the wall clock so it is never "settled by age":
        # only a second, unchanged look may read it, however slowly the test runs.
        stamp = time.time() + (-3600 if settled else 3600)
        os.utime(path, (stamp, stamp))
        return path

    async def sync(self) -> Any:
        self.clock.advance(minutes=1)
        outcome = await self.coordinator.sync_account(ACCOUNT)
        return outcome

    def hours(self, client: str) -> Decimal:
        entries = self.store.entries_for_client(client, self.clock.now.date().replace(day=1))
        return sum((Decimal(e.duration_seconds) / 3600 for e in entries), Decimal(0))

    def entries(self) -> list[tuple[str | None, str, int, str | None]]:
        return sorted((e.client_key, e.work_date.isoformat(), e.duration_seconds, e.notes)
                      for c in ("acme", "birch", "cobalt")
                      for e in self.store.entries_for_client(c, self.clock.now.date().replace(day=1)))

    def files(self, under: str = "") -> list[str]:
        root = self.inbox / under if under else self.inbox
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
async def drop(tmp_path: Path) -> AsyncIterator[Drop]:
    clock = Clock()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = load_config(write_config(tmp_path / "config", inbox), environ={})
    store = Store.open(f"sqlite:///{tmp_path / 'syncd.db'}")
    sink = DirectorySink(tmp_path / "public")
    coordinator = Coordinator(config, store, sink, clock=clock)
    yield Drop(inbox, clock, store, coordinator, sink)
    await coordinator.aclose()
    store.close()


NOVEMBER = ["2026-11-03,Acme Dental,1.0,Replaced the edge router,Priya Raman,,Remote support,Yes",
            "2026-11-04,Acme Dental,2.0,Rebuilt the print server,Priya Raman,,Remote support,Yes",
            "2026-11-05,Birchwood Legal,0:45,Renewed the certificate,Tomasz Kowalczyk,,Remote support,Yes"]


async def test_dropping_the_same_file_twice_never_doubles_hours(drop: Drop) -> None:
    drop.put(f"labor_{PERIOD}.csv", NOVEMBER)
    assert (await drop.sync()).ok
    assert (drop.hours("acme"), drop.hours("birch")) == (Decimal(3), Decimal("0.75"))
    first = drop.entries()
    drop.put(f"labor_{PERIOD}.csv", NOVEMBER)
    outcome = await drop.sync()
    assert outcome.ok and outcome.touched == set()
    assert drop.entries() == first
    assert drop.store.runs(ACCOUNT)[0].changed == 0
    assert drop.files() == [f"archive/labor_{PERIOD} (2).csv", f"archive/labor_{PERIOD}.csv"]


async def test_an_updated_export_of_the_same_period_replaces_it_without_doubles_or_ghosts(drop: Drop) -> None:
    drop.put(f"labor_{PERIOD}.csv", NOVEMBER)
    await drop.sync()
    updated = ["2026-11-03,Acme Dental,1.5,Replaced the edge router,Priya Raman,,Remote support,Yes",  # edited
               # the print server row was deleted upstream
               "2026-11-05,Birchwood Legal,0:45,Renewed the certificate,Tomasz Kowalczyk,,Remote support,Yes",
               "2026-11-30,Acme Dental,0.5,Patched the firewall,Priya Raman,,Remote support,Yes"]
    drop.put(f"labor_{PERIOD} (1).csv", updated)
    outcome = await drop.sync()
    assert outcome.ok and outcome.touched == {"acme"}
    assert drop.hours("acme") == Decimal(2) and drop.hours("birch") == Decimal("0.75")
    assert [e[3] for e in drop.entries() if e[0] == "acme"] == ["Replaced the edge router", "Patched the firewall"]
    lines = (await drop.coordinator.publish_client("acme")).statement.lines
    page = {line.description: str(line.hours_charged) for line in lines}
    assert page == {"Replaced the edge router": "1.50", "Patched the firewall": "0.50"}


async def test_an_export_without_a_period_in_its_name_replaces_its_first_to_last_day(drop: Drop) -> None:
    drop.put("labor.csv", NOVEMBER)
    await drop.sync()
    # Only the 4th is exported again: the 3rd and 5th lie outside this export's days.
    drop.put("labor-again.csv", ["2026-11-04,Acme Dental,2.5,Rebuilt the print server,Priya Raman,,Remote,Yes"])
    await drop.sync()
    assert drop.hours("acme") == Decimal("3.5") and drop.hours("birch") == Decimal("0.75")


async def test_another_tools_export_or_another_folder_never_clears_this_one(drop: Drop) -> None:
    drop.put(f"generic_{PERIOD}.csv", NOVEMBER)
    toggl = "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,End date,End time,Duration,Tags\n"
    drop.put(f"toggl_{PERIOD}.csv", ["Aoife Brennan,a@example.com,Acme Dental,Retainer,,Set up a phone,Yes,"
                                     "2026-11-10,10:00:00,2026-11-10,10:30:00,00:30:00,"], header=toggl)
    drop.put(f"cobalt_{PERIOD}.csv", ["2026-11-12,,1.25,Label printer driver,Sven Lindqvist,,Remote,Yes"],
             folder="cobalt")
    await drop.sync()
    assert (drop.hours("acme"), drop.hours("birch"), drop.hours("cobalt")) == (
        Decimal("3.5"), Decimal("0.75"), Decimal("1.25"))


async def test_a_client_folder_claims_every_row_and_needs_no_client_column(drop: Drop) -> None:
    header = "Date,Hours,Description,Worker\n"
    drop.put("cobalt.csv", ["2026-11-12,1.25,Label printer driver,Sven Lindqvist"], header=header, folder="cobalt")
    drop.put("root.csv", ["2026-11-12,1.25,Label printer driver,Sven Lindqvist"], header=header)
    await drop.sync()
    assert drop.hours("cobalt") == Decimal("1.25")
    assert drop.files("rejected") == ["root.csv", "root.csv.error.txt"]
    assert "without a client column" in (drop.inbox / "rejected" / "root.csv.error.txt").read_text()


async def test_a_file_with_a_bad_row_is_rejected_whole_with_the_row_named_and_the_ledger_untouched(drop: Drop) -> None:
    drop.put(f"labor_{PERIOD}.csv", NOVEMBER)
    await drop.sync()
    before = drop.entries()
    page_before = (await drop.coordinator.publish_client("acme")).statement.lines
    bad = ["2026-11-03,Acme Dental,1.0,Replaced the edge router,Priya Raman,,Remote support,Yes",
           "2026-11-04,Acme Dental,two,Rebuilt the print server,Priya Raman,,Remote support,Yes",
           "2026-11-06,Acme Dental,4.0,New row that must not land,Priya Raman,,Remote support,Yes"]
    drop.put(f"labor_{PERIOD}_v2.csv", bad)
    with capture_logs() as logs:
        outcome = await drop.sync()
    assert outcome.ok and outcome.touched == set()
    assert drop.entries() == before
    assert (await drop.coordinator.publish_client("acme")).statement.lines == page_before
    report = (drop.inbox / "rejected" / f"labor_{PERIOD}_v2.csv.error.txt").read_text()
    assert "line 3, column 'Hours': not a number: 'two'" in report
    assert "nothing from it reached the ledger" in report
    assert [e["event"] for e in logs].count("csv_rejected") == 1
    assert f"labor_{PERIOD}_v2.csv" not in drop.files()  # moved out of the inbox


async def test_an_empty_export_is_rejected_and_clears_nothing(drop: Drop) -> None:
    drop.put(f"labor_{PERIOD}.csv", NOVEMBER)
    await drop.sync()
    drop.put(f"labor_{PERIOD}_empty.csv", [])
    await drop.sync()
    assert drop.hours("acme") == Decimal(3)
    assert "no rows" in (drop.inbox / "rejected" / f"labor_{PERIOD}_empty.csv.error.txt").read_text()


async def test_a_file_is_archived_only_after_its_entries_are_committed(drop: Drop,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    drop.put(f"labor_{PERIOD}.csv", NOVEMBER)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(drop.store, "replace_period", broken)
    with pytest.raises(RuntimeError):
        await drop.sync()
    assert drop.files() == [f"labor_{PERIOD}.csv"]  # still in the inbox: nothing lost
    monkeypatch.undo()
    assert (await drop.sync()).ok
    assert drop.hours("acme") == Decimal(3)
    assert drop.files() == [f"archive/labor_{PERIOD}.csv"]


async def test_half_written_and_temp_named_files_wait_until_they_are_complete(drop: Drop) -> None:
    part = drop.put("labor.csv.part", NOVEMBER)
    drop.put("~$labor.csv", NOVEMBER)
    await drop.sync()
    assert drop.hours("acme") == 0
    fresh = part.rename(drop.inbox / "labor.csv")
    os.utime(fresh, (time.time() + 3600, time.time() + 3600))  # just finished: not yet settled by age
    await drop.sync()
    assert drop.hours("acme") == 0  # first look at this name
    with fresh.open("a") as f:  # the writer was not done after all
        f.write("2026-11-06,Acme Dental,1.0,Late row,Priya Raman,,Remote support,Yes\n")
    os.utime(fresh, (time.time() + 3700, time.time() + 3700))
    await drop.sync()
    assert drop.hours("acme") == 0  # changed between two looks
    await drop.sync()
    assert drop.hours("acme") == Decimal(4)  # unchanged between two looks: read whole


async def test_encodings_and_decimal_commas_import_alike(drop: Drop) -> None:
    semicolons = "Date;Client;Hours;Description;Worker\n"
    drop.put("cp1252.csv", ["2026-11-10;Acme Dental;1,5;Café Wi-Fi renewed;Priya Raman"], header=semicolons,
             encoding="cp1252")
    drop.put("bom.csv", ["2026-11-11;Birchwood LLP;0:30;Café printer;Tomasz Kowalczyk"],
             header="\ufeff" + semicolons)
    await drop.sync()
    assert drop.hours("acme") == Decimal("1.5") and drop.hours("birch") == Decimal("0.5")
    assert ("acme", "2026-11-10", 5400, "Café Wi-Fi renewed") in drop.entries()


async def test_rows_of_unknown_clients_are_left_out_and_named_in_the_log(drop: Drop) -> None:
    drop.put("labor.csv", [*NOVEMBER, "2026-11-05,Delta Vet,1.0,Other client's work,Priya Raman,,Remote,Yes"])
    with capture_logs() as logs:
        await drop.sync()
    [unclaimed] = [e for e in logs if e["event"] == "csv_rows_unclaimed"]
    assert unclaimed["clients"] == {"Delta Vet": 1} and unclaimed["rows"] == 1
    assert drop.hours("acme") == Decimal(3)


async def test_a_file_in_a_folder_no_client_reads_is_rejected_with_the_reason(drop: Drop) -> None:
    drop.put("labor.csv", NOVEMBER, folder="acme-dentl")
    await drop.sync()
    assert drop.files("rejected") == ["acme-dentl/labor.csv", "acme-dentl/labor.csv.error.txt"]
    assert "no client reads 'acme-dentl'" in (drop.inbox / "rejected" / "acme-dentl" / "labor.csv.error.txt").read_text()


async def test_a_missing_inbox_fails_the_source_until_it_is_back(drop: Drop) -> None:
    drop.inbox.rename(drop.inbox.with_name("elsewhere"))
    outcome = await drop.sync()
    assert isinstance(outcome.error, TransientError) and "cannot read" in str(outcome.error)
    drop.inbox.with_name("elsewhere").rename(drop.inbox)
    assert (await drop.sync()).ok


async def test_an_older_export_that_turns_up_after_a_newer_one_of_its_period_is_archived_unread(drop: Drop) -> None:
    # A sync tool took the older export away before it was read and put it back later (or an
    # old copy was dropped again): replacing the period with it would undo the newer one.
    older = drop.put(f"labor_{PERIOD}.csv", NOVEMBER)
    held = older.with_name(".held.csv")  # a dot name: never read
    older.rename(held)
    newer = drop.put(f"labor_{PERIOD} (1).csv", [*NOVEMBER, "2026-11-06,Acme Dental,0.5,Patched the firewall,"
                                                              "Priya Raman,,Remote support,Yes"])
    os.utime(newer, (held.stat().st_mtime + 60, held.stat().st_mtime + 60))
    assert (await drop.sync()).ok
    assert drop.hours("acme") == Decimal("3.5")
    held.rename(older)
    with capture_logs() as logs:
        outcome = await drop.sync()
    assert outcome.ok and outcome.touched == set()
    assert drop.hours("acme") == Decimal("3.5")
    assert [(e["event"], e["file"]) for e in logs if e["event"].startswith("csv_superseded")] == [
        ("csv_superseded", older.name)]
    assert drop.files() == [f"archive/labor_{PERIOD} (1).csv", f"archive/labor_{PERIOD}.csv"]
