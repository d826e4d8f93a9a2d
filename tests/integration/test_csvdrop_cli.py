"""`syncd import FILE --account A`: the same import by hand, with plain messages and exit codes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import structlog
import time_machine
import yaml
from typer.testing import CliRunner

from syncd.cli import EX_DATAERR, EX_NOINPUT, app
from syncd.store import Store

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "csv"


# The sample exports cover early November 2026: the pages are read in that cycle.
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    config = tmp_path / "config"
    (config / "clients").mkdir(parents=True)
    main = {"accounts": {"drop": {"vendor": "csvdrop", "inbox": str(tmp_path / "inbox")}},
            "defaults": {"refresh": "15m", "timezone": "UTC"}}
    (config / "syncd.yaml").write_text(yaml.safe_dump(main))
    retainer = {"cycle": {"monthly": "2026-11-01"}, "pools": {"support": {"cap_hours": 20}}}
    for key, name in (("acme", "Acme Dental"), ("birch", "Birchwood Legal")):
        client = {"name": name, "sources": [{"account": "drop", "client": name}], "retainer": retainer}
        (config / "clients" / f"{key}.yaml").write_text(yaml.safe_dump(client))
    (tmp_path / "inbox").mkdir()
    # The command configures logging onto the runner's captured stream; later tests must not inherit it.
    saved = structlog.get_config()
    with time_machine.travel(NOW, tick=True):
        yield {"SYNCD_CONFIG_DIR": str(config), "SYNCD_DATABASE_URL": f"sqlite:///{tmp_path / 'syncd.db'}",
               "SYNCD_PUBLISH_DIR": str(tmp_path / "public"), "SYNCD_LOG_LEVEL": "warning"}
    structlog.configure(**saved)


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["import", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def live_entries(env: dict[str, str]) -> int:
    store = Store.open(env["SYNCD_DATABASE_URL"])
    try:
        return store.count_entries("drop")
    finally:
        store.close()


def test_importing_a_file_stores_it_republishes_its_clients_and_leaves_it_in_place(
        env: dict[str, str], tmp_path: Path) -> None:
    sample = tmp_path / "harvest.csv"
    shutil.copy(SAMPLES / "harvest_detailed_time.csv", sample)
    code, out, err = run(env, str(sample), "--account", "drop")
    assert code == 0, err
    assert "Harvest detailed time report, 3 rows, 2026-11-02..2026-11-03: 2 entries changed; republished acme" in out
    assert "1 rows of clients no selector of drop claims were left out: Cobalt Logistics (1)" in err
    assert sample.exists() and live_entries(env) == 2
    pages = list((tmp_path / "public").rglob("balance.json"))
    assert [json.loads(p.read_bytes())["pools"][0]["used"] for p in pages] == ["0.90"]

    code, out, _ = run(env, str(sample), "--account", "drop")
    assert code == 0 and "0 entries changed; republished nothing" in out
    assert live_entries(env) == 2


def test_a_file_with_a_bad_row_exits_65_naming_the_row_and_imports_nothing(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Client,Hours,Description\n2026-11-03,Acme Dental,1,Fine\n2026-11-04,Acme Dental,lots,Bad\n")
    code, _, err = run(env, str(bad), "--account", "drop")
    assert code == EX_DATAERR
    assert "line 3, column 'Hours': not a number: 'lots'" in err and "nothing was imported" in err
    assert bad.exists() and live_entries(env) == 0


def test_with_move_the_file_goes_where_the_daemon_would_put_it(env: dict[str, str], tmp_path: Path) -> None:
    sample = tmp_path / "generic.csv"
    shutil.copy(SAMPLES / "generic.csv", sample)
    code, out, _ = run(env, str(sample), "--account", "drop", "--client", "birch", "--move")
    assert code == 0
    assert not sample.exists() and (tmp_path / "inbox" / "archive" / "birch" / "generic.csv").exists()
    assert "republished birch" in out

    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Hours,Description\n2026-02-30,1,Impossible day\n")
    code, _, _ = run(env, str(bad), "--account", "drop", "--client", "birch", "--move")
    assert code == EX_DATAERR
    assert (tmp_path / "inbox" / "rejected" / "birch" / "bad.csv.error.txt").exists()


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--account", "nope"], 2, "'nope' is not a csvdrop account (csvdrop accounts: drop)"),
    (["--account", "drop", "--client", "cobalt"], 2, "no client 'cobalt' reads account drop (clients: acme, birch)"),
])
def test_a_wrong_account_or_client_exits_2_with_what_would_fit(env: dict[str, str], tmp_path: Path,
                                                              args: list[str], code: int, message: str) -> None:
    sample = tmp_path / "generic.csv"
    shutil.copy(SAMPLES / "generic.csv", sample)
    got, _, err = run(env, str(sample), *args)
    assert got == code and message in err


def test_a_missing_file_exits_66(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = run(env, str(tmp_path / "absent.csv"), "--account", "drop")
    assert code == EX_NOINPUT and "cannot read" in err
