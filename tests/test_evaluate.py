from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest

from recdb import evaluate, repository, runs
from recdb.evaluate import Candidate, SplitOptions
from recdb.ingest import ColumnMap, IngestOptions, ingest_files
from recdb.model import NMFParams
from recdb.repository import MatrixOptions, Subset, read_interaction_matrix


def test_metrics_against_a_hand_worked_example(con, write):
    """Two users, five items. u0 holds out items 1 and 3, u1 holds out item 4; lists of length 3."""
    ingest_files(con, [str(write("a.csv", "user_id,item_id\na,x\nb,x\n"))], IngestOptions())  # users/items exist
    eval_id = evaluate.new_eval_id(con)
    split = [(0, 0, "train"), (0, 1, "test"), (0, 3, "test"), (1, 0, "train"), (1, 2, "train"), (1, 4, "test")]
    repository.insert_arrow(con, "evaluation_splits", {
        "eval_id": np.full(len(split), eval_id, dtype=np.int32), "user_idx": np.array([s[0] for s in split], np.int32),
        "item_idx": np.array([s[1] for s in split], np.int32), "part": np.array([s[2] for s in split])})
    con.execute(f"CREATE TEMP TABLE {evaluate.LISTS} (model VARCHAR, user_idx INTEGER, rank INTEGER, item_idx INTEGER)")
    # u0's list: 3 (hit), 2, 1 (hit); u1's list: 2 (train-seen in real use; here just a miss), 3, 1: no hit
    lists = [(0, 1, 3), (0, 2, 2), (0, 3, 1), (1, 1, 2), (1, 2, 3), (1, 3, 1)]
    repository.insert_arrow(con, evaluate.LISTS, {
        "model": np.full(len(lists), "nmf"), "user_idx": np.array([r[0] for r in lists], np.int32),
        "rank": np.array([r[1] for r in lists], np.int32), "item_idx": np.array([r[2] for r in lists], np.int32)})
    got = {(m, metric): v for m, k, metric, v in evaluate.score_lists(con, eval_id, [3], n_items=5, models=("nmf",))}

    dcg0 = 1 / math.log2(2) + 1 / math.log2(4)
    idcg0 = 1 / math.log2(2) + 1 / math.log2(3)
    expected = {
        "precision": (2 / 3 + 0) / 2,
        "recall": (2 / 2 + 0) / 2,
        "ndcg": (dcg0 / idcg0 + 0) / 2,
        "map": ((1 / 1 + 2 / 3) / 2 + 0) / 2,
        "mrr": (1 / 1 + 0) / 2,
        "hit_rate": (1 + 0) / 2,
        "catalog_coverage": 3 / 5,  # items 1, 2, 3
        # train users: 2; item 1 has 0 train users, 2 has 1, 3 has 0: -log2((n + 1) / 3) averaged over 6 entries
        "novelty": np.mean([-math.log2((n + 1) / 3) for n in (0, 1, 0, 1, 0, 0)]),
    }
    for metric, value in expected.items():
        assert got[("nmf", metric)] == pytest.approx(value), metric
    per_user = con.execute("SELECT user_idx, value FROM evaluation_users WHERE metric = 'ndcg' ORDER BY 1").fetchall()
    assert per_user == [(0, pytest.approx(dcg0 / idcg0)), (1, 0.0)]


@pytest.fixture
def timed(con, write):
    """30 users with 10 interactions each, a day apart, on 40 items."""
    rng = np.random.default_rng(5)
    lines = ["user_id,item_id,ts"]
    for u in range(30):
        for n, i in enumerate(rng.choice(40, size=10, replace=False)):
            lines.append(f"u{u:02d},i{i:02d},2024-01-{n + 1:02d}")
    lines.append("lonely,i00,2024-01-01")  # too few interactions to evaluate
    ingest_files(con, [str(write("t.csv", "\n".join(lines) + "\n"))], IngestOptions(columns=ColumnMap(timestamp="ts")))
    return con


def parts(con, eval_id):
    return con.execute("SELECT user_idx, part, count(*) FROM evaluation_splits WHERE eval_id = ? GROUP BY ALL "
                       "ORDER BY ALL", [eval_id]).fetchall()


def test_splits_random_last_and_time(timed):
    con = timed
    lonely = con.execute("SELECT user_idx FROM users WHERE user_id = 'lonely'").fetchall()[0][0]
    for options, held in [(SplitOptions("random", test_fraction=0.2), 2), (SplitOptions("last", holdout=3), 3)]:
        eval_id = evaluate.new_eval_id(con)
        evaluate.make_split(con, eval_id, options)
        counts = parts(con, eval_id)
        assert all(n == held for u, p, n in counts if p == "test")
        assert all(p == "train" for u, p, n in counts if u == lonely)
        assert sum(n for *_, n in counts) == 301  # every pair stored
    # last: the held-out pairs are each user's latest
    latest = con.execute(
        """SELECT count(*) FROM evaluation_splits s JOIN (SELECT user_idx, item_idx, max(occurred_at) AS t
           FROM interactions GROUP BY ALL) x USING (user_idx, item_idx)
           WHERE s.eval_id = ? AND s.part = 'test' AND x.t < TIMESTAMP '2024-01-08'""", [eval_id]).fetchall()
    assert latest == [(0,)]
    eval_id = evaluate.new_eval_id(con)
    evaluate.make_split(con, eval_id, SplitOptions("time", cutoff=datetime(2024, 1, 9)))
    assert {n for u, p, n in parts(con, eval_id) if p == "test"} == {2}  # days 9 and 10


