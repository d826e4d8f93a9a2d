"""Config and rule YAML mutated at random, through the loader, a reload and `syncd validate`:
each directory loads (and then runs) or is refused with problems naming file and line; a
refused reload keeps the running config; validate exits 0 or 78, never with a traceback."""

from __future__ import annotations

import copy
import functools
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from publisher.sinks import DirectorySink
from syncd.cli import EX_CONFIG, app
from syncd.config import Config, load_config
from syncd.coordinator import Coordinator
from syncd.daemon import with_rule_tests
from syncd.errors import ConfigError
from syncd.models import TimeEntry
from syncd.reloader import Reloader
from syncd.store import Store

from .test_config import ENV, GOOD as PLAIN, ROOT, write

BASES = {"fixture": ROOT / "tests" / "fixtures" / "config", "example": ROOT / "config" / "example"}
FILES = {name: sorted(str(p.relative_to(base)) for p in base.rglob("*.yaml")) for name, base in BASES.items()}
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
# Problems about a whole file or directory, where no line can be named.
WHOLE_FILE = ("not found", "client file names", "no client files found")

BAD_VALUES = st.sampled_from([
    # intervals and cron
    "0m", "-5m", "0s", "1e9h", "15 minutes", "99999999999999999999d", "61 * * * *", "* * * *", "0 0 31 2 *",
    "0 0 30 2 *", "*/0 * * * *", "0 7 * * mon-fri,8", "@hourly", {"cron": "0 7 * * *", "every": "1h"},
    # timezones and locales
    "Mars/Olympus", "UTC+25", "../../etc/passwd", "", "America/New_York\x00", "xx_YY", "en-", "zz", "de_DE@euro",
    # regexes, templates and business hours
    "(", "[a-", "(?P<x", "(?i", "*", "a{99999999999}", "{worker_name}", "{notes!r}", "{", "mon-fri 25:00-18:00",
    "sun-mon 18:00-08:00", "mon-fri 08:00", "everyday",
    # dates and numbers
    date(1, 1, 1), date(9999, 12, 31), "2026-02-30", 10**30, -10**30, 1e308, -1, 0, 0.001, float("nan"),
    float("inf"), 12345678901.25,
    # shapes and text
    True, False, None, [], {}, [None], {"a": {"b": {"c": [1, 2, 3]}}}, "x" * 10_000, "${UNSET_VARIABLE}",
    "${", "ünïcødé ✓", "\t",
])
# Values of the same type as the one they replace, most of them valid, at the edges.
EDGES: dict[type, st.SearchStrategy[Any]] = {
    date: st.sampled_from([date(1, 1, 1), date(1970, 1, 1), date(2024, 2, 29), date(2026, 1, 31), date(9999, 12, 1),
                           date(9999, 12, 31)]),
    int: st.sampled_from([0, 1, 9, 100, 1000, 9999999, 10**9, -1]),
    float: st.sampled_from([0.0, 0.01, 0.005, 2.5, 9999999.99, 1e-9]),
    bool: st.booleans(),
    str: st.sampled_from(["1s", "366d", "0 0 29 2 *", "0 7 * * 0,7", "*/5 * * * *", "Pacific/Kiritimati",
                          "Etc/GMT+12", "zh_Hant_TW", "en", "(?i).*", "^$", "x", "Travel", "mon-sun 00:00-24:00",
                          "sun 00:00-00:01", "", "ünïcødé ✓"]),
}


def edge_for(value: Any) -> st.SearchStrategy[Any]:
    return EDGES.get(type(value), BAD_VALUES)


TEXT_EDITS = st.sampled_from(["tab", "duplicate", "truncate", "bad-byte", "laughs", "deep", "self-alias",
                              "bad-date", "directive", "bom"])
LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n"
                 for i in range(10))


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and list index in a parsed document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from paths(value, (*prefix, i))


