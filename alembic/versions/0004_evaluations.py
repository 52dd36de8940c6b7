"""Offline evaluation: stored splits, metrics per evaluation and per user.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa

from alembic import op
from recdb.migration_ops import comment_on

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE evaluations_eval_id_seq START 1")
    op.create_table(
        "evaluation_splits",
        sa.Column("eval_id", sa.Integer, nullable=False),
        sa.Column("user_idx", sa.Integer, nullable=False),
        sa.Column("item_idx", sa.Integer, nullable=False),
        sa.Column("part", sa.Text, nullable=False),
        sa.CheckConstraint("part IN ('train', 'test', 'validation')", name="ck_evaluation_splits_part"),
    )
    comment_on(
        "evaluation_splits",
        "Which user-item pairs each evaluation trained on and which it held out, so anyone can reproduce or audit it.",
        eval_id="The evaluation (evaluations.eval_id).",
        user_idx="User index (users.user_idx).",
        item_idx="Item index (items.item_idx).",
        part="train, test, or validation (recdb tune carves validation out of train; test stays untouched).",
    )
    op.create_table(
        "evaluations",
        sa.Column("eval_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("split_params", sa.JSON, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("model_params", sa.JSON),
        sa.Column("k", sa.Integer),
        sa.Column("metric", sa.Text, nullable=False),
        sa.Column("value", sa.Double),
    )
    comment_on(
        "evaluations",
        "Offline metrics of each model in an evaluation, all on the same split: one row per model, k and metric.",
        eval_id="Evaluation number, increasing.",
        created_at="When the evaluation ran, UTC.",
        split_params="How the split was made (method, test fraction, minimum interactions, seed, ...), as JSON.",
        model="nmf, most_popular or random (recdb tune: nmf candidates).",
        model_params="The model's parameters as JSON (for nmf also the run_id it was recorded as).",
        k="List length the metric was computed at.",
        metric="precision, recall, ndcg, map, mrr, hit_rate (means over evaluated users), catalog_coverage, novelty.",
        value="The metric's value.",
    )
    op.create_table(
        "evaluation_users",
        sa.Column("eval_id", sa.Integer, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("user_idx", sa.Integer, nullable=False),
        sa.Column("k", sa.Integer, nullable=False),
        sa.Column("metric", sa.Text, nullable=False),
        sa.Column("value", sa.Double, nullable=False),
    )
    comment_on(
        "evaluation_users",
        "Per-user metric values behind each mean in evaluations, for slicing by user segment.",
        eval_id="The evaluation (evaluations.eval_id).",
        model="nmf, most_popular or random.",
        user_idx="User index (users.user_idx).",
        k="List length.",
        metric="precision, recall, ndcg, map, mrr or hit_rate.",
        value="The user's value.",
    )


def downgrade() -> None:
    op.drop_table("evaluation_users")
    op.drop_table("evaluations")
    op.drop_table("evaluation_splits")
    op.execute("DROP SEQUENCE evaluations_eval_id_seq")
