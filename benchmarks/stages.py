"""Benchmark of the stages built so far (ingest, interactions -> CSR, factor write-back, scoring and publication),
each beside the seed note's approach.

    .venv/bin/python benchmarks/stages.py --size 10M [--workdir bench-data]

Each stage runs in a fresh subprocess so its peak RSS is its own. Prints a markdown table and writes JSON beside it.
Not a test: the figures are targets to compare against, on whatever machine runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

STAGES = ("ingest", "matrix", "bare_fetch", "seed_loop", "fit", "write_factors", "seed_write_loop", "score",
          "publish", "serve", "seed_dense", "seed_coverage_loop")
SEED_WRITE_SAMPLE = 2_000  # rows the seed-style write-back loop is timed on
FIT_ITERATIONS = 5
N_COMPONENTS = 50


def _nmf_like_factors(n_users: int, n_items: int) -> tuple:
    """Synthetic non-negative factors with NMF-like sparsity (60% exact zeros): fitting 500 iterations at 10M
    interactions takes about 20 minutes here, and the scoring cost does not depend on how the factors were found."""
    import numpy as np

    rng = np.random.default_rng(0)
    users = rng.random((n_users, N_COMPONENTS), dtype=np.float32) * (rng.random((n_users, N_COMPONENTS)) < 0.4)
    items = rng.random((n_items, N_COMPONENTS), dtype=np.float32) * (rng.random((n_items, N_COMPONENTS)) < 0.4)
    return users.astype(np.float32), items.astype(np.float32)


def _proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    """Resident memory now, with the high-water mark reset to it (Linux): a stage's peak extra RSS is the high-water
    mark at its end minus this at its start, so set-up done before it (such as a matrix build) does not count."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _proc_status_mb("VmRSS")


def _peak_since(base: float) -> float:
    return _proc_status_mb("VmHWM") - base


