"""Runtime facts at the bottom floor: who and where this process is (user, host, pid
liveness), what a run records about its environment (git commit, Python and package
versions), and the heartbeat timings of live runs.

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

# A live run refreshes its heartbeat this often; one silent for STALE_AFTER_SECONDS whose
# process is not known to be alive is marked crashed.
HEARTBEAT_SECONDS = 10.0
STALE_AFTER_SECONDS = 90.0

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


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` on this host is alive (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def installed_version() -> str:
    """mlnb's version from the installed distribution (one source: labextension/package.json
    through hatch-nodejs-version); ``0+unknown`` for a source tree that was never installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version("mlnb")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@lru_cache(maxsize=1)
def launching_notebook() -> str | None:
    """The notebook a batch executor (``jupyter nbconvert --execute``, ``papermill``) started
    this kernel for, read from the parent process's command line; None when there is none.

    Those tools start the kernel as a child and tell it nothing about the notebook, so a run
    recorded there would otherwise lose its notebook. Linux ``/proc`` only; elsewhere None.
    """
    parent = f"/proc/{os.getppid()}"
    try:
        with open(f"{parent}/cmdline", "rb") as f:
            words = [w.decode(errors="replace") for w in f.read().split(b"\0") if w]
        cwd = os.readlink(f"{parent}/cwd")
    except OSError:
        return None
    for word in words[1:]:
        if word.endswith(".ipynb"):
            path = os.path.join(cwd, os.path.expanduser(word))
            if os.path.isfile(path):
                return os.path.normpath(path)
    return None