def test_evaluate_trains_on_train_only_and_does_not_activate(timed):
    con = timed
    result = evaluate.evaluate(con, NMFParams(n_components=3, max_iter=50), MatrixOptions(),
                               SplitOptions(test_fraction=0.3), ks=(5, 10))
    run = runs.get_run(con, result.run_id)
    assert run.status == "succeeded" and not run.active and runs.active_run_id(con) is None
    train = read_interaction_matrix(con, MatrixOptions(), subset=Subset(result.eval_id)).matrix
    test = con.execute("SELECT user_idx, item_idx FROM evaluation_splits WHERE eval_id = ? AND part = 'test'",
                       [result.eval_id]).fetchall()
    assert all(train[u, i] == 0 for u, i in test)  # no leakage
    assert run.nnz == train.nnz
    # no model ever lists a train-seen item
    for model in evaluate.MODELS:
        got = dict(((m, k, metric), v) for m, k, metric, v in result.results)
        assert {(model, 5, "ndcg"), (model, 10, "novelty")} <= set(got)
    recs = con.execute("SELECT user_idx, item_idx FROM recommendations WHERE run_id = ?", [result.run_id]).fetchall()
    assert all(train[u, i] == 0 for u, i in recs)
    stored = con.execute("SELECT count(*), count(DISTINCT model), count(DISTINCT k) FROM evaluations WHERE eval_id = ?",
                         [result.eval_id]).fetchall()[0]
    assert stored == (3 * 2 * 8, 3, 2)
    assert con.execute("SELECT count(*) FROM v_evaluation_users WHERE eval_id = ? AND user_id IS NULL",
                       [result.eval_id]).fetchall() == [(0,)]
    most_popular_hits = con.execute(
        "SELECT avg(value) FROM evaluation_users WHERE eval_id = ? AND model = 'most_popular' AND metric = 'hit_rate' "
        "AND k = 10", [result.eval_id]).fetchall()[0][0]
    assert most_popular_hits == pytest.approx(dict(((m, k, x), v) for m, k, x, v in result.results)[
        ("most_popular", 10, "hit_rate")])


def test_tune_scores_candidates_on_validation_and_keeps_test_untouched(timed):
    con = timed
    base = Candidate(NMFParams(max_iter=30), MatrixOptions())
    candidates = evaluate.grid(base, n_components=[2, 4], aggregate=["binary"])
    assert [(c.params.n_components, c.options.aggregate) for c in candidates] == [(2, "binary"), (4, "binary")]
    result = evaluate.tune(con, candidates, SplitOptions(test_fraction=0.3), k=5)
    assert [c for c, _ in result.scores] == candidates and result.best in candidates
    split_parts = {p for (p,) in con.execute("SELECT DISTINCT part FROM evaluation_splits WHERE eval_id = ?",
                                             [result.eval_id]).fetchall()}
    assert split_parts == {"train", "validation"}
    outer = result.eval_id - 1
    outer_test = set(con.execute("SELECT user_idx, item_idx FROM evaluation_splits WHERE eval_id = ? AND part = 'test'",
                                 [outer]).fetchall())
    inner = set(con.execute("SELECT user_idx, item_idx FROM evaluation_splits WHERE eval_id = ?",
                            [result.eval_id]).fetchall())
    assert outer_test and not outer_test & inner  # validation is carved from train only
    assert runs.list_runs(con) == []  # candidate runs are measured, then removed
    assert con.execute("SELECT count(DISTINCT model_params) FROM evaluations WHERE eval_id = ?",
                       [result.eval_id]).fetchall() == [(2,)]


def test_evaluate_and_tune_cli(cli, timed):
    result = cli("evaluate", "--n-components", "3", "--max-iter", "30", "--k", "5,10", "--test-fraction", "0.3")
    assert result.exit_code == 0, result.output
    assert "ratio to most_popular" in result.stdout and "k = 10" in result.stdout
    tuned = cli("tune", "--n-components", "2,3", "--alpha-W", "0", "--max-iter", "30", "--k", "5", "--refit")
    assert tuned.exit_code == 0, tuned.output
    assert "best (validation evaluation" in tuned.stdout and "and active" in tuned.stdout
    assert cli("evaluate", "--split", "time").exit_code == 2  # needs --cutoff
