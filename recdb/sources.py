"""Where interactions come from: CSV/TSV files, Parquet files, or a SQL query, each read by DuckDB itself.

A source knows its columns and their types and gives a FROM item that reads its rows in order. CSV files are read with
an explicit dialect, ids as text and the weight/timestamp columns typed by the reader, so a malformed line or a value
that does not parse is logged to DuckDB's rejects table with its line number and text, and the rest still loads.
"""

from __future__ import annotations

import csv
import glob
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from recdb.db import quote_ident
from recdb.errors import InputError

FORMATS = ("csv", "tsv", "parquet")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet"}
READER_REJECTS = "recdb_reader_rejects"
_READER_SCANS = "recdb_reader_scans"


@dataclass
class Source:
    """One readable source of rows, typed by the source itself (Parquet, a query).

    `columns` maps each column to its DuckDB type; `reader_sql()` is a FROM item that reads the rows in source order;
    `raw_sql` renders one row (its columns in scope by name) as text for the rejects table; `params` are the named
    parameters both use.
    """

    label: str
    sha256: str | None
    columns: dict[str, str]
    params: dict
    raw_sql: str
    reader: str = ""
    header_lines = 0
    has_reader_rejects = False

    def reader_sql(self, types: dict[str, str] | None = None, *, sampling: bool = False) -> tuple[str, dict]:
        return self.reader, dict(self.params)

    def sample(self, con: duckdb.DuckDBPyConnection, column: str, limit: int = 1000) -> list[str]:
        """Up to `limit` non-empty values of `column` as text, from the start of the source."""
        reader, params = self.reader_sql(sampling=True)
        value = f"CAST(t.{quote_ident(column)} AS VARCHAR)"
        rows = con.execute(
            f"SELECT {value} FROM {reader} AS t WHERE nullif({value}, '') IS NOT NULL LIMIT {int(limit)}", params
        ).fetchall()
        return [row[0] for row in rows]


@dataclass
class CsvSource(Source):
    """A delimited text file. The reader parses each column as the caller asks (text by default) and logs malformed
    lines and unparsable values to DuckDB's rejects table instead of failing."""

    header_lines: int = 1
    has_reader_rejects = True

    def reader_sql(self, types: dict[str, str] | None = None, *, sampling: bool = False) -> tuple[str, dict]:
        types = {} if sampling or types is None else types
        errors = (
            "ignore_errors = true"
            if sampling
            else f"store_rejects = true, rejects_table = '{READER_REJECTS}', rejects_scan = '{_READER_SCANS}'"
        )
        sql = (
            "read_csv($path, auto_detect = false, header = $header, delim = $delimiter, quote = '\"', escape = '\"', "
            f"columns = $columns, strict_mode = true, {errors})"
        )
        return sql, dict(self.params, columns={n: types.get(n, "VARCHAR") for n in self.columns})


def expand_paths(patterns: list[str]) -> list[Path]:
    """Files named by paths or glob patterns, in order, each once; a name that matches nothing is an error."""
    found: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
            if not matches:
                raise InputError(f"no file matches {pattern}")
        else:
            path = Path(pattern)
            if not path.exists():
                raise InputError(f"file not found: {pattern}")
            if not path.is_file():
                raise InputError(f"not a file: {pattern}")
            matches = [path]
        found.extend(m.resolve() for m in matches)
    return list(dict.fromkeys(found))


def file_format(path: Path, given: str | None) -> str:
    if given:
        if given not in FORMATS:
            raise InputError(f"unknown format {given!r}: use one of {', '.join(FORMATS)}")
        return given
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".zst"):
        suffixes.pop()
    if suffixes and suffixes[-1] in _EXTENSIONS:
        return _EXTENSIONS[suffixes[-1]]
    raise InputError(f"cannot tell the format of {path} from its name: pass --format ({'|'.join(FORMATS)})")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def open_file(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str, *, delimiter: str | None, header: bool
) -> Source:
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    if fmt == "parquet":
        return _parquet(con, path)
    return _csv(path, delimiter or ("\t" if fmt == "tsv" else ","), header)


def _first_line(path: Path) -> str:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.readline().decode("utf-8-sig")
    except (UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{path}: the first line is not UTF-8 text; is the format right? ({exc})") from None


def _csv(path: Path, delimiter: str, header: bool) -> Source:
    if len(delimiter) != 1:
        raise InputError(f"delimiter must be one character, got {delimiter!r}")
    line = _first_line(path)
    if not line.strip():
        raise InputError(f"{path}: the first line is empty")
    fields = next(csv.reader([line], delimiter=delimiter, quotechar='"'))
    names = [f.strip() for f in fields] if header else [f"column{i}" for i in range(len(fields))]
    if header and (len(set(names)) != len(names) or "" in names):
        raise InputError(f"{path}: the header needs distinct, non-empty column names, got {', '.join(names)}")
    # every field back to text, joined by the delimiter: close to the original line
    raw_sql = "concat_ws($delimiter, " + ", ".join(
        f"coalesce(CAST({quote_ident(n)} AS VARCHAR), '')" for n in names
    ) + ")"
    return CsvSource(
        label=str(path),
        sha256=sha256_of(path),
        columns={n: "VARCHAR" for n in names},
        params={"path": str(path), "header": header, "delimiter": delimiter},
        raw_sql=raw_sql,
        header_lines=1 if header else 0,
    )


def _parquet(con: duckdb.DuckDBPyConnection, path: Path) -> Source:
    try:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot read as Parquet ({error_line(exc)})") from None
    return Source(
        label=str(path),
        sha256=sha256_of(path),
        columns={row[0]: row[1] for row in described},
        params={"path": str(path)},
        raw_sql=_json_row(described),
        reader="read_parquet($path)",
    )


def open_query(con: duckdb.DuckDBPyConnection, query: str) -> Source:
    """Any query DuckDB can run (a table, a join, another attached database, a file function)."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise InputError(f"the --sql query does not parse: {error_line(exc)}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise InputError("--sql takes a single read query (SELECT, FROM ..., WITH ... SELECT); got "
                         + (", ".join(s.type.name for s in statements) or "nothing"))
    query = query.strip().rstrip(";")
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM ({query})").fetchall()
    except duckdb.Error as exc:
        raise InputError(f"the --sql query failed: {error_line(exc)}") from None
    return Source(
        label=query,
        sha256=None,
        columns={row[0]: row[1] for row in described},
        params={},
        raw_sql=_json_row(described),
        reader=f"({query})",
    )


def _json_row(described: list[tuple]) -> str:
    """SQL for a JSON object of the source's columns, by name."""
    return "to_json(struct_pack(" + ", ".join(f"{quote_ident(r[0])} := {quote_ident(r[0])}" for r in described) + "))"


def error_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
