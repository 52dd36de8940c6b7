"""Small operations the Alembic revisions share. Revisions are history: change behaviour here only by adding."""

from __future__ import annotations

from alembic import op
from recdb.db import quote_literal


def comment_on(table: str, about: str, **columns: str) -> None:
    """COMMENT ON the table and each named column (texts are the revision's own literals)."""
    op.execute(f"COMMENT ON TABLE {table} IS {quote_literal(about)}")
    for column, text in columns.items():
        op.execute(f"COMMENT ON COLUMN {table}.{column} IS {quote_literal(text)}")
