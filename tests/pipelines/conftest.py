"""Helpers for pipeline tests: tiny notebooks written on the fly, a settable clock, and a
stand-in executor for scheduler tests that need no kernel."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest


def write_notebook(path: Path, cells: list[str], tag_first: bool = True) -> Path:
    """A v4 notebook of code cells; the first is tagged ``parameters`` unless told not to."""
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {"tags": ["parameters"]} if (i == 0 and tag_first) else {},
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
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"cell-{i}"
    path.write_text(json.dumps(nb, indent=1))
    return path


class FakeClock:
    """An aware UTC clock tests move by hand; ``sleep`` advances it instead of waiting."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += dt.timedelta(seconds=seconds)

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class InstantRuns:
    """Stands in for the papermill executor: each claimed run records the watched data
    hashes as the worker does, then finishes at once (or with the status the test asks
    for); the ids are remembered."""

    def __init__(self, registry, status: str = "finished") -> None:
        self.reg = registry
        self.status = status
        self.executed: list[int] = []

    def __call__(self, run_id: int) -> dict:
        from mlnb.pipelines.config import PipelineConfig
        from mlnb.pipelines.worker import _record_data_hashes

        self.executed.append(run_id)
        run = self.reg.pipelines.run(run_id)
        pipeline = self.reg.pipelines.get_by_id(run["pipeline_id"])
        _record_data_hashes(self.reg, PipelineConfig.from_dict(pipeline["config"]), run_id)
        self.reg.pipelines.update_run(run_id, {"status": self.status, "ended_at": time.time()})
        return self.reg.pipelines.run(run_id)


@pytest.fixture
def notebook(tmp_path) -> Path:
    """A small notebook whose parameters cell sets ``n`` and ``label``."""
    return write_notebook(
        tmp_path / "train.ipynb",
        [
            "n = 1\nlabel = 'a'",
            "import mlnb\nwith mlnb.track('fit'):\n    mlnb.log_metric('score', n * 2)",
        ],
    )


@pytest.fixture
def utc():
    return dt.UTC
