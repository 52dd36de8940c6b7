"""Top-K recommendations, item audiences, coverage counts and the binned coverage summary.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa

from alembic import op
from recdb.migration_ops import comment_on

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE recommendations (run_id INTEGER NOT NULL, user_idx INTEGER NOT NULL, rank INTEGER NOT NULL, "
        "item_idx INTEGER NOT NULL, score FLOAT NOT NULL)"
    )
    comment_on(
        "recommendations",
        "Each user's top-K items per run, by predicted score, written when the run is fitted. Items the user "
        "interacted with in the run's data are left out unless the fit kept them (--include-seen); a score of 0 is "
        "never recommended.",
        run_id="The run (model_runs.run_id).",
        user_idx="User index (users.user_idx).",
        rank="1 for the best item; ties in score go to the lower item_idx.",
        item_idx="Item index (items.item_idx).",
        score="Predicted score: the dot product of the user's and the item's factors (float32).",
    )
    op.execute(
        "CREATE TABLE item_audiences (run_id INTEGER NOT NULL, item_idx INTEGER NOT NULL, rank INTEGER NOT NULL, "
        "user_idx INTEGER NOT NULL, score FLOAT NOT NULL)"
    )
    comment_on(
        "item_audiences",
        "Each item's top-N users per run (fit --top-k-users N): which users suit this item. Same rules as "
        "recommendations.",
        run_id="The run (model_runs.run_id).",
        item_idx="Item index (items.item_idx).",
        rank="1 for the best-suited user; ties in score go to the lower user_idx.",
        user_idx="User index (users.user_idx).",
        score="Predicted score (float32).",
    )
    op.create_table(
        "coverage",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("axis", sa.Text, nullable=False),
        sa.Column("entity_idx", sa.Integer, nullable=False),
        sa.Column("n_interactions", sa.Integer, nullable=False),
        sa.Column("predict_num", sa.Integer, nullable=False),
        sa.Column("predict_num_unseen", sa.Integer, nullable=False),
        sa.CheckConstraint("axis IN ('user', 'item')", name="ck_coverage_axis"),
    )
    comment_on(
        "coverage",
        "Per run, for every user (axis user) and every item (axis item): how many counterparts get a positive "
        "predicted score. Exact: a score counts when the float64 dot product of the stored factors is > epsilon.",
        run_id="The run (model_runs.run_id).",
        axis="user: entity_idx is a user_idx, counts are over items; item: entity_idx is an item_idx, over users.",
        entity_idx="users.user_idx or items.item_idx, by axis.",
        n_interactions="Distinct counterparts the entity interacted with in the run's data.",
        predict_num="Counterparts with a positive predicted score, seen or not (the seed's preds.astype(bool).sum()).",
        predict_num_unseen="The same, leaving out the counterparts the entity interacted with.",
    )
    op.create_table(
        "coverage_summary",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("axis", sa.Text, nullable=False),
        sa.Column("bin", sa.Integer, nullable=False),
        sa.Column("entities", sa.Integer, nullable=False),
        sa.Column("min", sa.Integer, nullable=False),
        sa.Column("median", sa.Double, nullable=False),
        sa.Column("mean", sa.Double, nullable=False),
        sa.Column("max", sa.Integer, nullable=False),
        sa.Column("zero_fraction", sa.Double, nullable=False),
    )
    comment_on(
        "coverage_summary",
        "The seed's coverage table: predict_num by interaction bin, per run and axis.",
        run_id="The run (model_runs.run_id).",
        axis="user or item.",
        bin="n_interactions if below 10, else n_interactions rounded down to a multiple of 10.",
        entities="Entities in the bin.",
        min="Smallest predict_num in the bin.",
        median="Median predict_num in the bin.",
        mean="Mean predict_num in the bin.",
        max="Largest predict_num in the bin.",
        zero_fraction="Share of the bin's entities with no positive prediction at all.",
    )
    op.add_column("model_runs", sa.Column("sufficient_bin_user", sa.Integer))
    op.add_column("model_runs", sa.Column("sufficient_bin_item", sa.Integer))
    comment_on(
        "model_runs",
        "One row per fit: parameters, data, outcome. A run is written as running, then marked succeeded or failed.",
        sufficient_bin_user="Smallest interaction bin from which, in every bin, at least the --sufficient share of "
        "users gets a positive prediction (NULL: no such bin).",
        sufficient_bin_item="The same for items.",
    )


def downgrade() -> None:
    op.drop_column("model_runs", "sufficient_bin_item")
    op.drop_column("model_runs", "sufficient_bin_user")
    op.drop_table("coverage_summary")
    op.drop_table("coverage")
    op.drop_table("item_audiences")
    op.drop_table("recommendations")
