"""A real registry with the demo's churn pipeline registered (v1 in production, v2 and a
broken v3 waiting) and a real ``mlnb serve`` process on 127.0.0.1 for each test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "demo_notebooks"))
import churn_data as cd  # noqa: E402

import mlnb  # noqa: E402
from mlnb.serving.server import free_port, wait_ready  # noqa: E402


@pytest.fixture(scope="session")
def customers() -> pd.DataFrame:
    return cd.make_customers(400, month=0, seed=3)


@pytest.fixture(scope="session")
def fitted_models():
    train = cd.make_customers(1500, month=0, seed=1)
    v1 = cd.build_model().fit(*cd.split_features(train))
    later = cd.make_customers(1500, month=6, seed=2)
    v2 = cd.build_model().fit(*cd.split_features(later))
    return v1, v2


def make_churn_registry(home: Path, fitted_models) -> mlnb.Registry:
    """churn v1 in production and v2 registered (not promoted) in a new registry at home."""
    v1, v2 = fitted_models
    reg = mlnb.Registry(home)
    features, _ = cd.split_features(cd.make_customers(300, month=0, seed=1))
    mlnb.register_model(v1, name="churn", X=features, registry=reg)
    mlnb.register_model(v2, name="churn", X=features, registry=reg)
    reg.models.transition("churn", 1, "production", reason="first", user="test")
    return reg


@pytest.fixture
def churn_registry(registry, fitted_models) -> Path:
    """The test's registry with churn v1 in production and v2 waiting."""
    make_churn_registry(registry.home, fitted_models).close()
    return registry.home


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory, fitted_models) -> Iterator[Served]:
    """One server for the tests that only send requests (starting one costs seconds)."""
    home = tmp_path_factory.mktemp("shared") / "registry"
    make_churn_registry(home, fitted_models).close()
    served = start_server(home, "--max-body-mb", "0.05")
    yield served
    stop_server(served)


@dataclass
class Served:
    url: str
    process: subprocess.Popen
    home: Path
    token: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def post(self, path: str, **kw) -> httpx.Response:
        return httpx.post(
            self.url + path, headers={**self.headers(), **kw.pop("headers", {})}, timeout=30, **kw
        )

    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(self.url + path, headers=self.headers(), timeout=30, **kw)


def start_server(home: Path, *args: str, token: str | None = None) -> Served:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("MLNB_SERVE_TOKEN", None)
    if token:
        env["MLNB_SERVE_TOKEN"] = token
    argv = [sys.executable, "-m", "mlnb", "--registry", str(home), "serve", "churn@production"]
    proc = subprocess.Popen(
        [*argv, "--port", str(port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    served = Served(f"http://127.0.0.1:{port}", proc, home, token)
    wait_ready(served.url, proc, token, timeout=60)
    return served


def stop_server(served: Served) -> None:
    if served.process.poll() is None:
        served.process.terminate()
        try:
            served.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait()


@pytest.fixture
def server(churn_registry) -> Iterator[Served]:
    served = start_server(churn_registry)
    yield served
    stop_server(served)


def records(frame: pd.DataFrame) -> list[dict]:
    features, _ = cd.split_features(frame)
    return features.astype(object).where(features.notna(), None).to_dict(orient="records")


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A v4 notebook of code cells, the first tagged ``parameters``."""
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",
                "metadata": {"tags": ["parameters"]} if i == 0 else {},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))
    return path
