"""What BI and SQL clients rely on, checked in-process (the real 1.x clients run under `make acceptance`)."""

from __future__ import annotations

import json
import struct

import duckdb

FIT = ["fit", "--n-components", "3", "--max-iter", "30", "--top-k", "5"]


def header_version(path) -> int:
    """The storage version number in a DuckDB file's main header: DuckDB 1.x reads 64 to 68."""
    head = path.read_bytes()[:20]
    assert head[8:12] == b"DUCK"
    return struct.unpack("<Q", head[12:20])[0]


def test_serving_file_is_in_a_format_duckdb_1x_reads(cli, loaded, migrated):
    assert cli(*FIT).exit_code == 0
    assert header_version(migrated.serving_path) <= 68
    assert cli("--storage-version", "latest", "publish").exit_code == 0
    assert header_version(migrated.serving_path) > 68
    bad = cli("--storage-version", "1.5", "publish")
    assert bad.exit_code == 2 and "--storage-version" in bad.stderr


def test_macros_and_views_through_an_attached_copy(cli, loaded, migrated):
    """How dbt and other tools read another file: ATTACH it; views work qualified, macros via search_path/USE."""
    assert cli(*FIT).exit_code == 0
    direct = duckdb.connect(str(migrated.serving_path), read_only=True)
    expected = direct.execute("SELECT * FROM recommend('u1', 5)").fetchall()
    direct.close()
    con = duckdb.connect()
    con.execute("ATTACH ? AS served (READ_ONLY)", [str(migrated.serving_path)])
    assert con.execute("SELECT count(*) FROM served.v_recommendations").fetchall()[0][0] > 0
    con.execute("SET search_path = 'served.main'")
    assert con.execute("SELECT * FROM recommend('u1', 5)").fetchall() == expected and expected
    con.close()


def test_factors_have_scalar_and_json_shapes_for_bi_tools(cli, loaded, migrated):
    assert cli(*FIT).exit_code == 0
    con = duckdb.connect(str(migrated.serving_path), read_only=True)
    rows = con.execute("SELECT factors, factors_json FROM user_factors").fetchall()
    assert rows and all(json.loads(text) == [float(v) for v in vector] for vector, text in rows)
    long = con.execute("SELECT count(*) FROM v_user_factors_long").fetchall()[0][0]
    assert long == len(rows) * 3
    types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'v_recommendations'"
                             ).fetchall())
    assert types == {"user_id": "VARCHAR", "rank": "INTEGER", "item_id": "VARCHAR", "score": "FLOAT"}
    con.close()
