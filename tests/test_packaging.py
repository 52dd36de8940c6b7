"""The wheel carries its migrations and SQL files: installed (not editable) it works from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_installed_wheel_finds_migrations_and_sql_files(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels),
         str(ROOT)],
        check=True,
    )
    [wheel] = wheels.glob("recdb-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target))
    script = (
        "import recdb, recdb.resources as r; "
        "print(recdb.__file__); print(r.resource_dir('alembic')); print(r.resource_dir('sql'))"
    )
    where = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    assert all(line.startswith(str(target)) for line in where), where

    run = subprocess.run([sys.executable, "-m", "recdb", "--db", "x.duckdb", "init"], cwd=elsewhere, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    views = subprocess.run(
        [sys.executable, "-c", "import duckdb; print(duckdb.connect('x.duckdb').sql("
         "\"SELECT view_name FROM duckdb_views() WHERE NOT internal\").fetchall())"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert "v_interactions" in views


def test_commands_that_do_not_fit_start_without_scikit_learn():
    """sklearn takes about 1.5 s to import: `recdb --help`, `runs list` and the like must not pay for it."""
    probe = "import sys, recdb.cli; print('sklearn' in sys.modules, 'pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
