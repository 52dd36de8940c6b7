from __future__ import annotations

import duckdb
import pytest
import sqlalchemy as sa

from recdb import migrations, sqlfiles
from recdb.db import connect, engine
from recdb.errors import SchemaError

TABLES_0001 = {"users", "items", "interactions", "ingest_batches", "ingest_rejects", "alembic_version"}
TABLES = TABLES_0001 | {"model_runs", "active_run", "user_factors", "item_factors", "recommendations",
                        "item_audiences", "coverage", "coverage_summary", "evaluation_splits", "evaluations",
                        "evaluation_users"}


def _objects(settings) -> tuple[set[str], set[str]]:
    """(tables, views and table macros) in the file."""
    con = duckdb.connect(settings.database_path, read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        views |= {r[0] for r in con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_type = 'table_macro' AND NOT internal"
        ).fetchall()}
        return tables, views
    finally:
        con.close()


def test_upgrade_downgrade_upgrade_round_trip(settings):
    assert migrations.upgrade(settings) == migrations.head()
    tables, views = _objects(settings)
    assert tables == TABLES
    assert views == {obj.name for obj in sqlfiles.sql_objects()} and {"v_interactions", "recommend"} <= views

    assert migrations.downgrade(settings, "0001") == "0001"
    assert _objects(settings) == (TABLES_0001, set())  # below head, the sql/ objects are gone
    assert migrations.upgrade(settings) == migrations.head()
    assert _objects(settings) == (TABLES, views)

    assert migrations.downgrade(settings, "base") is None
    tables, views = _objects(settings)
    assert tables == {"alembic_version"} and views == set()

    assert migrations.upgrade(settings) == migrations.head()
    assert _objects(settings)[0] == TABLES


def test_every_table_view_and_column_is_commented(migrated):
    con = duckdb.connect(migrated.database_path, read_only=True)
    missing = con.execute(
        """
        SELECT table_name || coalesce('.' || column_name, '') FROM (
            SELECT table_name, NULL AS column_name, comment FROM duckdb_tables()
            UNION ALL SELECT view_name, NULL, comment FROM duckdb_views() WHERE NOT internal
            UNION ALL SELECT table_name, column_name, comment FROM duckdb_columns()
                WHERE table_name <> 'alembic_version' AND NOT internal
        ) WHERE comment IS NULL OR comment = ''
        """
    ).fetchall()
    con.close()
    assert missing == []


def test_commands_refuse_a_database_not_at_head(settings):
    with pytest.raises(SchemaError, match="does not exist: run `recdb init`"):
        connect(settings)
    migrations.upgrade(settings)
    migrations.downgrade(settings, "base")
    con = connect(settings)
    with pytest.raises(SchemaError, match="no recdb schema: run `recdb db upgrade`"):
        migrations.require_head(con, settings.database_path)
    con.execute("INSERT INTO alembic_version VALUES ('ffff')")
    with pytest.raises(SchemaError, match="revision ffff, which this recdb does not know"):
        migrations.require_head(con, settings.database_path)
    con.close()


def test_failed_migration_leaves_the_database_unchanged(settings):
    """A clashing object makes the initial revision fail half-way; nothing of it may remain."""
    con = duckdb.connect(settings.database_path)
    con.execute("CREATE TABLE interactions (clash INTEGER)")
    con.close()
    with pytest.raises(Exception, match="interactions"):
        migrations.upgrade(settings)
    tables, views = _objects(settings)
    assert tables == {"interactions"} and views == set()


def test_sqlalchemy_reflection_of_the_schema(migrated):
    """BI tools and Alembic reflect through duckdb-engine: the pinned versions must return columns and comments."""
    inspector = sa.inspect(engine(migrated))
    assert TABLES <= set(inspector.get_table_names())
    assert "v_interactions" in inspector.get_view_names()
    columns = {c["name"]: c for c in inspector.get_columns("interactions")}
    assert list(columns) == ["user_idx", "item_idx", "weight", "event_type", "occurred_at", "batch_id"]
    assert isinstance(columns["occurred_at"]["type"], sa.DateTime)
    assert columns["weight"]["comment"].startswith("Non-negative finite weight")
    assert inspector.get_table_comment("users")["text"].startswith("User vocabulary")


def test_quoting_helpers_cannot_be_broken_out_of():
    import duckdb as ddb

    from recdb.db import quote_ident, quote_literal

    con = ddb.connect()
    nasty = "x\"'); DROP TABLE t; --"
    con.execute(f"CREATE TABLE t ({quote_ident(nasty)} INTEGER)")
    con.execute(f"COMMENT ON TABLE t IS {quote_literal(nasty)}")
    assert con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 't'").fetchall() == [(nasty,)]
    assert [c[0] for c in con.execute("DESCRIBE t").fetchall()] == [nasty]
