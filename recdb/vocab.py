"""External ids <-> dense matrix indices. Indices are assigned once and never change: the ids new in a batch get the
next free indices, in id order."""

from __future__ import annotations

import duckdb

# entity -> (vocabulary table, index column, id column); identifiers come from here only
VOCABULARIES = {
    "user": ("users", "user_idx", "user_id"),
    "item": ("items", "item_idx", "item_id"),
}


def add_new_ids(con: duckdb.DuckDBPyConnection, entity: str, rows_sql: str) -> int:
    """Give every id in the `<entity>_id` column of `rows_sql` (a FROM-clause item written by recdb's own code) that
    the vocabulary lacks the next free indices. Returns how many ids were added."""
    table, idx, id_col = VOCABULARIES[entity]
    return con.execute(
        f"""
        INSERT INTO {table} ({idx}, {id_col})
        SELECT (SELECT coalesce(max({idx}) + 1, 0) FROM {table}) + row_number() OVER (ORDER BY {id_col}) - 1, {id_col}
        FROM (SELECT DISTINCT {id_col} FROM {rows_sql}) AS seen
        WHERE NOT EXISTS (SELECT 1 FROM {table} AS known WHERE known.{id_col} = seen.{id_col})
        """
    ).fetchall()[0][0]
