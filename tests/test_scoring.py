from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from recdb.scoring import score_all


def random_case(seed: int, n_rows: int, n_cols: int, k: int = 4):
    """Sparse non-negative factors with planted all-zero rows and columns. Values are multiples of 1/4, so every
    score is exact in float32 whatever the summation order, and equal scores (there are many) are true ties."""
    rng = np.random.default_rng(seed)
    rows = (np.round(rng.random((n_rows, k)) * 4) / 4 * (rng.random((n_rows, k)) < 0.5)).astype(np.float32)
    cols = (np.round(rng.random((n_cols, k)) * 4) / 4 * (rng.random((n_cols, k)) < 0.5)).astype(np.float32)
    rows[:: max(n_rows // 3, 1)] = 0
    cols[:: max(n_cols // 4, 1)] = 0
    seen = sp.random(n_rows, n_cols, density=0.15, random_state=seed, format="csr", dtype=np.float32)
    seen.data[:] = 1
    return rows, cols, seen


def dense_top_k(scores: np.ndarray, k: int) -> list[tuple[int, int, int]]:
    """Brute force: every row fully sorted by (-score, column), zero and excluded scores dropped."""
    out = []
    for r, row in enumerate(scores):
        order = np.lexsort((np.arange(row.size), -row))
        out += [(r, rank, int(c)) for rank, c in enumerate([c for c in order if row[c] > 0][:k], start=1)]
    return out


def collect(**kwargs):
    got = []
    counts = score_all(on_top_k=lambda t: got.extend(zip(t.row.tolist(), t.rank.tolist(), t.col.tolist())), **kwargs)
    return got, counts


@pytest.mark.parametrize("seed", range(12))
def test_blocked_top_k_equals_dense_top_k(seed):
    rng = np.random.default_rng(100 + seed)
    n_rows, n_cols, top = int(rng.integers(1, 80)), int(rng.integers(1, 400)), int(rng.integers(1, 15))
    rows, cols, seen = random_case(seed, n_rows, n_cols)
    got, _ = collect(row_factors=rows, col_factors=cols, seen=seen, top_k=top, block_rows=int(rng.integers(1, 9)))
    scores = rows @ cols.T
    scores[seen.toarray() > 0] = -np.inf
    assert got == dense_top_k(scores, top)
    seen_pairs = set(zip(*seen.nonzero()))
    assert not any((r, c) in seen_pairs for r, _, c in got)


def test_include_seen_keeps_seen_items():
    rows, cols, seen = random_case(3, 30, 200)
    got, _ = collect(row_factors=rows, col_factors=cols, seen=seen, top_k=10, include_seen=True)
    assert got == dense_top_k(rows @ cols.T, 10)


@pytest.mark.parametrize("seed", range(6))
def test_coverage_counts_equal_dense_float64(seed):
    rows, cols, seen = random_case(seed, 57, 301, k=6)
    # products that underflow float32 but not float64
    rows[1] = 0
    rows[1, 0] = 1e-30
    cols[2] = 0
    cols[2, 0] = 1e-30
    _, counts = collect(row_factors=rows, col_factors=cols, seen=seen, top_k=5, block_rows=7)
    positive = rows.astype(np.float64) @ cols.T.astype(np.float64) > 0
    assert (rows @ cols.T)[1, 2] == 0 and positive[1, 2]  # the case float32 alone would miss
    unseen = positive & ~(seen.toarray() > 0)
    np.testing.assert_array_equal(counts.row_positive, positive.sum(axis=1))
    np.testing.assert_array_equal(counts.col_positive, positive.sum(axis=0))
    np.testing.assert_array_equal(counts.row_positive_unseen, unseen.sum(axis=1))
    np.testing.assert_array_equal(counts.col_positive_unseen, unseen.sum(axis=0))
    assert counts.row_positive[0] == 0  # planted all-zero factor row


def test_coverage_with_epsilon_uses_float64_values():
    rows, cols, seen = random_case(9, 40, 120, k=5)
    _, counts = collect(row_factors=rows, col_factors=cols, seen=seen, top_k=0, epsilon=0.05)
    above = rows.astype(np.float64) @ cols.T.astype(np.float64) > 0.05
    np.testing.assert_array_equal(counts.row_positive, above.sum(axis=1))
    np.testing.assert_array_equal(counts.col_positive, above.sum(axis=0))


def test_memory_does_not_grow_with_the_number_of_rows():
    rng = np.random.default_rng(0)
    cols = rng.random((2000, 16), dtype=np.float32)

    def peak(n_rows: int) -> int:
        rows = rng.random((n_rows, 16), dtype=np.float32)
        seen = sp.csr_matrix((n_rows, 2000), dtype=np.float32)
        tracemalloc.start()
        score_all(rows, cols, seen, top_k=10, on_top_k=lambda t: None, block_rows=64)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top - 4 * 3 * n_rows  # minus the per-row count arrays the result carries

    small, large = peak(2_000), peak(40_000)
    assert large < small * 1.5, (small, large)
