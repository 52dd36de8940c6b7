"""The serving file: contents, reflection by BI tooling, readers during publication, crashes, hostile ids."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

RECDB = [sys.executable, "-m", "recdb"]
FIT = ["fit", "--n-components", "3", "--max-iter", "30", "--top-k", "5"]


def serve_path(settings) -> Path:
    return settings.serving_path


def run_recdb(settings, *args, env=None, check=True):
    done = subprocess.run([*RECDB, "--db", settings.db, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if check:
        assert done.returncode == 0, done.stderr
    return done


def read_only(path: Path):
    return duckdb.connect(str(path), read_only=True)


def test_fit_writes_a_complete_commented_serving_file(cli, loaded, migrated):
    assert cli(*FIT).exit_code == 0
    path = serve_path(migrated)
    assert path.exists() and path.name == "recdb.serve.duckdb"
    con = read_only(path)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert {"recommendations", "item_audiences", "user_factors", "item_factors", "coverage", "coverage_summary",
            "model_runs", "active_run", "users", "items", "evaluations", "evaluation_users"} <= tables
    uncommented = con.execute(
        """
        SELECT table_name FROM duckdb_tables() WHERE comment IS NULL OR comment = ''
        UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal AND (comment IS NULL OR comment = '')
        UNION ALL SELECT table_name || '.' || column_name FROM duckdb_columns()
            WHERE NOT internal AND (comment IS NULL OR comment = '')
        UNION ALL SELECT function_name FROM duckdb_functions()
            WHERE function_type = 'table_macro' AND NOT internal AND (comment IS NULL OR comment = '')
        """
    ).fetchall()
    assert uncommented == []
    run_id = con.execute("SELECT run_id FROM active_run").fetchall()[0][0]
    assert con.execute("SELECT DISTINCT run_id FROM recommendations").fetchall() == [(run_id,)]
    served = con.execute("SELECT user_id, rank, item_id, score FROM v_recommendations ORDER BY ALL").fetchall()
    macro = con.execute("SELECT * FROM recommend('u1', 5)").fetchall()
    con.close()
    working = loaded.execute("SELECT user_id, rank, item_id, score FROM v_recommendations ORDER BY ALL").fetchall()
    assert served == working and len(served) > 0
    assert [(r, i) for r, i, _ in macro] == [(r, i) for u, r, i, _ in sorted(working) if u == "u1"]


def test_serving_options_and_the_sql_command(cli, loaded, migrated, tmp_path):
    elsewhere = tmp_path / "bi" / "serve.duckdb"
    elsewhere.parent.mkdir()
    assert cli("--serve", elsewhere, *FIT).exit_code == 0
    assert elsewhere.exists() and not serve_path(migrated).exists()
    assert cli("--no-serve", *FIT).exit_code == 0
    assert not serve_path(migrated).exists()
    missing = cli("sql", "SELECT 1")
    assert missing.exit_code == 2 and "recdb publish" in missing.stderr

    assert cli("publish").exit_code == 0 and serve_path(migrated).exists()
    result = cli("sql", "SELECT count(*) AS n FROM v_recommendations", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["n"] > 0
    assert "ingest_batches" not in cli("sql", "SELECT table_name FROM duckdb_tables()", "--format", "csv").stdout
    loaded.close()  # --working opens the file read-only: not beside a read-write connection of this process
    assert "ingest_batches" in cli("sql", "SELECT table_name FROM duckdb_tables()", "--working").stdout
    refused = cli("sql", "DELETE FROM users")
    assert refused.exit_code == 2 and "read-only" in refused.stderr


def test_bi_reflection_and_pandas_through_sqlalchemy(cli, loaded, migrated):
    assert cli(*FIT).exit_code == 0
    engine = sa.create_engine(f"duckdb:///{serve_path(migrated)}", poolclass=NullPool,
                              connect_args={"read_only": True})
    inspector = sa.inspect(engine)
    assert {"recommendations", "coverage_summary"} <= set(inspector.get_table_names())
    assert {"v_recommendations", "v_coverage", "v_coverage_summary"} <= set(inspector.get_view_names())
    columns = {c["name"]: c for c in inspector.get_columns("recommendations")}
    assert list(columns) == ["run_id", "user_idx", "user_id", "rank", "item_idx", "item_id", "score"]
    assert isinstance(columns["rank"]["type"], sa.Integer) and isinstance(columns["user_id"]["type"], sa.String)
    assert columns["score"]["comment"].startswith("Predicted score")
    assert inspector.get_table_comment("recommendations")["text"].startswith("Serving copy (the active run only)")
    view_columns = [c["name"] for c in inspector.get_columns("v_recommendations")]
    assert view_columns == ["user_id", "rank", "item_id", "score"]
    frame = pd.read_sql("SELECT * FROM v_recommendations", engine)
    assert list(frame.columns) == view_columns and len(frame) > 0
    engine.dispose()


READER = textwrap.dedent(
    """
    import duckdb, json, os, sys, time
    path, stop = sys.argv[1], sys.argv[2]
    held = duckdb.connect(path, read_only=True)  # kept open through every swap
    seen, errors = [], []
    end = time.monotonic() + 60
    print("ready", flush=True)
    while time.monotonic() < end and not os.path.exists(stop):
        try:
            row = held.execute(
                "SELECT (SELECT run_id FROM active_run), min(run_id), max(run_id), count(*) FROM recommendations"
            ).fetchall()[0]
            seen.append(list(row))
        except Exception as exc:
            errors.append(str(exc))
        time.sleep(0.01)
    print(json.dumps({"seen": seen, "errors": errors}), flush=True)
    """
)


def test_a_reader_holding_the_serving_file_never_sees_a_mix(loaded, migrated, tmp_path):
    loaded.close()  # the recdb processes below need the working database
    run_recdb(migrated, *FIT)
    path = serve_path(migrated)
    first = read_only(path).execute("SELECT run_id FROM active_run").fetchall()[0][0]
    script = tmp_path / "reader.py"
    script.write_text(READER)
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, str(script), str(path), str(stop)], stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "ready"
    newest = []
    for _ in range(2):
        run_recdb(migrated, *FIT)
        fresh = read_only(path)
        newest.append(fresh.execute("SELECT run_id FROM active_run").fetchall()[0][0])
        fresh.close()
    stop.touch()
    report = json.loads(reader.communicate(timeout=60)[0])
    assert report["errors"] == []
    assert len(report["seen"]) > 10
    assert all(active == low == high and count > 0 for active, low, high, count in report["seen"])
    assert {row[0] for row in report["seen"]} == {first}  # the held connection keeps its snapshot
    assert newest == [first + 1, first + 2]  # and each new connection sees the newest run


def _state(settings) -> dict:
    con = duckdb.connect(settings.database_path, read_only=True)
    state = {
        "active": con.execute("SELECT run_id FROM active_run").fetchall(),
        "interactions": con.execute("SELECT count(*) FROM interactions").fetchall()[0][0],
        "batches": con.execute("SELECT batch_id, status FROM ingest_batches ORDER BY ALL").fetchall(),
        "factor_runs": con.execute("SELECT DISTINCT run_id FROM user_factors ORDER BY ALL").fetchall(),
    }
    con.close()
    serve = serve_path(settings)
    if serve.exists():
        served = read_only(serve)
        state["served"] = served.execute(
            "SELECT (SELECT run_id FROM active_run), count(DISTINCT run_id) FROM recommendations").fetchall()[0]
        served.close()
    return state


@pytest.mark.parametrize(
    ("failpoint", "commits"),
    [("fit.fitted", False), ("fit.written", False), ("fit.switched", False), ("fit.committed", True),
     ("serve.before_rename", True)],
)
def test_fit_killed_at_any_point_leaves_old_or_new_never_a_mix(loaded, migrated, failpoint, commits):
    loaded.close()  # the recdb processes below need the working database
    run_recdb(migrated, *FIT)
    for attempt in range(2):
        before = _state(migrated)
        killed = run_recdb(migrated, *FIT, env={"RECDB_FAILPOINT": failpoint}, check=False)
        assert killed.returncode == -9, killed.stderr
        after = _state(migrated)
        assert after["interactions"] == before["interactions"] and after["batches"] == before["batches"]
        if commits:
            new_run = after["active"][0][0]
            assert new_run > before["active"][0][0] and (new_run,) in after["factor_runs"]
        else:
            assert after["active"] == before["active"]
        # the serving file is whole and shows exactly one run: the old one (the new one is not served yet)
        assert after["served"] == before["served"] and after["served"][1] == 1
        run_recdb(migrated, "publish")  # and it recovers to the active run
        assert _state(migrated)["served"][0] == after["active"][0][0]


def test_ingest_killed_before_commit_leaves_no_partial_batch(migrated, write):
    run_recdb(migrated, "ingest", write("a.csv", "user_id,item_id\nu1,i1\n"))
    before = _state(migrated)
    killed = run_recdb(migrated, "ingest", write("b.csv", "user_id,item_id\nu2,i2\nu3,i3\n"),
                       env={"RECDB_FAILPOINT": "ingest.loaded"}, check=False)
    assert killed.returncode == -9
    assert _state(migrated) == before
    run_recdb(migrated, "ingest", write("c.csv", "user_id,item_id\nu2,i2\n"))  # the database still works


HOSTILE = [
    "O'Brien",
    'say "hi"',
    "x'); DROP TABLE users; --",
    "a;b;c",
    "/* comment */ id",
    "ユーザー 😀 naïve",
    "semi;colon,comma",
    "l" * 5000,
]


def test_hostile_ids_round_trip_and_execute_nothing(cli, migrated, tmp_path):
    path = tmp_path / "hostile.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["user_id", "item_id"])
        for n, user in enumerate(HOSTILE):
            for item in HOSTILE[n % 3:] + [f"plain{n}"]:
                writer.writerow([user, item])
    assert cli("ingest", path).exit_code == 0
    assert cli("fit", "--n-components", "2", "--max-iter", "50").exit_code == 0
    con = read_only(serve_path(migrated))
    assert sorted(r[0] for r in con.execute("SELECT user_id FROM users").fetchall()) == sorted(HOSTILE)
    for user in HOSTILE:
        python = json.loads(cli("recommend", user, "-k", "3", "--format", "json").stdout)
        sql = con.execute("SELECT rank, item_id FROM recommend(?, 3)", [user]).fetchall()
        assert [(r["rank"], r["item_id"]) for r in python] == sql
        assert all(r["item_id"] in HOSTILE or r["item_id"].startswith("plain") for r in python)
    con.close()
    assert cli("ingest", "--sql", "SELECT 1 AS user_id, 2 AS item_id; DROP TABLE users").exit_code == 2
    assert cli("ingest", "--sql", "DELETE FROM users").exit_code == 2
    assert cli("stats").exit_code == 0  # users and everything else still there
