"""The read-only serving file: the active run's results, external ids joined in, with the same views and macros.

DuckDB lets one process write a file or many read it, never both; BI tools therefore read a separate file that recdb
rewrites after each publication. It is built under a temporary name beside the target, checkpointed, and swapped in
with os.replace: a reader that has the old file open keeps reading its consistent snapshot, a new connection opens the
new one, and a crash at any point leaves the old file in place.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from recdb import failpoints, sqlfiles
from recdb.db import quote_ident, quote_literal, transaction
from recdb.errors import InputError

SERVE = "recdb_serve"
_ACTIVE = "run_id = (SELECT run_id FROM active_run)"
# serving table -> the SELECT that fills it from the working database (names from this module only)
TABLES = {
    "users": "SELECT user_idx, user_id FROM users",
    "items": "SELECT item_idx, item_id FROM items",
    "interactions": "SELECT * FROM interactions",
    "active_run": "SELECT run_id FROM active_run",
    "model_runs": f"SELECT * FROM model_runs WHERE {_ACTIVE}",
    "user_factors": f"SELECT f.run_id, f.user_idx, u.user_id, f.factors, CAST(to_json(f.factors) AS VARCHAR) "
                    f"AS factors_json FROM user_factors AS f JOIN users AS u USING (user_idx) WHERE f.{_ACTIVE}",
    "item_factors": f"SELECT f.run_id, f.item_idx, i.item_id, f.factors, CAST(to_json(f.factors) AS VARCHAR) "
                    f"AS factors_json FROM item_factors AS f JOIN items AS i USING (item_idx) WHERE f.{_ACTIVE}",
    "recommendations": f"SELECT r.run_id, r.user_idx, u.user_id, r.rank, r.item_idx, i.item_id, r.score "
                       f"FROM recommendations AS r JOIN users AS u USING (user_idx) JOIN items AS i USING (item_idx) "
                       f"WHERE r.{_ACTIVE}",
    "item_audiences": f"SELECT r.run_id, r.item_idx, i.item_id, r.rank, r.user_idx, u.user_id, r.score "
                      f"FROM item_audiences AS r JOIN users AS u USING (user_idx) JOIN items AS i USING (item_idx) "
                      f"WHERE r.{_ACTIVE}",
    "coverage": f"SELECT c.run_id, c.axis, c.entity_idx, coalesce(u.user_id, i.item_id) AS entity_id, "
                f"c.n_interactions, c.predict_num, c.predict_num_unseen FROM coverage AS c "
                f"LEFT JOIN users AS u ON c.axis = 'user' AND u.user_idx = c.entity_idx "
                f"LEFT JOIN items AS i ON c.axis = 'item' AND i.item_idx = c.entity_idx WHERE c.{_ACTIVE}",
    "coverage_summary": f"SELECT * FROM coverage_summary WHERE {_ACTIVE}",
    "evaluations": "SELECT * FROM evaluations",
    "evaluation_users": "SELECT * FROM evaluation_users",
}
_JOINED_IDS = {
    "user_id": "External user id (users.user_id), joined in for SQL and BI users.",
    "item_id": "External item id (items.item_id), joined in for SQL and BI users.",
    "entity_id": "External user id or item id, by axis, joined in for SQL and BI users.",
    "factors_json": "The factor vector as JSON text, for tools that cannot read arrays.",
}


_VERSION = re.compile(r"v\d+\.\d+\.\d+")


def publish(con: duckdb.DuckDBPyConnection, target: Path, storage_version: str = "v1.5.0") -> Path:
    """Write the serving file for the working database's active run and swap it in atomically.

    `storage_version` is the DuckDB storage format of the file (v1.5.0 opens in every DuckDB 1.5 and 2.x client,
    with comments, arrays and macros); `latest` writes this DuckDB's own format.
    """
    if storage_version != "latest" and not _VERSION.fullmatch(storage_version):
        raise InputError(f"--storage-version takes a version such as v1.5.0, or latest; got {storage_version!r}")
    target = Path(target).resolve()
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
        leftover.unlink(missing_ok=True)
    working = con.execute("SELECT current_database()").fetchall()[0][0]
    version = "" if storage_version == "latest" else f" (STORAGE_VERSION '{storage_version}')"  # checked above
    try:
        con.execute(f"ATTACH ? AS {SERVE}{version}", [str(temporary)])
    except duckdb.Error as exc:
        raise InputError(f"cannot write the serving file in storage version {storage_version}: "
                         f"{str(exc).strip().splitlines()[0]}") from None
    try:
        with transaction(con):
            for table, select in TABLES.items():
                con.execute(f"CREATE TABLE {SERVE}.{table} AS {select}")
                _copy_comments(con, working, table)
        # views and macros bind to the default catalog's tables: create them from inside the serving file
        con.execute(f"USE {SERVE}")
        try:
            with transaction(con):
                sqlfiles.create_all(con.execute)
        finally:
            con.execute(f"USE {quote_ident(working)}")  # after commit or rollback, so it cannot fail
        con.execute(f"CHECKPOINT {SERVE}")
    except BaseException:
        con.execute(f"DETACH {SERVE}")
        temporary.unlink(missing_ok=True)
        raise
    con.execute(f"DETACH {SERVE}")
    failpoints.reached("serve.before_rename")
    os.replace(temporary, target)
    return target


def _copy_comments(con: duckdb.DuckDBPyConnection, working: str, table: str) -> None:
    """The working table's comments on the serving copy, and one on each joined-in id column."""
    about = con.execute(
        "SELECT comment FROM duckdb_tables() WHERE database_name = ? AND table_name = ?", [working, table]
    ).fetchall()
    text = "Serving copy (the active run only). " + (about[0][0] or "" if about else "")
    con.execute(f"COMMENT ON TABLE {SERVE}.{table} IS {quote_literal(text)}")
    columns = con.execute(
        """
        SELECT s.column_name, coalesce(w.comment, ?) FROM duckdb_columns() AS s
        LEFT JOIN duckdb_columns() AS w ON w.database_name = ? AND w.table_name = s.table_name
            AND w.column_name = s.column_name
        WHERE s.database_name = ? AND s.table_name = ?
        """,
        ["", working, SERVE, table],
    ).fetchall()
    for column, comment in columns:
        comment = comment or _JOINED_IDS.get(column, "")
        con.execute(f"COMMENT ON COLUMN {SERVE}.{table}.{quote_ident(column)} IS {quote_literal(comment)}")
