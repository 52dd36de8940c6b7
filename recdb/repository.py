"""Data between DuckDB and numpy: interactions -> a scipy CSR matrix (Arrow record batches), factors -> tables (a
registered Arrow table and INSERT ... SELECT). No Python loop touches a row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from recdb.errors import InputError
from recdb.vocab import VOCABULARIES

AGGREGATES = ("sum", "max", "count", "binary")
ORIENTATIONS = ("user-item", "item-user")
BATCH_ROWS = 1 << 20
RANGES = 8  # row ranges a matrix build reads, one scan each: the memory beyond the CSR is for an eighth of the cells
MIN_RANGE_CELLS = 1 << 20


@dataclass(frozen=True)
class MatrixOptions:
    """How interactions become matrix cells. Duplicate (user, item) rows combine by `aggregate`; with
    `half_life_days` a weight halves for every that many days it is older than the newest interaction."""

    aggregate: str = "sum"
    half_life_days: float | None = None
    orientation: str = "user-item"

    def __post_init__(self):
        if self.aggregate not in AGGREGATES:
            raise InputError(f"unknown aggregate {self.aggregate!r}: use one of {', '.join(AGGREGATES)}")
        if self.orientation not in ORIENTATIONS:
            raise InputError(f"unknown orientation {self.orientation!r}: use one of {', '.join(ORIENTATIONS)}")
        if self.half_life_days is not None and not self.half_life_days > 0:
            raise InputError(f"--half-life-days must be positive, got {self.half_life_days}")


@dataclass(frozen=True)
class InteractionMatrix:
    """The fitted matrix: rows are users (user-item) or items (item-user), indices are user_idx/item_idx."""

    matrix: sp.csr_matrix
    n_users: int
    n_items: int
    data_batch_max: int | None
    orientation: str

    @property
    def user_item(self) -> sp.csr_matrix:
        """The matrix with users as rows, whatever the orientation it was fitted in (what each user has seen)."""
        return self.matrix if self.orientation == "user-item" else self.matrix.T.tocsr()


def _value_sql(options: MatrixOptions) -> str:
    if options.aggregate in ("count", "binary"):
        return "1.0"
    if options.half_life_days is None:
        return "weight"
    # interactions without a time are not decayed
    newest = "(SELECT max(occurred_at) FROM interactions WHERE batch_id <= $batch_max)"
    return f"weight * coalesce(pow(0.5, date_diff('second', occurred_at, {newest}) / 86400.0 / $half_life), 1.0)"


@dataclass(frozen=True)
class Subset:
    """Fit on part of the data: the pairs of evaluation `eval_id` in `parts`, and (time splits) only the rows
    before `before`."""

    eval_id: int
    parts: tuple[str, ...] = ("train",)
    before: datetime | None = None

    def where(self) -> tuple[str, dict]:
        sql = ("AND EXISTS (SELECT 1 FROM evaluation_splits AS s WHERE s.eval_id = $eval_id "
               "AND list_contains($parts, s.part) AND s.user_idx = interactions.user_idx "
               "AND s.item_idx = interactions.item_idx)")
        params = {"eval_id": self.eval_id, "parts": list(self.parts)}
        if self.before is not None:
            sql += " AND occurred_at < $before"
            params["before"] = self.before
        return sql, params


def read_interaction_matrix(
    con: duckdb.DuckDBPyConnection, options: MatrixOptions, batch_max: int | None = None,
    subset: Subset | None = None, range_cells: int | None = None,
) -> InteractionMatrix:
    """Stream interactions (those of batches up to `batch_max`, default all) into a float32 CSR matrix.

    Values are computed in SQL (decay; count/binary as 1) and combined in numpy. The rows are read in ranges
    of about `range_cells` raw cells each (default: an eighth of them, at least 2**20); a range's duplicates are combined
    and it is copied into the final arrays, so the memory beyond the CSR itself is bounded by a range's cells (about
    28 bytes each while it is converted), never by users x items.
    """
    if batch_max is None:
        batch_max = con.execute("SELECT max(batch_id) FROM interactions").fetchall()[0][0]
    _refuse_negative_weights(con)
    n_users, n_items = con.execute(
        "SELECT (SELECT coalesce(max(user_idx) + 1, 0) FROM users), (SELECT coalesce(max(item_idx) + 1, 0) FROM items)"
    ).fetchall()[0]
    user_item = options.orientation == "user-item"
    n_rows, n_cols = (n_users, n_items) if user_item else (n_items, n_users)
    where, subset_params = subset.where() if subset else ("", {})
    cells, params = _cells_sql(options, batch_max if batch_max is not None else -1, transpose=not user_item,
                               where=where)
    params.update(subset_params)

    ranges = _row_ranges(con, cells, params, n_rows, range_cells)
    builder = _CsrBuilder(n_rows, n_cols, sum(count for _, _, count in ranges), options.aggregate)
    for lo, end, count in ranges:
        builder.add(lo, end, *_read_cells(con, cells, params, lo, end, count))
    matrix = builder.finish()
    return InteractionMatrix(matrix, n_users, n_items, batch_max, options.orientation)


def _row_ranges(con: duckdb.DuckDBPyConnection, cells: str, params: dict, n_rows: int,
                range_cells: int | None) -> list[tuple[int, int, int]]:
    """Consecutive row ranges [lo, end) with their raw cell counts, each about `range_cells` cells (a range is never
    finer than one of at most 1024 buckets of rows), from one counting scan."""
    width = max(1, -(-n_rows // 1024))
    buckets = con.execute(
        f"SELECT r // $width AS bucket, count(*) FROM ({cells}) GROUP BY bucket ORDER BY bucket",
        {**params, "width": width},
    ).fetchall()
    target = range_cells or max(MIN_RANGE_CELLS, -(-sum(n for _, n in buckets) // RANGES))
    ranges: list[tuple[int, int, int]] = []
    lo, count = 0, 0
    for bucket, n in buckets:
        count += n
        if count >= target:
            hi = min(n_rows, (bucket + 1) * width)
            ranges.append((lo, hi, count))
            lo, count = hi, 0
    if count:
        ranges.append((lo, n_rows, count))
    return ranges


def _read_cells(con: duckdb.DuckDBPyConnection, cells: str, params: dict, lo: int, end: int,
                count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `count` raw cells of rows lo..end-1 (rows relative to lo), streamed in Arrow batches into numpy."""
    rows = np.empty(count, dtype=np.int32)
    cols = np.empty(count, dtype=np.int32)
    values = np.empty(count, dtype=np.float32)
    pos = 0
    reader = con.sql(f"SELECT CAST(r - $lo AS INTEGER) AS r, c, CAST(v AS FLOAT) AS v FROM ({cells}) "
                     "WHERE r >= $lo AND r < $end",
                     params={**params, "lo": lo, "end": end}).to_arrow_reader(BATCH_ROWS)
    for batch in reader:
        k = batch.num_rows
        rows[pos:pos + k] = _values(batch.column(0), np.int32)
        cols[pos:pos + k] = _values(batch.column(1), np.int32)
        values[pos:pos + k] = _values(batch.column(2), np.float32)
        pos += k
    assert pos == count, (pos, count)
    return rows, cols, values


