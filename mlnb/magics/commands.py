"""The command magics, generated from :data:`mlnb.commands.catalog.COMMANDS`.

Each declared command with a ``magic`` name becomes a line magic (``%runs``, ``%promote``,
``%monitor``, ``%pipeline`` ...) whose parser, docstring (``%promote?``) and ``--help`` come
from the declaration, so they match ``mlnb promote --help``. Every other command of the
notebook surface is reachable as ``%mlnb WORDS`` (``%mlnb show 3``, ``%mlnb alerts ack 2``).
The command's function is imported only when the magic runs.
"""

from __future__ import annotations

import argparse
import functools
import importlib
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_magic, magics_class

from mlnb.commands import spec
from mlnb.commands.catalog import COMMANDS
from mlnb.errors import MlnbError
from mlnb.magics._args import HelpShown, MagicArgumentParser, parse, split

GET_REGISTRY = "mlnb.store.registry:get_registry"

MLNB_HELP = """mlnb: MLOps in the notebook.

  %mlnb status                      registry, experiment, runs, models, open alerts
  %mlnb registry [PATH]             show or switch the registry folder
  %mlnb experiment [NAME]           show or set the experiment new runs belong to
  %%track [--name N] [--params a,b] [--metrics m,n] [--no-data] [--no-models]
                                    run the cell and record params, data, models, metrics
  %track on|off [same options]      track every cell
  %dataversion OBJ_OR_PATH [--name N] [--snapshot]
                                    record a data version (snapshot keeps a copy to restore)
  %runs [--experiment E] [--status S] [--sort METRIC] [--asc] [--limit N]
  %runs --compare A B [C ...]       params, metrics and data of runs side by side

  %register_model VAR --name NAME [--stage staging] [--alias A] [--X VAR]
                                    register a fitted model as a new version
  %promote NAME [VERSION] [--to STAGE] [--gate G] [--holdout VAR] [--target COL]
                                    run the gate; promote only if every check passes
  %models [NAME]   %rollback NAME   %lineage NAME@VERSION

  %drift CURRENT --reference REF | --monitor NAME [--log] [--widget]
                                    drift panel of a DataFrame against a reference or monitor
  %monitor help                     create monitors, log batches, status, history, panels
  %pipeline help                    this notebook as a scheduled, retrained pipeline
  %serve NAME@production            serve the model over HTTP in the background (URL printed);
                                    %serve stop stops it; %mlnb deployments lists servers

  %mlnb COMMAND ...                 any `mlnb` command line command, with the same options:
                                    %mlnb show 3, %mlnb alerts ack 2, %mlnb gate G churn/3
  %CMD --help, %CMD?                full help of a magic (%mlnb COMMAND --help likewise)

Python: mlnb.track, log_param/log_metric/log_data/log_model, fingerprint, load_model,
load_data, register_model, promote, rollback, lineage, Monitor, drift, create_pipeline.
CLI: mlnb --help.
"""

_HELP_WORDS = ("help", "-h", "--help")


def magic_parser(cmd: spec.Command) -> argparse.ArgumentParser:
    """The parser of a dedicated magic such as ``%promote`` (sub-commands for groups)."""
    return spec.build_parser(cmd, COMMANDS, spec.MAGIC, f"%{cmd.magic}", MagicArgumentParser)


def mlnb_parser() -> argparse.ArgumentParser:
    """The parser of ``%mlnb``: every command of the notebook surface, as on the CLI."""
    parser = MagicArgumentParser(prog="%mlnb", description="Any mlnb command, in the notebook.")
    spec.add_subcommands(parser, COMMANDS, (), spec.MAGIC)
    return parser


class _Entry:
    """One magic: its parser (built on first use: argparse for every command would cost
    ``%load_ext mlnb`` tens of milliseconds) and what to say for an unknown first word."""

    def __init__(
        self,
        build: Callable[[], argparse.ArgumentParser],
        group: spec.Command | None,
        kind: str,
    ):
        self._build = build
        self._parser: argparse.ArgumentParser | None = None
        self.group = group
        self.kind = kind
        self.words = (
            {c.path[-1] for c in spec.children(COMMANDS, group.path if group else (), spec.MAGIC)}
            if kind
            else set()
        )

    @property
    def parser(self) -> argparse.ArgumentParser:
        if self._parser is None:
            self._parser = self._build()
        return self._parser

    def help(self) -> str:
        """The full help, the same text as ``--help``."""
        return self.parser.format_help()


