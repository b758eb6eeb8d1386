"""``%%track`` and ``%track on|off``: record what cells do. The options are the declared
``track`` command's (:mod:`mlnb.commands.catalog`); the capture itself is built by
:mod:`mlnb.commands.track`, imported when a cell is first tracked."""

from __future__ import annotations

import ast
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from mlnb.commands import spec
from mlnb.commands.catalog import COMMANDS
from mlnb.errors import MlnbError
from mlnb.magics._args import HelpShown, MagicArgumentParser, parse

TRACK = "mlnb.commands.track"
GET_REGISTRY = "mlnb.store.registry:get_registry"
TRACK_USAGE = (
    "usage: %track on [--name N] [--params a,b] [--metrics m,n] [--no-data] [--no-models]"
    " | %track off"
)


def _warn(message: str) -> None:
    """The one line a capture problem costs the user; their cell is never affected."""
    print(f"mlnb: {message}", file=sys.stderr)


def _track_commands() -> Any:
    """``mlnb.commands.track`` (the capture half of ``%%track``), loaded on the first cell."""
    return spec.load(TRACK)


def _track_parser(prog: str) -> MagicArgumentParser:
    parser = spec.build_parser(
        spec.find(COMMANDS, ["track"]), COMMANDS, spec.MAGIC, prog, MagicArgumentParser
    )
    assert isinstance(parser, MagicArgumentParser)
    return parser


CELL_PARSER = _track_parser("%%track")
LINE_PARSER = _track_parser("%track on")


@magics_class
class CoreMagics(Magics):
    """``%%track`` and ``%track on|off``."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._auto_options: Any = None
        self._auto_capture: Any = None

    @property
    def ip(self) -> InteractiveShell:
        """The shell these magics are registered on (IPython types ``shell`` as optional)."""
        assert self.shell is not None
        return self.shell

    def _context(self) -> spec.Context:
        return spec.Context(spec.MAGIC, spec.load(GET_REGISTRY), namespace=self.ip.user_ns)

    # -- %%track / %track on|off ------------------------------------------------------

    @line_cell_magic
    def track(self, line: str, cell: str | None = None) -> Any:
        __tracebackhide__ = True  # noqa: F841 - IPython hides this frame in tracebacks
        try:
            if cell is None:
                return self._track_line(line)
            options = _track_commands().options(parse(CELL_PARSER, line))
        except HelpShown as shown:
            print(str(shown))
            return None
        except MlnbError as exc:
            raise UsageError(str(exc)) from None
        return self._track_cell(cell, options)

    track.__doc__ = CELL_PARSER.format_help()

    def _track_line(self, line: str) -> None:
        words = line.split(None, 1)
        if words and words[0] in ("-h", "--help", "help"):
            raise HelpShown(CELL_PARSER.format_help())
        if not words or words[0] not in ("on", "off"):
            raise MlnbError(TRACK_USAGE)
        if words[0] == "off":
            if self._auto_options is not None:
                self.ip.events.unregister("pre_run_cell", self._pre_run_cell)
                self.ip.events.unregister("post_run_cell", self._post_run_cell)
                self._auto_options = None
            print("mlnb: tracking every cell is off")
            return
        args = parse(LINE_PARSER, words[1] if len(words) > 1 else "")
        options = _track_commands().options(args)
        if self._auto_options is None:
            self.ip.events.register("pre_run_cell", self._pre_run_cell)
            self.ip.events.register("post_run_cell", self._post_run_cell)
        self._auto_options = options
        print("mlnb: tracking every cell (turn off with %track off)")

    def _start(self, cell: str, options: Any, number: int | None) -> Any:
        try:
            transformed = self.ip.transform_cell(cell)
        except Exception:
            transformed = cell
        return _track_commands().start(self._context(), options, cell, transformed, number)

    def _cell_number(self, stored: bool) -> int | None:
        """The ``In [N]`` of the cell being run: where IPython stores (``stored``) or will
        store its input. ``execution_count`` alone is off by one: IPython 9 increments it
        before running the cell, IPython 8 after."""
        history = getattr(self.ip.history_manager, "input_hist_raw", None)
        if isinstance(history, list) and history:
            return len(history) - 1 if stored else len(history)
        count = self.ip.execution_count
        return count - 1 if stored and count > 1 else count

    def _track_cell(self, cell: str, options: Any) -> Any:
        __tracebackhide__ = True  # noqa: F841
        capture = None
        try:
            capture = self._start(cell, options, self._cell_number(stored=True))
        except Exception as exc:
            _warn(
                f"could not start tracking ({type(exc).__name__}: {exc}); the cell runs untracked."
            )
            capture = None
        error: BaseException | None = None
        try:
            return self._execute(cell)
        except BaseException as exc:
            error = exc
            raise
        finally:
            if capture is not None:
                self._finish(capture, error)

    def _finish(self, capture: Any, error: BaseException | None) -> None:
        try:
            summary = capture.after(error)
            display(summary)
        except Exception as exc:
            _warn(f"capture problem ({type(exc).__name__}: {exc}); your cell ran normally.")
        finally:
            _track_commands().release(capture)

    def _execute(self, cell: str) -> Any:
        """Run the cell body in the user namespace; its last expression is the result."""
        __tracebackhide__ = True  # noqa: F841
        shell = self.ip
        transformed = shell.transform_cell(cell)
        tree = shell.compile.ast_parse(transformed)
        tree = shell.transform_ast(tree)
        number = self._cell_number(stored=True) or shell.execution_count
        filename = shell.compile.cache(transformed, number, raw_code=cell)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        ns = shell.user_ns
        if tree.body:
            exec(shell.compile(tree, filename, "exec"), shell.user_global_ns, ns)
        if last is not None:
            code = shell.compile(last, filename, "eval")  # type: ignore[arg-type]  # an AST is fine
            return eval(code, shell.user_global_ns, ns)
        return None

    def _pre_run_cell(self, info: Any) -> None:
        self._auto_capture = None
        try:
            cell = getattr(info, "raw_cell", "") or ""
            if not _worth_tracking(cell):
                return
            capture = self._start(cell, self._auto_options, self._cell_number(stored=False))
            self._auto_capture = capture
        except Exception as exc:
            _warn(
                f"could not start tracking this cell ({type(exc).__name__}: {exc}); it runs untracked."
            )

    def _post_run_cell(self, result: Any) -> None:
        capture, self._auto_capture = self._auto_capture, None
        if capture is None:
            return
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        self._finish(capture, error)


def _worth_tracking(cell: str) -> bool:
    """Cells that do work: not empty, comment-only or magic-only cells, not cells that only
    import or define helpers (functions, classes), never the cell that runs ``%track`` or a
    cell magic (``%%track`` records itself)."""
    text = cell.strip()
    if not text or text.startswith("%%"):
        return False
    lines = [ln.strip() for ln in text.splitlines()]
    if any(ln.startswith("%track") for ln in lines):
        return False
    code = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in cell.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return True  # the cell will fail; the failed run says why
    return any(
        not isinstance(stmt, HELPER_STATEMENTS) and not _is_docstring(stmt) for stmt in tree.body
    )


HELPER_STATEMENTS = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Pass,
)


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
