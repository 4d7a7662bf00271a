"""The `aggregator` command line: parse options, call a stage, print, set the exit code.

Every command takes --feeds (default feeds.yaml) and --db (default db/aggregator.db; the demo's
is db/demo.db). Mistakes a user can make end in one line on stderr and a non-zero exit;
tracebacks are for bugs.
"""

from __future__ import annotations

import functools
import math
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from aggregator import compute, store
from aggregator import config as config_module
from aggregator.api import DEFAULT_DB, DEFAULT_FEEDS, Aggregator
from aggregator.errors import UserError
from aggregator.publish.display import counted
from aggregator.stage import StageReport
from aggregator.timeutil import from_iso, utcnow

# The demo's fictional outlets must never mix with a real run's: a file of its own.
DEMO_DB = "db/demo.db"
# `aggregator poll` when it polled feeds and every one failed (1 is a user mistake, 2 usage).
EXIT_ALL_FEEDS_FAILED = 3


def feeds_option(func: Callable) -> Callable:
    return click.option(
        "--feeds",
        "feeds_path",
        default=DEFAULT_FEEDS,
        show_default=True,
        type=click.Path(dir_okay=False),
        help="The feeds.yaml listing sources and settings.",
    )(func)


def db_option(func: Callable, default: str = DEFAULT_DB) -> Callable:
    return click.option(
        "--db",
        "db_path",
        default=default,
        show_default=True,
        type=click.Path(dir_okay=False),
        help="The SQLite database file.",
    )(func)


