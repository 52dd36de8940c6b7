"""Model runs, the active-run pointer, and user/item factors.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa

from alembic import op
from recdb.migration_ops import comment_on

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _factors_table(entity: str) -> None:
    op.execute(
        f"CREATE TABLE {entity}_factors (run_id INTEGER NOT NULL, {entity}_idx INTEGER NOT NULL, factors FLOAT[] NOT NULL)"
    )
    comment_on(
        f"{entity}_factors",
        f"NMF {entity} factors per run: one float32 vector of n_components values per {entity}.",
        run_id="The run that fitted them (model_runs.run_id).",
        **{f"{entity}_idx": f"{entity.capitalize()} index ({entity}s.{entity}_idx)."},
        factors="Non-negative factor vector, component 0 first; a score is the dot product of a user's and an item's.",
    )


def upgrade() -> None:
    op.execute("CREATE SEQUENCE model_runs_run_id_seq START 1")
    op.create_table(
        "model_runs",
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=False,
                  server_default=sa.text("nextval('model_runs_run_id_seq')")),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("n_users", sa.Integer),
        sa.Column("n_items", sa.Integer),
        sa.Column("nnz", sa.BigInteger),
        sa.Column("data_batch_max", sa.Integer),
        sa.Column("n_iter", sa.Integer),
        sa.Column("reconstruction_err", sa.Double),
        sa.Column("converged", sa.Boolean),
        sa.Column("fit_seconds", sa.Double),
        sa.Column("library_versions", sa.JSON),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("error", sa.Text),
        sa.Column("warnings", sa.Text),
        sa.Column("pid", sa.Integer),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="ck_model_runs_status"),
    )
    comment_on(
        "model_runs",
        "One row per fit: parameters, data, outcome. A run is written as running, then marked succeeded or failed.",
        run_id="Run number, increasing.",
        status="running | succeeded | failed; a running row whose process died is stale (recdb runs list says so).",
        params="Model (scikit-learn NMF names) and matrix parameters, as JSON.",
        n_users="Users in the fitted matrix (max user_idx + 1).",
        n_items="Items in the fitted matrix (max item_idx + 1).",
        nnz="Stored non-zero user-item cells after aggregation.",
        data_batch_max="Newest ingest batch included: the run saw interactions with batch_id <= this.",
        n_iter="Iterations scikit-learn ran.",
        reconstruction_err="scikit-learn's reconstruction_err_ (beta divergence between the matrix and W @ H).",
        converged="False when scikit-learn warned that max_iter was reached before tol.",
        fit_seconds="Wall time of the NMF fit alone.",
        library_versions="Versions of recdb, scikit-learn, numpy, scipy and duckdb that made the run, as JSON.",
        started_at="When the run started, UTC.",
        finished_at="When the run succeeded or failed, UTC.",
        error="Why the run failed (NULL otherwise).",
        warnings="Warnings raised during the fit, such as scikit-learn's ConvergenceWarning.",
        pid="Process id of the fitting process (a running row of a dead process is stale).",
    )
    op.execute("CREATE TABLE active_run (run_id INTEGER NOT NULL)")
    comment_on(
        "active_run",
        "The run readers see: at most one row. Every v_ view reads through it; it switches in the transaction that "
        "publishes a run, so readers see the old model or the new one, never a mix.",
        run_id="The active run (model_runs.run_id).",
    )
    _factors_table("user")
    _factors_table("item")


def downgrade() -> None:
    op.drop_table("item_factors")
    op.drop_table("user_factors")
    op.drop_table("active_run")
    op.drop_table("model_runs")
    op.execute("DROP SEQUENCE model_runs_run_id_seq")
