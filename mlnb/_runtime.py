"""What a run records about where it ran: user, host, git commit, Python and package versions.

Everything here is cached per process (git with a short time-to-live) so recording a run
stays sub-millisecond.
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
import time
from functools import lru_cache
from typing import Any

KEY_PACKAGES = (
    "numpy",
    "pandas",
    "sklearn",
    "scipy",
    "xgboost",
    "lightgbm",
    "torch",
    "tensorflow",
    "statsmodels",
    "mlnb",
)
_GIT_TTL = 10.0
_git_cache: dict[str, tuple[float, tuple[str | None, bool | None]]] = {}


@lru_cache(maxsize=1)
def user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER", "unknown")


@lru_cache(maxsize=1)
def host() -> str:
    return socket.gethostname()


def python_version() -> str:
    return platform.python_version()


def package_versions() -> dict[str, str]:
    """Versions of the key ML packages this process has imported (never imports them)."""
    out = {}
    for name in KEY_PACKAGES:
        mod = sys.modules.get(name)
        if mod is not None:
            out[name] = str(getattr(mod, "__version__", "?"))
    return out


def git_state(cwd: str | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the repository holding ``cwd``, or (None, None) outside git."""
    cwd = cwd or os.getcwd()
    hit = _git_cache.get(cwd)
    if hit and time.monotonic() - hit[0] < _GIT_TTL:
        return hit[1]
    state: tuple[str | None, bool | None] = (None, None)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if commit.returncode == 0:
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=5,
            )
            state = (commit.stdout.strip(), bool(status.stdout.strip()))
    except (OSError, subprocess.SubprocessError):
        pass
    _git_cache[cwd] = (time.monotonic(), state)
    return state


def run_environment(cwd: str | None = None) -> dict[str, Any]:
    """Columns of the runs table describing the environment of this process."""
    commit, dirty = git_state(cwd)
    import json

    return {
        "user": user(),
        "host": host(),
        "pid": os.getpid(),
        "python_version": python_version(),
        "packages": json.dumps(package_versions(), separators=(",", ":")),
        "git_commit": commit,
        "git_dirty": None if dirty is None else int(dirty),
    }
