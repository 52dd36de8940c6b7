"""One model run: record it, read the matrix, fit, write the factors and publish, all-or-nothing."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version

import duckdb

from recdb import repository, runs
from recdb.db import transaction
from recdb.model import FitResult, NMFParams, Progress, fit_nmf
from recdb.repository import InteractionMatrix, MatrixOptions


@dataclass(frozen=True)
class FitReport:
    run: runs.Run
    result: FitResult
    data: InteractionMatrix


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
    *,
    activate: bool = True,
    progress: Progress | None = None,
) -> FitReport:
    """Fit NMF on the interactions and record the run.

    The run is committed as `running` first. Factors, the run's outcome and (with `activate`) the active-run switch
    are then written in one transaction, so readers see the previous model until the new one is complete. Any
    failure marks the run failed and leaves the active run as it was.
    """
    run_id = runs.start_run(con, {"model": asdict(params), "matrix": asdict(options)}, library_versions())
    try:
        data = repository.read_interaction_matrix(con, options)
        result = fit_nmf(data.matrix, params, progress)
        user_factors, item_factors = (
            (result.row_factors, result.col_factors)
            if options.orientation == "user-item"
            else (result.col_factors, result.row_factors)
        )
        with transaction(con):
            repository.write_factors(con, run_id, "user", user_factors)
            repository.write_factors(con, run_id, "item", item_factors)
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
    except BaseException as exc:
        runs.fail_run(con, run_id, str(exc) or type(exc).__name__)
        raise
    return FitReport(runs.get_run(con, run_id), result, data)
