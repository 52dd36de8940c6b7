from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import duckdb

from recdb import migrations

RECDB = [sys.executable, "-m", "recdb"]


def test_init_ingest_stats_end_to_end(cli, write):
    assert cli("init").exit_code == 0
    path = write("a.csv", "user_id,item_id,rating\nu1,i1,5\nu1,i2,oops\nu2,i1,3\nu2,i3,1\n")
    result = cli("ingest", path, "--weight-col", "rating")
    assert result.exit_code == 0, result.output
    assert "rejected rows and their reasons" in result.output
    result = cli("stats", "--format", "json")
    assert result.exit_code == 0
    stats = json.loads(result.stdout)
    assert (stats["users"], stats["items"], stats["interactions"], stats["rejected_rows"]) == (2, 2, 3, 1)
    assert stats["density"] == 0.75
    assert stats["per_user"] == {"min": 1, "p50": 1, "p90": 2, "p99": 2, "max": 2}
    assert stats["per_item"] == stats["per_user"]


def test_ingest_from_sql(cli, migrated):
    result = cli("ingest", "--sql", "SELECT 'u' || i AS user_id, 'i' || (i % 2) AS item_id FROM range(4) t(i)")
    assert result.exit_code == 0, result.output
    con = duckdb.connect(migrated.database_path, read_only=True)
    assert con.execute("SELECT count(*) FROM interactions").fetchone() == (4,)
    con.close()


def test_bad_input_exits_2_with_one_line(cli, migrated, write):
    cases = [
        (["ingest", "missing.csv"], "error: file not found: missing.csv"),
        (["ingest", write("a.csv", "user_id,item_id\nu,i\n"), "--user-col", "who"], "no column 'who' for --user-col"),
        (["ingest", write("e.csv", "")], "file is empty"),
        (["ingest", write("p.parquet", "not parquet")], "cannot read as Parquet"),
        (["ingest", write("s.csv", "user_id,item_id\nu,-\n"), "--event-weight", "view"], "takes EVENT=WEIGHT"),
        (["ingest"], "give either files to ingest or --sql QUERY"),
    ]
    for args, message in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.output


def test_commands_refuse_uninitialised_database_with_exit_4(cli, settings):
    result = cli("stats")
    assert result.exit_code == 4
    assert "run `recdb init`" in result.stderr
    assert not os.path.exists(settings.database_path)  # refusing did not create the file
    cli("init")
    cli("db", "downgrade", "base")
    result = cli("stats")
    assert result.exit_code == 4 and "run `recdb db upgrade`" in result.stderr


def test_db_commands(cli):
    head = migrations.head()
    history = cli("db", "history").stdout
    assert f"{head} (head)" in history and "0001 " in history
    assert cli("db", "upgrade").exit_code == 0
    assert cli("db", "current").stdout.startswith(f"{head} (head)")
    assert "at revision 0001" in cli("db", "downgrade", "0001").stdout
    assert "at revision base" in cli("db", "downgrade", "base").stdout
    assert "behind head" in cli("db", "current").stdout
    result = cli("db", "upgrade", "nosuch")
    assert result.exit_code == 2 and "cannot migrate to 'nosuch'" in result.stderr


def test_locked_database_waits_then_exits_3_naming_the_holder(cli, migrated):
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({migrated.database_path!r}); "
         "print('ready', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        result = cli("stats")
        assert time.monotonic() - started >= 0.5  # it retried for --lock-timeout first
        assert result.exit_code == 3
        assert f"locked by another process (PID {holder.pid}" in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_killed_ingest_leaves_nothing_behind(migrated, tmp_path):
    """Killed after the bulk INSERT of 2M rows, before its commit: nothing of the batch remains."""
    path = tmp_path / "big.csv"
    duckdb.execute(
        "COPY (SELECT 'u' || (i % 50000) AS user_id, 'i' || (i % 7000) AS item_id FROM range(2000000) t(i)) "
        "TO ? (HEADER)", [str(path)]
    )
    env = dict(os.environ, RECDB_DB=migrated.database_path, RECDB_FAILPOINT="ingest.loaded")
    proc = subprocess.run([*RECDB, "ingest", str(path)], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    con = duckdb.connect(migrated.database_path)
    counts = con.execute(
        "SELECT (SELECT count(*) FROM interactions), (SELECT count(*) FROM users), (SELECT count(*) FROM ingest_batches)"
    ).fetchone()
    con.close()
    assert counts == (0, 0, 0)


def test_demo_runs_end_to_end(tmp_path):
    db = tmp_path / "demo.duckdb"
    result = subprocess.run([*RECDB, "--db", str(db), "demo", "--size", "5k"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "interactions" in result.stdout and "5,000" in result.stdout
    assert "run 1 succeeded and active" in result.stdout
    assert "ratio to most_popular" in result.stdout and "most_popular" in result.stdout
    again = subprocess.run([*RECDB, "--db", str(db), "demo"], capture_output=True, text=True)
    assert again.returncode == 2 and "demo builds a new database" in again.stderr


def test_benchmark_harness_runs_on_a_tiny_size(tmp_path):
    """Checks that the harness works end to end, not a time."""
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "stages.py")
    result = subprocess.run([sys.executable, script, "--size", "2k", "--workdir", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "| ingest | 2,000 |" in result.stdout and "| write_factors |" in result.stdout


def test_database_from_a_sqlalchemy_url_or_the_environment(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from recdb.cli import app

    url_db = tmp_path / "by-url.duckdb"
    assert CliRunner().invoke(app, ["--db", f"duckdb:///{url_db}", "init"]).exit_code == 0
    assert url_db.exists()
    env_db = tmp_path / "by-env.duckdb"
    monkeypatch.setenv("RECDB_DB", str(env_db))
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    assert env_db.exists()
