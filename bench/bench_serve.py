"""``mlnb serve`` vs ``mlflow models serve``: the same scikit-learn pipeline (the demo's churn
model) behind both, the same bounded loopback load, one run, side by side.

    PYTHONPATH=. python bench/bench_serve.py [--clients 8] [--requests 250] [--batches 20]
        [--rounds 5] [--single-rounds 2] [--starts 3]

Measured, each side started fresh:

- ready: seconds from starting the server process to its first 200 on /ping (mlnb's also
  over STARTS extra starts: best and median);
- single-row load: CLIENTS client processes x REQUESTS single-row requests each
  (keep-alive connections, ``{"dataframe_records": [row]}``): requests/s, p50, p95 of the
  best of SINGLE_ROUNDS rounds;
- batch load: BATCHES requests of 1,000 rows from one client, ROUNDS times: rows/s and p95
  of the best round (a 20-request round lasts a third of a second, so one busy moment on a
  shared machine would otherwise decide the logging overhead);
- mlnb twice, both servers running at once and measured in turns (single-row load on one,
  then the other; then 1,000-row rounds alternating): with its inference log on (every row
  logged, as deployed) and with ``--no-log``, for the logging overhead; and the hot-swap
  time (alias moved -> /version).

MLflow runs with 2 workers (``--env-manager local``) from .venv-peers (bash
bench/setup_peers.sh); mlnb with its defaults (one process). Goals: >= 3x MLflow's single-row
throughput, p95 <= 1/3 of MLflow's, logging overhead <= 10% (printed for 1,000-row and for
single-row requests: 1 - rows/s with the log on / rows/s with --no-log), ready <= 2 s. The machine is
shared: the load average is printed beside the figures. Results: bench/results/serve-latest.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "demo_notebooks"))
PEERS_VENV = Path(os.environ.get("PEERS_VENV", ROOT / ".venv-peers"))
RESULTS = ROOT / "bench" / "results" / "serve-latest.json"
COMMAND = "PYTHONPATH=. python bench/bench_serve.py"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- load generation (client processes with plain http.client) --------------------------------


def _client(args: tuple[str, int, list[bytes], int]) -> list[tuple[float, float, int]]:
    host_port, _, bodies, n = args
    host, port = host_port.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    out = []
    headers = {"Content-Type": "application/json"}
    for i in range(n):
        start = time.monotonic()
        try:
            conn.request("POST", "/invocations", body=bodies[i % len(bodies)], headers=headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
        out.append((start, time.monotonic(), status))
    conn.close()
    return out


def run_load(url: str, bodies: list[bytes], clients: int, requests: int) -> dict[str, Any]:
    host_port = url.removeprefix("http://")
    with mp.get_context("fork").Pool(clients) as pool:
        parts = pool.map(_client, [(host_port, i, bodies, requests) for i in range(clients)])
    samples = [s for part in parts for s in part]
    ok = [s for s in samples if s[2] == 200]
    latencies = sorted((e - s) * 1000 for s, e, _ in ok)
    span = max(e for _, e, _ in samples) - min(s for s, _, _ in samples)
    return {
        "requests": len(samples),
        "failed": len(samples) - len(ok),
        "seconds": span,
        "per_second": len(ok) / span if span else 0.0,
        "p50_ms": statistics.median(latencies) if latencies else None,
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
    }


# -- the servers -----------------------------------------------------------------------------------


def wait_ping(url: str, proc: subprocess.Popen, timeout: float = 180) -> float:
    start = time.monotonic()
    host, port = url.removeprefix("http://").split(":")
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=1)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    from mlnb.serving.server import free_port as pick

    return pick()


def start_mlnb(home: Path, log: bool) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    argv = [sys.executable, "-m", "mlnb", "--registry", str(home), "serve", "churn@production"]
    argv += ["--port", str(port)] + ([] if log else ["--no-log"])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    return proc, url, wait_ping(url, proc)


def start_mlflow(model_dir: Path) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    env = dict(os.environ, PATH=f"{PEERS_VENV / 'bin'}:{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    argv = [str(PEERS_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir)]
    argv += ["-h", "127.0.0.1", "-p", str(port), "--env-manager", "local", "-w", "2"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    return proc, url, wait_ping(url, proc)


# -- the model on both sides ----------------------------------------------------------------------


def prepare(work: Path) -> tuple[Path, Path, list[dict[str, Any]], Any]:
    import churn_data as cd

    import mlnb

    train = cd.make_customers(3000, month=0, seed=1)
    features, labels = cd.split_features(train)
    model = cd.build_model().fit(features, labels)
    later = cd.build_model().fit(*cd.split_features(cd.make_customers(3000, month=6, seed=2)))
    home = work / "registry"
    reg = mlnb.Registry(home)
    mlnb.register_model(model, name="churn", X=features, registry=reg)
    mlnb.register_model(later, name="churn", X=features, registry=reg)
    reg.models.transition("churn", 1, "production", reason="bench")
    reg.close()
    (work / "model.pkl").write_bytes(pickle.dumps(model))
    sample = cd.split_features(cd.make_customers(50, month=0, seed=3))[0]
    sample.to_csv(work / "sample.csv", index=False)
    mlflow_dir = work / "mlflow-model"
    subprocess.run(
        [
            str(PEERS_VENV / "bin" / "python"),
            str(ROOT / "bench" / "peers" / "mlflow_serve_model.py"),
            str(work / "model.pkl"),
            str(work / "sample.csv"),
            str(mlflow_dir),
        ],
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    live = cd.split_features(cd.make_customers(2000, month=1, seed=4))[0]
    rows = json.loads(live.astype(object).where(live.notna(), None).to_json(orient="records"))
    return home, mlflow_dir, rows, cd


def bodies(rows: list[dict[str, Any]], size: int, n: int) -> list[bytes]:
    return [
        json.dumps({"dataframe_records": rows[(i * size) % len(rows) :][:size]}).encode()
        for i in range(n)
    ]


def measure(url: str, rows: list[dict[str, Any]], opts: argparse.Namespace) -> dict[str, Any]:
    """One server alone: warm-up, the single-row load, then ROUNDS rounds of 1,000 rows."""
    return measure_side_by_side({"only": url}, rows, opts)["only"]


def measure_side_by_side(
    urls: dict[str, str], rows: list[dict[str, Any]], opts: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Several running servers measured in turns (A, B, A, B...), so that a busy moment of
    the shared machine falls on both sides alike: SINGLE_ROUNDS rounds of the single-row
    load, then ROUNDS rounds of 1,000-row requests, keeping each side's best round."""
    for url in urls.values():
        run_load(url, bodies(rows, 1, 50), 2, 25)  # warm up every side alike
    out: dict[str, dict[str, Any]] = {side: {} for side in urls}
    singles: dict[str, list[dict[str, Any]]] = {side: [] for side in urls}
    for _ in range(opts.single_rounds):
        for side, url in urls.items():
            singles[side].append(run_load(url, bodies(rows, 1, 500), opts.clients, opts.requests))
    for side, done in singles.items():
        single = max(done, key=lambda r: r["per_second"])
        single["rounds_per_second"] = [r["per_second"] for r in done]
        single["load_average"] = load_average()
        out[side]["single_row"] = single
    rounds: dict[str, list[dict[str, Any]]] = {side: [] for side in urls}
    for _ in range(opts.rounds):
        for side, url in urls.items():
            rounds[side].append(run_load(url, bodies(rows, 1000, 4), 1, opts.batches))
    for side, done in rounds.items():
        batch = max(done, key=lambda r: r["per_second"])  # least disturbed by other sessions
        batch["rows_per_second"] = batch["per_second"] * 1000
        batch["rounds_rows_per_second"] = [r["per_second"] * 1000 for r in done]
        batch["load_average"] = load_average()
        out[side]["batch_1000"] = batch
    return out


