"""How a user command is declared, parsed and answered, for every surface at once.

A :class:`Command` names the words a user types (``("pipeline", "history")``), its help
and its arguments (:func:`arg` takes exactly what ``argparse.add_argument`` takes), the
surfaces it belongs to, and the function that runs it as a ``"module:function"`` string.
The CLI and the magics build their parsers from the same declarations with
:func:`add_command`, so option names, defaults and help cannot drift apart; they import
the function only when the command runs (:func:`load`), which keeps ``import mlnb.cli``
and ``%load_ext mlnb`` free of pandas, numpy and the domain packages.

The function takes a :class:`Context` (the registry, the surface, the notebook's
namespace) and the parsed ``argparse.Namespace`` and returns a :class:`Result`: the text
the CLI prints, the HTML a notebook shows, the JSON ``--json`` prints, the Python value a
magic returns and the CLI's exit code.

Standard library only: this module is imported by every surface at start-up.
"""

from __future__ import annotations

import argparse
import html
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlnb._runtime import launching_notebook

CLI = "cli"
# The MIME type of a command's JSON in notebook outputs (see Result._repr_mimebundle_).
RESULT_MIMETYPE = "application/vnd.mlnb+json"
MAGIC = "magic"
BOTH = frozenset({CLI, MAGIC})


@dataclass(frozen=True)
class Arg:
    """One ``add_argument`` call, kept as data until a surface builds its parser."""

    flags: tuple[str, ...]
    options: dict[str, Any]


@dataclass(frozen=True)
class OneOf:
    """Mutually exclusive arguments (``add_mutually_exclusive_group``)."""

    args: tuple[Arg, ...]
    required: bool = False


def arg(*flags: str, **options: Any) -> Arg:
    """Declare an argument with the same parameters as ``ArgumentParser.add_argument``."""
    return Arg(flags, options)


def one_of(*args: Arg, required: bool = False) -> OneOf:
    """Declare arguments of which at most one (exactly one when ``required``) is given."""
    return OneOf(args, required)


@dataclass(frozen=True)
class Command:
    """One user command, declared once for the CLI and the magics.

    ``path`` is what a user types after ``mlnb`` (``("monitor", "history")``). A command
    whose ``run`` is None is a group: its sub-commands are the commands whose path extends
    it, and ``default`` names the sub-command the CLI runs when none is given.
    ``magic`` names the dedicated magic (``promote`` for ``%promote``); every command of the
    magic surface is also reachable as ``%mlnb WORDS``. ``by_surface`` marks a command
    the surface carries out itself (``%%track`` runs the cell): it has no ``run``.
    """

    path: tuple[str, ...]
    help: str
    run: str | None = None
    args: tuple[Arg | OneOf, ...] = ()
    description: str | None = None
    epilog: str | None = None
    surfaces: frozenset[str] = BOTH
    magic: str | None = None
    creates_registry: bool = False
    default: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    by_surface: bool = False

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def is_group(self) -> bool:
        return self.run is None and not self.by_surface


def command(path: str, help: str, run: str | None = None, *args: Arg | OneOf, **kw: Any) -> Command:
    """Shorthand: ``command("pipeline history", "runs of a pipeline", "mod:fn", arg(...))``."""
    return Command(tuple(path.split()), help, run, tuple(args), **kw)


def load(target: str) -> Callable[..., Any]:
    """Import ``"package.module:attribute"`` (only when a command actually runs)."""
    module, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module)
    for part in attribute.split(".") if attribute else ():
        value = getattr(value, part)
    return value


# -- building parsers ---------------------------------------------------------------


def _add_args(parser: argparse.ArgumentParser, args: Iterable[Arg | OneOf]) -> None:
    for item in args:
        if isinstance(item, OneOf):
            group = parser.add_mutually_exclusive_group(required=item.required)
            for a in item.args:
                group.add_argument(*a.flags, **a.options)
        else:
            parser.add_argument(*item.flags, **item.options)


def children(commands: Sequence[Command], parent: tuple[str, ...], surface: str) -> list[Command]:
    """The commands one word below ``parent`` that ``surface`` runs, in order."""
    return [
        c
        for c in commands
        if len(c.path) == len(parent) + 1
        and c.path[: len(parent)] == parent
        and surface in c.surfaces
        and not c.by_surface
    ]


