"""The clients analysts run, installed for real in their own virtualenvs (cached in .acceptance/): Superset 6.1, its
database layer alone (duckdb 1.5, duckdb-engine, SQLAlchemy 1.4), the duckdb 1.5 command-line client, and dbt-duckdb.

Slow and networked: run with `make acceptance` (RECDB_ACCEPTANCE=1); `make test` skips them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".acceptance"
RECDB = [sys.executable, "-m", "recdb"]

pytestmark = pytest.mark.skipif(os.environ.get("RECDB_ACCEPTANCE") != "1",
                                reason="real-client acceptance tests: run `make acceptance`")

CLIENTS = {
    "superset-like": ["duckdb>=1.5,<1.6", "duckdb-engine==0.17.*", "sqlalchemy>=1.4,<2", "pandas<2.2"],
    "duckdb-cli": ["duckdb-cli>=1.5,<1.6"],
    "dbt": ["dbt-duckdb", "dbt-core<1.12", "duckdb>=1.5,<1.6"],
    # Superset 6.1.0's own dependency gaps, found here: it needs rich and cachetools, and Flask-Caching below 2.4
    "superset": ["apache-superset[duckdb]==6.1.0", "flask-caching<2.4", "rich", "cachetools"],
}

SUPERSET_CONFIG = """
SECRET_KEY = "recdb-acceptance-not-a-secret"
SQLALCHEMY_DATABASE_URI = "sqlite:///{home}/superset.db"
CACHE_CONFIG = DATA_CACHE_CONFIG = {{"CACHE_TYPE": "NullCache"}}
FILTER_STATE_CACHE_CONFIG = EXPLORE_FORM_DATA_CACHE_CONFIG = {{"CACHE_TYPE": "NullCache"}}
"""

SUPERSET_PROBE = """
import json, sys
from superset.app import create_app
app = create_app()
with app.app_context():
    from superset.models.core import Database
    from superset.sql.parse import Table
    # exactly what docs/bi.md tells a Superset user to enter
    db = Database(database_name="recdb", sqlalchemy_uri="duckdb:///" + sys.argv[1],
                  extra=json.dumps({"engine_params": {"connect_args": {"read_only": True}}}))
    tables = db.get_all_table_names_in_schema(catalog=None, schema="main")
    views = db.get_all_view_names_in_schema(catalog=None, schema="main")
    columns = db.get_columns(Table("recommendations", "main"))
    frame = db.get_df("SELECT * FROM v_recommendations", schema="main")
    print(json.dumps({"tables": sorted(t[0] for t in tables), "views": sorted(v[0] for v in views),
                      "columns": {c["column_name"]: [str(c["type"]), c.get("comment")] for c in columns},
                      "rows": len(frame), "frame_columns": list(frame.columns)}))
"""


def venv(name: str) -> Path:
    """A virtualenv with one client's packages, built once and kept for the next run."""
    home = VENVS / name
    marker = home / f".installed-{abs(hash(tuple(CLIENTS[name])))}"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(home)], check=True)
        subprocess.run([home / "bin" / "python", "-m", "pip", "install", "--quiet", *CLIENTS[name]], check=True)
        marker.touch()
    return home / "bin"


@pytest.fixture(scope="module")
def serving_file(tmp_path_factory) -> Path:
    """A real recdb database, fitted and published (default storage version) by the recdb CLI."""
    where = tmp_path_factory.mktemp("acceptance")
    db = where / "recdb.duckdb"
    lines = ["user_id,item_id"] + [f"u{u},i{(u * 7 + n) % 23}" for u in range(40) for n in range(6)]
    (where / "a.csv").write_text("\n".join(lines) + "\n")
    for args in (["init"], ["ingest", str(where / "a.csv")], ["fit", "--n-components", "4", "--max-iter", "100"]):
        subprocess.run([*RECDB, "--db", str(db), *args], check=True, capture_output=True)
    return where / "recdb.serve.duckdb"


