"""Recommendations on demand: a user's stored top-K, fold-in for users newer than the run, an ad hoc list of items,
the popular-items fallback, and similar items by cosine of the item factors."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import scipy.sparse as sp

from recdb import repository, runs
from recdb.errors import InputError
from recdb.model import NMFParams
from recdb.repository import MatrixOptions
from recdb.scoring import top_k_of

SOURCES = ("model", "fold-in", "popular")


@dataclass(frozen=True)
class Recommendation:
    rank: int
    item_id: str
    score: float
    source: str  # model (the run's stored factors), fold-in (factors solved now), popular (fallback)


class NoInteractions(InputError):
    """The user has nothing the model can work from."""


def _idx(con, entity: str, external_id: str) -> int | None:
    table, idx, id_col = repository.VOCABULARIES[entity]
    rows = con.execute(f"SELECT {idx} FROM {table} WHERE {id_col} = ?", [external_id]).fetchall()
    return rows[0][0] if rows else None


def _item_ids(con, item_idx: np.ndarray) -> list[str]:
    if item_idx.size == 0:
        return []
    rows = dict(con.execute("SELECT item_idx, item_id FROM items WHERE list_contains(?, item_idx)",
                            [item_idx.tolist()]).fetchall())
    return [rows[i] for i in item_idx.tolist()]


def _ranked(con, cols: np.ndarray, scores: np.ndarray, source: str) -> list[Recommendation]:
    return [Recommendation(rank, item_id, float(score), source)
            for rank, (item_id, score) in enumerate(zip(_item_ids(con, cols), scores, strict=True), start=1)]


def fold_in(row: sp.csr_matrix, item_factors: np.ndarray, params: NMFParams) -> np.ndarray:
    """Solve one row's factors with the item factors fixed: scikit-learn's NMF.transform, as the seed does."""
    estimator = params.estimator()
    # float32 like the fit itself (the matrix and the stored factors), so this is the fitted model's transform
    estimator.components_ = np.ascontiguousarray(item_factors.T, dtype=np.float32)
    estimator.n_components_ = item_factors.shape[1]
    estimator.n_features_in_ = item_factors.shape[0]
    return estimator.transform(row.astype(np.float32))[0].astype(np.float32)


def _score_row(user_vector: np.ndarray, item_factors: np.ndarray, exclude: np.ndarray, k: int):
    scores = (item_factors @ user_vector)[None, :].astype(np.float32)
    scores[0, exclude] = -np.inf
    top = top_k_of(scores, k)
    return top.col, top.score


def recommend_user(con: duckdb.DuckDBPyConnection, user_id: str, k: int = 10, run_id: int | None = None,
                   fallback: str | None = None) -> list[Recommendation]:
    """Top-k items for a user: from the run's tables for a user the run knows, by fold-in for a user with
    interactions who is newer than the run; otherwise NoInteractions, or the popular items with `fallback`."""
    run = runs.resolve(con, run_id)
    user_idx = _idx(con, "user", user_id)
    stored_k = run.params.get("publish", {}).get("top_k", 0)
    if user_idx is not None and user_idx < run.n_users and k <= stored_k:
        rows = con.execute(
            "SELECT r.rank, i.item_id, r.score FROM recommendations AS r JOIN items AS i USING (item_idx) "
            "WHERE r.run_id = ? AND r.user_idx = ? AND r.rank <= ? ORDER BY r.rank",
            [run.run_id, user_idx, k],
        ).fetchall()
        return [Recommendation(rank, item, float(score), "model") for rank, item, score in rows]
    options = MatrixOptions(**run.params.get("matrix", {}))
    item_factors = repository.read_factors(con, run.run_id, "item")
    row = (repository.read_user_row(con, user_idx, options, run.n_items) if user_idx is not None
           else sp.csr_matrix((1, run.n_items), dtype=np.float32))
    if user_idx is not None and user_idx < run.n_users:  # a user of the run, asked for more than was stored
        seen = row.indices if not run.params.get("publish", {}).get("include_seen") else np.empty(0, np.int32)
        vector = repository.read_factors(con, run.run_id, "user", index=user_idx)[0]
        return _ranked(con, *_score_row(vector, item_factors, seen, k), "model")
    if row.nnz:
        vector = fold_in(row, item_factors, NMFParams(**run.params["model"]))
        return _ranked(con, *_score_row(vector, item_factors, row.indices, k), "fold-in")
    if fallback == "popular":
        return popular_items(con, k, exclude_user=user_idx)
    raise NoInteractions(f"user {user_id!r} has no interactions, so the model has nothing to go on; "
                         "`--fallback popular` returns the most popular items instead")


def recommend_items(con: duckdb.DuckDBPyConnection, item_ids: list[str], k: int = 10,
                    run_id: int | None = None) -> list[Recommendation]:
    """Top-k items for an ad hoc profile (a basket, a session): fold in the listed items, leave them out."""
    run = runs.resolve(con, run_id)
    known = [i for i in (_idx(con, "item", item) for item in item_ids) if i is not None and i < run.n_items]
    if not known:
        raise NoInteractions(f"none of the items {', '.join(item_ids)} is known to run {run.run_id}")
    cols = np.unique(np.array(known, dtype=np.int32))
    row = sp.csr_matrix((np.ones(cols.size, np.float32), (np.zeros(cols.size, np.int32), cols)),
                        shape=(1, run.n_items))
    item_factors = repository.read_factors(con, run.run_id, "item")
    vector = fold_in(row, item_factors, NMFParams(**run.params["model"]))
    return _ranked(con, *_score_row(vector, item_factors, cols, k), "fold-in")


def popular_items(con: duckdb.DuckDBPyConnection, k: int, exclude_user: int | None = None) -> list[Recommendation]:
    """The items with the most distinct users, leaving out the user's own; score = number of users."""
    rows = con.execute(
        """
        SELECT i.item_id, count(DISTINCT x.user_idx) AS users FROM interactions AS x JOIN items AS i USING (item_idx)
        WHERE x.item_idx NOT IN (SELECT item_idx FROM interactions WHERE user_idx = $user)
        GROUP BY x.item_idx, i.item_id ORDER BY users DESC, x.item_idx LIMIT $k
        """,
        {"user": -1 if exclude_user is None else exclude_user, "k": k},
    ).fetchall()
    return [Recommendation(rank, item, float(users), "popular") for rank, (item, users) in enumerate(rows, start=1)]


def similar_items(con: duckdb.DuckDBPyConnection, item_id: str, k: int = 10,
                  run_id: int | None = None) -> list[tuple[int, str, float]]:
    """Items by cosine similarity of their factors to `item_id`'s (itself left out, similarity 0 never listed)."""
    run = runs.resolve(con, run_id)
    item_idx = _idx(con, "item", item_id)
    if item_idx is None or item_idx >= run.n_items:
        raise InputError(f"item {item_id!r} is not known to run {run.run_id}")
    factors = repository.read_factors(con, run.run_id, "item").astype(np.float64)
    norms = np.linalg.norm(factors, axis=1)
    if norms[item_idx] == 0:
        return []
    with np.errstate(invalid="ignore", divide="ignore"):
        similarity = np.where(norms > 0, factors @ factors[item_idx] / (norms * norms[item_idx]), 0.0)
    # float64, then rounded to float32 as the SQL macro does: parallel vectors tie at exactly 1 in both
    similarity = similarity.astype(np.float32)
    similarity[item_idx] = -np.inf
    top = top_k_of(similarity[None, :], k)
    return [(rank, item, float(score))
            for rank, item, score in zip(top.rank.tolist(), _item_ids(con, top.col), top.score, strict=True)]
