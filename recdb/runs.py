"""The model-run registry (`model_runs`) and the active-run pointer (`active_run`) that every v_ view reads through."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from recdb.db import transaction, utcnow
from recdb.errors import InputError

# tables holding rows per run, deleted with the run
RUN_TABLES = ("user_factors", "item_factors", "recommendations", "item_audiences", "coverage", "coverage_summary")
_COLUMNS = (
    "run_id, status, params, n_users, n_items, nnz, data_batch_max, n_iter, reconstruction_err, converged, "
    "fit_seconds, library_versions, started_at, finished_at, error, warnings, pid, sufficient_bin_user, "
    "sufficient_bin_item"
)


@dataclass(frozen=True)
class Run:
    run_id: int
    status: str
    params: dict
    n_users: int | None
    n_items: int | None
    nnz: int | None
    data_batch_max: int | None
    n_iter: int | None
    reconstruction_err: float | None
    converged: bool | None
    fit_seconds: float | None
    library_versions: dict | None
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    warnings: str | None
    pid: int | None
    sufficient_bin_user: int | None = None
    sufficient_bin_item: int | None = None
    active: bool = False

    @property
    def stale(self) -> bool:
        """A running row whose process is gone. DuckDB lets one process write the file at a time, so a running row
        that another process can see at all was left by a process that died."""
        return self.status == "running" and self.pid != os.getpid()

    @property
    def state(self) -> str:
        return "stale" if self.stale else self.status


def start_run(con: duckdb.DuckDBPyConnection, params: dict[str, Any], library_versions: dict[str, str]) -> int:
    """Record a new run as running, committed at once, so a killed fit leaves a visible (stale) trace."""
    with transaction(con):
        return con.execute(
            "INSERT INTO model_runs (status, params, library_versions, started_at, pid) "
            "VALUES ('running', ?, ?, ?, ?) RETURNING run_id",
            [json.dumps(params), json.dumps(library_versions), utcnow(), os.getpid()],
        ).fetchall()[0][0]


def finish_run(con: duckdb.DuckDBPyConnection, run_id: int, **outcome: Any) -> None:
    """Mark the run succeeded with its outcome; call inside the publishing transaction."""
    columns = ("n_users", "n_items", "nnz", "data_batch_max", "n_iter", "reconstruction_err", "converged",
               "fit_seconds", "warnings")
    con.execute(
        "UPDATE model_runs SET status = 'succeeded', finished_at = $finished_at, "
        + ", ".join(f"{c} = ${c}" for c in columns)
        + " WHERE run_id = $run_id",
        {"finished_at": utcnow(), "run_id": run_id, **{c: outcome.get(c) for c in columns}},
    )


def fail_run(con: duckdb.DuckDBPyConnection, run_id: int, error: str) -> None:
    with transaction(con):
        con.execute(
            "UPDATE model_runs SET status = 'failed', finished_at = ?, error = ? WHERE run_id = ?",
            [utcnow(), error, run_id],
        )


def set_active(con: duckdb.DuckDBPyConnection, run_id: int) -> None:
    """Point readers at `run_id`; call inside a transaction so the switch is atomic with what it publishes."""
    con.execute("DELETE FROM active_run")
    con.execute("INSERT INTO active_run (run_id) VALUES (?)", [run_id])


def active_run_id(con: duckdb.DuckDBPyConnection) -> int | None:
    rows = con.execute("SELECT run_id FROM active_run").fetchall()
    return rows[0][0] if rows else None


def resolve(con: duckdb.DuckDBPyConnection, run_id: int | None) -> Run:
    """The given run, or the active one; it must have succeeded."""
    if run_id is None:
        run_id = active_run_id(con)
        if run_id is None:
            raise InputError("there is no active run: run `recdb fit` first (or pass --run N)")
    run = get_run(con, run_id)
    if run.status != "succeeded":
        raise InputError(f"run {run_id} is {run.state}; it has no model to read")
    return run


def list_runs(con: duckdb.DuckDBPyConnection) -> list[Run]:
    active = active_run_id(con)
    rows = con.execute(f"SELECT {_COLUMNS} FROM model_runs ORDER BY run_id").fetchall()
    return [_run(row, active) for row in rows]


def get_run(con: duckdb.DuckDBPyConnection, run_id: int) -> Run:
    rows = con.execute(f"SELECT {_COLUMNS} FROM model_runs WHERE run_id = ?", [run_id]).fetchall()
    if not rows:
        raise InputError(f"there is no run {run_id} (see `recdb runs list`)")
    return _run(rows[0], active_run_id(con))


def _run(row: tuple, active: int | None) -> Run:
    values = list(row)
    values[2] = json.loads(values[2]) if values[2] else {}
    values[11] = json.loads(values[11]) if values[11] else None
    return Run(*values, active=values[0] == active)


def activate(con: duckdb.DuckDBPyConnection, run_id: int) -> Run:
    run = get_run(con, run_id)
    if run.status != "succeeded":
        raise InputError(f"run {run_id} is {run.state}; only a succeeded run can be activated")
    with transaction(con):
        set_active(con, run_id)
    return get_run(con, run_id)


def delete_run(con: duckdb.DuckDBPyConnection, run_id: int) -> None:
    """Delete a run and its rows. The active run is refused; a stale or failed run is cleaned up."""
    run = get_run(con, run_id)
    if run.active:
        raise InputError(f"run {run_id} is the active run; activate another run first")
    if run.status == "running" and not run.stale:
        raise InputError(f"run {run_id} is still running in this process")
    with transaction(con):
        for table in RUN_TABLES:
            con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM model_runs WHERE run_id = ?", [run_id])
