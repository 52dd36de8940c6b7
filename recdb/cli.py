"""The `recdb` command: parse, make one library call, render. Errors become one line on stderr and an exit code."""

from __future__ import annotations

import csv
import functools
import inspect
import json
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated

import duckdb
import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from recdb import coverage, migrations, pipeline, runs, serving, stats, synthetic
from recdb import evaluate as evaluate_lib
from recdb import ingest as ingest_lib
from recdb import recommend as recommend_lib
from recdb.config import DEFAULT_DB, ENV_DB, Settings
from recdb.db import connect
from recdb.errors import InputError, RecdbError
from recdb.model import BETA_LOSSES, INITS, SOLVERS, NMFParams
from recdb.repository import AGGREGATES, MatrixOptions

# Piped output keeps whole table rows instead of Rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 200)
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
runs_app = typer.Typer(cls=_Group, no_args_is_help=True, help="The model-run registry.")
app.add_typer(runs_app, name="runs")


class Format(str, Enum):
    table = "table"
    json = "json"


class ListFormat(str, Enum):
    table = "table"
    csv = "csv"
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
    serve: Annotated[
        str | None, typer.Option(help="Serving file written after each publication (default: <db stem>.serve.duckdb).")
    ] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Do not write the serving file.")] = False,
    storage_version: Annotated[
        str, typer.Option(help="DuckDB storage format of the serving file (v1.5.0 opens in DuckDB 1.5 and 2.x "
                               "clients; latest: 2.x only).")
    ] = "v1.5.0",
):
    ctx.obj = Settings(db=db, lock_timeout=lock_timeout, serve=serve, no_serve=no_serve,
                       storage_version=storage_version)


def _publish_serving(ctx: typer.Context, con) -> None:
    """Rewrite the read-only serving file (unless --no-serve) after the active run changed."""
    target = ctx.obj.serving_path
    if target is not None:
        with err.status("writing the serving file..."):
            serving.publish(con, target, ctx.obj.storage_version)
        out.print(f"serving file: {target}", soft_wrap=True)


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


# --- fit and runs ------------------------------------------------------------------------------------------------


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise InputError(f"{option} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _alpha_h(value: str) -> float | str:
    if value == "same":
        return value
    try:
        return float(value)
    except ValueError:
        raise InputError(f"--alpha-H takes a number or 'same', got {value!r}") from None


# Options that several commands take, declared once each: a group's values reach the command as one object.


def _option(name: str, annotation, default) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _option_group(name: str, options: tuple[inspect.Parameter, ...], build: Callable):
    """A decorator that gives a command `options` in place of its parameter `name`, and passes it
    `name=build(**their values)`. Typer reads the command's signature, which this rewrites."""

    def decorate(command):
        own = inspect.signature(command, eval_str=True).parameters
        assert name in own, f"{command.__name__} has no parameter {name}"
        signature = []
        for p in own.values():
            signature += options if p.name == name else [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)]

        @functools.wraps(command)
        def with_group(**kwargs):
            kwargs[name] = build(**{p.name: kwargs.pop(p.name) for p in options})
            return command(**kwargs)

        with_group.__signature__ = inspect.Signature(signature)
        return with_group

    return decorate


