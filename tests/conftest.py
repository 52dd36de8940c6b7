"""Every test gets its own real DuckDB file in a temporary directory, migrated by Alembic where it needs a schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from recdb import migrations
from recdb.cli import app
from recdb.config import Settings
from recdb.db import connect


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=str(tmp_path / "recdb.duckdb"), lock_timeout=0.5)


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    migrations.upgrade(settings)
    return settings


@pytest.fixture
def con(migrated: Settings):
    connection = connect(migrated)
    yield connection
    connection.close()


@pytest.fixture
def write(tmp_path: Path):
    """write('name.csv', text) -> path of a file with exactly that content (bytes allowed)."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    return _write


@pytest.fixture
def cli(settings: Settings):
    """cli('ingest', 'x.csv') runs the recdb CLI on the test's database and returns the Click result."""
    runner = CliRunner()

    def _run(*args: str):
        return runner.invoke(app, ["--db", settings.db, "--lock-timeout", "0.5", *map(str, args)])

    return _run
