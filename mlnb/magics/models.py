"""Model registry magics: ``%register_model``, ``%promote``, ``%models``, ``%rollback``,
``%lineage``. Thin wrappers over :mod:`mlnb.lifecycle.versions` and :mod:`mlnb.lifecycle.promotion`."""

from __future__ import annotations

import os
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from mlnb.errors import MlnbError
from mlnb.magics._args import HelpShown, MagicArgumentParser, comma_list, parse

MODELS_HELP = """  %register_model VAR --name NAME [--stage staging] [--alias A[,B]] [--description TEXT] [--X VAR]
                                    register a fitted model (or runs:/12/model) as a new version
  %promote NAME [--version N] [--to production|staging|archived] [--gate GATE]
           [--holdout VAR_OR_PATH] [--target COL] [--reason TEXT] [--force]
                                    run the gate and promote only if every check passes
  %models [NAME]                    registered models, or one model's versions and history
  %rollback NAME [--reason TEXT]    put the previous production version back
  %lineage NAME@VERSION             artifact, run, notebook cell and data behind a version
"""


def _register_parser() -> MagicArgumentParser:
    p = MagicArgumentParser(prog="%register_model")
    p.add_argument("model", help="a variable holding a fitted model, or runs:/RUN/NAME")
    p.add_argument("--name", required=True, help="registered model name, e.g. churn")
    p.add_argument("--stage", choices=["none", "staging"], default=None)
    p.add_argument("--alias", action="append", default=[], help="free alias(es), e.g. champion")
    p.add_argument("--description", default="")
    p.add_argument("--X", dest="X", default=None, help="variable with the training inputs")
    p.add_argument("--allow-pickle", action="store_true", help="store with pickle if skops cannot")
    return p


def _promote_parser() -> MagicArgumentParser:
    p = MagicArgumentParser(prog="%promote")
    p.add_argument("name", help="registered model name (or NAME/VERSION)")
    p.add_argument("--version", default=None, help="version number (default: latest)")
    p.add_argument("--to", default="production", choices=["staging", "production", "archived"])
    p.add_argument("--gate", default=None, help="gate name, or gates.yaml:NAME")
    p.add_argument("--holdout", default=None, help="variable, CSV/parquet path or data version")
    p.add_argument("--target", default=None, help="target column of the holdout")
    p.add_argument("--reason", default="")
    p.add_argument("--force", action="store_true", help="promote even if the gate fails")
    return p


@magics_class
class ModelMagics(Magics):
    """Magics for the model registry and promotion gates."""

    def _guarded(self, func: Any, line: str) -> Any:
        try:
            return func(line)
        except HelpShown as shown:
            print(str(shown))
            return None
        except MlnbError as exc:
            raise UsageError(str(exc)) from None

    def _lookup(self, name: str, what: str) -> Any:
        ns = self.shell.user_ns
        if name in ns:
            return ns[name]
        raise MlnbError(f"{what}: no variable named {name!r} in the notebook.")

    @line_magic
    def register_model(self, line: str) -> Any:
        """%register_model VAR --name NAME [--stage staging] [--alias A] [--description T] [--X VAR]"""
        return self._guarded(self._register_model, line)

    def _register_model(self, line: str) -> Any:
        from mlnb.lifecycle.versions import register_model

        args = parse(_register_parser(), line)
        ns = self.shell.user_ns
        if args.model in ns:
            model = ns[args.model]
        elif ":" in args.model:
            model = args.model  # runs:/12/model, artifact:5
        else:
            raise MlnbError(
                f"%register_model: no variable named {args.model!r} in the notebook; pass the "
                "variable holding the fitted model, or runs:/RUN_ID/NAME."
            )
        X = self._lookup(args.X, "%register_model --X") if args.X else None
        aliases = [a for text in args.alias for a in comma_list(text) or []]
        return register_model(
            model,
            args.name,
            stage=args.stage,
            aliases=aliases,
            description=args.description,
            X=X,
            allow_pickle=args.allow_pickle,
        )

    @line_magic
    def promote(self, line: str) -> Any:
        """%promote NAME [--version N] [--to STAGE] [--gate G] [--holdout VAR] [--target COL] [--reason T] [--force]"""
        return self._guarded(self._promote, line)

    def _promote(self, line: str) -> Any:
        from mlnb.lifecycle.promotion import promote

        args = parse(_promote_parser(), line)
        holdout: Any = None
        if args.holdout is not None:
            ns = self.shell.user_ns
            if args.holdout in ns:
                holdout = ns[args.holdout]
            elif os.path.exists(os.path.expanduser(args.holdout)) or args.holdout.startswith("dv-"):
                holdout = os.path.expanduser(args.holdout)
            else:
                raise MlnbError(
                    f"%promote --holdout: {args.holdout!r} is neither a notebook variable, a "
                    "file, nor a data version id."
                )
        return promote(
            args.name,
            version=args.version,
            to=args.to,
            gate=args.gate,
            holdout=holdout,
            target=args.target,
            reason=args.reason,
            force=args.force,
        )

    @line_magic
    def models(self, line: str) -> Any:
        """%models [NAME]: registered models, or one model's versions, history and gates."""
        return self._guarded(self._models, line)

    def _models(self, line: str) -> Any:
        from mlnb.lifecycle.versions import models

        p = MagicArgumentParser(prog="%models")
        p.add_argument("name", nargs="?", default=None)
        args = parse(p, line)
        return models(args.name)

    @line_magic
    def rollback(self, line: str) -> Any:
        """%rollback NAME [--reason TEXT]: restore the previous production version."""
        return self._guarded(self._rollback, line)

    def _rollback(self, line: str) -> Any:
        from mlnb.lifecycle.versions import rollback

        p = MagicArgumentParser(prog="%rollback")
        p.add_argument("name")
        p.add_argument("--reason", default="")
        args = parse(p, line)
        return rollback(args.name, reason=args.reason)

    @line_magic
    def lineage(self, line: str) -> Any:
        """%lineage NAME@VERSION: where a model version came from."""
        return self._guarded(self._lineage, line)

    def _lineage(self, line: str) -> Any:
        from mlnb.lifecycle.versions import lineage

        p = MagicArgumentParser(prog="%lineage")
        p.add_argument("ref", help="churn@3, churn/3, churn@production, churn@champion")
        args = parse(p, line)
        return lineage(args.ref)