def run_stage(stage: str, workdir: Path) -> dict:
    """Run one stage in this process and return its measurements."""
    import duckdb
    import numpy as np

    import sklearn.decomposition  # noqa: F401  (libraries load before any timing, as in a running fit)

    from recdb import migrations, pipeline, repository  # noqa: F401
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

    con = connect(settings, read_only=stage not in ("write_factors", "seed_write_loop", "publish", "serve"))
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
    elif stage == "seed_write_loop":
        # Write-back in the seed's style: rows appended one by one in a Python loop, then DB-API executemany.
        from recdb import runs
        from recdb.db import transaction

        n_users, n_items = con.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM items)").fetchall()[0]
        factors = np.random.default_rng(0).random((SEED_WRITE_SAMPLE, N_COMPONENTS), dtype=np.float32)
        run_id = runs.start_run(con, {"benchmark": True}, {})
        base = _rss_mb()
        started = time.perf_counter()
        with transaction(con):
            rows = []
            for user_idx, vector in zip(range(SEED_WRITE_SAMPLE), factors):
                rows.append((run_id, user_idx, vector.tolist()))
            con.executemany("INSERT INTO user_factors (run_id, user_idx, factors) VALUES (?, ?, ?)", rows)
        per_row = (time.perf_counter() - started) / SEED_WRITE_SAMPLE
        runs.fail_run(con, run_id, "benchmark run")
        runs.delete_run(con, run_id)
        total = n_users + n_items
        return {"rows": total, "seconds": per_row * total, "peak_rss_mb": _peak_since(base),
                "extrapolated_from_rows": SEED_WRITE_SAMPLE}
    elif stage == "fit":
        # A fixed number of iterations of the seed's NMF (a full fit runs until tol or max_iter=500).
        from recdb.model import NMFParams, fit_nmf
        from recdb.repository import MatrixOptions, read_interaction_matrix

        matrix = read_interaction_matrix(con, MatrixOptions()).matrix
        base = _rss_mb()
        started = time.perf_counter()
        result = fit_nmf(matrix, NMFParams(n_components=N_COMPONENTS, max_iter=FIT_ITERATIONS, tol=0))
        rows = int(matrix.nnz)
        extra = {"iterations": result.n_iter, "seconds_per_iteration": result.fit_seconds / result.n_iter}
    elif stage in ("score", "publish"):
        from recdb.repository import MatrixOptions, read_interaction_matrix

        seen = read_interaction_matrix(con, MatrixOptions()).matrix
        users, items = _nmf_like_factors(*seen.shape)
        base = _rss_mb()
        started = time.perf_counter()
        if stage == "score":
            from recdb.scoring import score_all

            score_all(users, items, seen, top_k=10, on_top_k=lambda top: None)
        else:
            from recdb import pipeline, runs
            from recdb.db import transaction

            run_id = runs.start_run(con, {"benchmark": True}, {})
            with transaction(con):
                pipeline._publish_scores(con, run_id, users, items, seen, pipeline.PublishOptions(top_k=10),
                                         lambda message: None)
            runs.fail_run(con, run_id, "benchmark run")
            runs.delete_run(con, run_id)
        rows = seen.shape[0]  # users scored (top-10 plus coverage on both axes)
        extra = {"n_items": seen.shape[1], "n_components": N_COMPONENTS}
    elif stage == "serve":
        # Publishing the read-only serving file for an active run with a top-10 per user.
        from recdb import pipeline, repository, runs, serving
        from recdb.db import transaction
        from recdb.repository import MatrixOptions, read_interaction_matrix

        seen = read_interaction_matrix(con, MatrixOptions()).matrix
        users, items = _nmf_like_factors(*seen.shape)
        run_id = runs.start_run(con, {"benchmark": True, "publish": {"top_k": 10}}, {})
        with transaction(con):
            repository.write_factors(con, run_id, "user", users)
            repository.write_factors(con, run_id, "item", items)
            pipeline._publish_scores(con, run_id, users, items, seen, pipeline.PublishOptions(top_k=10),
                                     lambda message: None)
            runs.finish_run(con, run_id, n_users=seen.shape[0], n_items=seen.shape[1])
            runs.set_active(con, run_id)
        target = workdir / "bench.serve.duckdb"
        base = _rss_mb()
        started = time.perf_counter()
        serving.publish(con, target)
        seconds = time.perf_counter() - started
        peak = _peak_since(base)
        served = duckdb.connect(str(target), read_only=True)
        rows = sum(served.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] for table in serving.TABLES)
        served.close()
        with transaction(con):
            con.execute("DELETE FROM active_run")
        runs.fail_run(con, run_id, "benchmark run")
        runs.delete_run(con, run_id)
        return {"rows": rows, "seconds": seconds, "peak_rss_mb": peak, "file_mb": target.stat().st_size / 2**20}
    elif stage == "seed_dense":
        # The seed's prediction: dense W @ H and a full argsort, on the largest slice that fits comfortably.
        from recdb.repository import MatrixOptions, read_interaction_matrix

        seen = read_interaction_matrix(con, MatrixOptions()).matrix
        n_users, n_items = min(seen.shape[0], 2_000), min(seen.shape[1], 50_000)  # 0.8 GB of float64
        users, items = _nmf_like_factors(n_users, n_items)
        base = _rss_mb()
        started = time.perf_counter()
        predictions = users.astype(np.float64) @ items.T.astype(np.float64)
        np.argsort(-predictions, axis=1)[:, :10]
        (predictions > 0).sum(axis=1)
        rows = n_users
        extra = {"n_items": n_items, "full_size_gb": seen.shape[0] * seen.shape[1] * 8 / 1e9}
    elif stage == "seed_coverage_loop":
        # The seed's coverage loop: per row, model.transform then a dense prediction row; timed on a sample.
        import warnings

        from sklearn.decomposition import NMF

        from recdb.repository import MatrixOptions, read_interaction_matrix

        matrix = read_interaction_matrix(con, MatrixOptions(orientation="item-user")).matrix
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = NMF(n_components=N_COMPONENTS, init="random", random_state=0, max_iter=2).fit(matrix)
        sample = min(50, matrix.shape[0])
        base = _rss_mb()
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for row in range(sample):
                w = model.transform(matrix[row])
                (w @ model.components_).astype(bool).sum()
        per_row = (time.perf_counter() - started) / sample
        total = matrix.shape[0] + matrix.shape[1]
        return {"rows": total, "seconds": per_row * total, "peak_rss_mb": _peak_since(base),
                "extrapolated_from_rows": sample, "seconds_per_row": per_row}
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
    os.sync()  # the kernel's flushing of the fresh file would otherwise be timed as part of the ingest
    print(f"generated {shape.n_interactions:,} interactions ({shape.n_users:,} users x {shape.n_items:,} items) "
          f"in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    results = {}
    for stage in STAGES:
        done = subprocess.run([sys.executable, __file__, "--stage", stage, "--workdir", str(args.workdir)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"stage {stage} failed:\n{done.stderr}")
        results[stage] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{stage}: {results[stage]}", file=sys.stderr)

    lines = [
        f"| stage ({args.size}: {shape.n_users:,} users x {shape.n_items:,} items) | rows | seconds | rows/s | peak extra RSS MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for stage, r in results.items():
        lines.append(f"| {stage} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    m = results["matrix"]
    loop = results["seed_coverage_loop"]
    fit = results["fit"]
    served = results["serve"]
    dense = results["seed_dense"]
    score = results["score"]
    lines += [
        f"- fit: {fit['iterations']} iterations of NMF(n_components={N_COMPONENTS}, solver=cd) on {fit['rows']:,} "
        f"cells, {fit['seconds_per_iteration']:.2f} s per iteration",
        f"- seed / recdb: matrix build {results['seed_loop']['seconds'] / m['seconds']:.1f}x, factor write-back "
        f"{results['seed_write_loop']['seconds'] / results['write_factors']['seconds']:.0f}x (loop + executemany, "
        f"extrapolated from {SEED_WRITE_SAMPLE:,} rows), "
        f"top-10 per user {dense['seconds'] / dense['rows'] / (score['seconds'] / score['rows']):.0f}x (dense slice), "
        f"coverage {loop['seconds'] / score['seconds']:.0f}x (extrapolated loop against the full pass)",
        f"- serve: the read-only serving file for an active run (top-10 per user, factors, coverage, interactions): "
        f"{served['rows']:,} rows, {served['file_mb']:.0f} MB, written aside and swapped in",
        f"- seed_coverage_loop is extrapolated from {loop['extrapolated_from_rows']} rows "
        f"({loop['seconds_per_row'] * 1000:.0f} ms a row) to all {loop['rows']:,} users and items",
        f"- seed_dense ran on {results['seed_dense']['rows']:,} users x {results['seed_dense']['n_items']:,} items; "
        f"the full float64 W@H would need {results['seed_dense']['full_size_gb']:.0f} GB",
        f"- score / publish: top-10 and coverage on both axes for every user, {N_COMPONENTS} components "
        "(synthetic NMF-like factors); publish also writes recommendations, coverage and the summary",

        "",
        f"- matrix build / bare Arrow fetch: {m['seconds'] / results['bare_fetch']['seconds']:.1f}x",
        f"- matrix build peak extra RSS / CSR bytes: {m['peak_rss_mb'] / m['csr_mb']:.1f}x (CSR {m['csr_mb']:.0f} MB)",
    ]
    report = "\n".join(lines)
    print(report)
    (args.workdir / f"stages-{args.size}.json").write_text(json.dumps(results, indent=2))
    (args.workdir / f"stages-{args.size}.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