def configure(
    parser: argparse.ArgumentParser,
    cmd: Command,
    commands: Sequence[Command],
    surface: str,
) -> None:
    """Give ``parser`` the arguments of ``cmd`` and, for a group, its sub-command parsers.

    ``parser.set_defaults(command=cmd)`` records which declaration the user chose: the
    deepest one wins, because argparse applies a sub-parser's defaults last.
    """
    _add_args(parser, cmd.args)
    parser.set_defaults(command=cmd, **cmd.defaults)
    if cmd.is_group:
        if cmd.default:  # `mlnb deployments --all` is `mlnb deployments list --all`
            _add_args(parser, _flags(default_command(cmd, commands)))
        add_subcommands(parser, commands, cmd.path, surface)


def default_command(group: Command, commands: Sequence[Command]) -> Command:
    """The sub-command a group runs when none is named (``mlnb alerts`` is ``alerts list``)."""
    return find(commands, (*group.path, group.default or ""))


def _flags(cmd: Command) -> tuple[Arg | OneOf, ...]:
    """The optional arguments of ``cmd`` (its positionals cannot precede a sub-command)."""
    return tuple(a for a in cmd.args if isinstance(a, OneOf) or a.flags[0].startswith("-"))


def chosen(cmd: Command, args: argparse.Namespace, commands: Sequence[Command]) -> Command | None:
    """The command to run for what was parsed: a group without a sub-command runs its
    default one (the group's parser took that one's flags); None for a group without one."""
    if not cmd.is_group:
        return cmd
    if not cmd.default:
        return None
    sub = default_command(cmd, commands)
    for key, value in sub.defaults.items():
        setattr(args, key, value)
    args.command = sub
    return sub


