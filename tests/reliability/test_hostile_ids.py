"""Hostile ids on the command line: every command of the catalog (so commands added later
are covered too) gets ids that are too large for SQLite, unicode digits, negative, empty or
huge in each of its positional arguments. Each call ends with at most one error line and
never a traceback; for the id-taking commands the error is one ``mlnb: error:`` line.

The REST side of the same walk is tests/reliability/rest/test_hostile_ids_rest.py."""

from __future__ import annotations

import contextlib
import io

import pytest

import mlnb
from mlnb.commands import spec
from mlnb.commands.catalog import COMMANDS
from tests.reliability.figures import record_figure

HOSTILE_IDS = (
    "99999999999999999999",
    "²",
    "١٢",  # Arabic-Indic digits: int() reads them, SQLite ids are ASCII
    "-1",
    "0",
    "1e3",
    "",
    "9" * 400,
)
# a value for each required option a command cannot parse without
REQUIRED_OPTIONS = {"--name": "m", "--to-mlflow": "http://127.0.0.1:9"}


def _cli(argv: list[str]) -> tuple[int, str]:
    from mlnb.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, err.getvalue()


def _positionals(cmd: spec.Command) -> list[spec.Arg]:
    return [a for a in cmd.args if isinstance(a, spec.Arg) and not a.flags[0].startswith("-")]


def _required_options(cmd: spec.Command) -> list[str]:
    argv: list[str] = []
    for item in cmd.args:
        if isinstance(item, spec.OneOf) and item.required:
            first = item.args[0]
            argv += [first.flags[0]] if "action" in first.options else [first.flags[0], "x"]
        elif isinstance(item, spec.Arg) and item.options.get("required"):
            argv += [item.flags[0], REQUIRED_OPTIONS.get(item.flags[0], "x")]
    return argv


def _cases() -> list[list[str]]:
    """Every CLI command with a hostile value in one positional at a time."""
    cases = []
    for cmd in COMMANDS:
        if spec.CLI not in cmd.surfaces or cmd.run is None:
            continue
        positionals = _positionals(cmd)
        for i in range(len(positionals)):
            for hostile in HOSTILE_IDS:
                values = ["1"] * len(positionals)
                values[i] = hostile
                cases.append([*cmd.path, *values, *_required_options(cmd)])
    return cases


@pytest.fixture
def populated(registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `mlnb backup ID` makes a folder here
    with mlnb.track("one", registry=registry):
        mlnb.log_metric("acc", 0.5)
    return registry


def test_every_cli_command_answers_hostile_ids_without_a_traceback(populated, registry_home):
    cases = _cases()
    assert len(cases) > 100
    problems = []
    for argv in cases:
        code, err = _cli(["--registry", str(registry_home), *argv])
        errors = [line for line in err.splitlines() if line.startswith("mlnb: error: ")]
        if "Traceback" in err or (code == 1 and len(errors) != 1) or "unexpected" in err:
            problems.append((argv[:4], code, err[-300:]))
    assert problems == [], "\n".join(map(repr, problems))
    assert populated.db.integrity_check() == "ok"
    record_figure("hostile_ids_cli", {"cases": len(cases), "commands": len(COMMANDS)})


# The cases: each is one `mlnb: error:` line that says what is wrong.
ID_COMMANDS = [
    ["show", "{id}"],
    ["compare", "1", "{id}"],
    ["alerts", "ack", "{id}"],
    ["alerts", "resolve", "{id}"],
    ["pipeline", "output", "{id}"],
    ["pipeline", "show", "p", "{id}"],
    ["pipeline", "promote", "p", "{id}"],
    ["lineage", "m/{id}"],
    ["promote", "m", "{id}"],
]


@pytest.mark.parametrize("hostile", ["99999999999999999999", "²"])
def test_id_commands_give_one_error_line(populated, registry_home, hostile):
    problems = []
    for template in ID_COMMANDS:
        argv = [part.replace("{id}", hostile) for part in template]
        code, err = _cli(["--registry", str(registry_home), *argv])
        lines = err.strip().splitlines()
        one_line = code == 1 and len(lines) == 1 and lines[0].startswith("mlnb: error: ")
        usage = code == 2 and lines[-1].startswith("mlnb: error: ") and "invalid" in err
        if not (one_line or usage) or "Traceback" in err:
            problems.append((argv, code, err[-300:]))
    assert problems == [], "\n".join(map(repr, problems))


def test_a_schedule_that_never_fires_is_one_error_line(registry_home, tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("n = 1")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    path = tmp_path / "train.ipynb"
    nbformat.write(nb, path)
    argv = ["--registry", str(registry_home), "pipeline", "create", "p", str(path)]
    code, err = _cli([*argv, "--schedule", "0 0 31 2 *"])
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "mlnb: error: the cron schedule '0 0 31 2 *' never fires (no such date, e.g. 31 "
        "February); check the day-of-month and month fields."
    ]
    assert _cli(["--registry", str(registry_home), "pipeline", "list"])[0] == 0
    code, err = _cli([*argv, "--schedule", "0 0 29 2 *"])  # leap days do come
    assert code == 0, err
