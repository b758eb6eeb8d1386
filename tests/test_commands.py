"""One declaration per command: the CLI and the magics accept the same options, show the
same help (once), and the surfaces stay thin."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from mlnb.cli import build_parser, main
from mlnb.commands import spec
from mlnb.commands.catalog import COMMANDS, RUN_STATUSES

ROOT = Path(__file__).resolve().parents[1]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every (path, parser) below ``parser``, depth first."""
    for word, sub in _subparsers(parser).items():
        yield (*path, word), sub
        yield from _walk(sub, (*path, word))


def _signature(parser: argparse.ArgumentParser) -> dict[str, object]:
    """What a user can type: option strings with their arity/choices/default, positionals."""
    options = {}
    positionals = []
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if a.option_strings:
            for flag in a.option_strings:
                options[flag] = (a.dest, a.nargs, a.choices, a.default, a.required, a.help)
        else:
            positionals.append((a.dest, a.nargs, a.default, a.help))
    return {"options": options, "positionals": positionals, "subcommands": set(_subparsers(parser))}


def _magic_parsers():
    from mlnb.magics.commands import CommandMagics

    return CommandMagics.entries


def _magic_parser_for(path: tuple[str, ...]) -> list[argparse.ArgumentParser]:
    """The parsers a notebook user reaches ``path`` with: ``%mlnb WORDS`` and, when the
    command (or its group) has a dedicated magic, ``%magic [WORDS]``."""
    entries = _magic_parsers()
    found = [dict(_walk(entries["mlnb"].parser))[path]]
    top = spec.find(COMMANDS, path[:1])
    if top.magic and top.magic in entries:
        parser = entries[top.magic].parser
        found.append(parser if len(path) == 1 else dict(_walk(parser))[path[1:]])
    return found


CLI_PATHS = [path for path, _ in _walk(build_parser())]


def test_every_cli_command_is_declared_and_its_function_exists():
    for path in CLI_PATHS:
        cmd = spec.find(COMMANDS, path)
        assert spec.CLI in cmd.surfaces
        if cmd.run:
            assert callable(spec.load(cmd.run)), cmd.run
    for cmd in COMMANDS:
        if cmd.run:
            assert callable(spec.load(cmd.run)), cmd.run


@pytest.mark.parametrize("path", CLI_PATHS, ids=" ".join)
def test_magic_accepts_the_same_options_as_the_cli(path):
    cmd = spec.find(COMMANDS, path)
    cli = _signature(dict(_walk(build_parser()))[path])
    if spec.MAGIC not in cmd.surfaces:  # mlnb scheduler: command line only
        assert path not in dict(_walk(_magic_parsers()["mlnb"].parser))
        return
    for magic_parser in _magic_parser_for(path):
        magic = _signature(magic_parser)
        assert magic["options"] == cli["options"], magic_parser.prog
        assert magic["positionals"] == cli["positionals"], magic_parser.prog
        # a group may offer more actions in a notebook (monitor create|log|panel), never fewer
        assert cli["subcommands"] <= magic["subcommands"], magic_parser.prog
        extra = magic["subcommands"] - cli["subcommands"]
        for word in extra:
            assert spec.find(COMMANDS, (*path, word)).surfaces == {spec.MAGIC}


def test_every_magic_command_is_on_the_cli_unless_marked_for_the_notebook():
    cli = set(CLI_PATHS)
    for path, _ in _walk(_magic_parsers()["mlnb"].parser):
        if path not in cli:
            assert spec.find(COMMANDS, path).surfaces == {spec.MAGIC}, path


def _normal(text: str, prog: str) -> str:
    return " ".join(text.replace(prog, "PROG").split())


@pytest.mark.parametrize("path", CLI_PATHS, ids=" ".join)
def test_help_is_the_same_and_printed_once(path, ip, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    cli_help = capsys.readouterr().out
    assert cli_help.count("usage:") == 1
    cli_prog = "mlnb " + " ".join(path)
    if spec.MAGIC not in spec.find(COMMANDS, path).surfaces:
        return
    lines = [f"%mlnb {' '.join(path)} --help"]
    top = spec.find(COMMANDS, path[:1])
    if top.magic:
        lines.append(f"%{top.magic} {' '.join(path[1:])} --help".replace("  ", " "))
    for line in lines:
        result = ip.run_cell(line)
        assert result.success, line
        out = capsys.readouterr().out
        assert out.count("usage:") == 1, line
        magic_prog = line.removesuffix(" --help")
        if _subparsers(dict(_walk(build_parser()))[path]):
            # a group's help lists its actions; a notebook may list more (monitor create)
            for word in _subparsers(dict(_walk(build_parser()))[path]):
                assert word in out
        else:
            assert _normal(out, magic_prog) == _normal(cli_help, cli_prog), line


@pytest.mark.parametrize(
    "magic", ["runs", "promote", "models", "rollback", "lineage", "monitor", "pipeline"]
)
def test_magic_docstring_is_the_full_help(magic, ip, capsys):
    doc = ip.object_inspect(f"%{magic}")["docstring"]  # what `%magic?` shows
    ip.run_cell(f"%{magic} --help")
    assert capsys.readouterr().out.strip() == doc.strip()
    assert "usage:" in doc and "options:" in doc and len(doc.splitlines()) > 5


def test_track_help_and_mlnb_help(ip, capsys):
    assert "--no-models" in ip.find_cell_magic("track").__doc__
    ip.run_cell("%track --help")
    out = capsys.readouterr().out
    assert out.count("usage:") == 1 and "--no-data" in out
    assert "%mlnb COMMAND" in ip.object_inspect("%mlnb")["docstring"]


def test_sub_command_magics_parse_options_like_the_cli():
    entries = _magic_parsers()
    args = entries["monitor"].parser.parse_args(["history", "churn", "-n", "2"])
    assert (args.command.name, args.name, args.limit) == ("monitor history", "churn", 2)
    args = entries["pipeline"].parser.parse_args(["export", "p", "--airflow"])
    assert args.airflow and args.command.name == "pipeline export"
    args = entries["pipeline"].parser.parse_args(["delete", "p", "--keep-outputs"])
    assert args.keep_outputs
    args = entries["runs"].parser.parse_args(["-n", "3"])
    assert args.limit == 3


def test_run_statuses_match_the_registry():
    from mlnb.store.runs import RUN_STATUSES as STORED

    assert tuple(STORED) == RUN_STATUSES


def test_surfaces_start_without_heavy_imports():
    heavy = ("pandas", "sklearn", "matplotlib", "numpy", "IPython", "mlnb.store", "mlnb.lifecycle")
    code = (
        "import sys, mlnb.cli; mlnb.cli.build_parser(); "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = (
        "import sys; from IPython.core.interactiveshell import InteractiveShell; "
        "ip = InteractiveShell.instance(); ip.run_line_magic('load_ext', 'mlnb'); "
        "print([m for m in ('pandas', 'sklearn', 'matplotlib') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT / "tests"
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_surfaces_import_commands_by_name_not_inside_functions():
    """Function-local ``from mlnb ...`` imports stay out of the surfaces and commands, and
    IPython is imported only by the magics."""
    local = []
    for folder in ("magics", "cli", "commands"):
        for path in (ROOT / "mlnb" / folder).glob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    for inner in ast.walk(node):
                        if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith(
                            "mlnb"
                        ):
                            local.append(f"{path.name}:{inner.lineno}")
                if folder != "magics" and isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                    names += [a.name for a in getattr(node, "names", [])]
                    assert not any(n.startswith("IPython") for n in names), path
    assert local == []