def _canonical_csr(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int],
                   aggregate: str) -> sp.csr_matrix:
    """COO triplets -> CSR with columns sorted and duplicate cells combined by `aggregate` (values of count and binary
    are 1 already: count sums them, binary keeps 1).

    Two counting sorts (to CSC, then back) sort every row and leave duplicates adjacent, then one linear pass
    combines them: 35% faster than scipy's COO -> CSR, which sorts every row. The COO is declared canonical only so
    that scipy converts it without summing; the CSC -> CSR transposition is what sorts."""
    coo = sp.coo_matrix((values, (rows, cols)), shape=shape)
    coo.has_canonical_format = True
    matrix = coo.tocsc().tocsr()
    if aggregate != "max":
        matrix.sum_duplicates()  # scipy's, in place
        if aggregate == "binary":
            matrix.data[:] = 1.0
        return matrix
    indptr, indices = matrix.indptr, matrix.indices
    first = np.empty(indices.size, dtype=bool)  # the first of a run of equal cells
    if indices.size:
        np.not_equal(indices[1:], indices[:-1], out=first[1:])
        first[indptr[:-1][np.diff(indptr) > 0]] = True  # every row's first cell
    starts = np.flatnonzero(first)
    data = np.maximum.reduceat(matrix.data, starts) if starts.size else matrix.data
    cells_before = np.zeros(indices.size + 1, dtype=indptr.dtype)  # combined cells before each raw cell
    np.cumsum(first, out=cells_before[1:])
    combined = sp.csr_matrix((data, indices[starts], cells_before[indptr]), shape=shape, copy=False)
    combined.has_canonical_format = True
    return combined


