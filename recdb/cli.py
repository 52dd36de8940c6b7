"""The `recdb` command: parse, make one library call, render. Errors become one line on stderr and an exit code."""

from __future__ import annotations

import json
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from recdb import ingest as ingest_lib
from recdb import migrations, stats, synthetic
from recdb.config import DEFAULT_DB, ENV_DB, Settings
from recdb.db import connect
from recdb.errors import InputError, RecdbError

out = Console()
err = Console(stderr=True)


class _Group(TyperGroup):
    """Turns recdb's typed errors (and any DuckDB error) into one line on stderr and the error's exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RecdbError as exc:
            _fail(str(exc), exc.exit_code)
        except duckdb.Error as exc:
            _fail(f"DuckDB: {str(exc).strip().splitlines()[0]}", 1)


def _fail(message: str, code: int):
    err.print(Text("error: ", style="bold red") + Text(message), soft_wrap=True)
    raise typer.Exit(code)


app = typer.Typer(cls=_Group, no_args_is_help=True, help="recdb: a SQL-native NMF recommender whose state is a DuckDB database.")
db_app = typer.Typer(cls=_Group, no_args_is_help=True, help="Schema migrations (Alembic).")
app.add_typer(db_app, name="db")


class Format(str, Enum):
    table = "table"
    json = "json"


@app.callback()
def _main(
    ctx: typer.Context,
    db: Annotated[
        str, typer.Option("--db", envvar=ENV_DB, help="Database: a file path or a SQLAlchemy URL (duckdb:///path).")
    ] = DEFAULT_DB,
    lock_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for another process to release the database.")
    ] = 10.0,
):
    ctx.obj = Settings(db=db, lock_timeout=lock_timeout)


@contextmanager
def _working_db(ctx: typer.Context):
    """The working database, opened read-write, refusing a schema that is not at head."""
    settings: Settings = ctx.obj
    con = connect(settings)
    try:
        migrations.require_head(con, settings.database_path)
        yield con
    finally:
        con.close()


# --- db ----------------------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: Annotated[str, typer.Argument(help="Target revision.")] = "head"):
    """Migrate the database up to REVISION (default: head), creating the file if needed."""
    at = migrations.upgrade(ctx.obj, revision)
    out.print(f"{ctx.obj.database_path}: at revision {at}")


@db_app.command("downgrade")
def db_downgrade(ctx: typer.Context, revision: Annotated[str, typer.Argument(help="Target revision, or base.")]):
    """Migrate the database down to REVISION (`base` removes recdb's tables)."""
    at = migrations.downgrade(ctx.obj, revision)
    out.print(f"{ctx.obj.database_path}: at revision {at or 'base'}")


@db_app.command("current")
def db_current(ctx: typer.Context):
    """Print the revision the database is at."""
    at = migrations.current(ctx.obj)
    head = migrations.head()
    state = "head" if at == head else f"behind head {head}: run `recdb db upgrade`"
    out.print(f"{at or 'base (no recdb schema)'} ({state})")


@db_app.command("history")
def db_history():
    """List the schema revisions, newest first."""
    table = Table("revision", "down revision", "description", box=None)
    for rev in migrations.history():
        table.add_row(rev.revision + (" (head)" if rev.is_head else ""), rev.down_revision or "-", rev.doc)
    out.print(table)


@app.command()
def init(ctx: typer.Context):
    """Create the database (or bring it up to date): the same as `recdb db upgrade head`."""
    db_upgrade(ctx, "head")


# --- ingest ------------------------------------------------------------------------------------------------------


def _event_weights(values: list[str]) -> dict[str, float]:
    weights = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            weights[name.strip()] = float(number)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InputError(f"--event-weight takes EVENT=WEIGHT, such as purchase=5; got {value!r}")
    return weights


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[str] | None, typer.Argument(help="CSV/TSV/Parquet files or glob patterns.")] = None,
    sql: Annotated[str | None, typer.Option("--sql", help="Ingest the rows of this query instead of files.")] = None,
    file_format: Annotated[str | None, typer.Option("--format", help="csv, tsv or parquet (default: from the extension).")] = None,
    delimiter: Annotated[str | None, typer.Option(help="Field delimiter for CSV (default , and tab for TSV).")] = None,
    no_header: Annotated[bool, typer.Option("--no-header", help="The file has no header line; columns are column0, column1, ...")] = False,
    user_col: Annotated[str | None, typer.Option(help="Column with the user id (default user_id).")] = None,
    item_col: Annotated[str | None, typer.Option(help="Column with the item id (default item_id).")] = None,
    weight_col: Annotated[str | None, typer.Option(help="Column with a numeric weight (default: every row weighs 1).")] = None,
    timestamp_col: Annotated[str | None, typer.Option(help="Column with the time: ISO-8601 text, a timestamp, or epoch seconds.")] = None,
    event_col: Annotated[str | None, typer.Option(help="Column with the event type.")] = None,
    event_weight: Annotated[list[str] | None, typer.Option(help="EVENT=WEIGHT, repeatable (purchase=5); rows of other events are rejected.")] = None,
    strict: Annotated[bool, typer.Option(help="Fail the whole batch, loading nothing, if any row is rejected.")] = False,
    force: Annotated[bool, typer.Option(help="Load a file even if the same content was ingested before.")] = False,
):
    """Load interactions from files or a query. Bad rows go to ingest_rejects with their reason; good rows load."""
    if bool(paths) == bool(sql):
        raise InputError("give either files to ingest or --sql QUERY (not both)")
    options = ingest_lib.IngestOptions(
        columns=ingest_lib.ColumnMap(user_col, item_col, weight_col, timestamp_col, event_col),
        event_weights=_event_weights(event_weight or []),
        file_format=file_format,
        delimiter=delimiter,
        header=not no_header,
        strict=strict,
        force=force,
    )
    with _working_db(ctx) as con, err.status("ingesting..."):
        if sql:
            reports = [ingest_lib.ingest_query(con, sql, options)]
        else:
            reports = ingest_lib.ingest_files(con, paths, options)
    _print_batches(reports)