class _CommandMagicsBase(Magics):
    """Runs a declared command from a magic line and turns its result into notebook output."""

    entries: dict[str, _Entry] = {}

    @property
    def ip(self) -> InteractiveShell:
        """The shell these magics are registered on (IPython types ``shell`` as optional)."""
        assert self.shell is not None
        return self.shell

    def _context(self) -> spec.Context:
        core = self.ip.magics_manager.registry.get("CoreMagics")
        return spec.Context(
            spec.MAGIC,
            spec.load(GET_REGISTRY),
            namespace=self.ip.user_ns,
            tracking_every_cell=getattr(core, "_auto_options", None) is not None,
        )

    def _run_magic(self, name: str, line: str) -> Any:
        try:
            return self._dispatch(self.entries[name], name, line)
        except HelpShown as shown:
            print(str(shown))
        except MlnbError as exc:
            raise UsageError(str(exc)) from None
        return None

    def _dispatch(self, entry: _Entry, name: str, line: str) -> Any:
        words = split(line, f"%{name}")
        if entry.kind:
            if not words or words[0] in _HELP_WORDS:
                if name == "mlnb":
                    print(MLNB_HELP)
                    return None
                raise HelpShown(entry.parser.format_help())
            if words[0] not in entry.words and not words[0].startswith("-"):
                raise MlnbError(f"unknown %{name} {entry.kind} {words[0]!r}; try %{name} help.")
        args = parse(entry.parser, line)
        cmd = spec.chosen(args.command, args, COMMANDS)  # %alerts --all: %alerts list --all
        if cmd is None:
            raise HelpShown(entry.parser.format_help())
        return show(spec.run(cmd, self._context(), args))


def show(result: spec.Result) -> Any:
    """What the magic gives the notebook: a notice is printed, a domain value returned."""
    if result.notice:
        print(f"mlnb: {result.text}")
        return None
    if result.raw:
        print(result.text)
        return None
    if result.widget is not None:
        # loaded on use, like the commands: ipywidgets and the drift engine are heavy
        return importlib.import_module("mlnb.widgets").build(result.widget)
    return result.value if result.has_value else result


def _magic(name: str, summary: str, full_help: Callable[[], str]) -> Callable[..., Any]:
    """A line magic running command ``name``. ``%name?`` shows ``full_help()`` (IPython asks
    an object's ``getdoc`` first), computed only when asked for."""

    def magic(self: _CommandMagicsBase, line: str) -> Any:
        return self._run_magic(name, line)

    magic.__name__ = name
    magic.__qualname__ = f"CommandMagics.{name}"
    magic.__doc__ = summary
    magic.getdoc = full_help  # type: ignore[attr-defined]
    return magic


def _build() -> type[Magics]:
    """The ``CommandMagics`` class: ``%mlnb`` plus one method per declared magic."""
    entries: dict[str, _Entry] = {"mlnb": _Entry(mlnb_parser, None, "command")}
    summaries = {"mlnb": "mlnb: MLOps in the notebook (%mlnb help)."}
    for cmd in COMMANDS:
        if cmd.magic and not cmd.by_surface:
            group = cmd if cmd.is_group else None
            entries[cmd.magic] = _Entry(
                functools.partial(magic_parser, cmd), group, "action" if group else ""
            )
            summaries[cmd.magic] = cmd.help
    body: dict[str, Any] = {"entries": entries, "__doc__": __doc__}
    for name, entry in entries.items():
        full_help = (lambda: MLNB_HELP) if name == "mlnb" else entry.help
        body[name] = line_magic(_magic(name, summaries[name], full_help))
    return magics_class(type("CommandMagics", (_CommandMagicsBase,), body))


CommandMagics = _build()
