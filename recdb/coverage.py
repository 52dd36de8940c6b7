"""The seed's coverage question, answered from the exact per-entity counts in `coverage`: predict_num by interaction
bin (n below 10, else floor(n/10)*10), and the smallest bin from which nearly every entity gets a prediction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from recdb.errors import InputError

AXES = ("user", "item")
SUMMARY_COLUMNS = ("axis", "bin", "entities", "min", "median", "mean", "max", "zero_fraction")


@dataclass(frozen=True)
class Sufficiency:
    user: int | None
    item: int | None
    threshold: float


def summarize(con: duckdb.DuckDBPyConnection, run_id: int, sufficient: float) -> Sufficiency:
    """Write the run's coverage_summary from its coverage rows and store the sufficiency bins on the run."""
    con.execute(
        """
        INSERT INTO coverage_summary (run_id, axis, bin, entities, min, median, mean, max, zero_fraction)
        SELECT run_id, axis, bin, count(*), min(predict_num), median(predict_num), avg(predict_num), max(predict_num),
            avg(CASE WHEN predict_num = 0 THEN 1.0 ELSE 0.0 END)
        FROM (
            SELECT *, CASE WHEN n_interactions < 10 THEN n_interactions ELSE n_interactions // 10 * 10 END AS bin
            FROM coverage WHERE run_id = $run_id
        )
        GROUP BY run_id, axis, bin
        """,
        {"run_id": run_id},
    )
    # the smallest bin such that it and every bin above it reach the share
    found = dict(con.execute(
        """
        SELECT axis, min(bin) FROM (
            SELECT axis, bin, bool_and(1 - zero_fraction >= $share) OVER (
                PARTITION BY axis ORDER BY bin DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS holds
            FROM coverage_summary WHERE run_id = $run_id
        ) WHERE holds GROUP BY axis
        """,
        {"run_id": run_id, "share": sufficient},
    ).fetchall())
    con.execute(
        "UPDATE model_runs SET sufficient_bin_user = ?, sufficient_bin_item = ? WHERE run_id = ?",
        [found.get("user"), found.get("item"), run_id],
    )
    return Sufficiency(found.get("user"), found.get("item"), sufficient)


def read_summary(con: duckdb.DuckDBPyConnection, run_id: int, axes: tuple[str, ...] = AXES) -> list[tuple]:
    return con.execute(
        f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM coverage_summary WHERE run_id = ? AND list_contains(?, axis) "
        "ORDER BY axis DESC, bin",
        [run_id, list(axes)],
    ).fetchall()


def write_seed_csv(path, rows: list[tuple]) -> None:
    """The seed note's min_mean_max.csv: num,min,median,mean,max, one line per interaction bin."""
    lines = ["num,min,median,mean,max"]
    lines += [f"{bin_},{low},{median},{mean},{high}" for _, bin_, _, low, median, mean, high, _ in rows]
    Path(path).write_text("\n".join(lines) + "\n")


def plot(path, rows: list[tuple]) -> None:
    """predict_num (min/median/mean/max) against the interaction bin, one panel per axis."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'recdb[plot]'") from None
    axes = [a for a in AXES if any(r[0] == a for r in rows)]
    figure, panels = plt.subplots(1, len(axes), figsize=(6 * len(axes), 4), squeeze=False)
    for panel, axis in zip(panels[0], axes, strict=True):
        mine = sorted((r for r in rows if r[0] == axis), key=lambda r: r[1])
        bins = [r[1] for r in mine]
        for column, label in ((3, "min"), (4, "median"), (5, "mean"), (6, "max")):
            panel.plot(bins, [r[column] for r in mine], marker="o", label=label)
        panel.set_xscale("symlog")
        panel.set_xlabel(f"interactions per {axis} (bin)")
        panel.set_ylabel("non-zero predictions")
        panel.set_title(f"{axis}s")
        panel.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
