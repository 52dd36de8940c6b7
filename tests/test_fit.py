from __future__ import annotations

import json
import os
from collections import defaultdict

import numpy as np
import pytest
from conftest import SMALL, stored_factors
from sklearn.decomposition import NMF

from recdb import pipeline, repository, runs
from recdb.errors import InputError
from recdb.ingest import ColumnMap, IngestOptions, ingest_files
from recdb.model import NMFParams
from recdb.repository import MatrixOptions, read_interaction_matrix


def naive_matrix(con, options: MatrixOptions) -> np.ndarray:
    """The same matrix built the plain way: every row through Python."""
    n_users = con.execute("SELECT count(*) FROM users").fetchall()[0][0]
    n_items = con.execute("SELECT count(*) FROM items").fetchall()[0][0]
    rows = con.execute("SELECT user_idx, item_idx, weight, epoch(occurred_at) FROM interactions").fetchall()
    newest = max(r[3] for r in rows)
    cells = defaultdict(list)
    for u, i, w, t in rows:
        if options.half_life_days:
            w *= 0.5 ** ((newest - t) / 86400 / options.half_life_days)
        cells[(u, i)].append(w)
    combine = {"sum": sum, "max": max, "count": len, "binary": lambda ws: 1.0}[options.aggregate]
    dense = np.zeros((n_users, n_items))
    for (u, i), ws in cells.items():
        dense[u, i] = combine(ws)
    return dense if options.orientation == "user-item" else dense.T


@pytest.mark.parametrize("aggregate", ["sum", "max", "count", "binary"])
@pytest.mark.parametrize("half_life_days", [None, 30.0])
@pytest.mark.parametrize("orientation", ["user-item", "item-user"])
@pytest.mark.parametrize("range_cells", [None, 7])
def test_csr_equals_the_naive_matrix(loaded, aggregate, half_life_days, orientation, range_cells):
    """range_cells=7 reads the rows in many ranges, as a large table is read."""
    options = MatrixOptions(aggregate=aggregate, half_life_days=half_life_days, orientation=orientation)
    data = read_interaction_matrix(loaded, options, range_cells=range_cells)
    m = data.matrix
    assert m.dtype == np.float32
    np.testing.assert_allclose(m.toarray(), naive_matrix(loaded, options), rtol=1e-5)
    # canonical, as it claims: columns strictly increasing within every row
    row_of = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    same_row = row_of[1:] == row_of[:-1]
    assert m.has_canonical_format and np.all(np.diff(m.indices)[same_row] > 0)
    assert data.data_batch_max == 2


@pytest.mark.parametrize("aggregate, expected", [("max", [[3, 0], [2, 0], [5, 1]]), ("sum", [[4, 0], [2, 0], [5, 1]]),
                                                 ("count", [[2, 0], [1, 0], [1, 1]])])
def test_duplicates_combine_within_a_row_never_across_rows(con, write, aggregate, expected):
    """Every user has item x: those cells sit side by side in the CSR, one row each, and must stay apart."""
    csv = "user_id,item_id,w\nu1,x,1\nu1,x,3\nu2,x,2\nu3,y,1\nu3,x,5\n"
    ingest_files(con, [str(write("m.csv", csv))], IngestOptions(columns=ColumnMap(weight="w")))
    users = dict(con.execute("SELECT user_id, user_idx FROM users").fetchall())
    items = dict(con.execute("SELECT item_id, item_idx FROM items").fetchall())
    dense = read_interaction_matrix(con, MatrixOptions(aggregate=aggregate)).matrix.toarray()
    got = [[dense[users[u], items[i]] for i in ("x", "y")] for u in ("u1", "u2", "u3")]
    assert got == expected


