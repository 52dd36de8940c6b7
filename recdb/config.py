"""Settings: where the database is and how to open it. Built from CLI options or the environment, never at import."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

DEFAULT_DB = "recdb.duckdb"
ENV_DB = "RECDB_DB"


@dataclass(frozen=True)
class Settings:
    """`db` is a file path, `:memory:`, or a SQLAlchemy URL such as `duckdb:///path/to/file.duckdb`."""

    db: str = DEFAULT_DB
    lock_timeout: float = 10.0
    serve: str | None = None  # the serving file; None: <db stem>.serve.duckdb beside the database
    no_serve: bool = False
    # storage format of the serving file: DuckDB 1.x clients (BI tools pin duckdb < 2) cannot read 2.0's own format
    storage_version: str = "v1.5.0"

    @classmethod
    def from_env(cls, db: str | None = None, **overrides) -> Settings:
        return cls(db=db or os.environ.get(ENV_DB) or DEFAULT_DB, **overrides)

    @property
    def database_path(self) -> str:
        """The DuckDB database the setting names: a file path or `:memory:`."""
        if self.db.startswith("duckdb:"):
            return make_url(self.db).database or ":memory:"
        return self.db

    @property
    def is_file(self) -> bool:
        return self.database_path != ":memory:"

    @property
    def serving_path(self) -> Path | None:
        """Where the read-only serving file goes, or None when serving is off (or the database is in memory)."""
        if self.no_serve or not self.is_file:
            return None
        if self.serve:
            return Path(self.serve)
        path = Path(self.database_path)
        return path.with_name(f"{path.stem}.serve.duckdb")
