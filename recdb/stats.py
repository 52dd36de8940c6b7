"""Summary statistics of the loaded interactions, computed in DuckDB."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import duckdb

QUANTILES = {"min": 0.0, "p50": 0.5, "p90": 0.9, "p99": 0.99, "max": 1.0}


@dataclass(frozen=True)
class InteractionStats:
    users: int
    items: int
    interactions: int
    distinct_pairs: int
    density: float
    per_user: dict[str, int]
    per_item: dict[str, int]
    batches: int
    rejected_rows: int

    def as_dict(self) -> dict:
        return asdict(self)


def _quantiles(con: duckdb.DuckDBPyConnection, idx: str) -> dict[str, int]:
    """Quantiles of the number of interactions per entity (`idx` is user_idx or item_idx, from this module)."""
    row = con.execute(
        f"SELECT quantile_disc(n, $q) FROM (SELECT count(*) AS n FROM interactions GROUP BY {idx})",
        {"q": list(QUANTILES.values())},
    ).fetchall()[0][0]
    return dict(zip(QUANTILES, row or [0] * len(QUANTILES), strict=True))


def interaction_stats(con: duckdb.DuckDBPyConnection) -> InteractionStats:
    users, items, interactions, pairs, batches, rejected = con.execute(
        """
        SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM items), (SELECT count(*) FROM interactions),
            (SELECT count(*) FROM (SELECT DISTINCT user_idx, item_idx FROM interactions)),
            (SELECT count(*) FROM ingest_batches), (SELECT count(*) FROM ingest_rejects)
        """
    ).fetchall()[0]
    density = pairs / (users * items) if users and items else 0.0
    return InteractionStats(
        users=users,
        items=items,
        interactions=interactions,
        distinct_pairs=pairs,
        density=density,
        per_user=_quantiles(con, "user_idx"),
        per_item=_quantiles(con, "item_idx"),
        batches=batches,
        rejected_rows=rejected,
    )
