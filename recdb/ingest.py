"""Ingestion: a source -> staging -> validation -> `interactions`, with every bad row in `ingest_rejects`.

All data moves inside DuckDB (read_csv/read_parquet or the user's query, then INSERT ... SELECT); Python only plans the
SQL. One call is one transaction: a failure, a strict-mode reject, or a killed process leaves the database as it was.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import duckdb

from recdb import failpoints, sources, vocab
from recdb.db import quote_ident, transaction, utcnow
from recdb.errors import InputError

STAGE = "recdb_stage"
_GOOD_ROWS = f"(SELECT * FROM {STAGE} WHERE reason IS NULL)"
_SHOWN_REJECTS = 3


@dataclass(frozen=True)
class ColumnMap:
    """Which source columns hold what. `user`/`item` default to columns named user_id/item_id."""

    user: str | None = None
    item: str | None = None
    weight: str | None = None
    timestamp: str | None = None
    event: str | None = None


@dataclass(frozen=True)
class IngestOptions:
    columns: ColumnMap = ColumnMap()
    event_weights: Mapping[str, float] = field(default_factory=dict)
    file_format: str | None = None
    delimiter: str | None = None
    header: bool = True
    strict: bool = False
    force: bool = False


@dataclass(frozen=True)
class BatchReport:
    batch_id: int
    source: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    new_users: int
    new_items: int


def ingest_files(con: duckdb.DuckDBPyConnection, patterns: Sequence[str], options: IngestOptions) -> list[BatchReport]:
    """Load every file the paths/globs name, one batch per file, all in one transaction."""
    _check_event_weights(options.event_weights)
    paths = sources.expand_paths(list(patterns))
    formats = [sources.file_format(path, options.file_format) for path in paths]
    with transaction(con):
        return [
            _load(con, sources.open_file(con, path, fmt, delimiter=options.delimiter, header=options.header), options)
            for path, fmt in zip(paths, formats, strict=True)
        ]


def ingest_query(con: duckdb.DuckDBPyConnection, query: str, options: IngestOptions) -> BatchReport:
    """Load the rows of any query DuckDB can run, as one batch."""
    _check_event_weights(options.event_weights)
    with transaction(con):
        return _load(con, sources.open_query(con, query), options)


def _check_event_weights(weights: Mapping[str, float]) -> None:
    for event, weight in weights.items():
        if not (math.isfinite(weight) and weight >= 0):
            raise InputError(f"event weight for {event!r} must be a non-negative number, got {weight}")


def _resolve(source: sources.Source, wanted: str | None, default: str | None, option: str) -> str | None:
    """The source column a mapping names (exact name first, then ignoring case), or the default when present."""
    name = wanted or default
    if name is None:
        return None
    if name in source.columns:
        return name
    folded = [c for c in source.columns if c.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    if wanted is None:
        return None
    raise InputError(f"{source.label}: no column {name!r} for {option} (columns: {', '.join(source.columns)})")


def _load(con: duckdb.DuckDBPyConnection, source: sources.Source, options: IngestOptions) -> BatchReport:
    cols = options.columns
    user = _resolve(source, cols.user, "user_id", "--user-col")
    item = _resolve(source, cols.item, "item_id", "--item-col")
    for name, option, default in ((user, "--user-col", "user_id"), (item, "--item-col", "item_id")):
        if name is None:
            raise InputError(
                f"{source.label}: no {default} column; name it with {option} (columns: {', '.join(source.columns)})"
            )
    weight = _resolve(source, cols.weight, None, "--weight-col")
    timestamp = _resolve(source, cols.timestamp, None, "--timestamp-col")
    event = _resolve(source, cols.event, None, "--event-col")
    if options.event_weights and event is None:
        raise InputError("--event-weight needs --event-col: which column holds the event type?")

    if source.sha256 and not options.force:
        earlier = con.execute(
            "SELECT batch_id FROM ingest_batches WHERE content_sha256 = ? AND status = 'succeeded' LIMIT 1",
            [source.sha256],
        ).fetchall()
        if earlier:
            raise InputError(
                f"{source.label}: the same content was already ingested as batch {earlier[0][0]}; "
                "pass --force to load it again"
            )

    batch_id = con.execute(
        "INSERT INTO ingest_batches (source, content_sha256, started_at, status) VALUES (?, ?, ?, 'running') "
        "RETURNING batch_id",
        [source.label, source.sha256, utcnow()],
    ).fetchall()[0][0]

    _stage(con, source, user=user, item=item, weight=weight, timestamp=timestamp, event=event,
           event_weights=options.event_weights)
    rows_read, rejected = _write_rejects(con, source, batch_id, weight=weight, timestamp=timestamp)
    if rows_read == 0:
        raise InputError(f"{source.label}: no data rows")
    if rejected and options.strict:
        raise InputError(f"{source.label}: {rejected} of {rows_read} rows rejected, nothing loaded (--strict); "
                         + _first_rejects(con, batch_id))

    new_users = vocab.add_new_ids(con, "user", _GOOD_ROWS)
    new_items = vocab.add_new_ids(con, "item", _GOOD_ROWS)
    loaded = con.execute(
        f"""
        INSERT INTO interactions (user_idx, item_idx, weight, event_type, occurred_at, batch_id)
        SELECT u.user_idx, i.item_idx, s.weight, s.event_type, s.occurred_at, $batch_id
        FROM {_GOOD_ROWS} AS s
        JOIN users AS u ON u.user_id = s.user_id
        JOIN items AS i ON i.item_id = s.item_id
        """,
        {"batch_id": batch_id},
    ).fetchall()[0][0]
    failpoints.reached("ingest.loaded")
    con.execute(
        "UPDATE ingest_batches SET rows_read = ?, rows_loaded = ?, rows_rejected = ?, finished_at = ?, "
        "status = 'succeeded' WHERE batch_id = ?",
        [rows_read, loaded, rejected, utcnow(), batch_id],
    )
    con.execute(f"DROP TABLE {STAGE}")
    return BatchReport(batch_id, source.label, rows_read, loaded, rejected, new_users, new_items)


_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_EPOCH = re.compile(r"-?\d+(\.\d*)?")


def _timestamp_plan(con, source: sources.Source, column: str) -> tuple[str | None, str]:
    """How to read the timestamp column: (CSV reader type or None, SQL that turns `{x}` into a UTC TIMESTAMP).

    Text is parsed as ISO-8601 (an offset or zone is honoured), or as epoch seconds when the first values are all
    numbers.
    """
    kind = source.columns[column].upper()
    epoch_sql = "make_timestamp(TRY_CAST(CAST({x} AS DOUBLE) * 1000000 AS BIGINT))"
    if kind.startswith(("TIMESTAMP", "DATE")):
        return None, "CAST({x} AS TIMESTAMP)"
    if kind.startswith(_NUMERIC):
        return None, epoch_sql
    if kind != "VARCHAR":
        raise InputError(f"{source.label}: timestamp column {column!r} has type {kind}; "
                         "expected a timestamp, a date, epoch seconds or text")
    sample = source.sample(con, column)
    if sample and all(_EPOCH.fullmatch(value.strip()) for value in sample):
        if isinstance(source, sources.CsvSource):
            return "DOUBLE", epoch_sql
        return None, "make_timestamp(TRY_CAST(TRY_CAST({x} AS DOUBLE) * 1000000 AS BIGINT))"
    return None, _ISO_TEXT


# ISO-8601 text to UTC. A cast to TIMESTAMP ignores an offset or zone name silently, so only the shapes that cannot
# carry one (a date, or exactly YYYY-MM-DD HH:MM:SS) take that fast cast; the rest parse as TIMESTAMPTZ (slower: ICU).
_ISO_TEXT = (
    "CASE WHEN length({x}) = 10 OR (length({x}) = 19 AND substr({x}, 17, 1) = ':') "
    "THEN TRY_CAST({x} AS TIMESTAMP) ELSE CAST(TRY_CAST({x} AS TIMESTAMPTZ) AS TIMESTAMP) END"
)


def _stage(con, source: sources.Source, *, user, item, weight, timestamp, event, event_weights) -> None:
    """Read the source once into a temp table, in source order: cleaned values plus a reject reason (NULL for a good
    row)."""

    def col(name: str | None) -> str:
        return "NULL" if name is None else quote_ident(name)

    def text(name: str | None) -> str:
        return "NULL" if name is None else f"nullif(CAST({quote_ident(name)} AS VARCHAR), '')"

    types: dict[str, str] = {}
    timestamp_sql = "NULL::TIMESTAMP"
    if timestamp is not None:
        reader_type, template = _timestamp_plan(con, source, timestamp)
        if reader_type:
            types[timestamp] = reader_type
        timestamp_sql = template.format(x=col(timestamp))
    if weight is not None:
        types[weight] = "DOUBLE"
    reader, params = source.reader_sql(types)

    if event_weights:
        cases = []
        for n, (name, value) in enumerate(event_weights.items()):
            params[f"event{n}"], params[f"event_weight{n}"] = name, float(value)
            cases.append(f"WHEN $event{n} THEN $event_weight{n}")
        event_weight = f"CASE {text(event)} {' '.join(cases)} END"
    else:
        event_weight = "1.0"
    # Computed columns are named __*, beside the source's own columns, which only the rejects' raw text reads.
    parsed = f"""
        SELECT *, {text(user)} AS __user_id, {text(item)} AS __item_id, {text(event)} AS __event_type,
            TRY_CAST({col(weight)} AS DOUBLE) AS __weight, {event_weight} AS __event_weight,
            {timestamp_sql} AS __occurred_at
        FROM {reader} AS t
    """
    checked = f"""
        SELECT *,
            CASE
                WHEN __user_id IS NULL THEN 'missing user id'
                WHEN __item_id IS NULL THEN 'missing item id'
                WHEN {weight is not None} AND __weight IS NULL AND {text(weight)} IS NULL THEN 'missing weight'
                WHEN {weight is not None} AND __weight IS NULL THEN 'weight is not a number: ' || {text(weight)}
                WHEN isnan(__weight) THEN 'weight is NaN'
                WHEN isinf(__weight) THEN 'weight is infinite'
                WHEN __weight < 0 THEN 'negative weight: ' || CAST(__weight AS VARCHAR)
                WHEN __event_weight IS NULL
                    THEN 'unknown event type with no --event-weight: ' || coalesce(__event_type, '(empty)')
                WHEN {timestamp is not None} AND __occurred_at IS NULL AND {text(timestamp)} IS NOT NULL
                    THEN 'unparsable timestamp: ' || {text(timestamp)}
            END AS __reason
        FROM ({parsed})
    """
    con.execute(f"DROP TABLE IF EXISTS {sources.READER_REJECTS}")
    try:
        con.execute(
            f"""
            CREATE TEMP TABLE {STAGE} AS
            SELECT __user_id AS user_id, __item_id AS item_id, coalesce(__weight, 1.0) * __event_weight AS weight,
                __event_type AS event_type, __occurred_at AS occurred_at, __reason AS reason,
                CASE WHEN __reason IS NOT NULL THEN {source.raw_sql} END AS raw
            FROM ({checked})
            """,
            params,
        )
    except duckdb.Error as exc:
        raise InputError(f"{source.label}: cannot read: {sources.error_line(exc)}") from None


def _write_rejects(con, source: sources.Source, batch_id: int, *, weight, timestamp) -> tuple[int, int]:
    """Copy reader and validation rejects to `ingest_rejects`; return (rows read, rows rejected)."""
    staged_rows, staged_rejects = con.execute(f"SELECT count(*), count(reason) FROM {STAGE}").fetchall()[0]
    reader_rejects = 0
    if source.has_reader_rejects:
        # Malformed lines and values the reader could not parse: one row per line, with the line's original text.
        reader_rejects = con.execute(
            f"""
            INSERT INTO ingest_rejects (batch_id, row_number, reason, raw)
            SELECT $batch_id, line,
                CASE
                    WHEN error_type = 'CAST' AND column_name = $weight THEN 'weight is not a number: ' || bad_value
                    WHEN error_type = 'CAST' AND column_name = $timestamp THEN 'unparsable timestamp: ' || bad_value
                    ELSE 'malformed line: ' || lower(CAST(error_type AS VARCHAR)) || ' (' || error_message || ')'
                END,
                csv_line
            FROM (
                SELECT DISTINCT ON (line) *, regexp_extract(error_message, 'string "(.*)" to', 1) AS bad_value
                FROM {sources.READER_REJECTS} ORDER BY line, error_type = 'CAST', column_idx
            )
            """,
            {"batch_id": batch_id, "weight": weight, "timestamp": timestamp},
        ).fetchall()[0][0]
    if staged_rejects:
        # A staged row's line: its ordinal, plus the header, plus the malformed lines before it. `steps` holds, for
        # each count of accepted rows that precede a malformed line, how many malformed lines come by then.
        steps = (
            f"""
            SELECT accepted_before, max(n) AS shift FROM (
                SELECT line - $header_lines - row_number() OVER (ORDER BY line) AS accepted_before,
                    row_number() OVER (ORDER BY line) AS n
                FROM (SELECT DISTINCT line FROM {sources.READER_REJECTS})
            ) GROUP BY accepted_before
            """
            if source.has_reader_rejects
            else "SELECT NULL::BIGINT AS accepted_before, 0::BIGINT AS shift WHERE false"
        )
        con.execute(
            f"""
            INSERT INTO ingest_rejects (batch_id, row_number, reason, raw)
            SELECT $batch_id, s.ordinal + $header_lines + coalesce(steps.shift, 0), s.reason, s.raw
            FROM (
                SELECT * FROM (SELECT row_number() OVER () AS ordinal, reason, raw FROM {STAGE}) WHERE reason IS NOT NULL
            ) AS s
            ASOF LEFT JOIN ({steps}) AS steps ON s.ordinal > steps.accepted_before
            """,
            {"batch_id": batch_id, "header_lines": source.header_lines},
        )
    return staged_rows + reader_rejects, staged_rejects + reader_rejects


def _first_rejects(con, batch_id: int) -> str:
    shown = con.execute(
        "SELECT row_number, reason FROM ingest_rejects WHERE batch_id = ? ORDER BY row_number LIMIT ?",
        [batch_id, _SHOWN_REJECTS],
    ).fetchall()
    return "first: " + "; ".join(f"row {row}: {reason}" for row, reason in shown)