MaxIter = Annotated[int, typer.Option(help="Maximum iterations.")]
# scikit-learn's names, the seed's values (NMFParams') as defaults
_NMF_OPTIONS = (
    _option("n_components", Annotated[int, typer.Option("--n-components", help="Number of NMF components.")],
            NMFParams.n_components),
    _option("init", Annotated[str, typer.Option(help=f"Initialisation: {', '.join(INITS)}.")], NMFParams.init),
    _option("solver", Annotated[str, typer.Option(help="cd (coordinate descent) or mu (multiplicative update).")],
            NMFParams.solver),
    _option("beta_loss", Annotated[str, typer.Option(
        help=f"{', '.join(BETA_LOSSES)} (non-frobenius needs --solver mu).")], NMFParams.beta_loss),
    _option("max_iter", MaxIter, NMFParams.max_iter),
    _option("tol", Annotated[float, typer.Option(help="Stopping tolerance.")], NMFParams.tol),
    _option("alpha_W", Annotated[float, typer.Option("--alpha-W", help="Regularisation of W.")], NMFParams.alpha_W),
    _option("alpha_H", Annotated[str, typer.Option("--alpha-H", help="Regularisation of H, or 'same' as --alpha-W.")],
            NMFParams.alpha_H),
    _option("l1_ratio", Annotated[float, typer.Option(help="L1 share of the regularisation, 0..1.")],
            NMFParams.l1_ratio),
    _option("random_state", Annotated[int, typer.Option(help="Seed of the initialisation.")], NMFParams.random_state),
)
_MATRIX_OPTIONS = (
    _option("aggregate", Annotated[str, typer.Option(
        help=f"How duplicate user-item rows combine: {', '.join(AGGREGATES)}.")], MatrixOptions.aggregate),
    _option("half_life_days", Annotated[float | None, typer.Option(
        help="Decay weights: halve per this many days before the newest interaction.")], MatrixOptions.half_life_days),
    _option("orientation", Annotated[str, typer.Option(
        help="Matrix rows: user-item (users) or item-user (items, as the seed).")], MatrixOptions.orientation),
)


def _nmf_params(*, init: str, solver: str, beta_loss: str, alpha_H: str, **rest) -> NMFParams:
    return NMFParams(init=_choice(init, INITS, "--init"), solver=_choice(solver, SOLVERS, "--solver"),
                     beta_loss=_choice(beta_loss, BETA_LOSSES, "--beta-loss"), alpha_H=_alpha_h(alpha_H), **rest)


_with_nmf_options = _option_group("params", _NMF_OPTIONS, _nmf_params)
_with_matrix_options = _option_group("options", _MATRIX_OPTIONS, MatrixOptions)


@app.command()
@_with_nmf_options
@_with_matrix_options
def fit(
    ctx: typer.Context,
    params: NMFParams,
    options: MatrixOptions,
    no_activate: Annotated[bool, typer.Option("--no-activate", help="Record the run but keep the previous active run.")] = False,
    top_k: Annotated[int, typer.Option(help="Recommendations stored per user.")] = 100,
    include_seen: Annotated[bool, typer.Option("--include-seen", help="Also recommend items the user already has.")] = False,
    top_k_users: Annotated[int, typer.Option(help="Also store each item's top users (item_audiences); 0: off.")] = 0,
    epsilon: Annotated[float, typer.Option(help="Coverage counts a score when its float64 value is above this.")] = 0.0,
    sufficient: Annotated[float, typer.Option(help="Share of entities with a prediction that makes a bin sufficient.")] = 0.99,
):
    """Fit scikit-learn NMF on the interactions, store the factors, and publish the run atomically."""
    publish = pipeline.PublishOptions(top_k=top_k, include_seen=include_seen, top_k_users=top_k_users,
                                      epsilon=epsilon, sufficient=sufficient)
    with _working_db(ctx) as con:
        report = _fit_with_progress(con, params, options, publish, activate=not no_activate)
        if report.run.active:
            _publish_serving(ctx, con)
    _print_run(report)


def _fit_with_progress(con, params: NMFParams, options: MatrixOptions, publish: pipeline.PublishOptions,
                       activate: bool = True) -> pipeline.FitReport:
    started = time.perf_counter()
    with err.status("starting...") as status:

        def stage(message: str) -> None:
            status.update(f"{message}... ({time.perf_counter() - started:.1f} s)")

        def progress(iterations: int, seconds: float) -> None:
            status.update(f"fitting NMF: iteration {iterations}/{params.max_iter}, {seconds:.1f} s")

        return pipeline.fit_run(con, params, options, publish, activate=activate, progress=progress, stage=stage)


def _print_run(report: pipeline.FitReport) -> None:
    run = report.run
    for message in report.result.warnings:
        err.print(Text("warning: ", style="yellow") + Text(message), soft_wrap=True)
    out.print(
        f"run {run.run_id} {run.status}{' and active' if run.active else ''}: {run.n_users:,} users x "
        f"{run.n_items:,} items, {run.nnz:,} cells, {run.n_iter} iterations in {run.fit_seconds:.1f} s, "
        f"reconstruction_err {run.reconstruction_err:.6g}{'' if run.converged else ' (not converged)'}",
        soft_wrap=True,
    )
    _print_sufficiency(run)


