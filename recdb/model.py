"""The NMF estimator: scikit-learn's NMF with its own parameter names, plus what recdb records about a fit."""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from recdb.errors import InputError

if TYPE_CHECKING:
    from sklearn.decomposition import NMF

INITS = ("random", "nndsvd", "nndsvda", "nndsvdar")
SOLVERS = ("cd", "mu")
BETA_LOSSES = ("frobenius", "kullback-leibler", "itakura-saito")

Progress = Callable[[int, float], None]  # (iterations so far, seconds elapsed)


@dataclass(frozen=True)
class NMFParams:
    """scikit-learn's NMF parameters, with the seed note's values as defaults."""

    n_components: int = 50
    init: str = "random"
    solver: str = "cd"
    beta_loss: str = "frobenius"
    max_iter: int = 500
    tol: float = 1e-4
    alpha_W: float = 0.0
    alpha_H: float | str = "same"
    l1_ratio: float = 0.0
    random_state: int | None = 0

    def estimator(self, verbose: int = 0) -> NMF:
        from sklearn.decomposition import NMF  # 1.5 s to import: only commands that fit pay for it

        return NMF(**asdict(self), verbose=verbose)


@dataclass(frozen=True)
class FitResult:
    """Row factors (W) and column factors (H.T) of the fitted matrix, each entity x n_components."""

    row_factors: np.ndarray
    col_factors: np.ndarray
    n_iter: int
    reconstruction_err: float
    converged: bool
    fit_seconds: float
    warnings: list[str]


class _IterationCounter(io.TextIOBase):
    """scikit-learn reports iterations only in its verbose output: count those lines and report progress."""

    def __init__(self, progress: Progress, started: float):
        self.progress, self.started, self.iterations = progress, started, 0

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.startswith("violation:"):  # cd: one line per iteration
                self.iterations += 1
            elif line.startswith("Epoch "):  # mu: every 10 iterations
                self.iterations = int(line.split()[1])
            else:
                continue
            self.progress(self.iterations, time.perf_counter() - self.started)
        return len(text)


def fit_nmf(matrix: sp.csr_matrix, params: NMFParams, progress: Progress | None = None) -> FitResult:
    """Fit NMF on `matrix`. Negative values are refused before fitting; a ConvergenceWarning is kept, not hidden."""
    from sklearn.exceptions import ConvergenceWarning

    if matrix.nnz == 0:
        raise InputError("there are no interactions to fit: ingest some first")
    if matrix.data.size and float(matrix.data.min()) < 0:
        raise InputError("the matrix has negative values; NMF needs non-negative weights (check the weights ingested)")
    estimator = params.estimator(verbose=1 if progress else 0)
    started = time.perf_counter()
    sink = _IterationCounter(progress, started) if progress else io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(sink):
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            w = estimator.fit_transform(matrix)
        except ValueError as exc:  # scikit-learn's parameter validation
            raise InputError(f"NMF cannot fit with these parameters: {exc}") from None
    fit_seconds = time.perf_counter() - started
    messages = [str(c.message) for c in caught if issubclass(c.category, ConvergenceWarning)]
    return FitResult(
        row_factors=w.astype(np.float32, copy=False),
        col_factors=estimator.components_.T.astype(np.float32),
        n_iter=int(estimator.n_iter_),
        reconstruction_err=float(estimator.reconstruction_err_),
        converged=not messages,
        fit_seconds=fit_seconds,
        warnings=messages,
    )
