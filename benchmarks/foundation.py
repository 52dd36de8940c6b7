"""Benchmark of the stages built so far: CSV ingest, interactions -> CSR, factor write-back, each beside a baseline.

    .venv/bin/python benchmarks/foundation.py --size 10M [--workdir bench-data]

Each stage runs in a fresh subprocess so its peak RSS is its own. Prints a markdown table and writes JSON beside it.
Not a test: the figures are targets to compare against, on whatever machine runs it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

STAGES = ("ingest", "matrix", "bare_fetch", "seed_loop", "write_factors")


def _proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    """Resident memory now; a stage's peak extra RSS is the high-water mark at its end minus this at its start."""
    return _proc_status_mb("VmRSS")


def _peak_since(base: float) -> float:
    return _proc_status_mb("VmHWM") - base


def run_stage(stage: str, workdir: Path) -> dict:
    """Run one stage in this process and return its measurements."""
    import numpy as np

    from recdb import migrations
    from recdb.config import Settings
    from recdb.db import connect

    settings = Settings(db=str(workdir / "bench.duckdb"))
    csv_path = workdir / "interactions.csv"
    if stage == "ingest":
        from recdb.ingest import ColumnMap, IngestOptions, ingest_files
        from recdb.synthetic import EVENTS

        for leftover in (workdir / "bench.duckdb", workdir / "bench.duckdb.wal"):
            leftover.unlink(missing_ok=True)
        migrations.upgrade(settings)
        con = connect(settings)
        base = _rss_mb()
        started = time.perf_counter()
        [report] = ingest_files(con, [str(csv_path)], IngestOptions(
            columns=ColumnMap(timestamp="occurred_at", event="event_type"), event_weights=EVENTS))
        seconds = time.perf_counter() - started
        return {"rows": report.rows_loaded, "seconds": seconds, "peak_rss_mb": _peak_since(base)}

    con = connect(settings, read_only=stage != "write_factors")
    base = _rss_mb()
    started = time.perf_counter()
    if stage == "matrix":
        from recdb.repository import MatrixOptions, read_interaction_matrix

        matrix = read_interaction_matrix(con, MatrixOptions()).matrix
        rows = con.execute("SELECT count(*) FROM interactions").fetchall()[0][0]
        csr_mb = (matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes) / 2**20
        extra = {"nnz": int(matrix.nnz), "csr_mb": csr_mb}
    elif stage == "bare_fetch":
        table = con.sql("SELECT user_idx, item_idx, weight FROM interactions").to_arrow_table()
        rows, extra = table.num_rows, {}
    elif stage == "seed_loop":
        # The seed note's construction: Python lists filled row by row, then a COO -> CSR conversion.
        import scipy.sparse as sp

        frame = con.sql("SELECT user_idx, item_idx FROM interactions").df()
        users, items, values = [], [], []
        for user, item in zip(frame["user_idx"], frame["item_idx"]):
            users.append(user)
            items.append(item)
            values.append(1)
        sp.csr_matrix((values, (users, items)))
        rows, extra = len(values), {}
    elif stage == "write_factors":
        from recdb import runs
        from recdb.db import transaction
        from recdb.repository import write_factors

        # what a fit with the seed's 50 components writes for this data: a vector per user and per item
        n_users, n_items = con.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM items)").fetchall()[0]
        k = 50
        rng = np.random.default_rng(0)
        user_factors = rng.random((n_users, k), dtype=np.float32)
        item_factors = rng.random((n_items, k), dtype=np.float32)
        run_id = runs.start_run(con, {"benchmark": True}, {})
        base = _rss_mb()
        started = time.perf_counter()
        with transaction(con):
            rows = write_factors(con, run_id, "user", user_factors)
            rows += write_factors(con, run_id, "item", item_factors)
        seconds = time.perf_counter() - started
        runs.fail_run(con, run_id, "benchmark run")
        runs.delete_run(con, run_id)
        return {"rows": rows, "seconds": seconds, "peak_rss_mb": _peak_since(base), "n_components": k}
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "peak_rss_mb": _peak_since(base), **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1M", help="synthetic interactions: 10k ... 10M (default 1M)")
    parser.add_argument("--workdir", default="bench-data", type=Path)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.workdir)))
        return

    from recdb.synthetic import Shape, write_interactions

    shape = Shape.from_size(args.size)
    started = time.perf_counter()
    write_interactions(args.workdir / "interactions.csv", shape)
    print(f"generated {shape.n_interactions:,} interactions ({shape.n_users:,} users x {shape.n_items:,} items) "
          f"in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    results = {}
    for stage in STAGES:
        out = subprocess.run([sys.executable, __file__, "--stage", stage, "--workdir", str(args.workdir)],
                             check=True, capture_output=True, text=True).stdout
        results[stage] = json.loads(out.strip().splitlines()[-1])
        print(f"{stage}: {results[stage]}", file=sys.stderr)

    lines = [
        f"| stage ({args.size}: {shape.n_users:,} users x {shape.n_items:,} items) | rows | seconds | rows/s | peak extra RSS MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for stage, r in results.items():
        lines.append(f"| {stage} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    m = results["matrix"]
    lines += [
        "",
        f"- matrix build / bare Arrow fetch: {m['seconds'] / results['bare_fetch']['seconds']:.1f}x",
        f"- matrix build peak extra RSS / CSR bytes: {m['peak_rss_mb'] / m['csr_mb']:.1f}x (CSR {m['csr_mb']:.0f} MB)",
        f"- seed loop / matrix build: {results['seed_loop']['seconds'] / m['seconds']:.1f}x slower",
    ]
    report = "\n".join(lines)
    print(report)
    (args.workdir / f"foundation-{args.size}.json").write_text(json.dumps(results, indent=2))
    (args.workdir / f"foundation-{args.size}.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