def _print_sufficiency(run: runs.Run) -> None:
    share = run.params.get("publish", {}).get("sufficient", 0.99)
    for axis, found in (("users", run.sufficient_bin_user), ("items", run.sufficient_bin_item)):
        answer = (f"from {found} interaction{'' if found == 1 else 's'} on" if found is not None else "in no bin")
        out.print(f"coverage: at least {share:.0%} of {axis} get a non-zero prediction {answer}", soft_wrap=True)


@runs_app.command("list")
def runs_list(ctx: typer.Context):
    """All runs, newest last; * marks the active one."""
    with _working_db(ctx) as con:
        found = runs.list_runs(con)
    table = Table("", "run", "status", "components", "users", "items", "cells", "iterations", "reconstruction_err",
                  "converged", "fit s", "started (UTC)")
    for run in found:
        table.add_row(
            "*" if run.active else "", str(run.run_id), run.state, str(run.params.get("model", {}).get("n_components")),
            _num(run.n_users), _num(run.n_items), _num(run.nnz), _num(run.n_iter),
            "" if run.reconstruction_err is None else f"{run.reconstruction_err:.6g}",
            "" if run.converged is None else ("yes" if run.converged else "no"),
            "" if run.fit_seconds is None else f"{run.fit_seconds:.1f}",
            run.started_at.isoformat(sep=" ", timespec="seconds"),
        )
    out.print(table)


def _num(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


@runs_app.command("show")
def runs_show(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="Run number.")]):
    """Everything recorded about one run, as JSON."""
    with _working_db(ctx) as con:
        run = runs.get_run(con, run_id)
    record = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in run.__dict__.items()}
    record["status"] = run.state
    print(json.dumps(record, indent=2))


@runs_app.command("activate")
def runs_activate(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="Run number.")]):
    """Make a succeeded run the one every v_ view shows."""
    with _working_db(ctx) as con:
        runs.activate(con, run_id)
        out.print(f"run {run_id} is active")
        _publish_serving(ctx, con)


@app.command()
def publish(ctx: typer.Context):
    """Rewrite the read-only serving file from the active run (fit and runs activate do this themselves)."""
    if ctx.obj.serving_path is None:
        raise InputError("serving is off (--no-serve) or the database is in memory: nothing to publish")
    with _working_db(ctx) as con:
        _publish_serving(ctx, con)


@app.command("sql")
def sql_command(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="The query to run, read-only.")],
    output: Annotated[ListFormat, typer.Option("--format", help="table, csv or json.")] = ListFormat.table,
    working: Annotated[bool, typer.Option("--working", help="Query the working database instead of the serving file.")] = False,
):
    """Run a read-only query against the serving file (or the working database) and print the result."""
    settings: Settings = ctx.obj
    if working:
        con = connect(settings, read_only=settings.is_file)
    else:
        path = settings.serving_path
        if path is None or not path.exists():
            raise InputError(f"there is no serving file{f' at {path}' if path else ''}: run `recdb publish` "
                             "(or pass --working)")
        con = connect(Settings(db=str(path), lock_timeout=settings.lock_timeout), read_only=True)
    try:
        result = con.execute(query)
        columns = tuple(d[0] for d in result.description or ())
        rows = result.fetchall()
    except duckdb.Error as exc:
        raise InputError(f"the query failed: {str(exc).strip().splitlines()[0]}") from None
    finally:
        con.close()
    _print_rows(columns, rows, output)


@runs_app.command("delete")
def runs_delete(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="Run number.")]):
    """Delete a run and its factors (not the active run); cleans up failed and stale runs."""
    with _working_db(ctx) as con:
        runs.delete_run(con, run_id)
    out.print(f"run {run_id} deleted")


# --- recommend and similar -----------------------------------------------------------------------------------------


