"""Drift on 10M rows x 50 columns: Dask (LocalCluster, 2 workers) vs pandas in chunks.

Both sides see the same data, generated partition by partition from a seed per partition
(never materialised whole): a reference and a shifted current batch. The pandas side streams
the chunks through ``fit_profile(chunks)`` / ``score(profile, chunks)``; the Dask side passes
Dask DataFrames built with ``dask.dataframe.from_delayed``. Each side runs in its own process
so that peak memory (max RSS) is the client's alone; Dask workers are separate processes.

    .venv/bin/python bench/bench_dask.py                    # 10M rows x 50 columns
    .venv/bin/python bench/bench_dask.py --rows 1000000     # a quicker run
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

import numpy as np

N_CATEGORICAL = 10
CITIES = [f"city_{i}" for i in range(8)]


def make_part(index: int, rows: int, cols: int, shift: float) -> object:
    """Partition ``index`` of a frame: numeric columns (some heavy-tailed) and categories."""
    import pandas as pd

    rng = np.random.default_rng([index, int(shift * 1000)])
    data: dict[str, object] = {}
    n_cat = min(N_CATEGORICAL, cols // 5)
    for j in range(cols - n_cat):
        moved = shift if j % 4 == 0 else 0.0  # a quarter of the numeric columns drift
        if j % 3 == 0:
            data[f"num_{j}"] = rng.lognormal(moved, 1.0, rows)
        else:
            data[f"num_{j}"] = rng.normal(moved, 1.0, rows)
    for j in range(n_cat):
        p = np.full(len(CITIES), 1 / len(CITIES))
        if j % 2 == 0 and shift:
            p = np.linspace(1, 3, len(CITIES))
            p /= p.sum()
        codes = rng.choice(len(CITIES), rows, p=p)
        data[f"cat_{j}"] = pd.Categorical.from_codes(codes, CITIES)
    return pd.DataFrame(data)


def chunk_sizes(rows: int, per_chunk: int) -> list[int]:
    full, rest = divmod(rows, per_chunk)
    return [per_chunk] * full + ([rest] if rest else [])


def run_pandas(args: argparse.Namespace) -> dict[str, float]:
    from mlnb.monitoring.drift import fit_profile, score

    sizes = chunk_sizes(args.rows, args.chunk_rows)

    def chunks(shift: float):
        return (make_part(i, n, args.cols, shift) for i, n in enumerate(sizes))

    started = time.perf_counter()
    for _ in chunks(0.0):
        pass
    generate = time.perf_counter() - started
    started = time.perf_counter()
    profile = fit_profile(chunks(0.0))
    fit = time.perf_counter() - started
    started = time.perf_counter()
    report = score(profile, chunks(args.shift))
    scored = time.perf_counter() - started
    return _result(generate, fit, scored, report)


def run_dask(args: argparse.Namespace) -> dict[str, float]:
    import dask
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from mlnb.monitoring.drift import fit_profile, score

    sizes = chunk_sizes(args.rows, args.chunk_rows)
    meta = make_part(0, 0, args.cols, 0.0)

    def frame(shift: float):
        parts = [dask.delayed(make_part)(i, n, args.cols, shift) for i, n in enumerate(sizes)]
        return dd.from_delayed(parts, meta=meta, verify_meta=False)

    if args.heap_malloc:
        # distributed sets MALLOC_TRIM_THRESHOLD_ in worker processes, which switches off
        # glibc's adaptive mmap threshold: numpy temporaries > 128 kB become fresh mmaps.
        # One 250k x 50 fit task ran 2-3x slower in a worker than in the client because of
        # it; over the whole benchmark the difference was within this machine's noise.
        env = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
        env["MALLOC_MMAP_THRESHOLD_"] = 1 << 26
        dask.config.set({"distributed.nanny.pre-spawn-environ": env})
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit=0,
    )
    with Client(cluster) as client:
        started = time.perf_counter()
        dask.compute(*[p.shape[0] for p in frame(0.0).to_delayed()])
        generate = time.perf_counter() - started
        started = time.perf_counter()
        profile = fit_profile(frame(0.0))
        fit = time.perf_counter() - started
        started = time.perf_counter()
        report = score(profile, frame(args.shift))
        scored = time.perf_counter() - started
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    cluster.close()
    out = _result(generate, fit, scored, report)
    out["worker_peak_mb"] = max(workers.values()) / 1024
    return out


def _result(generate: float, fit: float, scored: float, report) -> dict[str, float]:
    return {
        "generate_s": generate,
        "fit_s": fit,
        "score_s": scored,
        "client_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "n_drifted": report.n_drifted,
        "n_columns": report.n_columns,
        "drifted": sorted(c.column for c in report.columns if c.drifted),
        "scores": {c.column: c.score for c in report.columns},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--chunk-rows", type=int, default=250_000, help="rows per chunk/partition")
    parser.add_argument("--shift", type=float, default=0.2)
    parser.add_argument(
        "--heap-malloc",
        action="store_true",
        help="set MALLOC_MMAP_THRESHOLD_=64MiB in the Dask workers (big blocks on the heap)",
    )
    parser.add_argument("--side", choices=["pandas", "dask"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        result = run_pandas(args) if args.side == "pandas" else run_dask(args)
        print(json.dumps(result))
        return
    results = {}
    load_before = os.getloadavg()[0]
    for side in ("pandas", "dask"):
        cmd = [sys.executable, __file__, *sys.argv[1:], "--side", side]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[side] = json.loads(done.stdout.strip().splitlines()[-1])
    results["load_average"] = [load_before, os.getloadavg()[0]]
    print_table(args, results)
    out = Path(__file__).parent / "results" / "dask.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "results": results}, indent=1))


def print_table(args: argparse.Namespace, results: dict[str, dict]) -> None:
    pd_, dk = results["pandas"], results["dask"]
    n_parts = len(chunk_sizes(args.rows, args.chunk_rows))
    print(
        f"\n{args.rows:,} rows x {args.cols} columns, {n_parts} chunks/partitions of {args.chunk_rows:,} rows"
    )
    if args.heap_malloc:
        print("Dask workers with MALLOC_MMAP_THRESHOLD_=64MiB (--heap-malloc)")
    print(f"{'':28}{'pandas chunks':>15}{'Dask 2 workers':>16}{'ratio':>8}")
    for key, label in [
        ("generate_s", "generate only (s)"),
        ("fit_s", "fit_profile (s)"),
        ("score_s", "score (s)"),
        ("client_peak_mb", "client peak RSS (MB)"),
    ]:
        print(f"{label:28}{pd_[key]:>15.1f}{dk[key]:>16.1f}{pd_[key] / dk[key]:>7.2f}x")
    print(f"{'worker peak RSS (MB)':28}{'-':>15}{dk['worker_peak_mb']:>16.1f}")
    same = pd_["drifted"] == dk["drifted"]
    worst = max(
        abs(pd_["scores"][c] - dk["scores"][c]) / max(abs(pd_["scores"][c]), 1e-12)
        for c in pd_["scores"]
        if pd_["scores"][c] is not None
    )
    print(
        f"drifted columns: pandas {pd_['n_drifted']}/{pd_['n_columns']}, Dask "
        f"{dk['n_drifted']}/{dk['n_columns']}, same verdicts: {same}, "
        f"largest relative score difference: {worst:.1e}"
    )
    before, after = results["load_average"]
    print(
        f"1-minute load average on {os.cpu_count()} cores: {before:.1f} before, {after:.1f} after"
    )
    print(f"command: python bench/bench_dask.py {' '.join(sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