def _print_batches(reports: list[ingest_lib.BatchReport]) -> None:
    table = Table("batch", "source", "read", "loaded", "rejected", "new users", "new items")
    for r in reports:
        table.add_row(str(r.batch_id), r.source, f"{r.rows_read:,}", f"{r.rows_loaded:,}",
                      f"{r.rows_rejected:,}", f"{r.new_users:,}", f"{r.new_items:,}")
    out.print(table)
    if any(r.rows_rejected for r in reports):
        out.print("rejected rows and their reasons: SELECT * FROM ingest_rejects WHERE batch_id = ...", soft_wrap=True)


# --- stats -------------------------------------------------------------------------------------------------------


@app.command("stats")
def stats_command(
    ctx: typer.Context,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
):
    """Users, items, interactions, density, and interactions per user and per item."""
    with _working_db(ctx) as con:
        result = stats.interaction_stats(con)
    if output is Format.json:
        print(json.dumps(result.as_dict(), indent=2))
        return
    _print_stats(result)


def _print_stats(result: stats.InteractionStats) -> None:
    summary = Table("", "", box=None, show_header=False)
    for label, value in (
        ("users", f"{result.users:,}"),
        ("items", f"{result.items:,}"),
        ("interactions", f"{result.interactions:,}"),
        ("distinct user-item pairs", f"{result.distinct_pairs:,}"),
        ("density", f"{result.density:.6f}"),
        ("ingest batches", f"{result.batches:,}"),
        ("rejected rows", f"{result.rejected_rows:,}"),
    ):
        summary.add_row(label, value)
    out.print(summary)
    quantiles = Table("interactions", *stats.QUANTILES)
    quantiles.add_row("per user", *(f"{v:,}" for v in result.per_user.values()))
    quantiles.add_row("per item", *(f"{v:,}" for v in result.per_item.values()))
    out.print(quantiles)


# --- demo --------------------------------------------------------------------------------------------------------


@app.command()
def demo(
    ctx: typer.Context,
    size: Annotated[str, typer.Option(help="Synthetic interactions to generate: 10k, 1M, 10M ...")] = "10k",
    seed: Annotated[int, typer.Option(help="Random seed for the synthetic data.")] = 0,
):
    """The main job end to end on a new database: generate synthetic interactions, ingest them, print stats."""
    settings: Settings = ctx.obj
    if not settings.is_file:
        raise InputError("demo needs a database file: pass --db PATH")
    if Path(settings.database_path).exists():
        raise InputError(f"demo builds a new database, and {settings.database_path} exists: remove it or pass --db")
    shape = synthetic.Shape.from_size(size)
    db_path = Path(settings.database_path)
    csv_path = db_path.parent / f"{db_path.stem}-data" / "interactions.csv"
    with err.status(f"generating {shape.n_interactions:,} synthetic interactions..."):
        synthetic.write_interactions(csv_path, shape, seed)
    out.print(f"wrote {csv_path}")
    migrations.upgrade(settings)
    options = ingest_lib.IngestOptions(
        columns=ingest_lib.ColumnMap(timestamp="occurred_at", event="event_type"),
        event_weights=synthetic.EVENTS,
    )
    with _working_db(ctx) as con:
        with err.status("ingesting..."):
            _print_batches(ingest_lib.ingest_files(con, [str(csv_path)], options))
        _print_stats(stats.interaction_stats(con))


def main() -> None:
    app()
