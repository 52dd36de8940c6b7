"""Offline evaluation: a stored split, NMF and two baselines on it, metrics per user and overall, all as tables.

Every model ranks the items a user did not have in train (train-seen items are never candidates), and the metrics
are computed in SQL from those lists and the held-out pairs, per user (evaluation_users) and averaged
(evaluations). Definitions, with L the top-k list, T the user's test items and hits the ranks r in L that are in T:
precision = |hits| / k; recall = |hits| / |T|; ndcg = sum 1/log2(r+1) over hits / sum 1/log2(r+1) for r = 1..min(|T|, k);
map = sum over hits of (hits up to r) / r, divided by min(|T|, k); mrr = 1 / first hit rank (0 without a hit);
hit_rate = 1 if any hit; catalog_coverage = distinct listed items / all items; novelty = mean over all listed items of
-log2((train users of the item + 1) / (train users + 1)).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

import duckdb
import numpy as np
import scipy.sparse as sp

from recdb import pipeline, repository, runs
from recdb.db import transaction, utcnow
from recdb.errors import InputError
from recdb.model import NMFParams
from recdb.repository import MatrixOptions, Subset
from recdb.scoring import block_rows_for, top_k_of

METHODS = ("random", "last", "time")
USER_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")
MODELS = ("nmf", "most_popular", "random")
LISTS = "recdb_eval_lists"


@dataclass(frozen=True)
class SplitOptions:
    method: str = "random"
    test_fraction: float = 0.2
    min_interactions: int = 5
    holdout: int = 1
    cutoff: datetime | None = None
    seed: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(f"unknown split {self.method!r}: use one of {', '.join(METHODS)}")
        if self.method == "time" and self.cutoff is None:
            raise InputError("--split time needs --cutoff TIMESTAMP")
        if not 0 < self.test_fraction < 1:
            raise InputError(f"--test-fraction must be between 0 and 1, got {self.test_fraction}")
        if self.holdout < 1 or self.min_interactions < 1:
            raise InputError("--holdout and --min-interactions must be at least 1")

    def as_json(self) -> dict:
        found = asdict(self)
        found["cutoff"] = self.cutoff.isoformat() if self.cutoff else None
        return found


@dataclass(frozen=True)
class Evaluation:
    eval_id: int
    run_id: int
    results: list[tuple[str, int, str, float]]  # (model, k, metric, value)
    evaluated_users: int


def _pairs_sql(from_split: bool) -> str:
    """The distinct user-item pairs to split: all interactions, or parts of an earlier split ($source, $source_parts)."""
    if not from_split:
        return ("SELECT user_idx, item_idx, min(occurred_at) AS first_at, max(occurred_at) AS last_at "
                "FROM interactions GROUP BY user_idx, item_idx")
    return ("SELECT s.user_idx, s.item_idx, min(x.occurred_at) AS first_at, max(x.occurred_at) AS last_at "
            "FROM evaluation_splits AS s JOIN interactions AS x USING (user_idx, item_idx) "
            "WHERE s.eval_id = $source AND list_contains($source_parts, s.part) GROUP BY s.user_idx, s.item_idx")


def make_split(con: duckdb.DuckDBPyConnection, eval_id: int, options: SplitOptions, *, held_out: str = "test",
               source: tuple[int, tuple[str, ...]] | None = None) -> None:
    """Write evaluation_splits for `eval_id`: each pair is train or `held_out`. With `source`, split the given parts
    of an earlier evaluation instead of all interactions (recdb tune carves validation out of train)."""
    pairs = _pairs_sql(source is not None)
    params = {"eval_id": eval_id, "held_out": held_out}
    if source is not None:
        params.update(source=source[0], source_parts=list(source[1]))
    if options.method != "time":
        params["min"] = options.min_interactions
    if options.method == "random":
        params.update(fraction=options.test_fraction, seed=options.seed)
        decide = """CASE WHEN n >= $min AND pos <= greatest(1, round(n * $fraction)) THEN $held_out ELSE 'train' END"""
        order = "hash(user_idx, item_idx, $seed), item_idx"
    elif options.method == "last":
        params["holdout"] = options.holdout
        decide = "CASE WHEN n >= $min AND n > $holdout AND pos <= $holdout THEN $held_out ELSE 'train' END"
        order = "last_at DESC NULLS LAST, item_idx DESC"
    else:
        params["cutoff"] = options.cutoff
        decide = "CASE WHEN first_at >= $cutoff THEN $held_out ELSE 'train' END"
        order = "item_idx"
    con.execute(
        f"""
        INSERT INTO evaluation_splits (eval_id, user_idx, item_idx, part)
        SELECT $eval_id, user_idx, item_idx, {decide}
        FROM (
            SELECT *, count(*) OVER (PARTITION BY user_idx) AS n,
                row_number() OVER (PARTITION BY user_idx ORDER BY {order}) AS pos
            FROM ({pairs})
        )
        """,
        params,
    )
    if options.method == "time":  # evaluate only users with enough train pairs
        con.execute(
            """
            UPDATE evaluation_splits SET part = 'train' WHERE eval_id = $eval_id AND part = $held_out AND user_idx IN (
                SELECT user_idx FROM evaluation_splits WHERE eval_id = $eval_id
                GROUP BY user_idx HAVING count(*) FILTER (WHERE part = 'train') < $min)
            """,
            {"eval_id": eval_id, "held_out": held_out, "min": options.min_interactions},
        )


def _baseline_lists(con, model: str, train: sp.csr_matrix, users: np.ndarray, k: int, seed: int) -> int:
    """most_popular (items by train users, unseen) or random (unseen) top-k lists for `users`, into LISTS."""
    popularity = np.bincount(train.indices, minlength=train.shape[1]).astype(np.float32)
    rng = np.random.default_rng(seed)
    step = block_rows_for(train.shape[1])
    written = 0
    for start in range(0, users.size, step):
        block = users[start:start + step]
        if model == "most_popular":
            scores = np.repeat(popularity[None, :], block.size, axis=0)
        else:
            scores = rng.random((block.size, train.shape[1]), dtype=np.float32) + np.float32(1e-3)
        part = train[block]
        scores[np.repeat(np.arange(block.size), np.diff(part.indptr)), part.indices] = -np.inf
        top = top_k_of(scores, k)
        written += repository.insert_arrow(con, LISTS, {"user_idx": block[top.row], "rank": top.rank,
                                                         "item_idx": top.col}, model=model)
    return written


def _metrics(con, eval_id: int, k: int, n_items: int, n_train_users: int, held_out: str,
             models: tuple[str, ...]) -> None:
    """Per-user metrics at k into evaluation_users; their means, catalog coverage and novelty into a temp table."""
    con.execute(
        f"""
        INSERT INTO evaluation_users (eval_id, model, user_idx, k, metric, value)
        WITH test AS (
            SELECT user_idx, item_idx FROM evaluation_splits WHERE eval_id = $eval_id AND part = $held_out
        ),
        counts AS (SELECT user_idx, count(*) AS n_test FROM test GROUP BY user_idx),
        hits AS (
            SELECT l.model, l.user_idx, l.rank,
                row_number() OVER (PARTITION BY l.model, l.user_idx ORDER BY l.rank) AS nth
            FROM {LISTS} AS l JOIN test AS t USING (user_idx, item_idx) WHERE l.rank <= $k
        ),
        per_user AS (
            SELECT m.model, c.user_idx, c.n_test, count(h.rank) AS n_hits,
                coalesce(sum(1.0 / log2(h.rank + 1)), 0) AS dcg,
                coalesce(sum(h.nth / h.rank), 0) AS ap_sum,
                coalesce(min(h.rank), 0) AS first_hit
            FROM (SELECT unnest($models) AS model) AS m CROSS JOIN counts AS c
            LEFT JOIN hits AS h ON h.model = m.model AND h.user_idx = c.user_idx
            GROUP BY m.model, c.user_idx, c.n_test
        ),
        valued AS (
            SELECT model, user_idx,
                n_hits / $k AS precision,
                n_hits / n_test AS recall,
                dcg / list_sum(list_transform(range(1, least(n_test, $k) + 1), lambda r: 1.0 / log2(r + 1))) AS ndcg,
                ap_sum / least(n_test, $k) AS map,
                CASE WHEN first_hit > 0 THEN 1.0 / first_hit ELSE 0.0 END AS mrr,
                CASE WHEN n_hits > 0 THEN 1.0 ELSE 0.0 END AS hit_rate
            FROM per_user
        )
        SELECT $eval_id, model, user_idx, $k, metric, value
        FROM valued UNPIVOT (value FOR metric IN (precision, recall, ndcg, map, mrr, hit_rate))
        """,
        {"eval_id": eval_id, "k": k, "held_out": held_out, "models": list(models)},
    )
    con.execute(
        f"""
        INSERT INTO recdb_eval_results (model, k, metric, value)
        SELECT model, $k, metric, avg(value) FROM evaluation_users WHERE eval_id = $eval_id AND k = $k
        GROUP BY model, metric
        UNION ALL
        SELECT m.model, $k, 'catalog_coverage', count(DISTINCT l.item_idx) / $n_items
        FROM (SELECT unnest($models) AS model) AS m LEFT JOIN {LISTS} AS l ON l.model = m.model AND l.rank <= $k
        GROUP BY m.model
        UNION ALL
        SELECT l.model, $k, 'novelty', avg(-log2((coalesce(p.users, 0) + 1.0) / ($n_train_users + 1.0)))
        FROM {LISTS} AS l
        LEFT JOIN (SELECT item_idx, count(DISTINCT user_idx) AS users FROM evaluation_splits
                   WHERE eval_id = $eval_id AND part = 'train' GROUP BY item_idx) AS p USING (item_idx)
        WHERE l.rank <= $k GROUP BY l.model
        """,
        {"eval_id": eval_id, "k": k, "n_items": n_items, "n_train_users": n_train_users, "models": list(models)},
    )


def score_lists(con, eval_id: int, ks: list[int], n_items: int, held_out: str = "test",
                models: tuple[str, ...] = MODELS) -> list[tuple[str, int, str, float]]:
    """Metrics of every model list in LISTS against eval_id's held-out part: writes evaluation_users, returns means."""
    n_train_users = con.execute(
        "SELECT count(DISTINCT user_idx) FROM evaluation_splits WHERE eval_id = ? AND part = 'train'", [eval_id]
    ).fetchall()[0][0]
    con.execute("CREATE OR REPLACE TEMP TABLE recdb_eval_results (model VARCHAR, k INTEGER, metric VARCHAR, "
                "value DOUBLE)")
    for k in ks:
        _metrics(con, eval_id, k, n_items, n_train_users, held_out, models)
    rows = con.execute("SELECT model, k, metric, value FROM recdb_eval_results ORDER BY model, k, metric").fetchall()
    con.execute("DROP TABLE recdb_eval_results")
    return rows