def parent_of(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def data_edit(draw: st.DrawFn, data: Any, edges_only: bool = False) -> Any:
    """The document with one key dropped, or one value swapped for a bad one of any type
    (``edges_only``: for one of the same type, most of them valid, at the edges)."""
    found = [p for p in paths(data) if not edges_only or type(parent_of(data, p)[p[-1]]) in EDGES]
    if not found:
        return data if edges_only else copy.deepcopy(draw(BAD_VALUES))
    path = draw(st.sampled_from(found))
    parent = parent_of(data, path)
    op = "edge" if edges_only else draw(st.sampled_from(["drop", "drop", "edge", "edge", "value", "wrap", "rename"]))
    if op == "drop":
        del parent[path[-1]]
    elif op == "wrap":  # a list where a mapping was, and the other way round
        value = parent[path[-1]]
        parent[path[-1]] = [value] if not isinstance(value, list) else {"items": value}
    elif op == "rename" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["Timezone", "pool", "rules", "when ", "cap_hour", 7, None, True]))] = \
            parent.pop(path[-1])
    elif op == "edge":
        parent[path[-1]] = draw(edge_for(parent[path[-1]]))
    else:
        parent[path[-1]] = copy.deepcopy(draw(BAD_VALUES))  # a fresh copy: the samples are shared
    return data


def text_edit(text: str, edit: str, at: int) -> bytes:
    """A text-level mistake at line ``at`` (modulo the file's length)."""
    lines = text.splitlines(keepends=True) or ["\n"]
    i = at % len(lines)
    if edit == "tab":
        lines[i] = "\t" + lines[i]
    elif edit == "duplicate":
        lines.insert(i, lines[i])
    elif edit == "truncate":
        return "".join(lines)[: at % max(1, len(text))].encode()
    elif edit == "bad-byte":
        return "".join(lines[:i]).encode() + b"\xff\xfe\xc3(" + "".join(lines[i:]).encode()
    elif edit == "laughs":
        lines.append(LAUGHS + "l_top: [*l9, *l9, *l9]\n")
    elif edit == "deep":
        lines.append("deep: " + "[" * 3000 + "]" * 3000 + "\n")
    elif edit == "self-alias":
        lines.append("loop: &loop {again: *loop}\n")
    elif edit == "bad-date":
        lines.append("when_written: 2026-02-30\n")
    elif edit == "directive":
        return ("%YAML 9.9\n---\n" + "".join(lines)).encode()
    elif edit == "bom":
        return b"\xef\xbb\xbf" + "".join(lines).encode()
    return "".join(lines).encode()


@dataclass(frozen=True)
class Edited:
    """A good config directory (``base``) with one file's bytes replaced; shown when a property fails."""

    base: str
    name: str
    data: bytes
    misnamed_copy: bool = False

    @contextmanager
    def directory(self) -> Iterator[Path]:
        """The edited directory, written to a temporary folder removed afterwards."""
        with tempfile.TemporaryDirectory(prefix="syncd-fuzz-config-") as folder:
            root = Path(folder)
            shutil.copytree(BASES[self.base], root, dirs_exist_ok=True)
            (root / self.name).write_bytes(self.data)
            if self.misnamed_copy:  # and a file named as no client can be
                (root / self.name).with_name("Not A Key.yaml").write_bytes(self.data)
            yield root


@st.composite
def config_dirs(draw: st.DrawFn, edges_only: bool = False) -> Edited:
    """A good config directory with one file edited, as data or as text (or both)."""
    base = draw(st.sampled_from(sorted(BASES)))
    name = draw(st.sampled_from(FILES[base]))
    text = (BASES[base] / name).read_text(encoding="utf-8")
    how = "data" if edges_only else draw(st.sampled_from(["data", "data", "data", "text", "both"]))
    if how in ("data", "both"):
        data = yaml.safe_load(text)
        for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
            data = draw(data_edit(data, edges_only))
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    out = text.encode()
    if how in ("text", "both"):
        out = text_edit(text, draw(TEXT_EDITS), draw(st.integers(0, 10_000)))
    return Edited(base, name, out, not edges_only and draw(st.sampled_from([False] * 7 + [True])))


def assert_located(err: ConfigError) -> None:
    """Every problem names its file, and its line unless it is about a whole file."""
    assert err.problems
    for problem in err.problems:
        text = str(problem)
        assert problem.file, text
        assert problem.line is not None or any(w in problem.message for w in WHOLE_FILE), text
        assert "Traceback" not in text and len(text) < 2000, text


def work_for(client: str, account: str) -> list[TimeEntry]:
    """A few entries of the kinds rules look at: travel, non-billable, after hours, a firewall note."""
    kinds = [dict(work_type="Travel"), dict(billable=False), dict(notes="FW rule reordered; firewall ok"),
             dict(notes="Patched the server", started_at=datetime(2026, 11, 19, 23, 30, tzinfo=timezone.utc)),
             dict(notes="Weekend call", started_at=datetime(2026, 11, 15, 10, 0, tzinfo=timezone.utc))]
    return [TimeEntry(account=account, vendor_id=f"{client}-{i}", client_key=client, work_date=date(2026, 11, 10 + i),
                      duration_seconds=1800 * (i + 1), updated_at=NOW, worker_name="Priya Raman", **kind)
            for i, kind in enumerate(kinds)]


