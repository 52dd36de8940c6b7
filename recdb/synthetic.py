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


def _zipf_draws(rng: np.random.Generator, n_entities: int, n_draws: int, exponent: float) -> np.ndarray:
    """Indices drawn with P(rank r) proportional to r^-exponent, ranks shuffled so ids do not give popularity away."""
    weights = np.arange(1, n_entities + 1, dtype=np.float64) ** -exponent
    cdf = np.cumsum(weights)
    ranks = np.searchsorted(cdf, rng.random(n_draws) * cdf[-1], side="right")
    return rng.permutation(n_entities)[np.minimum(ranks, n_entities - 1)]


def interactions_table(shape: Shape, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = shape.n_interactions
    users = _zipf_draws(rng, shape.n_users, n, 0.8)
    items = _zipf_draws(rng, shape.n_items, n, 1.0)
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