def user_errors(func: Callable) -> Callable:
    """Turn mistakes a user can cause or fix into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            reason = database_failure(str(exc), kwargs.get("db_path") or "the database")
            if reason is None:
                raise
            raise click.ClickException(reason) from None

    return wrapper


def database_failure(message: str, db_path: str) -> str | None:
    """One line for SQLite failures the user can act on; None for bugs."""
    lowered = message.lower()
    if "disk is full" in lowered or "disk i/o" in lowered:
        return (
            f"{db_path}: database write failed ({message}); free disk space and run again "
            "(the unfinished transaction was rolled back)"
        )
    if "malformed" in lowered or "not a database" in lowered:
        return (
            f"{db_path}: the database file is corrupt ({message}); restore a backup or "
            f"recover it with `sqlite3 {db_path} .recover`"
        )
    return None


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan (which passes every comparison) and, by its
    bounds, inf."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number.", param, ctx)
        return number


PORT = click.IntRange(1, 65535)
# A round every week at the longest: a sleep of inf (or 1e300) seconds raises OverflowError.
INTERVAL = FiniteFloatRange(0, 7 * 24 * 3600)


def load_config(feeds_path: str) -> config_module.Config:
    return config_module.load(feeds_path)


# What each stage counts, for its progress bar (translate passes titles, then summaries); the
# space keeps tqdm's "6 texts" and "9.1 feeds/s" from running together.
UNITS = {"poll": " feeds", "translate": " texts"}


class Progress:
    """A tqdm bar on stderr for one stage, only on a terminal: items done and their rate, and
    with a known total (`set_total`: poll's due feeds, cluster's queue) the share done and the
    time left. Not on a terminal (a pipe, cron, a log file) it prints nothing, so the output is
    the stages' one-line summaries alone."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.count = 0
        self.total: int | None = None
        self.enabled = sys.stderr.isatty()
        self.bar: Any = None

    def set_total(self, total: int) -> None:
        self.total = total
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()
        elif total:
            self._open()  # shown before the first (maybe slow) item completes

    def __call__(self, n: int) -> None:
        self.count += n
        if self.enabled:
            if self.bar is None:
                self._open()
            self.bar.update(n)

    def _open(self) -> None:
        if self.enabled:
            self.bar = tqdm(
                total=self.total,
                desc=self.label,
                unit=UNITS.get(self.label, " articles"),
                file=sys.stderr,
                dynamic_ncols=True,
                leave=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def open_aggregator(feeds_path: str, db_path: str, ray_address: str | None = None) -> Aggregator:
    """The database for a command that fills it: created or upgraded (only a new, empty or
    aggregator file; anything else is refused untouched), feeds.yaml's feeds synced into it.
    With `ray_address`, translate and embed process on that Ray cluster (`--ray`)."""
    return Aggregator(db_path, feeds=compute.with_ray(load_config(feeds_path), ray_address))


def ray_option(func: Callable) -> Callable:
    return click.option(
        "--ray",
        "ray_address",
        default=None,
        metavar="ADDRESS",
        help="Translate and embed on the Ray cluster at ADDRESS (host:port, or auto) for this "
        "run, as settings: compute: engine: ray does (docs/scaling.md).",
    )(func)


def run_stage_command(
    name: str, feeds_path: str, db_path: str, ray_address: str | None = None, **options: Any
) -> None:
    with (
        open_aggregator(feeds_path, db_path, ray_address) as agg,
        compute.processors(agg.config) as processors,
    ):
        (report,) = agg.run(
            name, progress_factory=Progress, processors=processors, **{name: options}
        )
    click.echo(str(report))


@click.group()
@click.version_option(package_name="news-aggregator")
def cli() -> None:
    """Cross-language news coverage aggregator.

    Polls news feeds in many languages, translates them into English offline, groups the same
    story across outlets and languages, and publishes one SQLite file for Datasette.
    """


@cli.command()
@feeds_option
@db_option
@click.option("--force", is_flag=True, help="Poll every feed now, ignoring schedules and backoff.")
@user_errors
def poll(feeds_path: str, db_path: str, force: bool) -> None:
    """Fetch the feeds that are due and store their new articles.

    Exits with code 3 when it polled feeds and every one of them failed (no network?)."""
    with open_aggregator(feeds_path, db_path) as agg:
        (report,) = agg.run("poll", progress_factory=Progress, poll={"force": force})
        every_feed_failed = echo_poll(report, agg.conn)
    if every_feed_failed:
        sys.exit(EXIT_ALL_FEEDS_FAILED)


def echo_poll(report: StageReport, conn: sqlite3.Connection) -> bool:
    """Print poll's summary with the feeds waiting in backoff; True, said on stderr, when it
    polled feeds and every one failed: a cron job or script must see that nothing could be
    fetched (no network?), from `poll` and `run` alike (exit code 3)."""
    waiting = feeds_waiting(conn)
    click.echo(str(report) + (f"; {waiting}" if waiting else ""))
    if not report.done or report.failed < report.done:
        return False
    click.echo(f"every due feed failed ({report.failed}); see `aggregator feeds list`", err=True)
    return True


def feeds_waiting(conn: sqlite3.Connection) -> str:
    """How many active feeds are in backoff or dead, and when the next feed is due: so a run
    that polled nothing says why ("0 done" alone hides 81 feeds waiting in backoff)."""
    row = conn.execute(
        """SELECT count(*) AS feeds, sum(state = 'backoff') AS backoff,
                  sum(state = 'dead') AS dead, sum(next_poll_at IS NULL) AS never,
                  min(next_poll_at) AS next_due
           FROM feeds WHERE active = 1"""
    ).fetchone()
    if not row["feeds"]:
        return ""
    parts = [f"{row['backoff'] or 0} feeds in backoff", f"{row['dead'] or 0} dead"]
    due = None if row["never"] else from_iso(row["next_due"])
    if due is None or due <= utcnow():
        parts.append("next due now")
    else:
        minutes = math.ceil((due - utcnow()).total_seconds() / 60)
        parts.append(f"next due {row['next_due']} (in {minutes} min)")
    return ", ".join(parts)


@cli.command()
@feeds_option
@db_option
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Translate at most this many articles.",
)
@ray_option
@user_errors
def translate(feeds_path: str, db_path: str, limit: int | None, ray_address: str | None) -> None:
    """Translate pending article titles and summaries into English, offline."""
    run_stage_command("translate", feeds_path, db_path, ray_address, limit=limit)


@cli.command()
@feeds_option
@db_option
@ray_option
@user_errors
def embed(feeds_path: str, db_path: str, ray_address: str | None) -> None:
    """Compute sentence embeddings for articles that have none for the current models."""
    run_stage_command("embed", feeds_path, db_path, ray_address)


@cli.command()
@feeds_option
@db_option
@click.option("--rebuild", is_flag=True, help="Forget all clusters and cluster everything again.")
@user_errors
def cluster(feeds_path: str, db_path: str, rebuild: bool) -> None:
    """Group articles about the same story, across languages, into clusters."""
    run_stage_command("cluster", feeds_path, db_path, rebuild=rebuild)