async def assert_runs(config: Config) -> None:
    """A config that loads can run: a coordinator is built and every client's page put together
    from a few entries, through its rules."""
    store = shared_store()
    coordinator = Coordinator(config, store, DirectorySink(store_folder() / "public"), clock=lambda: NOW)
    try:
        for key, client in config.clients.items():
            for source in client.sources[:1]:
                store.apply_entries(source.account, work_for(key, source.account), now=NOW)
            coordinator.statement(key, now=NOW)
    finally:
        await coordinator.aclose()


@functools.cache
def store_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="syncd-fuzz-store-"))
    weakref.finalize(store_folder, shutil.rmtree, folder, True)
    return folder


@functools.cache
def shared_store() -> Store:
    """One store for every example (migrating one per example would cost most of the run)."""
    return Store.open(f"sqlite:///{store_folder()}/syncd.db")


GOOD = load_config(BASES["fixture"], environ=ENV)
LOAD = with_rule_tests(functools.partial(load_config, environ=ENV))


async def reload_check(edited: Edited) -> None:
    """Through the daemon's reload: applied and then run, or refused naming file and line with
    the running config kept."""
    applied: list[Config] = []
    refused: list[ConfigError] = []

    def load(folder: Path) -> Config:
        try:
            return LOAD(folder)
        except ConfigError as err:
            refused.append(err)
            raise

    async def apply(config: Config) -> None:
        applied.append(config)

    with edited.directory() as root:
        reloader = Reloader(root, load, apply)
        if await reloader.reload():
            event("loaded")
            assert len(applied) == 1 and not reloader.rejected
            await assert_runs(applied[0])
        else:
            event("refused")
            assert not applied and reloader.rejected  # the running config stays
            assert_located(refused[0])


