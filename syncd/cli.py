"""The command line: run, demo, validate, sync, import, links, test-rules, preview, explain and schema."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from syncd.errors import ConfigError
from syncd.settings import Settings

EX_CONFIG = 78  # sysexits.h: configuration error
EX_TEMPFAIL = 75  # sysexits.h: a source failed; try again later

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="syncd: live retainer-balance pages for every client, fed from your PSA and time trackers.",
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config directory (default: $SYNCD_CONFIG_DIR or ./config).",
                 file_okay=False),
]


def _settings(config: Path | None) -> Settings:
    settings = Settings()
    if config is not None:
        settings = settings.model_copy(update={"config_dir": config})
    from syncd.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    return settings


def _load(settings: Settings):  # type: ignore[no-untyped-def]
    """The config, checked like a reload: validation first, then every rule file's own tests."""
    from syncd.config import load_config
    from syncd.daemon import with_rule_tests

    try:
        return with_rule_tests(load_config)(settings.config_dir)
    except ConfigError as err:
        _print_problems(err)
        raise typer.Exit(EX_CONFIG) from err


def _no_such_client(client: str, known: Iterable[str]) -> NoReturn:
    typer.echo(f"error: no client named {client} (known: {', '.join(sorted(known))})", err=True)
    raise typer.Exit(2)


def _print_problems(err: ConfigError) -> None:
    count = len(err.problems)
    for problem in err.problems:
        typer.echo(f"error: {problem}", err=True)
    typer.echo(f"{count} problem{'s' if count != 1 else ''} found.", err=True)


@app.command()
def validate(config: ConfigOption = None) -> None:
    """Check the config directory; print every problem with file and line (exit 78 if any)."""
    settings = _settings(config)
    loaded = _load(settings)
    typer.echo(
        f"{settings.config_dir}: OK ({len(loaded.accounts)} accounts, {len(loaded.clients)} clients, "
        f"{len(loaded.rule_sets)} rule sets)"
    )


@app.command()
def run(config: ConfigOption = None) -> None:
    """Run the daemon: refresh every client on its cadence and serve the pages."""
    settings = _settings(config)
    loaded = _load(settings)
    from syncd.daemon import run_daemon

    asyncio.run(run_daemon(settings, loaded))


@app.command()
def sync(
    config: ConfigOption = None,
    client: Annotated[list[str] | None, typer.Option("--client", help="Only this client (repeatable).")] = None,
) -> None:
    """One pass: read every source (with a deletion reconcile), publish the pages, exit.

    Exits 75 when a source failed (its clients' pages are still published, marked stale).
    """
    settings = _settings(config)
    loaded = _load(settings)
    unknown = [c for c in client or [] if c not in loaded.clients]
    if unknown:
        typer.echo(f"error: no client named {', '.join(unknown)} (known: {', '.join(sorted(loaded.clients))})", err=True)
        raise typer.Exit(2)
    failed = asyncio.run(_sync_once(settings, loaded, client or None))
    raise typer.Exit(EX_TEMPFAIL if failed else 0)


async def _sync_once(settings: Settings, config, clients: list[str] | None) -> bool:  # type: ignore[no-untyped-def]
    from syncd.daemon import open_sink
    from syncd.coordinator import Coordinator
    from syncd.store import Store

    store = await asyncio.to_thread(Store.open, settings.database_url)
    progress = _Progress() if sys.stderr.isatty() else None
    coordinator = Coordinator(config, store, open_sink(settings), progress=progress)
    try:
        outcomes = await coordinator.sync_all(reconcile=True, clients=clients)
    finally:
        if progress:
            progress.close()
        await coordinator.aclose()
        store.close()
    for outcome in outcomes.values():
        if outcome.error is not None:
            typer.echo(f"error: {outcome.account}: {outcome.error}", err=True)
    return any(not o.ok and not o.skipped for o in outcomes.values())


class _Progress:
    """A progress display on a terminal for a long backfill: entries read per account."""

    def __init__(self) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True)
        self._tasks: dict[str, int] = {}
        self._bar.start()

    def __call__(self, account: str, fetched: int) -> None:
        if account not in self._tasks:
            self._tasks[account] = self._bar.add_task(account, total=None)
        self._bar.update(self._tasks[account], description=f"{account}: {fetched:,} entries read")

    def close(self) -> None:
        self._bar.stop()