@cli.command()
@feeds_option
@db_option
@click.option("--loop", is_flag=True, help="Keep running: poll feeds as they fall due.")
@click.option("--force", is_flag=True, help="Poll every feed now on the first round.")
@click.option(
    "--interval",
    type=INTERVAL,
    default=60.0,
    show_default=True,
    help="With --loop: seconds to sleep between rounds.",
)
@ray_option
@user_errors
def run(
    feeds_path: str,
    db_path: str,
    loop: bool,
    force: bool,
    interval: float,
    ray_address: str | None,
) -> None:
    """Run every stage once, in order (poll, translate, embed, cluster).

    Exits with code 3, as poll does, when it polled feeds and every one of them failed (the
    other stages still run on what the database holds); with --loop it says so and goes on."""
    # Ray's actors start and show they hold this machine's models before the first poll, and
    # keep their models loaded across --loop's rounds.
    with (
        open_aggregator(feeds_path, db_path, ray_address) as agg,
        compute.processors(agg.config) as processors,
    ):
        try:
            while True:
                reports = agg.run(
                    progress_factory=Progress, processors=processors, poll={"force": force}
                )
                every_feed_failed = False
                for report in reports:
                    if report.stage == "poll":
                        every_feed_failed = echo_poll(report, agg.conn)
                    else:
                        click.echo(str(report))
                if not loop:
                    break
                force = False
                time.sleep(interval)
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
            return
    if every_feed_failed:
        sys.exit(EXIT_ALL_FEEDS_FAILED)


@cli.group()
def feeds() -> None:
    """Check, list and convert the feed list."""


@feeds.command("check")
@feeds_option
@user_errors
def feeds_check(feeds_path: str) -> None:
    """Validate feeds.yaml and report what it contains."""
    config = load_config(feeds_path)
    languages = sorted({feed.language for feed in config.feeds if feed.language})
    undeclared = sum(1 for feed in config.feeds if not feed.language)
    click.echo(
        f"{feeds_path}: ok, {counted(len(config.feeds), 'feed')} in "
        f"{counted(len(languages), 'language')} ({', '.join(languages)})"
        + (f", {undeclared} detected per article" if undeclared else "")
    )


@feeds.command("list")
@feeds_option
@db_option
@user_errors
def feeds_list(feeds_path: str, db_path: str) -> None:
    """Show every feed of feeds.yaml with its state, last status and next poll time.

    Read-only: the database is opened read-only and feeds.yaml is not synced into it. A feed
    not polled yet shows as never polled, and so does every feed before the first run (no
    database yet, which is said on stderr)."""
    config = load_config(feeds_path)
    polled = polled_feeds(db_path)
    rows = []
    for feed in sorted(config.feeds, key=lambda feed: feed.name):
        row = polled.get(feed.url)
        state, status = (row["state"], row["last_status"]) if row else ("active", None)
        rows.append(
            (
                f"{feed.name} ({feed.name_en})" if feed.name_en else feed.name,
                feed.language or "??",
                state,
                status or "never polled",
                f"errors={row['error_count'] if row else 0} "
                f"next={(row['next_poll_at'] if row else None) or 'now'}",
            )
        )
    widths = [max((terminal_width(row[i]) for row in rows), default=0) for i in range(4)]
    for row in rows:
        click.echo("".join(padded(row[i], widths[i]) for i in range(4)) + row[4])
    others = {url for url, row in polled.items() if row["active"]} - {f.url for f in config.feeds}
    if others:  # e.g. the demo's database listed with the real feeds.yaml
        click.echo(
            f"{db_path}: {counted(len(others), 'other feed')} polled into this database "
            f"{'is' if len(others) == 1 else 'are'} not in {feeds_path} (another feed list? "
            "give it with --feeds)",
            err=True,
        )


def polled_feeds(db_path: str) -> dict[str, Any]:
    """The database's row for each feed it has polled, by URL; none before the first run."""
    if store.inspect(db_path).kind in ("missing", "empty"):
        click.echo(f"{db_path}: no database yet: no feed has been polled", err=True)
        return {}
    conn = store.connect_readonly(db_path)
    try:
        return {
            row["url"]: row
            for row in conn.execute(
                "SELECT url, state, last_status, error_count, next_poll_at, active FROM feeds"
            )
        }
    finally:
        conn.close()


def terminal_width(text: str) -> int:
    """How many terminal columns `text` takes: a CJK character takes two."""
    from wcwidth import wcswidth

    width = wcswidth(text)
    return width if width >= 0 else len(text)  # a control character: count characters


def padded(text: str, width: int) -> str:
    """`text` and the spaces that bring it to `width` columns, then one more (the gap)."""
    return text + " " * (width - terminal_width(text) + 1)


@feeds.command("import-opml")
@feeds_option
@click.argument("opml_file", type=click.Path(dir_okay=False))
@click.option("--language", help="ISO 639-1 code for imported feeds that declare none.")
@click.option("--country", help="ISO 3166-1 alpha-2 code for imported feeds that declare none.")
@user_errors
def feeds_import_opml(
    feeds_path: str, opml_file: str, language: str | None, country: str | None
) -> None:
    """Add the feeds of an OPML file to feeds.yaml (existing URLs are kept as they are).

    --language and --country apply to feeds whose outline gives none."""
    from aggregator import opml

    # Any case on the command line, as in feeds.yaml: stored as fr and FR.
    added = opml.import_into(
        Path(feeds_path),
        Path(opml_file),
        language=language.lower() if language else None,
        country=country.upper() if country else None,
    )
    click.echo(f"added {counted(added, 'feed')} to {feeds_path}")