def new_eval_id(con) -> int:
    return con.execute("SELECT nextval('evaluations_eval_id_seq')").fetchall()[0][0]


def evaluate(con: duckdb.DuckDBPyConnection, params: NMFParams = NMFParams(), options: MatrixOptions = MatrixOptions(),
             split: SplitOptions = SplitOptions(), ks: tuple[int, ...] = (10,),
             progress=None, stage=None) -> Evaluation:
    """Split, fit NMF on train (recorded in model_runs, not activated), rank with NMF and the baselines, measure."""
    ks = tuple(sorted(set(ks)))
    if not ks or ks[0] < 1:
        raise InputError("--k takes positive list lengths, such as 10 or 10,20")
    say = stage or (lambda message: None)
    eval_id = new_eval_id(con)
    with transaction(con):
        make_split(con, eval_id, split)
    tested = con.execute("SELECT count(DISTINCT user_idx) FROM evaluation_splits WHERE eval_id = ? AND part = 'test'",
                         [eval_id]).fetchall()[0][0]
    if not tested:
        raise InputError("the split holds out nothing: no user has enough interactions (see --min-interactions)")
    subset = Subset(eval_id, ("train",), split.cutoff if split.method == "time" else None)
    try:
        report = pipeline.fit_run(con, params, options, pipeline.PublishOptions(top_k=max(ks)), subset=subset,
                                  activate=False, progress=progress, stage=stage)
    except BaseException:
        with transaction(con):  # the failed run stays in model_runs; its split goes
            con.execute("DELETE FROM evaluation_splits WHERE eval_id = ?", [eval_id])
        raise
    say("ranking with the baselines and measuring")
    model_params = {
        "nmf": json.dumps({"run_id": report.run.run_id, **asdict(params), **asdict(options)}),
        "most_popular": None,
        "random": json.dumps({"seed": split.seed}),
    }
    with transaction(con):
        results = _rank_and_measure(con, eval_id, report.run.run_id, report.data.user_item, ks, split.seed)
        _store_results(con, eval_id, split.as_json(), model_params, results)
    return Evaluation(eval_id, report.run.run_id, results, tested)


