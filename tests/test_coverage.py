from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL, stored_factors

from recdb import coverage, pipeline, runs
from recdb.repository import MatrixOptions, read_interaction_matrix, write_coverage


def test_summary_bins_and_statistics_match_pandas(con):
    run_id = runs.start_run(con, {}, {})
    n = np.array([0, 0, 9, 9, 10, 19, 19, 20, 100, 105, 3, 3, 3], dtype=np.int32)
    predicted = np.array([0, 0, 4, 0, 7, 1, 9, 2, 30, 50, 0, 5, 6], dtype=np.int32)
    write_coverage(con, run_id, "user", n, predicted, predicted)
    found = coverage.summarize(con, run_id, sufficient=0.99)

    frame = pd.DataFrame({"n": n, "p": predicted})
    frame["bin"] = np.where(frame.n < 10, frame.n, frame.n // 10 * 10)
    expected = frame.groupby("bin").p.agg(["count", "min", "median", "mean", "max"])
    expected["zero"] = frame.assign(z=frame.p == 0).groupby("bin").z.mean()
    got = coverage.read_summary(con, run_id, ("user",))
    assert [r[1] for r in got] == [0, 3, 9, 10, 20, 100]  # 19 -> 10, 105 -> 100
    for axis, bin_, entities, low, median, mean, high, zero in got:
        row = expected.loc[bin_]
        assert (axis, entities, low, high) == ("user", row["count"], row["min"], row["max"])
        assert median == pytest.approx(row["median"]) and mean == pytest.approx(row["mean"])
        assert zero == pytest.approx(row["zero"])
    # bins 0, 3 and 9 have entities without predictions; from 10 on every entity has one
    assert (found.user, found.item) == (10, None)
    assert runs.get_run(con, run_id).sufficient_bin_user == 10


def test_fit_writes_exact_coverage_for_both_axes(loaded):
    run = pipeline.fit_run(loaded, SMALL).run
    users, items = stored_factors(loaded, run.run_id, "user"), stored_factors(loaded, run.run_id, "item")
    positive = users.astype(np.float64) @ items.T.astype(np.float64) > 0
    seen = read_interaction_matrix(loaded, MatrixOptions()).matrix.toarray() != 0
    got = {
        axis: np.array(loaded.execute(
            "SELECT n_interactions, predict_num, predict_num_unseen FROM coverage WHERE run_id = ? AND axis = ? "
            "ORDER BY entity_idx", [run.run_id, axis]).fetchall())
        for axis in ("user", "item")
    }
    np.testing.assert_array_equal(got["user"], np.c_[seen.sum(1), positive.sum(1), (positive & ~seen).sum(1)])
    np.testing.assert_array_equal(got["item"], np.c_[seen.sum(0), positive.sum(0), (positive & ~seen).sum(0)])
    assert loaded.execute("SELECT count(*) FROM v_coverage WHERE entity_id IS NULL").fetchall() == [(0,)]
    assert sorted(loaded.execute("SELECT sum(entities) FROM v_coverage_summary GROUP BY axis").fetchall()) == [
        (20,), (30,)]


def test_fit_writes_recommendations_without_seen_items(loaded):
    run = pipeline.fit_run(loaded, SMALL, publish=pipeline.PublishOptions(top_k=5, top_k_users=3)).run
    recs = loaded.execute(
        "SELECT user_idx, rank, item_idx, score FROM recommendations WHERE run_id = ? ORDER BY user_idx, rank",
        [run.run_id]).fetchall()
    users, items = stored_factors(loaded, run.run_id, "user"), stored_factors(loaded, run.run_id, "item")
    seen = read_interaction_matrix(loaded, MatrixOptions()).matrix.toarray() != 0
    for user, rank, item, score in recs:
        assert not seen[user, item] and score > 0 and 1 <= rank <= 5
        assert score == pytest.approx(float(users[user] @ items[item]), rel=1e-5)
    assert loaded.execute("SELECT count(*) FROM v_recommendations").fetchall() == [(len(recs),)]
    audiences = loaded.execute("SELECT count(*), max(rank) FROM item_audiences WHERE run_id = ?",
                               [run.run_id]).fetchall()[0]
    assert audiences[0] > 0 and audiences[1] == 3


def test_coverage_cli(cli, loaded, tmp_path):
    assert cli("coverage").exit_code == 2  # no run yet
    assert cli("fit", "--n-components", "3", "--max-iter", "50").exit_code == 0
    result = cli("coverage", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["axis"] for r in rows} == {"user", "item"}
    assert set(rows[0]) == set(coverage.SUMMARY_COLUMNS)
    seed_csv = tmp_path / "min_mean_max.csv"
    assert cli("coverage", "--axis", "item", "--csv", seed_csv).exit_code == 0
    assert seed_csv.read_text().splitlines()[0] == "num,min,median,mean,max"
    table = cli("coverage").stdout
    assert "zero_fraction" in table and "get a non-zero prediction" in table
    assert cli("coverage", "--axis", "both", "--csv", seed_csv).exit_code == 2


def test_coverage_plot(cli, loaded, tmp_path):
    pytest.importorskip("matplotlib")
    cli("fit", "--n-components", "3", "--max-iter", "50")
    png = tmp_path / "coverage.png"
    result = cli("coverage", "--plot", png)
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
