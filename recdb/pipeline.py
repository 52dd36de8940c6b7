"""One model run: record it, read the matrix, fit, write the factors and publish, all-or-nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version

import duckdb
import numpy as np

from recdb import coverage, failpoints, repository, runs, scoring
from recdb.db import transaction
from recdb.errors import InputError
from recdb.model import FitResult, NMFParams, Progress, fit_nmf
from recdb.repository import InteractionMatrix, MatrixOptions


@dataclass(frozen=True)
class PublishOptions:
    """What a run writes besides its factors: top-K lists and coverage."""

    top_k: int = 100
    include_seen: bool = False
    top_k_users: int = 0
    epsilon: float = 0.0
    sufficient: float = 0.99

    def __post_init__(self):
        if self.top_k < 0 or self.top_k_users < 0:
            raise InputError("--top-k and --top-k-users must not be negative")
        if self.epsilon < 0:
            raise InputError(f"--epsilon must not be negative, got {self.epsilon}")
        if not 0 < self.sufficient <= 1:
            raise InputError(f"--sufficient is a share in (0, 1], got {self.sufficient}")


@dataclass(frozen=True)
class FitReport:
    run: runs.Run
    result: FitResult
    data: InteractionMatrix
    sufficiency: coverage.Sufficiency


def library_versions() -> dict[str, str]:
    found = {}
    for name in ("recdb", "scikit-learn", "numpy", "scipy", "duckdb"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "unknown"
    return found


def fit_run(
    con: duckdb.DuckDBPyConnection,
    params: NMFParams = NMFParams(),
    options: MatrixOptions = MatrixOptions(),
    publish: PublishOptions = PublishOptions(),
    *,
    subset: repository.Subset | None = None,
    activate: bool = True,
    progress: Progress | None = None,
    stage: Callable[[str], None] | None = None,
) -> FitReport:
    """Fit NMF on the interactions and record the run.

    The run is committed as `running` first. Factors, top-K lists, coverage, the run's outcome and (with `activate`)
    the active-run switch are then written in one transaction, so readers see the previous model until the new one is
    complete. Any failure marks the run failed and leaves the active run as it was.
    """
    say = stage or (lambda message: None)
    run_params = {"model": asdict(params), "matrix": asdict(options), "publish": asdict(publish)}
    if subset is not None:
        run_params["subset"] = {"eval_id": subset.eval_id, "parts": list(subset.parts),
                                "before": subset.before.isoformat() if subset.before else None}
    run_id = runs.start_run(con, run_params, library_versions())
    try:
        say("reading interactions")
        data = repository.read_interaction_matrix(con, options, subset=subset)
        say("fitting NMF")
        result = fit_nmf(data.matrix, params, progress)
        failpoints.reached("fit.fitted")
        user_factors, item_factors = (
            (result.row_factors, result.col_factors)
            if options.orientation == "user-item"
            else (result.col_factors, result.row_factors)
        )
        seen = data.user_item
        with transaction(con):
            say("writing factors")
            repository.write_factors(con, run_id, "user", user_factors)
            repository.write_factors(con, run_id, "item", item_factors)
            say("scoring every user: top-K and coverage")
            sufficiency = _publish_scores(con, run_id, user_factors, item_factors, seen, publish, say)
            failpoints.reached("fit.written")
            runs.finish_run(
                con,
                run_id,
                n_users=data.n_users,
                n_items=data.n_items,
                nnz=int(data.matrix.nnz),
                data_batch_max=data.data_batch_max,
                n_iter=result.n_iter,
                reconstruction_err=result.reconstruction_err,
                converged=result.converged,
                fit_seconds=result.fit_seconds,
                warnings="\n".join(result.warnings) or None,
            )
            if activate:
                runs.set_active(con, run_id)
            failpoints.reached("fit.switched")  # the pointer moved, not yet committed
        failpoints.reached("fit.committed")
    except BaseException as exc:
        runs.fail_run(con, run_id, str(exc) or type(exc).__name__)
        raise
    return FitReport(runs.get_run(con, run_id), result, data, sufficiency)


def _publish_scores(con, run_id: int, user_factors: np.ndarray, item_factors: np.ndarray, seen, publish: PublishOptions,
                    say: Callable[[str], None]) -> coverage.Sufficiency:
    """Top-K per user (and per item with top_k_users), exact coverage counts and their summary, for one run."""
    recommendations = repository.TopKWriter(con, "recommendations", run_id)
    counts = scoring.score_all(user_factors, item_factors, seen, top_k=publish.top_k,
                               include_seen=publish.include_seen, epsilon=publish.epsilon, on_top_k=recommendations)
    recommendations.flush()
    if publish.top_k_users:
        say("scoring every item: top users")
        audiences = repository.TopKWriter(con, "item_audiences", run_id)
        scoring.score_all(item_factors, user_factors, seen.T.tocsr(), top_k=publish.top_k_users,
                          include_seen=publish.include_seen, epsilon=publish.epsilon, on_top_k=audiences)
        audiences.flush()
    repository.write_coverage(con, run_id, "user", np.diff(seen.indptr), counts.row_positive, counts.row_positive_unseen)
    repository.write_coverage(con, run_id, "item", np.bincount(seen.indices, minlength=seen.shape[1]),
                              counts.col_positive, counts.col_positive_unseen)
    return coverage.summarize(con, run_id, publish.sufficient)
