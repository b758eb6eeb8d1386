"""A real `mlflow server` (SQLite backend, proxied artifacts) from the peers venv, optionally
with MLflow's basic-auth app, on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PEER_CANDIDATES = [
    os.environ.get("MLNB_PEERS_PYTHON", ""),
    str(ROOT / ".venv-peers" / "bin" / "python"),
    "/work/main/.venv-peers/bin/python",
]
PEER_PYTHON = next((p for p in PEER_CANDIDATES if p and Path(p).exists()), None)
ADMIN = ("admin", "mlnb-test-password-1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mlflow_server(folder: Path, basic_auth: bool = False) -> Iterator[str]:
    """Start `mlflow server` in ``folder``; yields its URI and stops it afterwards."""
    if PEER_PYTHON is None:
        pytest.skip("no peers venv with mlflow (run bench/setup_peers.sh or set MLNB_PEERS_PYTHON)")
    port = free_port()
    cmd = [PEER_PYTHON, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
           "--artifacts-destination", str(folder / "artifacts")]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    if basic_auth:
        config = folder / "auth.ini"
        config.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = sqlite:///{folder / 'auth.db'}\n"
            f"admin_username = {ADMIN[0]}\nadmin_password = {ADMIN[1]}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = "mlnb-test-secret"
        cmd += ["--app-name", "basic-auth"]
    log = open(folder / "server.log", "w")
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, cwd=folder, env=env, start_new_session=True
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).read()
                break
            except urllib.error.HTTPError:  # the auth app answers 401: it is up
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"mlflow server did not start: {(folder / 'server.log').read_text()[-2000:]}"
                    )
                time.sleep(0.5)
        yield uri
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=30)
        log.close()


def load_in_mlflow(
    uri: str, ref: str, columns: list[str], env: dict[str, str] | None = None
) -> str:
    """Load ``ref`` with MLflow itself (the peers venv, pandas < 3) and predict two rows;
    returns what it printed: the estimator's class and the predictions."""
    code = (
        "import sys, mlflow, mlflow.sklearn, pandas as pd\n"
        "mlflow.set_tracking_uri(sys.argv[1]); mlflow.set_registry_uri(sys.argv[1])\n"
        "model = mlflow.sklearn.load_model(sys.argv[2])\n"
        f"X = pd.DataFrame([[5, 70.0], [60, 40.0]], columns={columns!r})\n"
        "print(type(model).__name__, list(model.predict(X)))\n"
    )
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    full_env.update(env or {})
    out = subprocess.run(
        [str(PEER_PYTHON), "-c", code, uri, ref], capture_output=True, text=True, env=full_env,
        timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]
