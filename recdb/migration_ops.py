"""Small operations the Alembic revisions share. Revisions are history: change behaviour here only by adding."""

from __future__ import annotations

from alembic import op


def comment_on(table: str, about: str, **columns: str) -> None:
    """COMMENT ON the table and each named column (texts are the revision's own literals)."""

    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    op.execute(f"COMMENT ON TABLE {table} IS {literal(about)}")
    for column, text in columns.items():
        op.execute(f"COMMENT ON COLUMN {table}.{column} IS {literal(text)}")