# Loading a config directory reads several YAML files (PyYAML's pure-Python loader keeps line
# numbers): these properties take a share of the profile's examples.
@settings(max_examples=max(10, settings.default.max_examples // 2), suppress_health_check=[HealthCheck.too_slow])
@given(config_dirs())
async def test_a_mutated_config_loads_and_runs_or_a_reload_refuses_it_naming_file_and_line(edited: Edited) -> None:
    await reload_check(edited)


@settings(max_examples=max(10, settings.default.max_examples // 3), suppress_health_check=[HealthCheck.too_slow])
@given(config_dirs(edges_only=True))
async def test_values_at_their_edges_load_and_run_or_are_refused_naming_file_and_line(edited: Edited) -> None:
    await reload_check(edited)


@settings(max_examples=max(10, settings.default.max_examples // 4), suppress_health_check=[HealthCheck.too_slow])
@given(config_dirs())
def test_validate_exits_0_or_78_listing_each_problem_with_file_and_line(edited: Edited) -> None:
    # The command configures logging onto the runner's captured stream, closed afterwards;
    # later tests must not inherit it.
    saved = structlog.get_config()
    try:
        with edited.directory() as root:
            result = CliRunner().invoke(app, ["validate", "--config", str(root)],
                                        env={**ENV, "SYNCD_LOG_LEVEL": "error"})
    finally:
        structlog.configure(**saved)
    assert result.exit_code in (0, EX_CONFIG), (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == EX_CONFIG:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert errors and result.stderr.rstrip().endswith(("problem found.", "problems found."))
        assert "Traceback" not in result.output


def test_the_unmutated_configs_load() -> None:
    assert GOOD.clients and load_config(BASES["example"], environ=ENV).clients


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("rules/standard.yaml", LAUGHS + "top: [*l9]\n", "rules/standard.yaml:6: aliases expand this to more than 100,000"),
    ("rules/standard.yaml", "deep: " + "[" * 100 + "]" * 100 + "\n", "rules/standard.yaml:1: nested more than 64 levels"),
    ("rules/standard.yaml", "deep: " + "[" * 3000 + "]" * 3000 + "\n", "rules/standard.yaml:1: nested more than 64"),
    ("rules/standard.yaml", "loop: &loop {again: *loop}\n", "rules/standard.yaml:1: an alias refers to the value"),
    ("clients/acme.yaml", b"name: Acme\nsources: []\n  # caf\xe9\n", "clients/acme.yaml:3: not UTF-8 text: byte 0xe9"),
    ("clients/acme.yaml", "", "clients/acme.yaml:1: name: Field required"),
])
def test_documents_that_would_hang_or_cannot_be_read_are_refused_naming_file_and_line(
        tmp_path: Path, name: str, text: str | bytes, expected: str) -> None:
    root = write(tmp_path, PLAIN)
    (root / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as caught:
        load_config(root, environ={"TOKEN": "x"})
    found = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert any(f.startswith(expected) for f in found), found
    assert all(len(p.message) <= 300 for p in caught.value.problems)


@pytest.mark.parametrize(("files", "expected"), [
    ({"clients/acme.yaml": PLAIN["clients/acme.yaml"].replace("account: h", "account: [h]")},
     "clients/acme.yaml:3: sources[0].account: no account named ['h']"),
    ({"syncd.yaml": PLAIN["syncd.yaml"].replace("vendor: harvest", "vendor: [harvest]")},
     "syncd.yaml:2: accounts.h.vendor: unknown vendor ['harvest']"),
    ({"syncd.yaml": PLAIN["syncd.yaml"].replace("token: '${TOKEN}'", "token: '${TOKEN}', timezone: 0m")},
     "syncd.yaml:2: accounts.h.timezone: unknown timezone '0m'"),
    ({"syncd.yaml": PLAIN["syncd.yaml"].replace("rules: [standard]", "rules: [standard, standrd]")},
     "syncd.yaml:3: defaults.rules[1]: no rule set named 'standrd' in rules/"),
    ({"clients/acme.yaml": PLAIN["clients/acme.yaml"].replace("{monthly: 2026-01-15}", "{block: 0001-01-01}")},
     "clients/acme.yaml:5: retainer.cycle.block: 0001-01-01 is outside 1970..2999"),
    ({"clients/acme.yaml": PLAIN["clients/acme.yaml"] + "  adjustments: [{date: 9999-12-31, hours: 1, note: x}]\n"},
     "clients/acme.yaml:7: retainer.adjustments[0].date: 9999-12-31 is outside 1970..2999"),
    ({"rules/standard.yaml": PLAIN["rules/standard.yaml"]
      + "tests:\n  - {entry: {start: 0001-01-01 00:00, work_type: Travel}, expect: dropped}\n"},
     "rules/standard.yaml:4: tests[0].entry.start: 0001-01-01 is outside 1970..2999"),
    ({"clients/acme.yaml": PLAIN["clients/acme.yaml"] + "timezone: " + "x" * 10_000 + "\n"},
     "clients/acme.yaml:7: timezone: unknown timezone 'xxx"),
    ({"syncd.yaml": PLAIN["syncd.yaml"].replace("token: '${TOKEN}'", "token: ünïcødé")},
     "syncd.yaml:2: accounts.h.token: holds characters a credential cannot have"),
    ({"syncd.yaml": PLAIN["syncd.yaml"].replace("token: '${TOKEN}'", "token: x, user_agent: Café (ops@example.com)")},
     "syncd.yaml:2: accounts.h: a value sent in the vendor's request headers"),
    ({"syncd.yaml": PLAIN["syncd.yaml"].replace("token: '${TOKEN}'", "token: x, base_url: 'http://[::1'")},
     "syncd.yaml:2: accounts.h.base_url: not a URL"),
    ({"syncd.yaml": PLAIN["syncd.yaml"].replace("token: '${TOKEN}'", "token: x, base_url: harvest.example.com")},
     "syncd.yaml:2: accounts.h.base_url: expected an http:// or https:// address"),
    ({"clients/acme.yaml": PLAIN["clients/acme.yaml"] + "refresh: .inf\n"},
     "clients/acme.yaml:7: refresh: expected an interval"),
    ({"clients/acme.yaml": PLAIN["clients/acme.yaml"] + "refresh: 1e300\n"},
     "clients/acme.yaml:7: refresh: expected an interval such as 15m or 1h, or a cron expression"),
])
def test_a_value_the_daemon_could_not_run_is_a_located_problem(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, {**PLAIN, **files}), environ={"TOKEN": "x"})
    found = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert any(f.startswith(expected) for f in found), found
    assert all(len(p.message) <= 300 for p in caught.value.problems)