def test_superset_like_stack_reflects_and_reads(serving_file):
    script = textwrap.dedent(
        """
        import json, sys
        import duckdb, pandas, sqlalchemy as sa
        from sqlalchemy.pool import NullPool
        engine = sa.create_engine("duckdb:///" + sys.argv[1], poolclass=NullPool, connect_args={"read_only": True})
        inspector = sa.inspect(engine)
        columns = {c["name"]: [str(c["type"]), c.get("comment")] for c in inspector.get_columns("recommendations")}
        frame = pandas.read_sql("SELECT * FROM v_recommendations", engine)
        print(json.dumps({"versions": [duckdb.__version__, sa.__version__], "tables": inspector.get_table_names(),
                          "views": inspector.get_view_names(), "columns": columns, "rows": len(frame),
                          "frame_columns": list(frame.columns)}))
        """
    )
    done = subprocess.run([venv("superset-like") / "python", "-c", script, str(serving_file)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["versions"][0].startswith("1.5") and got["versions"][1].startswith("1.4")
    assert {"recommendations", "coverage_summary", "user_factors"} <= set(got["tables"])
    assert {"v_recommendations", "v_coverage_summary"} <= set(got["views"])
    assert got["columns"]["rank"][0] == "INTEGER" and got["columns"]["score"][1].startswith("Predicted score")
    assert got["rows"] > 0 and got["frame_columns"] == ["user_id", "rank", "item_id", "score"]


def test_duckdb_15_cli_runs_the_recommend_macro(serving_file):
    done = subprocess.run([venv("duckdb-cli") / "duckdb", "-readonly", "-csv", str(serving_file), "-c",
                           "SELECT version(); SELECT * FROM recommend('u1', 5);"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[1].startswith("v1.5")
    assert lines[2] == "rank,item_id,score" and len(lines) >= 4


def test_dbt_duckdb_builds_models_from_the_attached_serving_file(serving_file, tmp_path):
    env = {**os.environ, "RECDB_SERVE": str(serving_file), "RECDB_DBT_TARGET": str(tmp_path / "dbt.duckdb")}
    project = ROOT / "examples" / "dbt"
    done = subprocess.run([venv("dbt") / "dbt", "build", "--project-dir", str(project), "--profiles-dir",
                           str(project), "--target-path", str(tmp_path / "target")],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    check = subprocess.run([venv("dbt") / "python", "-c",
                            "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                            "print(c.sql('SELECT count(*) FROM top_recommendations').fetchall()[0][0], "
                            "c.sql('SELECT count(*) FROM live_scores').fetchall()[0][0])",
                            str(tmp_path / "dbt.duckdb")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    top, live = map(int, check.stdout.split())
    assert top > 0 and 0 < live <= 5


def test_superset_lists_and_queries_the_serving_file(serving_file, tmp_path):
    (tmp_path / "superset_config.py").write_text(SUPERSET_CONFIG.format(home=tmp_path))
    (tmp_path / "probe.py").write_text(SUPERSET_PROBE)
    env = {**os.environ, "SUPERSET_CONFIG_PATH": str(tmp_path / "superset_config.py")}
    bin_ = venv("superset")
    upgrade = subprocess.run([bin_ / "superset", "db", "upgrade"], capture_output=True, text=True, env=env,
                             cwd=tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    done = subprocess.run([bin_ / "python", str(tmp_path / "probe.py"), str(serving_file)], capture_output=True,
                          text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"recommendations", "coverage_summary"} <= set(got["tables"])
    assert {"v_recommendations", "v_coverage_summary", "v_user_factors_long"} <= set(got["views"])
    assert got["columns"]["rank"] == ["INTEGER", "1 for the best item; ties in score go to the lower item_idx."]
    assert got["rows"] > 0 and got["frame_columns"] == ["user_id", "rank", "item_id", "score"]
