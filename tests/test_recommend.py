from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SMALL
from sklearn.decomposition import NMF

from recdb import pipeline, recommend, repository, runs
from recdb.errors import InputError
from recdb.ingest import IngestOptions, ingest_files
from recdb.repository import MatrixOptions, read_interaction_matrix


@pytest.fixture
def tied_run(loaded):
    """A published run whose factors are multiples of 1/4 (exact scores, many ties) and with duplicated items."""
    data = read_interaction_matrix(loaded, MatrixOptions())
    rng = np.random.default_rng(3)
    users = (np.round(rng.random((data.n_users, 3)) * 4) / 4).astype(np.float32)
    items = (np.round(rng.random((data.n_items, 3)) * 4) / 4).astype(np.float32)
    items[5] = items[2]  # identical vectors: a tie in every score and a cosine of 1
    items[9] = 0  # an item nobody can be recommended
    run_id = runs.start_run(loaded, {"model": {}, "matrix": {}, "publish": {"top_k": 8}}, {})
    repository.write_factors(loaded, run_id, "user", users)
    repository.write_factors(loaded, run_id, "item", items)
    pipeline._publish_scores(loaded, run_id, users, items, data.matrix, pipeline.PublishOptions(top_k=8), print)
    runs.finish_run(loaded, run_id, n_users=data.n_users, n_items=data.n_items, data_batch_max=data.data_batch_max)
    runs.set_active(loaded, run_id)
    return loaded, users, items, data.matrix.toarray() != 0


def test_sql_recommend_macro_equals_python_with_ties(tied_run):
    con, users, items, seen = tied_run
    for user_id, user_idx in con.execute("SELECT user_id, user_idx FROM users").fetchall():
        python = [(r.rank, r.item_id, r.score) for r in recommend.recommend_user(con, user_id, 8)]
        sql = con.execute("SELECT rank, item_id, score FROM recommend(?, 8)", [user_id]).fetchall()
        assert sql == python
        # and both are the brute-force answer
        scores = items @ users[user_idx]
        scores[seen[user_idx]] = -np.inf
        order = [i for i in np.lexsort((np.arange(scores.size), -scores)) if scores[i] > 0][:8]
        ids = dict(con.execute("SELECT item_idx, item_id FROM items").fetchall())
        assert [item for _, item, _ in python] == [ids[i] for i in order]


def test_sql_similar_items_macro_equals_python(tied_run):
    con, *_ = tied_run
    for (item_id,) in con.execute("SELECT item_id FROM items").fetchall():
        python = recommend.similar_items(con, item_id, 5)
        sql = con.execute("SELECT rank, item_id, similarity FROM similar_items(?, 5)", [item_id]).fetchall()
        assert [(r, i) for r, i, _ in sql] == [(r, i) for r, i, _ in python]
        assert [s for *_, s in sql] == pytest.approx([s for *_, s in python], rel=1e-5)
    twin = dict(con.execute("SELECT item_idx, item_id FROM items WHERE item_idx IN (2, 5)").fetchall())
    assert recommend.similar_items(con, twin[2], 1)[0][1:] == (twin[5], pytest.approx(1.0))
    assert recommend.similar_items(con, con.execute("SELECT item_id FROM items WHERE item_idx = 9").fetchall()[0][0],
                                   5) == []


def test_fold_in_equals_nmf_transform_for_a_user_newer_than_the_run(loaded, write):
    run = pipeline.fit_run(loaded, SMALL).run
    matrix = read_interaction_matrix(loaded, MatrixOptions()).matrix  # what the run was fitted on
    ingest_files(loaded, [str(write("new.csv", "user_id,item_id\nnewcomer,i1\nnewcomer,i4\nnewcomer,i4\n"))],
                 IngestOptions())
    found = recommend.recommend_user(loaded, "newcomer", 5)
    assert found and {r.source for r in found} == {"fold-in"}
    assert not {"i1", "i4"} & {r.item_id for r in found}

    direct = NMF(n_components=4, init="random", random_state=0, max_iter=200).fit(matrix)
    user_idx = loaded.execute("SELECT user_idx FROM users WHERE user_id = 'newcomer'").fetchall()[0][0]
    row = repository.read_user_row(loaded, user_idx, MatrixOptions(), run.n_items)
    i1, i4 = (loaded.execute("SELECT item_idx FROM items WHERE item_id = ?", [i]).fetchall()[0][0] for i in ("i1", "i4"))
    assert row.toarray()[0][[i1, i4]].tolist() == [1.0, 2.0] and row.nnz == 2  # as a fit would weigh them
    expected = direct.transform(row)[0]
    ours = recommend.fold_in(row, repository.read_factors(loaded, run.run_id, "item"), SMALL)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6)


def test_users_without_interactions_and_the_popular_fallback(loaded):
    pipeline.fit_run(loaded, SMALL)
    with pytest.raises(recommend.NoInteractions, match="--fallback popular"):
        recommend.recommend_user(loaded, "stranger", 5)
    popular = recommend.recommend_user(loaded, "stranger", 3, fallback="popular")
    expected = loaded.execute(
        "SELECT item_id FROM v_interactions GROUP BY item_id ORDER BY count(DISTINCT user_id) DESC, "
        "min((SELECT item_idx FROM items i WHERE i.item_id = v_interactions.item_id)) LIMIT 3").fetchall()
    assert [(r.item_id,) for r in popular] == expected and {r.source for r in popular} == {"popular"}


def test_more_than_stored_is_scored_from_the_factors(loaded):
    pipeline.fit_run(loaded, SMALL, publish=pipeline.PublishOptions(top_k=3))
    stored = recommend.recommend_user(loaded, "u1", 3)
    more = recommend.recommend_user(loaded, "u1", 10)
    assert [r.item_id for r in more[:3]] == [r.item_id for r in stored]
    assert len(more) > 3


def test_recommend_and_similar_cli(cli, loaded):
    assert cli("recommend", "u1").exit_code == 2  # no run yet
    cli("fit", "--n-components", "4", "--max-iter", "100")
    result = cli("recommend", "u1", "-k", "3", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["rank"] for r in rows] == [1, 2, 3] and {"item_id", "score"} <= set(rows[0])
    assert cli("recommend", "--items", "i1,i2", "--format", "csv").stdout.startswith("rank,item_id,score,source")
    missing = cli("recommend", "nobody")
    assert missing.exit_code == 2 and "--fallback popular" in missing.stderr
    assert "popular" in cli("recommend", "nobody", "--fallback", "popular").stdout
    assert cli("similar", "i1", "-k", "2").exit_code == 0
    assert cli("similar", "no-such-item").exit_code == 2


def test_resolve_refuses_without_an_active_run(loaded):
    with pytest.raises(InputError, match="no active run"):
        runs.resolve(loaded, None)
