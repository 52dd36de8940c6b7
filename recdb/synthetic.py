"""Synthetic interaction data: power-law (Zipf-like) user activity and item popularity, typed events, timestamps over a
year. Deterministic for a seed. Feeds `recdb demo` and the benchmark."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from recdb.config import Settings
from recdb.db import connect
from recdb.errors import InputError

EVENTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}
_EVENT_SHARE = [0.80, 0.15, 0.05]
_SIZE = re.compile(r"(?P<n>\d+(\.\d+)?)(?P<unit>[kKmM]?)")
_START = np.datetime64("2025-01-01T00:00:00", "s")
_SPAN_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True)
class Shape:
    n_interactions: int
    n_users: int
    n_items: int

    @classmethod
    def from_size(cls, size: str) -> Shape:
        """'10k', '1M', '10M' ...: interactions; users = n/50 and items = n/200 (10M -> 200k users x 50k items)."""
        match = _SIZE.fullmatch(size.strip())
        if not match:
            raise InputError(f"size {size!r} is not a number like 10k, 1M or 10M")
        n = int(float(match["n"]) * {"": 1, "k": 1_000, "m": 1_000_000}[match["unit"].lower()])
        if n < 100:
            raise InputError(f"size {size!r} is too small: use at least 100 interactions")
        return cls(n, max(n // 50, 10), max(n // 200, 10))


_TASTE_SHARE = 0.7  # share of a user's interactions drawn from their taste group; the rest follow global popularity
_GROUPS = 20


def _zipf_ranks(rng: np.random.Generator, n_entities: int, n_draws: int, exponent: float) -> np.ndarray:
    """Ranks 0..n_entities-1 drawn with P(rank r) proportional to (r + 1)^-exponent."""
    weights = np.arange(1, n_entities + 1, dtype=np.float64) ** -exponent
    cdf = np.cumsum(weights)
    ranks = np.searchsorted(cdf, rng.random(n_draws) * cdf[-1], side="right")
    return np.minimum(ranks, n_entities - 1)


def interactions_table(shape: Shape, seed: int = 0) -> pa.Table:
    """Users of Zipf-like activity; items of Zipf-like popularity. Each user belongs to one of a few taste groups
    and draws most items from that group's catalogue (so there is structure for a model to find beyond popularity).
    Indices are shuffled so that ids give neither activity nor popularity away."""
    rng = np.random.default_rng(seed)
    n = shape.n_interactions
    users = rng.permutation(shape.n_users)[_zipf_ranks(rng, shape.n_users, n, 0.8)]
    groups = min(_GROUPS, max(shape.n_items // 5, 1))
    per_group = shape.n_items // groups
    group_of_user = rng.integers(0, groups, size=shape.n_users)
    # item rank g + groups * r is the r-th most popular item of group g, so group and global popularity agree
    taste = group_of_user[users] + groups * _zipf_ranks(rng, per_group, n, 1.0)
    anywhere = _zipf_ranks(rng, shape.n_items, n, 1.0)
    items = rng.permutation(shape.n_items)[np.where(rng.random(n) < _TASTE_SHARE, taste, anywhere)]
    events = rng.choice(len(EVENTS), size=n, p=_EVENT_SHARE)
    seconds = rng.integers(0, _SPAN_SECONDS, size=n)
    return pa.table(
        {
            "user": pa.array(users, pa.int32()),
            "item": pa.array(items, pa.int32()),
            "event": pa.DictionaryArray.from_arrays(pa.array(events, pa.int8()), pa.array(list(EVENTS))),
            "occurred_at": pa.array(_START + seconds.astype("timedelta64[s]"), pa.timestamp("s")),
        }
    )


def write_interactions(path: Path, shape: Shape, seed: int = 0) -> Path:
    """Write `shape` interactions to `path` (.csv or .parquet) with columns user_id, item_id, event_type,
    occurred_at; ids are text such as u000042 / i000007."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(f"synthetic data is written as .csv or .parquet, not {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    table = interactions_table(shape, seed)
    con = connect(Settings(":memory:"))
    try:
        con.register("synthetic", table)
        options = "(FORMAT csv, HEADER true)" if suffix == ".csv" else "(FORMAT parquet)"
        con.execute(
            f"""
            COPY (
                SELECT 'u' || lpad(CAST("user" AS VARCHAR), 6, '0') AS user_id,
                    'i' || lpad(CAST(item AS VARCHAR), 6, '0') AS item_id,
                    CAST(event AS VARCHAR) AS event_type, occurred_at
                FROM synthetic
            ) TO $path {options}
            """,
            {"path": str(path)},
        )
    finally:
        con.close()
    return path

