"""The one place that opens the database: connection settings, lock handling, transactions, the SQLAlchemy engine."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from recdb.config import Settings
from recdb.errors import DatabaseLockedError, SchemaError

# No network here and none wanted: an extension download would hang before failing.
CONNECT_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
_LOCK_MARK = "Could not set lock on file"
_HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>.+?) \(PID (?P<pid>\d+)\)")


def connect(settings: Settings, *, read_only: bool = False, create: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the database named by `settings`.

    A missing file is created only when `create` is true (schema upgrades); otherwise it is a SchemaError that says how
    to initialise. While another process holds the file, retry with backoff for `settings.lock_timeout` seconds, then
    raise DatabaseLockedError naming the holder.
    """
    path = settings.database_path
    if settings.is_file and not create and not Path(path).exists():
        raise SchemaError(f"database {path} does not exist: run `recdb init` (or `recdb db upgrade`) to create it")
    deadline = time.monotonic() + settings.lock_timeout
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(path, read_only=read_only, config=dict(CONNECT_CONFIG))
        except duckdb.IOException as exc:
            if _LOCK_MARK not in str(exc):
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DatabaseLockedError(path, _lock_holder(str(exc))) from None
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 1.0)
            continue
        con.execute("SET TimeZone = 'UTC'")  # timestamps are stored and parsed as UTC
        con.execute("SET enable_progress_bar = false")  # the library never prints; the CLI shows progress
        return con


def _lock_holder(message: str) -> str | None:
    match = _HOLDER.search(message)
    return f"PID {match['pid']}, {match['exe']}" if match else None


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One all-or-nothing unit of work: committed on success, rolled back on any exception (Ctrl-C included)."""
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    con.commit()


def engine(settings: Settings, *, create: bool = False) -> sa.Engine:
    """A SQLAlchemy engine (duckdb-engine dialect) whose connections come from `connect`; no pooling, so the file lock
    goes with the connection."""
    import duckdb_engine

    return sa.create_engine(
        "duckdb://",
        poolclass=NullPool,
        creator=lambda: duckdb_engine.ConnectionWrapper(connect(settings, create=create)),
    )


def quote_ident(name: str) -> str:
    """Quote an identifier that comes from outside the code (a file's column name) so it can only ever name a column."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A SQL string literal, for the few statements that take no parameters (COMMENT ON)."""
    return "'" + text.replace("'", "''") + "'"


def utcnow() -> datetime:
    """Now, as the naive UTC timestamp recdb stores."""
    return datetime.now(UTC).replace(tzinfo=None)