def add_subcommands(
    parser: argparse.ArgumentParser,
    commands: Sequence[Command],
    parent: tuple[str, ...],
    surface: str,
    prog: str | None = None,
) -> argparse._SubParsersAction:
    """Add one sub-parser per command below ``parent`` (``prog`` defaults to the parser's)."""
    dest = "_".join(("command", *parent)) if parent else "command_name"
    sub = parser.add_subparsers(dest=dest, metavar="COMMAND" if not parent else "ACTION")
    for child in children(commands, parent, surface):
        p = sub.add_parser(
            child.path[-1],
            help=child.help,
            description=child.description or _sentence(child.help),
            epilog=child.epilog,
            prog=f"{prog or parser.prog} {child.path[-1]}",
        )
        configure(p, child, commands, surface)
    return sub


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def build_parser(
    cmd: Command,
    commands: Sequence[Command],
    surface: str,
    prog: str,
    parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    """A stand-alone parser for ``cmd`` (what a magic such as ``%promote`` parses with)."""
    parser = parser_class(
        prog=prog,
        description=cmd.description or _sentence(cmd.help),
        epilog=cmd.epilog,
    )
    configure(parser, cmd, commands, surface)
    return parser


def find(commands: Sequence[Command], words: Sequence[str]) -> Command:
    """The declaration whose path is ``words`` (KeyError if there is none)."""
    for c in commands:
        if c.path == tuple(words):
            return c
    raise KeyError(" ".join(words))


# -- running ------------------------------------------------------------------------


@dataclass
class Context:
    """What a command may use besides its arguments.

    ``registry`` is opened on first use by ``open_registry`` (the CLI opens ``--registry``,
    a notebook its current registry). ``namespace`` is the notebook's variables (None on
    the command line), so ``%register_model clf`` can find ``clf``.
    """

    surface: str
    open_registry: Callable[[], Any]
    namespace: dict[str, Any] | None = None
    json: bool = False
    tracking_every_cell: bool = False
    _registry: Any = None

    @property
    def registry(self) -> Any:
        if self._registry is None:
            self._registry = self.open_registry()
        return self._registry

    @property
    def in_notebook(self) -> bool:
        return self.surface == MAGIC

    @property
    def notebook_path(self) -> str | None:
        """The notebook this kernel runs, as far as Jupyter, VS Code (``__vsc_ipynb_file__``),
        a pipeline run (``MLNB_NOTEBOOK_PATH``) or the nbconvert/papermill process that
        started the kernel tell it; None outside a notebook."""
        ns = self.namespace or {}
        session = ns.get("__session__")
        vscode = ns.get("__vsc_ipynb_file__")
        return (
            os.environ.get("MLNB_NOTEBOOK_PATH")
            or (session if isinstance(session, str) else None)
            or (vscode if isinstance(vscode, str) else None)
            or os.environ.get("JPY_SESSION_NAME")
            or (launching_notebook() if self.in_notebook else None)
        )

    def say(self, message: str) -> None:
        """A progress line: to stderr on the command line (stdout stays for results),
        ``mlnb: ...`` in the notebook."""
        if self.in_notebook:
            print(f"mlnb: {message}", flush=True)
        elif not self.json:
            print(message, file=sys.stderr, flush=True)


_UNSET: Any = object()


@dataclass
class WidgetRequest:
    """A command's request for an interactive widget, built by the notebook surface
    (``mlnb.widgets``): commands never import ipywidgets themselves."""

    kind: str
    report: Any
    history: Sequence[dict[str, Any]] | None = None


class Result:
    """What a command answers: text, HTML, a JSON-ready value, a Python value, an exit code.

    - ``text``: printed by the CLI; the ``repr`` in a notebook.
    - ``html``: shown by the notebook (escaped text in a ``<pre>`` when None).
    - ``data``: printed by ``--json``; ``text`` is printed when there is none.
    - ``value``: what the magic returns, e.g. the ``ModelVersion`` of ``%register_model``
      (the Result itself when unset).
    - ``notice``: a one-line message; the magic prints ``mlnb: TEXT`` and returns nothing.
    - ``raw``: text to print as is (a crontab line, a log); the magic returns nothing.
    - ``code``: the CLI's exit status.
    - ``widget``: an interactive view the notebook builds instead of showing ``html``.
    """

    def __init__(
        self,
        text: str = "",
        html: str | None = None,
        data: Any = _UNSET,
        value: Any = _UNSET,
        *,
        code: int = 0,
        notice: bool = False,
        raw: bool = False,
        widget: WidgetRequest | None = None,
    ) -> None:
        self.text = text
        self.html = html
        self.data = data
        self.value = value
        self.code = code
        self.notice = notice
        self.raw = raw
        self.widget = widget

    @classmethod
    def of(cls, value: Any, data: Any = _UNSET, code: int = 0) -> Result:
        """Wrap a displayable domain object: its ``repr`` is the text, its ``_repr_html_``
        (computed only when a notebook asks) the HTML, and the magic returns it."""
        return cls(repr(value), None, data, value, code=code)

    @property
    def has_data(self) -> bool:
        return self.data is not _UNSET

    @property
    def has_value(self) -> bool:
        return self.value is not _UNSET

    def _repr_html_(self) -> str:
        if self.html is not None:
            return self.html
        html_of = getattr(self.value, "_repr_html_", None) if self.has_value else None
        if html_of is not None:
            return str(html_of())
        return f"<pre style='font-size:12px'>{html.escape(self.text)}</pre>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """HTML for the notebook, text for terminals and logs, and the command's JSON under
        ``application/vnd.mlnb+json`` so a saved or papermill-executed notebook keeps the
        data for scripts (front ends without a renderer for it skip it)."""
        bundle: dict[str, Any] = {"text/plain": self.text, "text/html": self._repr_html_()}
        if self.has_data:
            try:
                bundle[RESULT_MIMETYPE] = json.loads(json.dumps(self.data, default=str))
            except (TypeError, ValueError):
                pass
        return bundle

    def __repr__(self) -> str:
        return self.text


Runner = Callable[[Context, argparse.Namespace], Result]


def run(cmd: Command, ctx: Context, args: argparse.Namespace) -> Result:
    """Import the command's function and run it."""
    if cmd.run is None:
        raise ValueError(f"{cmd.name} is a group of commands, not a command")
    func: Runner = load(cmd.run)
    return func(ctx, args)