def _print_rows(columns: tuple[str, ...], rows: list[tuple], output: ListFormat) -> None:
    if output is ListFormat.json:
        print(json.dumps([dict(zip(columns, row, strict=True)) for row in rows], indent=2, default=str))
    elif output is ListFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        table = Table(*columns)
        for row in rows:
            table.add_row(*(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
        out.print(table)


@app.command("recommend")
def recommend_command(
    ctx: typer.Context,
    user_id: Annotated[str | None, typer.Argument(help="External user id.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="How many items.")] = 10,
    run: Annotated[int | None, typer.Option(help="Run number (default: the active run).")] = None,
    items: Annotated[str | None, typer.Option(help="Recommend for an ad hoc list of items instead: a,b,c.")] = None,
    fallback: Annotated[str | None, typer.Option(help="popular: the most popular unseen items for a user without interactions.")] = None,
    output: Annotated[ListFormat, typer.Option("--format", help="table, csv or json.")] = ListFormat.table,
):
    """Top-k items for a user: stored at fit time, or folded in for a user newer than the run."""
    if (user_id is None) == (items is None):
        raise InputError("give a USER_ID or --items a,b,c (not both)")
    if fallback not in (None, "popular"):
        raise InputError(f"--fallback takes popular, got {fallback!r}")
    with _working_db(ctx) as con:
        if items is not None:
            found = recommend_lib.recommend_items(con, [i.strip() for i in items.split(",") if i.strip()], k, run)
        else:
            found = recommend_lib.recommend_user(con, user_id, k, run, fallback)
    _print_rows(("rank", "item_id", "score", "source"), [(r.rank, r.item_id, r.score, r.source) for r in found], output)


@app.command("similar")
def similar_command(
    ctx: typer.Context,
    item_id: Annotated[str, typer.Argument(help="External item id.")],
    k: Annotated[int, typer.Option("-k", "--k", help="How many items.")] = 10,
    run: Annotated[int | None, typer.Option(help="Run number (default: the active run).")] = None,
    output: Annotated[ListFormat, typer.Option("--format", help="table, csv or json.")] = ListFormat.table,
):
    """Items most like ITEM_ID: cosine similarity of the run's item factors."""
    with _working_db(ctx) as con:
        found = recommend_lib.similar_items(con, item_id, k, run)
    _print_rows(("rank", "item_id", "similarity"), found, output)


# --- evaluate and tune ---------------------------------------------------------------------------------------------


def _ints(text: str, option: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option} takes comma-separated whole numbers, got {text!r}") from None


def _floats(text: str, option: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option} takes comma-separated numbers, got {text!r}") from None


def _words(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _split(*, split: str, test_fraction: float, min_interactions: int, holdout: int, cutoff: str | None,
           seed: int) -> evaluate_lib.SplitOptions:
    when = None
    if cutoff is not None:
        try:
            when = datetime.fromisoformat(cutoff)
        except ValueError:
            raise InputError(f"--cutoff takes an ISO timestamp such as 2024-06-01 or 2024-06-01T12:00, got {cutoff!r}") from None
    return evaluate_lib.SplitOptions(method=split, test_fraction=test_fraction, min_interactions=min_interactions,
                                     holdout=holdout, cutoff=when, seed=seed)


_split_defaults = evaluate_lib.SplitOptions()
_SPLIT_OPTIONS = (
    _option("split", Annotated[str, typer.Option(
        "--split", help="random (per user), last (per user, by time) or time (global cutoff).")],
        _split_defaults.method),
    _option("test_fraction", Annotated[float, typer.Option(
        help="Share of each user's interactions held out (--split random).")], _split_defaults.test_fraction),
    _option("min_interactions", Annotated[int, typer.Option(
        help="Users with fewer interactions are trained on, not evaluated.")], _split_defaults.min_interactions),
    _option("holdout", Annotated[int, typer.Option(help="Interactions held out per user (--split last).")],
            _split_defaults.holdout),
    _option("cutoff", Annotated[str | None, typer.Option(
        help="Interactions from this time on are held out (--split time).")], None),
    _option("seed", Annotated[int, typer.Option(help="Seed of the split and of the random baseline.")],
            _split_defaults.seed),
)
_with_split_options = _option_group("split_options", _SPLIT_OPTIONS, _split)


def _print_evaluation(results: list[tuple[str, int, str, float]]) -> None:
    metrics = [m for m in ("precision", "recall", "ndcg", "map", "mrr", "hit_rate", "catalog_coverage", "novelty")]
    ks = sorted({k for _, k, _, _ in results})
    value = {(m, k, metric): v for m, k, metric, v in results}
    for k in ks:
        table = Table(f"model @{k}", *metrics, title=f"k = {k}; in brackets: ratio to most_popular")
        for model in evaluate_lib.MODELS:
            if (model, k, "ndcg") not in value:
                continue
            cells = []
            for metric in metrics:
                v, base = value.get((model, k, metric)), value.get(("most_popular", k, metric))
                ratio = f" ({v / base:.2f}x)" if v is not None and base and model != "most_popular" else ""
                cells.append("" if v is None else f"{v:.4f}{ratio}")
            table.add_row(model, *cells)
        out.print(table)


@app.command("evaluate")
@_with_nmf_options
@_with_matrix_options
@_with_split_options
def evaluate_command(
    ctx: typer.Context,
    params: NMFParams,
    options: MatrixOptions,
    split_options: evaluate_lib.SplitOptions,
    k: Annotated[str, typer.Option("--k", help="List lengths, comma-separated.")] = "10",
):
    """Hold out part of each user's interactions, fit NMF on the rest, and measure it beside most-popular and random."""
    with _working_db(ctx) as con, err.status("evaluating...") as status:
        result = evaluate_lib.evaluate(con, params, options, split_options, tuple(_ints(k, "--k")),
                                       stage=lambda message: status.update(f"{message}..."))
    with _working_db(ctx) as con:
        _publish_serving(ctx, con)  # the serving file carries the evaluation results too
    out.print(f"evaluation {result.eval_id}: {result.evaluated_users:,} users evaluated; NMF recorded as run "
              f"{result.run_id} (not activated)", soft_wrap=True)
    _print_evaluation(result.results)


@app.command()
@_with_split_options
def tune(
    ctx: typer.Context,
    *,
    n_components: Annotated[str, typer.Option("--n-components", help="Values to try, comma-separated.")] = "50,100",
    alpha_w: Annotated[str, typer.Option("--alpha-W", help="Values to try.")] = "0,0.001",
    l1_ratio: Annotated[str, typer.Option(help="Values to try.")] = "0",
    init: Annotated[str, typer.Option(help="Values to try.")] = "nndsvda",
    solver: Annotated[str, typer.Option(help="Values to try.")] = "cd",
    aggregate: Annotated[str, typer.Option(help="Values to try.")] = "binary",
    max_iter: MaxIter = 500,
    random_search: Annotated[int, typer.Option(help="Try this many random combinations instead of all (0: grid).")] = 0,
    split_options: evaluate_lib.SplitOptions,
    k: Annotated[int, typer.Option("--k", help="Score candidates by NDCG at this list length.")] = 10,
    refit: Annotated[bool, typer.Option("--refit", help="Fit the best setting on all data and publish it.")] = False,
):
    """Search NMF settings on a validation split carved from train (the test part stays untouched)."""
    base = evaluate_lib.Candidate(NMFParams(max_iter=max_iter), MatrixOptions())
    candidates = evaluate_lib.grid(
        base, n_components=_ints(n_components, "--n-components"), alpha_W=_floats(alpha_w, "--alpha-W"),
        l1_ratio=_floats(l1_ratio, "--l1-ratio"), init=[_choice(i, INITS, "--init") for i in _words(init)],
        solver=[_choice(v, SOLVERS, "--solver") for v in _words(solver)],
        aggregate=[_choice(a, AGGREGATES, "--aggregate") for a in _words(aggregate)],
    )
    if random_search and random_search < len(candidates):
        picks = np.random.default_rng(seed).choice(len(candidates), size=random_search, replace=False)
        candidates = [candidates[i] for i in sorted(picks)]
    table = Table("#", "n_components", "alpha_W", "l1_ratio", "init", "solver", "aggregate", f"ndcg@{k}")
    with _working_db(ctx) as con:
        with err.status(f"tuning: 0/{len(candidates)} candidates...") as status:

            def on_candidate(n, total, candidate, ndcg):
                p, o = candidate.params, candidate.options
                table.add_row(str(n), str(p.n_components), str(p.alpha_W), str(p.l1_ratio), p.init, p.solver,
                              o.aggregate, f"{ndcg:.4f}")
                status.update(f"tuning: {n}/{total} candidates, last ndcg@{k} {ndcg:.4f}...")

            result = evaluate_lib.tune(con, candidates, split_options, k, on_candidate)
        out.print(table)
        best = result.best
        out.print(f"best (validation evaluation {result.eval_id}): {json.dumps(best.as_json())}", soft_wrap=True)
        if refit:
            report = _fit_with_progress(con, best.params, best.options, pipeline.PublishOptions())
            _print_run(report)
        _publish_serving(ctx, con)  # the new active run and the tuning scores


# --- coverage ----------------------------------------------------------------------------------------------------


def _print_coverage(rows: list[tuple]) -> None:
    table = Table(*coverage.SUMMARY_COLUMNS)
    for axis, bin_, entities, low, median, mean, high, zero in rows:
        table.add_row(axis, str(bin_), f"{entities:,}", f"{low:,}", f"{median:,.1f}", f"{mean:,.1f}", f"{high:,}",
                      f"{zero:.3f}")
    out.print(table)


@app.command("coverage")
def coverage_command(
    ctx: typer.Context,
    run: Annotated[int | None, typer.Option(help="Run number (default: the active run).")] = None,
    axis: Annotated[str, typer.Option(help="user, item or both.")] = "both",
    output: Annotated[ListFormat, typer.Option("--format", help="table, csv or json.")] = ListFormat.table,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write the seed's min_mean_max.csv layout (num,min,median,mean,max); needs one --axis.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Draw predict_num against the interaction bin to this PNG (needs matplotlib: pip install recdb[plot]).")] = None,
):
    """How many non-zero predictions entities get, by how many interactions they have (the seed's coverage table)."""
    axes = coverage.AXES if axis == "both" else (_choice(axis, coverage.AXES, "--axis"),)
    with _working_db(ctx) as con:
        found = runs.resolve(con, run)
        run_id = found.run_id
        rows = coverage.read_summary(con, run_id, axes)
    if csv_path is not None:
        if len(axes) != 1:
            raise InputError("--csv writes one axis: add --axis user or --axis item")
        coverage.write_seed_csv(csv_path, rows)
        out.print(f"wrote {csv_path}")
    if plot is not None:
        coverage.plot(plot, rows)
        out.print(f"wrote {plot}")
    if output is not ListFormat.table:
        _print_rows(coverage.SUMMARY_COLUMNS, rows, output)
    else:
        out.print(f"run {run_id}")
        _print_coverage(rows)
        _print_sufficiency(found)


# --- demo --------------------------------------------------------------------------------------------------------


@app.command()
def demo(
    ctx: typer.Context,
    size: Annotated[str, typer.Option(help="Synthetic interactions to generate: 10k, 1M, 10M ...")] = "100k",
    seed: Annotated[int, typer.Option(help="Random seed for the synthetic data.")] = 0,
):
    """The main job end to end on a new database: generate synthetic interactions, ingest them, print stats, fit NMF
    with the seed's settings (n_components=50, init=random, random_state=0, max_iter=500), summarise coverage, and
    evaluate against the baselines."""
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
        report = _fit_with_progress(con, NMFParams(), MatrixOptions(), pipeline.PublishOptions())
        _print_run(report)
        _print_coverage(coverage.read_summary(con, report.run.run_id))
        with err.status("evaluating on a held-out split..."):
            evaluation = evaluate_lib.evaluate(con)
        out.print(f"evaluation {evaluation.eval_id}: 20% of each user's interactions held out, "
                  f"{evaluation.evaluated_users:,} users", soft_wrap=True)
        _print_evaluation(evaluation.results)
        _publish_serving(ctx, con)
    out.print(f"next: recdb --db {settings.database_path} recommend u000000, or "
              f"recdb --db {settings.database_path} sql \"FROM v_recommendations LIMIT 10\"", soft_wrap=True)


def main() -> None:
    app()