@pytest.mark.parametrize("orientation", ["user-item", "item-user"])
def test_fit_reproduces_sklearn_on_the_same_matrix(loaded, orientation):
    options = MatrixOptions(orientation=orientation)
    report = pipeline.fit_run(loaded, SMALL, options)
    matrix = read_interaction_matrix(loaded, options).matrix
    direct = NMF(n_components=4, init="random", random_state=0, max_iter=200)
    w = direct.fit_transform(matrix)
    h = direct.components_
    users, items = (w, h.T) if orientation == "user-item" else (h.T, w)
    np.testing.assert_allclose(stored_factors(loaded, report.run.run_id, "user"), users, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(stored_factors(loaded, report.run.run_id, "item"), items, rtol=1e-6, atol=1e-7)
    assert report.run.reconstruction_err == pytest.approx(direct.reconstruction_err_, rel=1e-6)
    assert report.run.n_iter == direct.n_iter_
    assert (report.run.n_users, report.run.n_items, report.run.nnz) == (30, 20, matrix.nnz)


def test_both_orientations_give_matching_factors(loaded):
    """Item-user NMF is user-item NMF transposed: W and H swap roles, the predictions agree."""
    a = pipeline.fit_run(loaded, SMALL, MatrixOptions(orientation="user-item")).run.run_id
    b = pipeline.fit_run(loaded, SMALL, MatrixOptions(orientation="item-user")).run.run_id
    pred = {r: stored_factors(loaded, r, "user") @ stored_factors(loaded, r, "item").T for r in (a, b)}
    matrix = read_interaction_matrix(loaded, MatrixOptions()).matrix.toarray()
    for r in (a, b):  # both reconstruct the same matrix about equally well
        assert np.linalg.norm(matrix - pred[r]) == pytest.approx(np.linalg.norm(matrix - pred[a]), rel=0.1)


def test_views_show_the_active_run_with_external_ids(loaded):
    run = pipeline.fit_run(loaded, SMALL).run
    assert run.active and run.status == "succeeded"
    wide = dict(loaded.execute("SELECT user_id, factors FROM v_user_factors").fetchall())
    assert len(wide) == 30
    long = loaded.execute("SELECT user_id, component, value FROM v_user_factors_long").fetchall()
    assert len(long) == 30 * 4
    assert all(value == pytest.approx(wide[user][component]) for user, component, value in long)
    assert loaded.execute("SELECT count(*) FROM v_item_factors_long").fetchall() == [(20 * 4,)]


def test_convergence_warning_is_recorded(loaded):
    run = pipeline.fit_run(loaded, NMFParams(n_components=4, max_iter=2)).run
    assert run.converged is False and "Maximum number of iterations 2 reached" in run.warnings


def test_no_activate_and_failed_fits_keep_the_active_run(loaded, monkeypatch):
    first = pipeline.fit_run(loaded, SMALL).run.run_id
    before = loaded.execute("SELECT * FROM v_user_factors ORDER BY user_id").fetchall()

    second = pipeline.fit_run(loaded, NMFParams(n_components=3, max_iter=50), activate=False).run
    assert not second.active and runs.active_run_id(loaded) == first

    with pytest.raises(InputError, match="does not handle beta_loss"):
        pipeline.fit_run(loaded, NMFParams(beta_loss="kullback-leibler"))

    real_write = repository.write_factors

    def fail_on_items(con, run_id, entity, factors):
        if entity == "item":
            raise RuntimeError("disk full")
        return real_write(con, run_id, entity, factors)

    monkeypatch.setattr(repository, "write_factors", fail_on_items)
    with pytest.raises(RuntimeError, match="disk full"):
        pipeline.fit_run(loaded, SMALL)

    assert runs.active_run_id(loaded) == first
    assert loaded.execute("SELECT * FROM v_user_factors ORDER BY user_id").fetchall() == before
    failed = [r for r in runs.list_runs(loaded) if r.status == "failed"]
    assert [r.error for r in failed][1] == "disk full"
    # the failed run's user factors, written before the failure, were rolled back
    assert loaded.execute("SELECT count(*) FROM user_factors WHERE run_id = ?", [failed[1].run_id]).fetchall() == [(0,)]


def test_negative_weights_are_refused_before_fitting(loaded):
    loaded.execute("UPDATE interactions SET weight = -1 WHERE rowid = (SELECT min(rowid) FROM interactions)")
    with pytest.raises(InputError, match="1 interactions have a negative or non-finite weight .* NMF needs non-negative"):
        pipeline.fit_run(loaded, SMALL)


def test_delete_refuses_the_active_run_and_cleans_stale_ones(loaded):
    active = pipeline.fit_run(loaded, SMALL).run.run_id
    with pytest.raises(InputError, match="is the active run"):
        runs.delete_run(loaded, active)
    # a fit killed mid-way leaves a running row of a process that is gone
    stale = loaded.execute(
        "INSERT INTO model_runs (status, params, started_at, pid) VALUES ('running', '{}', now(), ?) RETURNING run_id",
        [os.getpid() + 1],
    ).fetchall()[0][0]
    assert runs.get_run(loaded, stale).state == "stale"
    with pytest.raises(InputError, match="only a succeeded run can be activated"):
        runs.activate(loaded, stale)
    runs.delete_run(loaded, stale)
    other = pipeline.fit_run(loaded, SMALL, activate=False).run.run_id
    runs.delete_run(loaded, other)
    assert [r.run_id for r in runs.list_runs(loaded)] == [active]
    assert loaded.execute("SELECT DISTINCT run_id FROM item_factors").fetchall() == [(active,)]


def test_fit_cli(cli, loaded):
    result = cli("fit", "--n-components", "3", "--max-iter", "5", "--alpha-W", "0.01", "--alpha-H", "same")
    assert result.exit_code == 0, result.output
    assert "run 1 succeeded and active" in result.stdout
    assert "Maximum number of iterations 5 reached" in result.stderr
    assert "*" in cli("runs", "list").stdout
    assert '"alpha_W": 0.01' in cli("runs", "show", "1").stdout
    assert cli("runs", "delete", "1").exit_code == 2
    assert cli("fit", "--init", "bogus").exit_code == 2


def test_fit_cli_passes_every_model_option_under_its_name(cli, loaded):
    result = cli("fit", "--n-components", "3", "--init", "nndsvda", "--solver", "mu", "--beta-loss", "kullback-leibler",
                 "--max-iter", "7", "--tol", "0.001", "--alpha-W", "0.01", "--alpha-H", "0.5", "--l1-ratio", "0.25",
                 "--random-state", "3", "--aggregate", "count", "--half-life-days", "30", "--orientation", "item-user")
    assert result.exit_code == 0, result.output
    params = json.loads(loaded.execute("SELECT params FROM model_runs WHERE run_id = 1").fetchall()[0][0])
    assert params["model"] == {"n_components": 3, "init": "nndsvda", "solver": "mu", "beta_loss": "kullback-leibler",
                               "max_iter": 7, "tol": 0.001, "alpha_W": 0.01, "alpha_H": 0.5, "l1_ratio": 0.25,
                               "random_state": 3}
    assert params["matrix"] == {"aggregate": "count", "half_life_days": 30.0, "orientation": "item-user"}