def hot_swap_seconds(home: Path, url: str) -> float:
    import mlnb

    reg = mlnb.Registry(home, create=False)
    reg.models.transition("churn", 2, "production", reason="bench swap")
    start = time.monotonic()
    host, port = url.removeprefix("http://").split(":")
    while time.monotonic() - start < 30:
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("GET", "/version")
        if json.loads(conn.getresponse().read())["version"] == 2:
            break
        time.sleep(0.02)
    seconds = time.monotonic() - start
    reg.close()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=250, help="per client")
    parser.add_argument("--batches", type=int, default=20, help="1,000-row requests a round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of 1,000-row requests")
    parser.add_argument("--starts", type=int, default=3, help="extra mlnb starts timed for ready")
    parser.add_argument(
        "--single-rounds", type=int, default=2, help="rounds of the single-row load (best kept)"
    )
    opts = parser.parse_args()
    results: dict[str, Any] = {"command": COMMAND, "load_average_start": load_average()}
    with tempfile.TemporaryDirectory() as tmp:
        home, mlflow_dir, rows, _ = prepare(Path(tmp))

        proc, url, ready = start_mlflow(mlflow_dir)
        try:
            results["mlflow"] = {"ready_seconds": ready, **measure(url, rows, opts)}
        finally:
            stop(proc)

        readies = []
        for _ in range(opts.starts):  # ready alone: start, first 200 on /ping, stop
            proc, _, seconds = start_mlnb(home, log=True)
            stop(proc)
            readies.append(seconds)
        results["mlnb_ready_starts"] = readies
        # mlnb with and without its log run at once and are measured in turns, so the
        # logging overhead compares two servers under the same moment's load
        off_proc, off_url, off_ready = start_mlnb(home, log=False)
        try:
            proc, url, ready = start_mlnb(home, log=True)
            try:
                both = measure_side_by_side({"mlnb_no_log": off_url, "mlnb": url}, rows, opts)
                results["mlnb_no_log"] = {"ready_seconds": off_ready, **both["mlnb_no_log"]}
                results["mlnb"] = {"ready_seconds": ready, **both["mlnb"]}
                results["mlnb"]["hot_swap_seconds"] = hot_swap_seconds(home, url)
            finally:
                stop(proc)
        finally:
            stop(off_proc)
        import mlnb

        reg = mlnb.Registry(home, create=False)
        results["mlnb"]["rows_logged"] = reg.deployments.count_rows(reg.deployments.find()[0]["id"])
        reg.close()
    results["load_average_end"] = load_average()
    results["ratios"] = ratios(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print_table(results)
    return 0


def ratios(r: dict[str, Any]) -> dict[str, float]:
    m, f, off = r["mlnb"], r["mlflow"], r["mlnb_no_log"]
    return {
        "single_row_throughput_x": m["single_row"]["per_second"] / f["single_row"]["per_second"],
        "single_row_p95_fraction": m["single_row"]["p95_ms"] / f["single_row"]["p95_ms"],
        "batch_rows_per_second_x": m["batch_1000"]["rows_per_second"]
        / f["batch_1000"]["rows_per_second"],
        "logging_overhead_single_row": 1
        - m["single_row"]["per_second"] / off["single_row"]["per_second"],
        "logging_overhead_1000_rows": 1
        - m["batch_1000"]["rows_per_second"] / off["batch_1000"]["rows_per_second"],
        "ready_seconds_mlnb": m["ready_seconds"],
        "ready_seconds_mlnb_best": min([m["ready_seconds"], *r.get("mlnb_ready_starts", [])]),
        "ready_seconds_mlnb_median": statistics.median(
            [m["ready_seconds"], *r.get("mlnb_ready_starts", [])]
        ),
        "ready_seconds_mlflow": f["ready_seconds"],
    }


def print_table(r: dict[str, Any]) -> None:
    print(
        f"bench_serve ({r['command']}); load average {r['load_average_start']} -> "
        f"{r['load_average_end']} (shared 2-core machine)"
    )
    print(f"{'':28}{'mlnb (log on)':>16}{'mlnb (log off)':>16}{'mlflow serve':>16}")
    for label, key, sub, fmt in [
        ("ready s", "ready_seconds", None, "{:.2f}"),
        ("single-row req/s", "single_row", "per_second", "{:.0f}"),
        ("single-row p50 ms", "single_row", "p50_ms", "{:.1f}"),
        ("single-row p95 ms", "single_row", "p95_ms", "{:.1f}"),
        ("single-row failed", "single_row", "failed", "{}"),
        ("1,000-row rows/s", "batch_1000", "rows_per_second", "{:.0f}"),
        ("1,000-row p95 ms", "batch_1000", "p95_ms", "{:.1f}"),
    ]:
        cells = []
        for side in ("mlnb", "mlnb_no_log", "mlflow"):
            value = r[side][key] if sub is None else r[side][key][sub]
            cells.append(fmt.format(value))
        print(f"{label:28}" + "".join(f"{c:>16}" for c in cells))
    q = r["ratios"]
    print(
        f"throughput {q['single_row_throughput_x']:.2f}x MLflow (goal >= 3x); p95 "
        f"{q['single_row_p95_fraction']:.2f} of MLflow's (goal <= 0.33); 1,000-row rows/s "
        f"{q['batch_rows_per_second_x']:.2f}x; logging overhead (rows/s, log on vs --no-log) "
        f"on 1,000-row requests {q['logging_overhead_1000_rows']:.1%} (goal <= 10%), on "
        f"single-row requests {q['logging_overhead_single_row']:.1%} (goal <= 10%); ready "
        f"{q['ready_seconds_mlnb']:.2f} s (best {q['ready_seconds_mlnb_best']:.2f} s, median "
        f"{q['ready_seconds_mlnb_median']:.2f} s of {1 + len(r.get('mlnb_ready_starts', []))} "
        f"starts) vs {q['ready_seconds_mlflow']:.2f} s "
        f"(goal <= 2 s); hot swap {r['mlnb']['hot_swap_seconds']:.2f} s (goal <= 2 s); "
        f"rows logged {r['mlnb']['rows_logged']}"
    )


if __name__ == "__main__":
    sys.exit(main())