def _store_results(con, eval_id: int, split_params: dict, model_params: dict[str, str | None],
                   results: list[tuple[str, int, str, float]]) -> None:
    """The means of one evaluation into `evaluations`, in bulk; `model_params` maps each model to its JSON."""
    repository.insert_arrow(con, "evaluations", {
        "model": np.array([r[0] for r in results]),
        "model_params": np.array([model_params[r[0]] for r in results], dtype=object),
        "k": np.array([r[1] for r in results], dtype=np.int32),
        "metric": np.array([r[2] for r in results]),
        "value": np.array([r[3] for r in results], dtype=np.float64),
    }, eval_id=eval_id, created_at=utcnow(), split_params=json.dumps(split_params))


def _rank_and_measure(con, eval_id: int, run_id: int, train: sp.csr_matrix, ks: tuple[int, ...],
                      seed: int, models: tuple[str, ...] = MODELS, held_out: str = "test"
                      ) -> list[tuple[str, int, str, float]]:
    users = np.array([r[0] for r in con.execute(
        "SELECT DISTINCT user_idx FROM evaluation_splits WHERE eval_id = ? AND part = ? ORDER BY 1",
        [eval_id, held_out]).fetchall()], dtype=np.int32)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {LISTS} (model VARCHAR, user_idx INTEGER, rank INTEGER, "
                "item_idx INTEGER)")
    con.execute(
        f"INSERT INTO {LISTS} SELECT 'nmf', r.user_idx, r.rank, r.item_idx FROM recommendations AS r "
        f"WHERE r.run_id = ? AND r.user_idx IN (SELECT unnest(?::INTEGER[]))", [run_id, users.tolist()])
    for model in models[1:]:
        _baseline_lists(con, model, train, users, max(ks), seed)
    results = score_lists(con, eval_id, list(ks), train.shape[1], held_out, models)
    con.execute(f"DROP TABLE {LISTS}")
    return results