@feeds.command("export-opml")
@feeds_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here, not stdout.")
@user_errors
def feeds_export_opml(feeds_path: str, output: str | None) -> None:
    """Write feeds.yaml as an OPML subscription list."""
    from aggregator import opml

    text = opml.export(load_config(feeds_path))
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@cli.group()
def models() -> None:
    """Install, list and remove offline translation models (Argos Translate)."""


def existing_db(db_path: str) -> sqlite3.Connection | None:
    """The database opened read-only when there is one (the models commands only read it)."""
    return store.connect_readonly(db_path) if Path(db_path).exists() else None


def lower_codes(languages: tuple[str, ...]) -> list[str]:
    """Language codes as stored (lower case): `models install JA` means ja."""
    return [language.strip().lower() for language in languages]


@models.command("list")
@feeds_option
@db_option
@user_errors
def models_list(feeds_path: str, db_path: str) -> None:
    """Show installed models and which languages of the feeds still lack one."""
    from aggregator.translate import models as argos_models

    for line in argos_models.describe(load_config(feeds_path), existing_db(db_path)):
        click.echo(line)


@models.command("install")
@feeds_option
@db_option
@click.argument("languages", nargs=-1)
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Install this .argosmodel file instead of downloading (offline); repeatable.",
)
@user_errors
def models_install(
    feeds_path: str, db_path: str, languages: tuple[str, ...], files: tuple[str, ...]
) -> None:
    """Install models into English: LANG... from the package index, or --file PATH offline."""
    from aggregator.translate import models as argos_models

    settings = load_config(feeds_path).settings.translation
    conn = existing_db(db_path)  # before installing: a database it cannot read is refused first
    installed = argos_models.install(
        settings, lower_codes(languages), [Path(f) for f in files], progress=DownloadBar
    )
    waiting = argos_models.waiting_counts(conn)
    for model in installed:
        note = waiting.get(model.from_code)
        click.echo(
            f"installed {model.from_code}→{model.to_code} {model.version} in {model.path}"
            + (f"; {note} waiting articles will be translated on the next run" if note else "")
        )


@models.command("remove")
@feeds_option
@db_option
@click.argument("languages", nargs=-1, required=True)
@user_errors
def models_remove(feeds_path: str, db_path: str, languages: tuple[str, ...]) -> None:
    """Remove the models for these source languages (stored translations stay)."""
    from aggregator.translate import models as argos_models

    settings = load_config(feeds_path).settings.translation
    for model in argos_models.remove(argos_models.models_dir(settings), lower_codes(languages)):
        click.echo(f"removed {model.from_code}→{model.to_code} {model.version}")


class DownloadBar:
    """A byte progress bar on stderr for one model download, only on a terminal."""

    def __init__(self, language: str, entry: dict[str, Any]) -> None:
        self.label = f"downloading {language}→en {entry.get('package_version', '')}".rstrip()
        self.bar: Any = None
        self.done = 0

    def update(self, done: int, total: int | None) -> None:
        if not sys.stderr.isatty():
            return  # a pipe or a log gets the one-line summary only
        if self.bar is None:
            self.bar = tqdm(
                total=total or None,
                desc=self.label,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                dynamic_ncols=True,
                leave=True,
            )
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@cli.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8001, show_default=True, type=PORT, help="Port to listen on.")
@user_errors
def serve(db_path: str, host: str, port: int) -> None:
    """Browse the database in Datasette with the project's metadata and templates."""
    if not Path(db_path).exists():
        raise UserError(f"{db_path}: no database yet (run `aggregator run` or `aggregator demo`)")
    from aggregator.publish import serve as serve_module

    serve_module.serve(db_path, host=host, port=port)


@cli.command()
@functools.partial(db_option, default=DEMO_DB)
@click.option("--no-serve", is_flag=True, help="Stop after building the database.")
@click.option("--port", default=8001, show_default=True, type=PORT, help="Datasette's port.")
@user_errors
def demo(db_path: str, no_serve: bool, port: int) -> None:
    """Run the whole pipeline offline on the bundled sample feeds, then serve the result."""
    from aggregator.demo import run_demo

    run_demo(db_path, serve=not no_serve, port=port, echo=click.echo, progress_factory=Progress)


if __name__ == "__main__":  # pragma: no cover
    cli()
