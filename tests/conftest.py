"""Every test gets its own real DuckDB file in a temporary directory, migrated by Alembic where it needs a schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from recdb import migrations
from recdb.cli import app
from recdb.config import Settings
from recdb.db import connect
from recdb.ingest import ColumnMap, IngestOptions, ingest_files
from recdb.model import NMFParams


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


SMALL = NMFParams(n_components=4, max_iter=200)


@pytest.fixture
def loaded(con, write):
    """Interactions with duplicate pairs, varied weights and times, in two batches."""
    rng = np.random.default_rng(7)
    lines = ["user_id,item_id,w,ts"]
    for _ in range(600):
        u, i = rng.integers(0, 30), rng.integers(0, 20)
        lines.append(f"u{u},i{i},{rng.integers(1, 6)},2024-{rng.integers(1, 13):02d}-{rng.integers(1, 28):02d}")
    half = len(lines) // 2
    options = IngestOptions(columns=ColumnMap(weight="w", timestamp="ts"))
    ingest_files(con, [str(write("a.csv", "\n".join(lines[:half]) + "\n"))], options)
    ingest_files(con, [str(write("b.csv", "\n".join(lines[:1] + lines[half:]) + "\n"))], options)
    return con


def stored_factors(con, run_id: int, entity: str) -> np.ndarray:
    rows = con.execute(f"SELECT factors FROM {entity}_factors WHERE run_id = ? ORDER BY {entity}_idx",
                       [run_id]).fetchall()
    return np.array([r[0] for r in rows], dtype=np.float32)
