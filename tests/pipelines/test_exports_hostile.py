"""Exports (crontab line, systemd unit, Airflow DAG) with hostile notebook, registry and
interpreter paths: quotes, triple quotes, backslashes, %, spaces, $, newlines, unicode and
Jinja braces. Each export is executed the way its host would run it, with a stand-in
``mlnb`` that records the arguments, folder and MLNB_HOME it was given."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import mlnb
from mlnb.errors import ValidationError
from mlnb.pipelines.airflow import export_airflow_dag
from mlnb.pipelines.export import cron_word, export_crontab, export_systemd
from mlnb.store.registry import Registry
from tests.pipelines.conftest import write_notebook

HOSTILE = {
    "single quote": "it's",
    "double quote": 'say "hi"',
    "triple quotes": "doc\"\"\"string'''",
    "backslash": "back\\slash\\",
    "percent": "100% sure %d %%",
    "space": "two  spaces ",
    "dollar": "$HOME ${PATH} $(id)",
    "newline": "line\nbreak",
    "unicode": "ünïcødé ☃ 日本",
    "jinja": "{{ 7 * 7 }} {% if 1 %}x{% endif %}",
}
CASES = [*HOSTILE.items(), ("all at once", "".join(HOSTILE.values()))]

RECORDER = """#!{python}
import json, os, sys
with open(os.environ["MLNB_RECORD"], "w") as f:
    json.dump({{"argv": sys.argv[1:], "cwd": os.getcwd(), "home": os.environ.get("MLNB_HOME")}}, f)
"""


@pytest.fixture(params=CASES, ids=[c[0] for c in CASES])
def hostile(request, tmp_path, monkeypatch):
    """A registry, a notebook and an interpreter whose folder is named ``name``; the
    interpreter's ``mlnb`` and ``python`` are recorders."""
    root = tmp_path / request.param[1]
    bindir = root / "bin"
    bindir.mkdir(parents=True)
    for tool in ("mlnb", "python"):
        script = bindir / tool
        script.write_text(RECORDER.format(python=sys.executable))
        script.chmod(0o755)
    home = root / ".mlnb"
    reg = Registry(home)
    notebook = write_notebook(root / "train.ipynb", ["n = 1"])
    mlnb.create_pipeline("p", notebook, schedule="@daily", params={"n": 2}, registry=reg)
    (home / "pipelines").mkdir(exist_ok=True)
    monkeypatch.setattr(sys, "executable", str(bindir / "python"))
    record = tmp_path / "record.json"
    yield types.SimpleNamespace(root=root, home=home, reg=reg, record=record, bindir=bindir)
    reg.close()


def _recorded(record: Path) -> dict:
    return json.loads(record.read_text())


# -- crontab ------------------------------------------------------------------------------------


def cron_command(line: str) -> tuple[str, str]:
    """What cron runs for a line: the command up to the first unescaped ``%`` (``\\%`` is a
    literal ``%``), and the rest as standard input (cronie's rules)."""
    command = line.split(None, 5)[5]
    out, escaped = [], False
    for i, ch in enumerate(command):
        if escaped:
            if ch == "%":
                out[-1] = "%"
            else:
                out.append(ch)
            escaped = False
            continue
        if ch == "\\":
            escaped = True
            out.append(ch)
            continue
        if ch == "%":
            return "".join(out), command[i + 1 :]
        out.append(ch)
    return "".join(out), ""


def test_the_crontab_line_runs_the_scheduler_with_the_exact_paths(hostile):
    text = export_crontab(hostile.reg, "p")
    (line,) = [x for x in text.splitlines() if not x.startswith("#")]
    assert line.startswith("* * * * * ") and "\n" not in line
    command, stdin = cron_command(line)
    assert stdin == ""  # no % cut the command short
    env = {"MLNB_RECORD": str(hostile.record), "PATH": os.environ["PATH"]}
    subprocess.run(["/bin/sh", "-c", command], env=env, check=True, timeout=60)
    seen = _recorded(hostile.record)
    assert seen["argv"] == ["scheduler", "--once"]
    assert seen["home"] == str(hostile.home.resolve())
    assert (hostile.home / "pipelines" / "scheduler-cron.log").exists()


def test_a_path_ending_in_a_line_break_is_refused_for_crontab_with_a_reason():
    with pytest.raises(ValidationError, match="ends with a line break"):
        cron_word("/data/odd\n")


# -- systemd ------------------------------------------------------------------------------------


def unit_words(value: str, dollar: bool = True) -> list[str]:
    """A unit file value split the way systemd does: double- or single-quoted words with C
    escapes, ``%%`` for ``%`` and (for ExecStart) ``$$`` for ``$``."""
    words, i = [], 0
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "r": "\r"}
    while i < len(value):
        if value[i] == " ":
            i += 1
            continue
        quote = value[i] if value[i] in "\"'" else None
        i += 1 if quote else 0
        word = []
        while i < len(value) and (value[i] != quote if quote else value[i] != " "):
            ch = value[i]
            if ch == "\\":
                nxt = value[i + 1]
                if nxt == "x":
                    word.append(chr(int(value[i + 2 : i + 4], 16)))
                    i += 4
                    continue
                word.append(escapes[nxt])
                i += 2
                continue
            special = "%$" if dollar else "%"
            assert ch not in special or value[i + 1] == ch, f"unescaped {ch} in {value!r}"
            word.append(ch)
            i += 2 if ch in special else 1
        i += 1
        words.append("".join(word))
    return words


