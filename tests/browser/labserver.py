"""Start a real JupyterLab for the browser tests: 127.0.0.1, a free port, a token, a temporary
root, config, settings and data folders, the worktree's labextension and server extension."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LABEXTENSION_SRC = REPO / "labextension"
LABEXTENSION_BUILT = REPO / "mlnb" / "labextension"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


SCREENSHOTS = Path(os.environ.get("MLNB_SCREENSHOTS", REPO / "build" / "screenshots"))
TIMEOUT_MS = 30_000


def skip_without_chromium() -> None:
    """Skip the calling test module (at import) when the browser is not installed."""
    import pytest

    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"{CHROMIUM} is missing: run scripts/ensure_browser.sh (make test does) to install it",
            allow_module_level=True,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def newest_mtime(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)


def ensure_labextension_built() -> Path:
    """The built extension; rebuilt (npm ci + build:prod) when missing or older than its source."""
    static = LABEXTENSION_BUILT / "static"
    sources = [LABEXTENSION_SRC / "src", LABEXTENSION_SRC / "style"]
    stale = not static.is_dir() or max(newest_mtime(s) for s in sources) > newest_mtime(static)
    if stale:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "the JupyterLab extension is not built and npm is missing: install Node.js "
                "(>= 20) and run `pip install -e .`, or `cd labextension && npm ci && "
                "npm run build:prod`."
            )
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        if not (LABEXTENSION_SRC / "node_modules").is_dir():
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"], cwd=LABEXTENSION_SRC, env=env, check=True
            )
        subprocess.run([npm, "run", "build:prod"], cwd=LABEXTENSION_SRC, env=env, check=True)
    return LABEXTENSION_BUILT


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    registry: Path
    log: Path
    process: subprocess.Popen

    def api(self, path: str) -> dict:
        request = urllib.request.Request(
            f"{self.url}/{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1
            return json.loads(response.read())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_lab(base: Path, registry: Path, timeout: float = 90.0) -> Lab:
    """Start `jupyter lab` on 127.0.0.1 and wait until its API answers."""
    built = ensure_labextension_built()
    root = base / "root"
    config = base / "config"
    settings = base / "settings"
    extensions = base / "labextensions"
    for folder in (root, config, settings, extensions, base / "data", base / "runtime"):
        folder.mkdir(parents=True, exist_ok=True)
    (extensions / "mlnb").symlink_to(built, target_is_directory=True)
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {"jpserver_extensions": {"mlnb.server": True}},
                "LabServerApp": {"extra_labextensions_path": [str(extensions)]},
                "MlnbServer": {"registry": str(registry)},
            }
        )
    )
    # No news or update pop-ups over the screenshots.
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port = free_port()
    token = secrets.token_hex(16)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "MLNB_HOME": str(registry),
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
    }
    log = base / "lab.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
        ],
        cwd=root,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    lab = Lab(f"http://127.0.0.1:{port}", token, root, registry, log, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited early:\n{log.read_text()[-4000:]}")
        try:
            lab.api("mlnb/api/status")
            return lab
        except urllib.error.HTTPError as exc:
            lab.stop()
            raise RuntimeError(
                f"mlnb's API answered {exc.code} at startup:\n{log.read_text()[-4000:]}"
            ) from exc
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    lab.stop()
    raise RuntimeError(f"jupyter lab did not answer within {timeout} s:\n{log.read_text()[-4000:]}")