@dataclass(frozen=True)
class Candidate:
    params: NMFParams
    options: MatrixOptions

    def as_json(self) -> dict:
        return {**asdict(self.params), **asdict(self.options)}


@dataclass(frozen=True)
class TuneResult:
    eval_id: int  # the validation evaluation: its rows in evaluations are the candidates' scores
    k: int
    scores: list[tuple[Candidate, float]]  # in the order tried: (candidate, ndcg@k on validation)

    @property
    def best(self) -> Candidate:
        return max(self.scores, key=lambda pair: pair[1])[0]


def grid(base: Candidate, **choices: list) -> list[Candidate]:
    """Every combination of the given NMFParams/MatrixOptions field values, on top of `base`."""
    import itertools

    names = [n for n, values in choices.items() if values]
    found = []
    for combo in itertools.product(*(choices[n] for n in names)):
        values = dict(zip(names, combo, strict=True))
        params = {k: v for k, v in values.items() if k in NMFParams.__dataclass_fields__}
        options = {k: v for k, v in values.items() if k in MatrixOptions.__dataclass_fields__}
        found.append(Candidate(NMFParams(**{**asdict(base.params), **params}),
                               MatrixOptions(**{**asdict(base.options), **options})))
    return found


def tune(con: duckdb.DuckDBPyConnection, candidates: list[Candidate], split: SplitOptions = SplitOptions(),
         k: int = 10, on_candidate=None) -> TuneResult:
    """Score each candidate by NDCG@k on a validation split carved from the train part of a fresh split (its test
    part is never looked at). Candidate runs are measured and then deleted; the scores stay in evaluations."""
    if not candidates:
        raise InputError("nothing to tune: give at least one value per option")
    outer, inner = new_eval_id(con), new_eval_id(con)
    with transaction(con):
        make_split(con, outer, split)
        make_split(con, inner, split, held_out="validation", source=(outer, ("train",)))
    scores = []
    split_params = {**split.as_json(), "validation_of": outer}
    for n, candidate in enumerate(candidates, start=1):
        report = pipeline.fit_run(con, candidate.params, candidate.options, pipeline.PublishOptions(top_k=k),
                                  subset=Subset(inner, ("train",)), activate=False)
        with transaction(con):
            rows = _rank_and_measure(con, inner, report.run.run_id, report.data.user_item, (k,), split.seed,
                                     ("nmf",), "validation")
            con.execute("DELETE FROM evaluation_users WHERE eval_id = ?", [inner])
            _store_results(con, inner, split_params, {"nmf": json.dumps(candidate.as_json())}, rows)
        runs.fail_run(con, report.run.run_id, "tune candidate, measured and removed")
        runs.delete_run(con, report.run.run_id)
        ndcg = dict((r[2], r[3]) for r in rows)["ndcg"]
        scores.append((candidate, ndcg))
        if on_candidate:
            on_candidate(n, len(candidates), candidate, ndcg)
    return TuneResult(inner, k, scores)
