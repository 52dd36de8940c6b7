"""Schema migrations: Alembic driven from recdb's settings, and the "is this database at head?" check."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from alembic import command
from recdb.config import Settings
from recdb.db import engine
from recdb.errors import InputError, SchemaError
from recdb.resources import resource_dir


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revision: str | None
    doc: str
    is_head: bool


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resource_dir("alembic")))
    return cfg


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    return _script().get_current_head()


def _run(settings: Settings, action, revision: str) -> str | None:
    cfg = _config()
    with engine(settings, create=True).begin() as connection:
        cfg.attributes["connection"] = connection
        try:
            action(cfg, revision)
        except CommandError as exc:
            raise InputError(f"cannot migrate to {revision!r}: {exc}") from None
    return current(settings)


def upgrade(settings: Settings, revision: str = "head") -> str | None:
    """Migrate up to `revision` (default head) in one transaction; return the revision the database is now at."""
    return _run(settings, command.upgrade, revision)


def downgrade(settings: Settings, revision: str) -> str | None:
    """Migrate down to `revision` (`base` removes every table) in one transaction; return the new revision."""
    return _run(settings, command.downgrade, revision)


def current(settings: Settings) -> str | None:
    """The revision the database is at, or None for a database without recdb's schema."""
    from recdb.db import connect

    con = connect(settings, read_only=settings.is_file)
    try:
        return current_revision(con)
    finally:
        con.close()


def current_revision(con: duckdb.DuckDBPyConnection) -> str | None:
    has_table = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'alembic_version' AND schema_name = 'main'"
    ).fetchall()[0][0]
    if not has_table:
        return None
    rows = con.execute("SELECT version_num FROM alembic_version").fetchall()
    return rows[0][0] if rows else None


def history() -> list[Revision]:
    """Every revision, newest first."""
    script = _script()
    heads = set(script.get_heads())
    return [
        Revision(rev.revision, rev.down_revision, (rev.doc or "").strip(), rev.revision in heads)
        for rev in script.walk_revisions()
    ]


def require_head(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Refuse to work on a database whose schema is not exactly this recdb's head revision."""
    at = current_revision(con)
    want = head()
    if at == want:
        return
    if at is None:
        raise SchemaError(f"database {path} has no recdb schema: run `recdb db upgrade` (or `recdb init`)")
    known = {rev.revision for rev in _script().walk_revisions()}
    if at not in known:
        raise SchemaError(f"database {path} is at revision {at}, which this recdb does not know (a newer recdb?)")
    raise SchemaError(f"database {path} is at revision {at}, behind {want}: run `recdb db upgrade`")