def test_the_systemd_unit_names_the_exact_paths_and_passes_verify(hostile, tmp_path):
    text = export_systemd(hostile.reg, "p")
    settings = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#"
    )
    assert "WorkingDirectory" not in settings
    (env,) = unit_words(settings["Environment"], dollar=False)
    assert env == f"MLNB_HOME={hostile.home.resolve()}"
    argv = unit_words(settings["ExecStart"])
    if argv[0] == "/bin/sh":  # an executable path systemd would refuse goes as an argument
        assert argv[1:3] == ["-c", 'exec "$0" "$@"']
    assert argv[-2:] == [str(hostile.bindir / "mlnb"), "scheduler"]
    home = env.split("=", 1)[1]
    subprocess.run(argv, env={"MLNB_HOME": home, "MLNB_RECORD": str(hostile.record)}, check=True)
    seen = _recorded(hostile.record)
    assert seen["argv"] == ["scheduler"] and seen["home"] == str(hostile.home.resolve())
    if shutil.which("systemd-analyze"):
        unit = tmp_path / "mlnb-test.service"
        unit.write_text(text)
        done = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120
        )
        problems = [x for x in done.stderr.splitlines() if "mlnb-test.service" in x]
        assert done.returncode == 0 and problems == [], done.stderr


# -- Airflow ------------------------------------------------------------------------------------


class _Task:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
        tasks[kwargs["task_id"]] = self

    def __rshift__(self, other):
        return other


class _DAG:
    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


tasks: dict[str, _Task] = {}


def load_dag(text: str) -> dict:
    """Execute the DAG file against stand-in Airflow modules; returns its globals."""
    fake = {
        "pendulum": types.SimpleNamespace(datetime=lambda *a, **k: (a, k)),
        "airflow": types.ModuleType("airflow"),
        "airflow.providers.standard.operators.bash": types.SimpleNamespace(BashOperator=_Task),
        "airflow.providers.standard.operators.python": types.SimpleNamespace(PythonOperator=_Task),
        "airflow.sdk": types.SimpleNamespace(DAG=_DAG, Param=lambda v: v),
    }
    saved = {k: sys.modules.get(k) for k in fake}
    sys.modules.update(fake)  # type: ignore[arg-type]
    try:
        tasks.clear()
        namespace: dict = {"__name__": "dag"}
        exec(compile(text, "dag.py", "exec"), namespace)
        return namespace
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def render(template: str, **context) -> str:
    import jinja2

    return jinja2.Environment().from_string(template).render(**context)


def test_the_airflow_dag_parses_names_the_exact_paths_and_runs_them(hostile):
    python = str(hostile.bindir / "python")
    text = export_airflow_dag(hostile.reg, "p", python=python)
    ast.parse(text)
    dag = load_dag(text)
    assert dag["NOTEBOOK"] == str(hostile.root.resolve() / "train.ipynb")
    assert dag["REGISTRY"] == str(hostile.home.resolve())
    assert dag["PYTHON"] == python and dag["WORKDIR"] == str(hostile.root.resolve())
    task = tasks["run_notebook"].kwargs
    context = {"params": {"n": 2}, "run_id": "manual__1", "ti": None}
    env = {k: render(v, **context) for k, v in task["env"].items()}
    env |= {"MLNB_RECORD": str(hostile.record), "PATH": os.environ["PATH"]}
    command = render(task["bash_command"], **context)
    subprocess.run(
        ["bash", "-c", command], env=env, cwd=render(task["cwd"]), check=True, timeout=60
    )
    seen = _recorded(hostile.record)
    assert seen["argv"][:4] == ["-m", "mlnb", "--registry", str(hostile.home.resolve())]
    assert seen["argv"][4:7] == ["pipeline", "run", "p"]
    assert seen["argv"][seen["argv"].index("--params-json") + 1] == '{"n": 2}'
    assert seen["argv"][-2:] == ["--reason", "airflow manual__1"]
    assert seen["cwd"] == str(hostile.root.resolve())
    assert seen["home"] == str(hostile.home.resolve())


@pytest.mark.parametrize(
    "conf",
    [
        {"lr = 0.2\nimport os; os.system('touch PWNED')\nz": 1},
        {"class": 1},
        {"n": float("inf")},
        {"n": [1, float("nan")]},
    ],
)
def test_the_airflow_dag_refuses_hostile_dag_run_conf(registry, tmp_path, conf):
    notebook = write_notebook(tmp_path / "train.ipynb", ["n = 1"])
    mlnb.create_pipeline("p", notebook, params={"n": 1})
    load_dag(export_airflow_dag(registry, "p", python="/opt/mlnb/bin/python"))
    check = tasks["check_params"].kwargs["python_callable"]
    check(params={"n": 3})  # a good conf passes
    with pytest.raises(ValueError, match="not a Python identifier|not a finite number"):
        check(params={"n": 1, **conf})
