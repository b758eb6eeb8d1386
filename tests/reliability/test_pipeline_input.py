"""Hostile parameters and durations for pipelines, at every surface they enter: the CLI
(``--param``, ``--params-json``, ``--timeout``...), the magics, the Python API, and a run
record written by hand (the worker checks again before papermill sees it)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

import mlnb
from mlnb.errors import ValidationError
from mlnb.pipelines.runner import RunExecutor
from tests.pipelines.conftest import write_notebook
from tests.reliability.figures import record_figure

INJECTION = "lr = 0.2\nopen('PWNED', 'w').write('x')\nz"
BAD_NAMES = [INJECTION, "class", "1x", "a-b", "", "lambda"]


@pytest.fixture
def notebook(tmp_path) -> Path:
    """A notebook whose parameters cell sets ``n``."""
    return write_notebook(tmp_path / "train.ipynb", ["n = 1", "n * 2"])


@pytest.fixture
def no_literal_notebook(tmp_path) -> Path:
    """A parameters cell that assigns no literal: mlnb cannot list the names it defines."""
    return write_notebook(
        tmp_path / "train.ipynb",
        ["lr = float('0.1')", "lr * 2"],
    )


def _cli(argv: list[str]) -> tuple[int, str]:
    from mlnb.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, err.getvalue()


def test_parameter_keys_that_are_not_identifiers_never_reach_the_kernel(
    registry, registry_home, no_literal_notebook, tmp_path
):
    mlnb.create_pipeline("p", no_literal_notebook)
    pwned = no_literal_notebook.parent / "PWNED"
    problems = []
    for name in BAD_NAMES:
        code, err = _cli(
            ["--registry", str(registry_home), "pipeline", "run", "p", "--params-json",
             json.dumps({name: 1})]
        )  # fmt: skip
        if code != 1 or "not a Python identifier" not in err or "Traceback" in err:
            problems.append(("--params-json", name, code, err[-200:]))
        with pytest.raises(ValidationError, match="not a Python identifier"):
            mlnb.run_pipeline("p", params={name: 1})
        with pytest.raises(ValidationError, match="not a Python identifier"):
            mlnb.create_pipeline("q", no_literal_notebook, params={name: 1})
    code, err = _cli(
        ["--registry", str(registry_home), "pipeline", "run", "p", "--param", "class=1"]
    )
    if code != 1 or "not a Python identifier" not in err:
        problems.append(("--param", "class", code, err[-200:]))
    assert problems == []
    assert not pwned.exists()
    assert registry.pipelines.runs() == []  # nothing was even queued
    record_figure("pipeline_bad_param_names", {"cases": len(BAD_NAMES) * 3 + 1})


def test_non_finite_parameter_values_are_refused(registry, registry_home, notebook):
    mlnb.create_pipeline("p", notebook)
    for text in ['{"n": 1e999}', '{"n": NaN}', '{"n": [1, -Infinity]}', '{"n": {"a": 1e400}}']:
        code, err = _cli(
            ["--registry", str(registry_home), "pipeline", "run", "p", "--params-json", text]
        )
        assert code == 1 and "not a finite number" in err, (text, err)
    code, err = _cli(
        ["--registry", str(registry_home), "pipeline", "run", "p", "--param", "n=1e999"]
    )
    assert code == 1 and "not a finite number" in err
    with pytest.raises(ValidationError, match="not a finite number"):
        mlnb.create_pipeline("q", notebook, params={"n": float("nan")})
    assert registry.pipelines.runs() == []


def test_the_magic_refuses_a_code_injecting_parameter_name(ip, registry, notebook):
    from IPython.core.error import UsageError

    mlnb.create_pipeline("p", notebook)
    result = ip.run_cell("%pipeline run p --params-json '" + json.dumps({INJECTION: 1}) + "'")
    error = result.error_in_exec or result.error_before_exec
    assert isinstance(error, UsageError) and "not a Python identifier" in str(error)
    assert registry.pipelines.runs() == []


def test_a_stored_run_with_a_bad_parameter_name_fails_before_papermill(
    registry, no_literal_notebook
):
    """A run record written by something older (or by hand) is checked again by the worker."""
    mlnb.create_pipeline("p", no_literal_notebook)
    pipeline = registry.pipelines.get("p")
    run_id = registry.pipelines.enqueue_run(
        pipeline["id"], "manual", "by hand", None, {"params": {INJECTION: 1}}
    )
    executor = RunExecutor(registry)
    assert executor.claim(run_id, pipeline)
    row = executor.execute(run_id)
    assert row["status"] == "failed"
    assert "not a Python identifier" in row["error"]
    assert not (no_literal_notebook.parent / "PWNED").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--timeout", "nan"),
        ("--timeout", "inf"),
        ("--timeout", "0"),
        ("--timeout", "-5"),
        ("--retry-delay", "nan"),
        ("--retry-delay", "inf"),
        ("--retry-delay", "0"),
        ("--retry-delay", "-1"),
    ],
)
def test_durations_must_be_finite_and_above_zero(registry_home, notebook, option, value):
    code, err = _cli(
        ["--registry", str(registry_home), "pipeline", "create", "p", str(notebook), option, value]
    )
    assert code == 1, err
    assert option in err and "finite number of seconds above zero" in err
    assert "Traceback" not in err


def test_scheduler_poll_must_be_a_finite_positive_duration(registry_home):
    for value in ("nan", "inf", "0", "-1"):
        code, err = _cli(["--registry", str(registry_home), "scheduler", "--once", "--poll", value])
        assert code == 1 and "--poll" in err and "Traceback" not in err, (value, err)
