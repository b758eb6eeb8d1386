"""Bad input at every surface, as a table: wrong magic options, wrong CLI arguments, bad
Python API calls, huge and unicode names, SQL metacharacters. Each case must end with a clear
message (no traceback) and leave the registry as it was; SQL metacharacters in filters must
be plain text. The number of cases per surface goes to build/reliability/figures.json.

The REST surface is in tests/reliability/rest/ (it needs a Jupyter server)."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest

import mlnb
from mlnb.errors import MlnbError
from tests.reliability.figures import record_figure

SQL = "x'; DROP TABLE runs; --"
HTML = "<script>alert(1)</script><img src=x onerror=alert(2)>"
HUGE = "n" * 100_000
UNICODE = "模型-ü-🚀-\u202e-\x00"


@pytest.fixture
def populated(registry):
    """Two finished runs whose names and params carry HTML and SQL, plus a model."""
    for name in (HTML, SQL):
        with mlnb.track(name, experiment="exp", registry=registry, params={"p": HTML}):
            mlnb.log_metric("acc", 0.5)
    return registry


def _counts(registry) -> dict[str, int]:
    return registry.counts()


# (argv, exit code, fragment of the message on stderr)
CLI_CASES: list[tuple[list[str], int, str]] = [
    (["frobnicate"], 2, "invalid choice"),
    (["runs", "--limit", "ten"], 2, "expected a whole number"),
    (["runs", "--limit", "-1"], 2, "positive"),
    (["runs", "--status", "exploded"], 2, "invalid choice"),
    (["show"], 2, "required"),
    (["show", "9999"], 1, "no run with id 9999"),
    (["show", SQL], 1, "is not a run id"),
    (["show", HTML], 1, "is not a run id"),
    (["show", HUGE], 1, "is not a run id"),
    (["show", UNICODE.replace("\x00", "")], 1, "is not a run id"),
    (["compare", "1"], 1, "at least two runs"),
    (["compare", "1", SQL], 1, "is not a run id"),
    (["promote"], 2, "required"),
    (["promote", "churn", "1", "--to", "heaven"], 2, "invalid choice"),
    (["promote", SQL, "1"], 1, "no registered model named"),
    (["promote", HTML, "1"], 1, "cannot read model reference"),
    (["rollback", "nope"], 1, "no registered model named 'nope'"),
    (["data", "show", "zzzz"], 1, "zzzz"),
    (["pipeline", "create"], 2, "required"),
    (["pipeline", "run", SQL], 1, "pipeline"),
    (["pipeline", "frob"], 2, "invalid choice"),
    (["monitor", "frob"], 2, "invalid choice"),
    (["alerts", "ack", "ten"], 2, "invalid"),
    (["--registry", "/nonexistent/mlnb-reg", "runs"], 1, "no mlnb registry"),
]
# filters that must be taken literally: they succeed and match nothing
CLI_LITERAL_FILTERS = [
    ["runs", "--experiment", SQL],
    ["runs", "--experiment", HTML],
    ["runs", "--sort", SQL],
    ["runs", "--experiment", UNICODE.replace("\x00", "")],
]


def _cli(argv: list[str]) -> tuple[int, str, str]:
    from mlnb.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_cli_bad_arguments_each_get_a_clear_error(populated, registry_home):
    before = _counts(populated)
    problems = []
    for argv, want_code, fragment in CLI_CASES:
        args = argv if argv[0] == "--registry" else ["--registry", str(registry_home), *argv]
        code, _, err = _cli(args)
        if code != want_code or fragment not in err or "Traceback" in err:
            problems.append((argv[:3], code, err[-300:]))
    for argv in CLI_LITERAL_FILTERS:
        code, out, err = _cli(["--registry", str(registry_home), "--json", *argv])
        if code != 0 or "Traceback" in err:
            problems.append((argv, code, err[-300:]))
    assert problems == [], "\n".join(map(repr, problems))
    assert _counts(populated) == before
    record_figure("bad_input_cli", {"cases": len(CLI_CASES) + len(CLI_LITERAL_FILTERS)})


# (cell source, fragment of the UsageError); None = must succeed (literal filters)
MAGIC_CASES: list[tuple[str, str | None]] = [
    ("%mlnb frobnicate", "unknown %mlnb command"),
    ("%track sideways", "usage: %track on"),
    ("%%track --bogus\nx = 1", "unrecognized arguments: --bogus"),
    ("%runs --limit ten", "invalid int value"),
    ("%runs --status exploded", "unknown run status"),
    ("%register_model nothing --name m", "no variable named 'nothing'"),
    ("%register_model x", "required: --name"),
    (f'%register_model x --name "{SQL}"', "is not valid"),
    ("%runs --sort \"x'\"'", "cannot parse"),
    ("%promote churn", "no registered model named 'churn'"),
    ("%promote churn 1 --to heaven", "invalid choice"),
    ("%dataversion", "required: target"),
    ("%dataversion nosuchvar", "neither a variable"),
    ("%drift a", "one of the arguments --reference --monitor is required"),
    ("%pipeline create", "required: name"),
    ("%pipeline frob", "unknown %pipeline action"),
    ("%mlnb experiment ''", "non-empty string"),
    (f"%mlnb experiment {'x' * 5000}", "keep it under 500"),
    (f'%runs --experiment "{SQL}"', None),
    (f'%runs --sort "{SQL}"', None),
    (f'%runs --experiment "{HTML}"', None),
]


def test_magics_with_wrong_options_each_get_a_usage_error(ip, populated):
    from IPython.core.error import UsageError

    ip.user_ns["x"] = 1
    before = _counts(populated)
    problems = []
    for source, fragment in MAGIC_CASES:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            result = ip.run_cell(source)
        error = result.error_in_exec or result.error_before_exec
        if fragment is None:
            if error is not None:
                problems.append((source[:40], repr(error)[:200]))
        elif not isinstance(error, UsageError) or fragment not in str(error):
            problems.append((source[:40], repr(error)[:200]))
        elif "Traceback" in out.getvalue():
            problems.append((source[:40], "traceback printed"))
    assert problems == [], "\n".join(map(repr, problems))
    assert _counts(populated) == before
    record_figure("bad_input_magics", {"cases": len(MAGIC_CASES)})


def _api_cases(reg) -> list[tuple[str, Any, str]]:
    return [
        ("metric that is not a number", lambda: _tracked(reg, metrics={"acc": "high"}), "number"),
        ("empty experiment", lambda: mlnb.track("r", experiment=" ", registry=reg), "non-empty"),
        ("huge experiment", lambda: mlnb.track("r", experiment=HUGE, registry=reg), "under 500"),
        ("huge param name", lambda: _tracked(reg, params={HUGE: 1}), "under 500"),
        ("model name with SQL", lambda: mlnb.register_model(1, SQL, registry=reg), "not valid"),
        ("model name with HTML", lambda: mlnb.register_model(1, HTML, registry=reg), "not valid"),
        ("unicode model name", lambda: mlnb.register_model(1, UNICODE, registry=reg), "not valid"),
        ("load a missing model", lambda: mlnb.load_model("nope@production", registry=reg), "nope"),
        ("load with SQL ref", lambda: mlnb.load_model(SQL, registry=reg), "'"),
        ("run ref with SQL", lambda: reg.runs.get(SQL), "is not a run id"),
        ("unknown status filter", lambda: reg.runs.find(status=SQL), "unknown run status"),
        ("log outside a run", lambda: mlnb.log_metric("acc", 1.0), "needs an active run"),
        ("end run as running", lambda: reg.runs.end(1, status="running"), "not 'running'"),
        ("compare one run", lambda: reg.runs.compare([1]), "at least two runs"),
    ]


def _tracked(reg, **logged: Any) -> None:
    with mlnb.track("bad", registry=reg):
        if "metrics" in logged:
            mlnb.log_metrics(logged["metrics"])
        if "params" in logged:
            mlnb.log_params(logged["params"])


def test_python_api_bad_calls_each_raise_an_mlnb_error(populated):
    cases = _api_cases(populated)
    problems = []
    for what, call, fragment in cases:
        try:
            call()
        except MlnbError as exc:
            if fragment not in str(exc):
                problems.append((what, str(exc)[:200]))
        except Exception as exc:  # anything else is not a clear error
            problems.append((what, repr(exc)[:200]))
        else:
            problems.append((what, "accepted"))
    assert problems == [], "\n".join(map(repr, problems))
    # filters with SQL metacharacters are text: they match nothing and drop nothing
    assert populated.runs.find(experiment=SQL) == []
    assert {r["name"] for r in populated.runs.find(limit=None)} >= {HTML, SQL}
    assert populated.db.integrity_check() == "ok"
    record_figure("bad_input_api", {"cases": len(cases) + 1})
