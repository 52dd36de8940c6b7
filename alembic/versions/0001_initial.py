"""Initial schema: id vocabularies, interactions, ingest batches and their rejects.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa

from alembic import op
from recdb.migration_ops import comment_on

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    comment_on("alembic_version", "Alembic's record of the schema revision this database is at (`recdb db current`).")
    op.create_table(
        "users",
        sa.Column("user_idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.Text, nullable=False, unique=True),
    )
    comment_on(
        "users",
        "User vocabulary: external user id <-> dense matrix row index, assigned once and never reused.",
        user_idx="Dense 0-based user index (matrix row in user-item orientation); stable across ingests.",
        user_id="External user id, as text, exactly as ingested.",
    )
    op.create_table(
        "items",
        sa.Column("item_idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("item_id", sa.Text, nullable=False, unique=True),
    )
    comment_on(
        "items",
        "Item vocabulary: external item id <-> dense matrix column index, assigned once and never reused.",
        item_idx="Dense 0-based item index (matrix column in user-item orientation); stable across ingests.",
        item_id="External item id, as text, exactly as ingested.",
    )

    op.execute("CREATE SEQUENCE ingest_batches_batch_id_seq START 1")
    op.create_table(
        "ingest_batches",
        sa.Column(
            "batch_id",
            sa.Integer,
            primary_key=True,
            autoincrement=False,
            server_default=sa.text("nextval('ingest_batches_batch_id_seq')"),
        ),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("content_sha256", sa.Text),
        sa.Column("rows_read", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rows_loaded", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rows_rejected", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("status", sa.Text, nullable=False),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="ck_ingest_batches_status"),
    )
    comment_on(
        "ingest_batches",
        "One row per ingested file or query; a batch is loaded in one transaction, all or nothing.",
        batch_id="Batch number, increasing.",
        source="The file path (absolute) or the SQL query the batch read.",
        content_sha256="SHA-256 of the file content (NULL for a query); the same content is refused twice unless forced.",
        rows_read="Data rows read from the source (loaded + rejected).",
        rows_loaded="Rows that passed validation and were added to interactions.",
        rows_rejected="Rows written to ingest_rejects instead.",
        started_at="When the batch started, UTC.",
        finished_at="When the batch committed, UTC.",
        status="running | succeeded | failed.",
    )

    op.create_table(
        "interactions",
        sa.Column("user_idx", sa.Integer, nullable=False),
        sa.Column("item_idx", sa.Integer, nullable=False),
        sa.Column("weight", sa.Double, nullable=False),
        sa.Column("event_type", sa.Text),
        sa.Column("occurred_at", sa.DateTime),
        sa.Column("batch_id", sa.Integer, nullable=False),
    )
    comment_on(
        "interactions",
        "Every loaded interaction, one row per source row (duplicates of a user-item pair are kept; fits aggregate them).",
        user_idx="User index (users.user_idx).",
        item_idx="Item index (items.item_idx).",
        weight="Non-negative finite weight: weight column (1 if none) times the event type's weight (1 if none).",
        event_type="Event type as ingested (NULL when no event column was mapped).",
        occurred_at="When the interaction happened, UTC (NULL when no timestamp column was mapped).",
        batch_id="The ingest batch that loaded the row (ingest_batches.batch_id).",
    )

    op.create_table(
        "ingest_rejects",
        sa.Column("batch_id", sa.Integer, nullable=False),
        sa.Column("row_number", sa.BigInteger),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.Text),
    )
    comment_on(
        "ingest_rejects",
        "Source rows that were not loaded, with the reason; the rest of their batch was loaded.",
        batch_id="The batch that read the row (ingest_batches.batch_id).",
        row_number="Line number in a CSV/TSV file (the header is line 1); row number (from 1) in Parquet or query output.",
        reason="Why the row was rejected.",
        raw="The row as read: the original line for malformed CSV lines, else its fields (CSV) or a JSON object.",
    )


def downgrade() -> None:
    op.drop_table("ingest_rejects")
    op.drop_table("interactions")
    op.drop_table("ingest_batches")
    op.execute("DROP SEQUENCE ingest_batches_batch_id_seq")
    op.drop_table("items")
    op.drop_table("users")