class _CsrBuilder:
    """A CSR assembled from consecutive row ranges of raw cells: each range is made canonical (duplicates combined,
    columns sorted) and copied into the final arrays, sized by the raw cell count. np.empty maps pages lazily,
    so only the nnz entries written become resident, and finish() gives back the rest."""

    def __init__(self, n_rows: int, n_cols: int, n_cells: int, aggregate: str):
        self.shape, self.aggregate = (n_rows, n_cols), aggregate
        index_dtype = np.int32 if max(n_cells, n_cols) < 2**31 else np.int64
        self.indices = np.empty(n_cells, dtype=index_dtype)
        self.data = np.empty(n_cells, dtype=np.float32)
        self.indptr = np.zeros(n_rows + 1, dtype=index_dtype)
        self.nnz = self.end = 0

    def add(self, lo: int, end: int, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
        assert lo == self.end, (lo, self.end)
        part = _canonical_csr(rows, cols, values, (end - lo, self.shape[1]), self.aggregate)
        nnz = self.nnz + part.nnz
        self.indices[self.nnz:nnz] = part.indices
        self.data[self.nnz:nnz] = part.data
        self.indptr[lo + 1:end + 1] = part.indptr[1:]  # in this array's dtype (int64 past 2**31 cells), then shifted
        self.indptr[lo + 1:end + 1] += self.nnz
        self.nnz, self.end = nnz, end

    def finish(self) -> sp.csr_matrix:
        self.indptr[self.end + 1:] = self.nnz  # rows after the last one with a cell
        self.indices.resize(self.nnz, refcheck=False)
        self.data.resize(self.nnz, refcheck=False)
        matrix = sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape, copy=False)
        matrix.has_canonical_format = True  # every range was
        return matrix


def _cells_sql(options: MatrixOptions, batch_max: int, *, transpose: bool = False, where: str = "") -> tuple[str, dict]:
    """SQL for (r, c, v) matrix cells: r is user_idx (item_idx when transposed), v the cell's value before duplicates
    are combined. `where` is an extra condition written by recdb's own code."""
    row, col = ("item_idx", "user_idx") if transpose else ("user_idx", "item_idx")
    params: dict = {"batch_max": batch_max}
    if options.half_life_days is not None and options.aggregate not in ("count", "binary"):
        params["half_life"] = float(options.half_life_days)
    cells = (f"SELECT {row} AS r, {col} AS c, {_value_sql(options)} AS v FROM interactions "
             f"WHERE batch_id <= $batch_max {where}")
    return cells, params


def read_user_row(con: duckdb.DuckDBPyConnection, user_idx: int, options: MatrixOptions, n_items: int) -> sp.csr_matrix:
    """One user's row over items 0..n_items-1, from all of the user's interactions, valued as a fit would value it
    (for fold-in of a user newer than the run)."""
    cells, params = _cells_sql(options, 2**31 - 1, where="AND user_idx = $user AND item_idx < $n_items")
    found = con.execute(f"SELECT c, CAST(v AS FLOAT) FROM ({cells})", {**params, "user": user_idx,
                                                                        "n_items": n_items}).fetchnumpy()
    cols = np.asarray(found["c"], dtype=np.int32)
    values = np.asarray(found[list(found)[1]], dtype=np.float32)
    return _canonical_csr(np.zeros(cols.size, np.int32), cols, values, (1, n_items), options.aggregate)


def read_factors(con: duckdb.DuckDBPyConnection, run_id: int, entity: str, index: int | None = None) -> np.ndarray:
    """A run's factors for every index of `entity` (user or item), or only for `index`, as an
    (n, n_components) float32 array."""
    _, idx, _ = VOCABULARIES[entity]
    only = "" if index is None else f"AND {idx} = $index"
    params = {"run": run_id} if index is None else {"run": run_id, "index": index}
    table = con.sql(f"SELECT factors FROM {entity}_factors WHERE run_id = $run {only} ORDER BY {idx}",
                    params=params).to_arrow_table()
    column = table.column(0).combine_chunks()
    n = len(column)
    flat = _values(column.flatten(), np.float32)
    return flat.reshape(n, -1) if n else np.zeros((0, 0), np.float32)


def _values(array: pa.Array, dtype) -> np.ndarray:
    """A null-free primitive Arrow array as a numpy view of its buffer (pyarrow's to_numpy imports pandas: 0.2 s)."""
    assert array.null_count == 0 and array.type == pa.from_numpy_dtype(dtype), array.type
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * np.dtype(dtype).itemsize)


