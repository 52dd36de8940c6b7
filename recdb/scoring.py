"""Blocked scoring of every row entity against every column entity, never holding rows x columns.

One pass over blocks of rows gives both products of the fit that need all scores:
- the exact top-K per row (float32 BLAS scores; seen cells and scores <= 0 excluded; ties broken by column index), and
- the exact coverage counts: how many columns get a positive score, per row and per column.

Coverage is exact in float64 terms: the factors are stored as float32, and a product of two positive float32 values
never underflows in float64, so a float64 dot product is > 0 exactly when the two supports share a component. A float32
score > 0 proves that; a float32 score of 0 can hide a float64-positive one only if some product of positive factors
falls below float32's normal range, and the rows where that is possible are recounted in float64. With
`epsilon > 0` every count is made from float64 products.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

_BLOCK_BYTES = 32 << 20  # scores of one block: small enough to stay in cache for the passes over it
_CHUNKS = 64  # column chunks whose maxima bound the k-th largest score from below
# float32 products below this may be lost (BLAS kernels may flush subnormals to zero): such rows are recounted
_TINY = np.float64(np.finfo(np.float32).tiny) * 4
_SMALLEST_POSITIVE = np.finfo(np.float32).smallest_subnormal


@dataclass(frozen=True)
class TopK:
    """Top-K lists of a range of rows, as flat arrays sorted by (row, rank); rank counts from 1."""

    row: np.ndarray
    rank: np.ndarray
    col: np.ndarray
    score: np.ndarray


@dataclass(frozen=True)
class Coverage:
    """Per row and per column: positive scores over all counterparts, and over the unseen ones only."""

    row_positive: np.ndarray
    row_positive_unseen: np.ndarray
    col_positive: np.ndarray
    col_positive_unseen: np.ndarray


@dataclass(frozen=True)
class _Block:
    start: int
    top: TopK | None
    row_positive: np.ndarray
    row_seen_positive: np.ndarray
    col_positive: np.ndarray
    col_seen_positive: np.ndarray


def block_rows_for(n_cols: int) -> int:
    return max(1, min(4096, _BLOCK_BYTES // (4 * max(n_cols, 1))))


def top_k_of(scores: np.ndarray, k: int, first_row: int = 0) -> TopK:
    """Exact top-k of each row of `scores` among entries > 0 (use -inf to exclude), ties by lower column index."""
    n_rows, n_cols = scores.shape
    if k <= 0 or n_cols == 0 or n_rows == 0:
        empty = np.empty(0, np.int32)
        return TopK(empty, empty, empty, np.empty(0, np.float32))
    if n_cols > 2 * k:
        # A lower bound of each row's k-th largest score: the k-th largest of its chunk maxima, which are k entries.
        chunks = min(n_cols, max(2 * k, _CHUNKS))
        edges = np.linspace(0, n_cols, chunks + 1).astype(np.intp)[:-1]
        maxima = np.maximum.reduceat(scores, edges, axis=1)
        bound = np.partition(maxima, chunks - k, axis=1)[:, chunks - k]
    else:
        bound = np.zeros(n_rows, np.float32)
    # score >= the smallest positive float32 is score > 0; one comparison does both tests
    threshold = np.maximum(bound, _SMALLEST_POSITIVE)[:, None]
    rows, cols = np.divmod(np.flatnonzero(scores >= threshold), n_cols)
    values = scores[rows, cols]
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    starts = np.searchsorted(rows, rows, side="left")
    rank = np.arange(rows.size) - starts
    keep = rank < k
    return TopK(
        row=(rows[keep] + first_row).astype(np.int32),
        rank=(rank[keep] + 1).astype(np.int32),
        col=cols[keep].astype(np.int32),
        score=values[keep].astype(np.float32),
    )


def _score_block(
    start: int,
    stop: int,
    row_factors: np.ndarray,
    col_factors: np.ndarray,
    seen: sp.csr_matrix,
    col_min_positive: float,
    top_k: int,
    include_seen: bool,
    epsilon: float,
) -> _Block:
    block = row_factors[start:stop]
    scores = block @ col_factors.T  # float32 BLAS
    n_cols = col_factors.shape[0]
    part = seen[start:stop]
    seen_rows = np.repeat(np.arange(stop - start), np.diff(part.indptr))
    seen_cols = part.indices

    if epsilon > 0:
        positive = (block.astype(np.float64) @ col_factors.T.astype(np.float64)) > epsilon
    else:
        positive = scores > 0
        # Rows whose smallest positive factor times the columns' could underflow float32: recount in float64.
        row_min = np.where(block > 0, block, np.inf).min(axis=1).astype(np.float64)
        suspect = np.nonzero((row_min * col_min_positive < _TINY) | (row_min < _TINY) | (col_min_positive < _TINY))[0]
        if suspect.size:
            positive[suspect] = (block[suspect].astype(np.float64) @ col_factors.T.astype(np.float64)) > 0
    seen_positive = positive[seen_rows, seen_cols]

    top = None
    if top_k > 0:
        if not include_seen:
            scores[seen_rows, seen_cols] = -np.inf
        top = top_k_of(scores, top_k, first_row=start)
    return _Block(
        start=start,
        top=top,
        row_positive=np.count_nonzero(positive, axis=1).astype(np.int32),
        row_seen_positive=np.bincount(seen_rows[seen_positive], minlength=stop - start).astype(np.int32),
        col_positive=np.count_nonzero(positive, axis=0).astype(np.int32),
        col_seen_positive=np.bincount(seen_cols[seen_positive], minlength=n_cols).astype(np.int32),
    )


def score_all(
    row_factors: np.ndarray,
    col_factors: np.ndarray,
    seen: sp.csr_matrix,
    *,
    top_k: int,
    include_seen: bool = False,
    epsilon: float = 0.0,
    on_top_k: Callable[[TopK], None] | None = None,
    threads: int = 2,
    block_rows: int | None = None,
) -> Coverage:
    """Score every row against every column in blocks; hand each block's top-K to `on_top_k` (in row order) and
    return the coverage counts. Memory is a few blocks of scores, whatever the number of rows."""
    row_factors = np.ascontiguousarray(row_factors, dtype=np.float32)
    col_factors = np.ascontiguousarray(col_factors, dtype=np.float32)
    n_rows, n_cols = row_factors.shape[0], col_factors.shape[0]
    if seen.shape != (n_rows, n_cols):
        raise ValueError(f"seen matrix has shape {seen.shape}, expected {(n_rows, n_cols)}")
    seen = sp.csr_matrix(seen)
    positive_cols = col_factors[col_factors > 0]
    col_min_positive = float(positive_cols.min()) if positive_cols.size else np.inf
    step = block_rows or block_rows_for(n_cols)
    row_positive = np.zeros(n_rows, np.int32)
    row_seen_positive = np.zeros(n_rows, np.int32)
    col_positive = np.zeros(n_cols, np.int64)
    col_seen_positive = np.zeros(n_cols, np.int64)

    def blocks() -> Iterator[_Block]:
        starts = range(0, n_rows, step)
        args = (row_factors, col_factors, seen, col_min_positive, top_k, include_seen, epsilon)
        with threadpool_limits(1), ThreadPoolExecutor(max_workers=threads) as pool:
            pending = []
            for start in starts:  # at most 2 blocks per thread in flight: memory stays bounded
                pending.append(pool.submit(_score_block, start, min(start + step, n_rows), *args))
                if len(pending) >= 2 * threads:
                    yield pending.pop(0).result()
            for future in pending:
                yield future.result()

    for block in blocks():
        stop = block.start + block.row_positive.size
        row_positive[block.start:stop] = block.row_positive
        row_seen_positive[block.start:stop] = block.row_seen_positive
        col_positive += block.col_positive
        col_seen_positive += block.col_seen_positive
        if on_top_k is not None and block.top is not None:
            on_top_k(block.top)
    return Coverage(
        row_positive=row_positive,
        row_positive_unseen=row_positive - row_seen_positive,
        col_positive=col_positive.astype(np.int32),
        col_positive_unseen=(col_positive - col_seen_positive).astype(np.int32),
    )
