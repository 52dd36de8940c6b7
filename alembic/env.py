"""Alembic environment for recdb.

The database comes from recdb's settings (`-x db=PATH`, else RECDB_DB, else ./recdb.duckdb), or from a connection that
recdb's `db` commands pass in. The whole run is one transaction: a failing migration leaves the database as it was.
"""

from alembic.ddl.impl import DefaultImpl

from alembic import context
from recdb import sqlfiles
from recdb.config import Settings
from recdb.db import engine


class DuckDBImpl(DefaultImpl):
    """Alembic has no built-in DuckDB impl; DuckDB speaks enough PostgreSQL for the default one."""

    __dialect__ = "duckdb"
    transactional_ddl = True


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
    with context.begin_transaction():
        execute = connection.exec_driver_sql
        sqlfiles.drop_all(execute)
        context.run_migrations()
        heads = set(context.get_context().get_current_heads())
        if heads and heads == set(context.script.get_heads()):
            sqlfiles.create_all(execute)


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    settings = Settings.from_env(context.get_x_argument(as_dictionary=True).get("db"))
    with engine(settings, create=True).connect() as connection:
        _run(connection)
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("recdb migrations run online only: DuckDB applies them directly")
run_migrations_online()