def _refuse_negative_weights(con: duckdb.DuckDBPyConnection) -> None:
    """Ingestion rejects them, but the table is the user's too: NMF must never see a negative or non-finite weight."""
    bad = con.execute(
        """
        SELECT count(*), any_value(u.user_id), any_value(i.item_id), any_value(x.batch_id)
        FROM interactions AS x JOIN users AS u USING (user_idx) JOIN items AS i USING (item_idx)
        WHERE NOT (x.weight >= 0 AND isfinite(x.weight))
        """
    ).fetchall()[0]
    if bad[0]:
        raise InputError(
            f"{bad[0]} interactions have a negative or non-finite weight (e.g. user {bad[1]!r}, item {bad[2]!r}, "
            f"batch {bad[3]}); NMF needs non-negative weights: fix or delete them before fitting"
        )


def write_factors(con: duckdb.DuckDBPyConnection, run_id: int, entity: str, factors: np.ndarray) -> int:
    """Insert one factor vector per entity index (row i of `factors` is index i) as float32 FLOAT[]."""
    _, idx, _ = VOCABULARIES[entity]
    values = np.ascontiguousarray(factors, dtype=np.float32)
    n, k = values.shape
    offsets = _arrow(np.arange(0, (n + 1) * k, k, dtype=np.int32))
    columns = {idx: np.arange(n, dtype=np.int32), "factors": pa.ListArray.from_arrays(offsets, _arrow(values.ravel()))}
    return insert_arrow(con, f"{entity}_factors", columns, run_id=run_id)


def insert_arrow(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, np.ndarray | pa.Array],
                 **constants) -> int:
    """Bulk insert: register the arrays as an Arrow table and INSERT ... SELECT, with `constants` (same in every row)
    as bound parameters. `table` and the names are recdb's own."""
    name = f"recdb_new_{table}"
    con.register(name, pa.table({column: _arrow(values) if isinstance(values, np.ndarray) and values.dtype.kind in "iuf"
                                 else values for column, values in columns.items()}))
    try:
        names = ", ".join([*columns, *constants])
        select = ", ".join([*columns, *(f"${constant}" for constant in constants)])
        return con.execute(f"INSERT INTO {table} ({names}) SELECT {select} FROM {name}", constants).fetchall()[0][0]
    finally:
        con.unregister(name)


def _arrow(values: np.ndarray) -> pa.Array:
    """A numeric numpy array as an Arrow array over the same memory (pa.array also works, but imports pandas: 0.2 s)."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


class TopKWriter:
    """Collects top-K blocks (scoring.TopK) and inserts them in chunks of about `chunk_rows` rows, so memory stays
    bounded by the chunk, not by the number of entities. `table` is recommendations or item_audiences."""

    _ENTITY_COLUMNS = {"recommendations": ("user_idx", "item_idx"), "item_audiences": ("item_idx", "user_idx")}

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str, run_id: int, chunk_rows: int = 1 << 20):
        self.con, self.table, self.run_id, self.chunk_rows = con, table, run_id, chunk_rows
        self.row_col, self.col_col = self._ENTITY_COLUMNS[table]
        self.pending: list = []
        self.pending_rows = 0
        self.written = 0

    def __call__(self, top) -> None:
        self.pending.append(top)
        self.pending_rows += top.row.size
        if self.pending_rows >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        if not self.pending_rows:
            self.pending.clear()
            return
        def join(field: str) -> np.ndarray:
            return np.concatenate([getattr(top, field) for top in self.pending])

        self.written += insert_arrow(self.con, self.table, {
            self.row_col: join("row"),
            "rank": join("rank"),
            self.col_col: join("col"),
            "score": join("score"),
        }, run_id=self.run_id)
        self.pending.clear()
        self.pending_rows = 0


def write_coverage(con: duckdb.DuckDBPyConnection, run_id: int, axis: str, n_interactions: np.ndarray,
                   predict_num: np.ndarray, predict_num_unseen: np.ndarray) -> int:
    n = n_interactions.size
    return insert_arrow(con, "coverage", {
        "entity_idx": np.arange(n, dtype=np.int32),
        "n_interactions": n_interactions.astype(np.int32),
        "predict_num": predict_num.astype(np.int32),
        "predict_num_unseen": predict_num_unseen.astype(np.int32),
    }, run_id=run_id, axis=axis)