EX_DATAERR = 65  # sysexits.h: the input data was incorrect
EX_NOINPUT = 66  # sysexits.h: the input file could not be read


@app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(help="The CSV export to import.", dir_okay=False)],
    account: Annotated[str, typer.Option("--account", "-a", help="The csvdrop account it belongs to.")],
    client: Annotated[str | None, typer.Option(
        "--client", help="Every row is this client's (as a file in <inbox>/<client>/); default: the client column.")] = None,
    move: Annotated[bool, typer.Option(
        "--move", help="Afterwards move the file to the inbox's archive/ (or rejected/), as the daemon does.")] = False,
    config: ConfigOption = None,
) -> None:
    """Import one CSV export by hand, as if dropped into the account's inbox, and republish.

    An updated export of the same period replaces what the previous one said; the same
    file twice changes nothing. A file with any bad row is rejected whole. The file stays
    where it is unless --move. Exits 0 imported, 2 wrong account or client, 65 rejected
    (nothing imported), 66 unreadable file, 78 config error.
    """
    settings = _settings(config)
    loaded = _load(settings)
    spec = loaded.accounts.get(account)
    if spec is None or spec.vendor != "csvdrop":
        drops = sorted(name for name, a in loaded.accounts.items() if a.vendor == "csvdrop")
        typer.echo(f"error: {account!r} is not a csvdrop account (csvdrop accounts: {', '.join(drops) or 'none'})",
                   err=True)
        raise typer.Exit(2)
    readers = [c.key for c, _ in loaded.clients_of(account)]
    if client is not None and client not in readers:
        typer.echo(f"error: no client {client!r} reads account {account} (clients: {', '.join(readers) or 'none'})",
                   err=True)
        raise typer.Exit(2)
    try:
        data = file.read_bytes()
    except OSError as err:
        typer.echo(f"error: cannot read {file}: {err.strerror or err}", err=True)
        raise typer.Exit(EX_NOINPUT) from err
    code = asyncio.run(_import_once(settings, loaded, account, file, data, client, move))
    raise typer.Exit(code)


async def _import_once(settings: Settings, config, account: str, file: Path, data: bytes,  # type: ignore[no-untyped-def]
                       client: str | None, move: bool) -> int:
    from connectors.base import ClientRoute
    from connectors.csvdrop.client import rejection_report
    from connectors.csvdrop.inbox import Dropped
    from connectors.csvdrop.parse import CsvError
    from connectors.registry import open_connector
    from syncd.coordinator import Coordinator, utcnow
    from syncd.daemon import open_sink
    from syncd.store import Store, SyncRun

    routes = [ClientRoute(c.key, sel) for c, sel in config.clients_of(account)]
    drop = open_connector(account, config.accounts[account], routes, default_timezone=config.defaults.timezone)
    stat = file.stat()
    dropped = Dropped(file, client, stat.st_size, stat.st_mtime_ns)

    def archive() -> None:
        try:
            typer.echo(f"moved to {drop.inbox.archive(dropped)}")  # type: ignore[attr-defined]
        except OSError as err:
            typer.echo(f"warning: imported, but could not move {file}: {err}", err=True)

    try:
        result = drop.read_file(data, name=file.name, folder=client,  # type: ignore[attr-defined]
                                on_commit=archive if move else lambda: None)
    except CsvError as err:
        typer.echo(f"error: {file}: {err}", err=True)
        typer.echo("nothing was imported.", err=True)
        if move:
            drop.inbox.reject(dropped, rejection_report(file.name, err, None))  # type: ignore[attr-defined]
        await drop.aclose()
        return EX_DATAERR
    await drop.aclose()
    store = await asyncio.to_thread(Store.open, settings.database_url)
    coordinator = Coordinator(config, store, open_sink(settings))
    try:
        now = utcnow()
        applied = await asyncio.to_thread(coordinator.apply_page, account, result.page, now)
        # A hand import is a read of the source: the pages say so in their freshness stamp.
        await asyncio.to_thread(store.record_run, SyncRun(account, "import", now, utcnow(), "ok",
                                                          fetched=len(result.page), changed=applied.changed))
        republished = sorted(applied.clients & set(config.clients))
        for key in republished:
            await coordinator.publish_client(key)
    finally:
        await coordinator.aclose()
        store.close()
    r = result.page.replaces
    typer.echo(f"{file.name}: {result.format_name}, {len(result.page)} rows, {r.start}..{r.end}: "
               f"{applied.changed} entries changed; republished {', '.join(republished) or 'nothing'}")
    if result.unclaimed:
        named = ", ".join(f"{value} ({n})" for value, n in sorted(result.unclaimed.items()))
        typer.echo(f"warning: {sum(result.unclaimed.values())} rows of clients no selector of {account} claims "
                   f"were left out: {named}", err=True)
    return 0


links_app = typer.Typer(help="Each client's id, name and page URL; `rotate` or `revoke` a client's link.")
app.add_typer(links_app, name="links")

ClientArgument = Annotated[str, typer.Argument(help="The client's id (its file name in clients/).")]


@links_app.callback(invoke_without_command=True)
def links(
    ctx: typer.Context,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Each client's id, name and page URL (none while its link is revoked)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = config  # `syncd links --config DIR rotate X` means that DIR too
        return
    settings = _settings(config)
    loaded = _load(settings)
    from syncd.coordinator import utcnow
    from syncd.store import Store

    store = Store.open(settings.database_url)
    base = settings.public_base_url(loaded.publish.base_url)
    rows = []
    for key, spec in sorted(loaded.clients.items()):
        token = store.token_for(key, now=utcnow())
        rows.append({"client": key, "name": spec.name, "url": f"{base}/c/{token}/" if token else None})
    store.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["client"]) for r in rows)
    for r in rows:
        typer.echo(f"{r['client']:<{width}}  {r['url'] or '(revoked)'}  {r['name']}")


@links_app.command("rotate")
def links_rotate(ctx: typer.Context, client: ClientArgument, config: ConfigOption = None) -> None:
    """Give CLIENT a new page link and print it; the old link answers 404 at once, like an unknown one.

    The page moves to the new link as it is (the daemon's next refresh updates it there).
    Also brings back the page of a revoked client.
    """
    settings = _settings(config or ctx.obj)
    loaded = _load(settings)
    if client not in loaded.clients:
        _no_such_client(client, loaded.clients)
    from syncd.coordinator import utcnow
    from syncd.daemon import open_sink
    from syncd.links import rotate_link
    from syncd.store import Store

    store = Store.open(settings.database_url)
    try:
        token = rotate_link(store, open_sink(settings), client, now=utcnow())
    finally:
        store.close()
    base = settings.public_base_url(loaded.publish.base_url)
    typer.echo(f"{client}: {base}/c/{token}/ (the old link now answers 404)")


@links_app.command("revoke")
def links_revoke(ctx: typer.Context, client: ClientArgument, config: ConfigOption = None) -> None:
    """Take CLIENT's page down: its link answers 404, like an unknown one.

    Nothing is published for it until `syncd links rotate CLIENT` gives it a new link.
    Also takes down the page of a client already removed from the config.
    """
    settings = _settings(config or ctx.obj)
    loaded = _load(settings)
    from syncd.coordinator import utcnow
    from syncd.daemon import open_sink
    from syncd.links import revoke_link
    from syncd.store import Store

    store = Store.open(settings.database_url)
    try:
        if client not in loaded.clients and client not in store.linked_clients():
            _no_such_client(client, loaded.clients)
        revoke_link(store, open_sink(settings), client, now=utcnow())
    finally:
        store.close()
    typer.echo(f"{client}: link revoked, page taken down (`syncd links rotate {client}` gives it a new link)")


@app.command("test-rules")
def rule_tests(
    config: Annotated[
        list[Path] | None,
        typer.Option("--config", "-c", file_okay=False, exists=True,
                     help="Config directory whose rules/ to test (repeatable; default: $SYNCD_CONFIG_DIR "
                          "or ./config)."),
    ] = None,
) -> None:
    """Run the `tests:` of every rule file; one line per failure, then a summary.

    Exits 1 when a test fails, 78 when a rule file cannot be read, 0 otherwise. Only
    rules/ and syncd.yaml are read, so no account secrets are needed.
    """
    from syncd.rules.testing import run_config_rule_tests

    folders = config or [_settings(None).config_dir]
    failures = problems = tests = 0
    for folder in folders:
        report = run_config_rule_tests(folder)
        for problem in report.problems:
            typer.echo(f"error: {problem}", err=True)
        for failure in report.failures:
            typer.echo(f"FAIL {failure}")
        failed = len(report.failures)
        typer.echo(f"{folder}: {report.files} rule file{'s' if report.files != 1 else ''}, {report.tests} "
                   f"test{'s' if report.tests != 1 else ''}, {failed} failed"
                   + (f", {len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}"
                      if report.problems else ""))
        failures, problems, tests = failures + failed, problems + len(report.problems), tests + report.tests
    if problems:
        typer.echo(f"{problems} problem{'s' if problems != 1 else ''} found in rule files.", err=True)
        raise typer.Exit(EX_CONFIG)
    if failures:
        typer.echo(f"{failures} of {tests} rule tests failed.")
        raise typer.Exit(1)
    typer.echo(f"All {tests} rule tests passed.")


CycleOption = Annotated[
    str, typer.Option("--cycle", help="current, previous, or a month such as 2026-03 (the cycle starting then).")
]


def _client_run(config: Path | None, client: str, cycle: str):  # type: ignore[no-untyped-def]
    settings = _settings(config)
    from syncd.config import load_config
    from syncd.rules.testing import rule_test_problems

    try:
        loaded = load_config(settings.config_dir)
    except ConfigError as err:
        _print_problems(err)
        raise typer.Exit(EX_CONFIG) from err
    # A dry run is most wanted while a rule is being fixed, so failing rule tests are
    # shown rather than refused; validate and a reload would refuse this config.
    failing = rule_test_problems(loaded)
    for problem in failing:
        typer.echo(f"warning: {problem}", err=True)
    if failing:
        typer.echo("warning: rule tests fail: the daemon would keep its last good rules instead of these.", err=True)
    if client not in loaded.clients:
        _no_such_client(client, loaded.clients)
    from syncd.rules.preview import run_client
    from syncd.store import Store

    store = Store.open(settings.database_url)
    try:
        return run_client(loaded, store, client, cycle=cycle)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    finally:
        store.close()


@app.command()
def preview(
    client: Annotated[str, typer.Argument(help="The client's id (its file name in clients/).")],
    cycle: CycleOption = "current",
    config: ConfigOption = None,
) -> None:
    """Dry run from the store: each entry beside the line it became (or the rule that dropped it), and totals.

    Makes no API requests. Internal fields are shown: this is an admin view, never published.
    """
    from syncd.rules.preview import preview_lines

    for line in preview_lines(_client_run(config, client, cycle)):
        typer.echo(line)


@app.command()
def explain(
    client: Annotated[str, typer.Argument(help="The client's id (its file name in clients/).")],
    config: ConfigOption = None,
) -> None:
    """Every figure of the client's current page traced to its lines and their source entries."""
    from syncd.rules.preview import explain_lines

    for line in explain_lines(_client_run(config, client, "current")):
        typer.echo(line)


@app.command()
def schema(
    out: Annotated[
        Path | None,
        typer.Option("--out", file_okay=False, help="Folder to write into (default: config/schema of this checkout)."),
    ] = None,
) -> None:
    """Write the JSON Schemas of syncd.yaml, client files and rule files (for editors)."""
    from syncd.schema import FILES, SCHEMA_DIR, write

    folder = out or SCHEMA_DIR
    changed = write(folder)
    typer.echo(f"{folder}: {len(FILES)} schemas, {len(changed)} updated")


@app.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="One sync and publish, print the URLs, exit.")] = False,
    folder: Annotated[Path, typer.Option("--dir", help="Where the demo keeps its database and pages.")] = Path("var/demo"),
    port: Annotated[int | None, typer.Option(help="Port for the page server (default $SYNCD_HTTP_PORT or 8080).")] = None,
) -> None:
    """Run syncd against built-in vendor sandboxes that keep adding work; no PSA needed."""
    settings = _settings(None)
    if port is not None:
        settings = settings.model_copy(update={"http_port": port})
    from syncd.demo import run_demo

    try:
        asyncio.run(run_demo(settings, folder, once=once, echo=typer.echo))
    except ConfigError as err:
        _print_problems(err)
        raise typer.Exit(EX_CONFIG) from err
    except OSError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err


def main() -> None:
    """Console-script entry point."""
    app()
