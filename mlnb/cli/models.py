"""``mlnb models|model|register|promote|rollback|lineage|alias|gate``: the model registry
and promotion gates from the command line."""

from __future__ import annotations

import argparse
from typing import Any

from mlnb.cli import emit, open_registry
from mlnb.lifecycle.versions import lineage_record


def add_commands(sub: Any) -> None:
    p = sub.add_parser("models", help="list registered models")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("model", help="one model: versions, stage history, gates, lineage")
    p.add_argument("name")
    p.set_defaults(func=cmd_model)

    p = sub.add_parser("register", help="register a stored model as a new version")
    p.add_argument("ref", help="runs:/RUN_ID/NAME, artifact:ID, or another model's NAME/VERSION")
    p.add_argument("--name", required=True, help="registered model name")
    p.add_argument("--stage", choices=["none", "staging"], default=None)
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("--description", default="")
    p.set_defaults(func=cmd_register)

    p = sub.add_parser("promote", help="run a gate and promote a version if it passes")
    p.add_argument("name", help="registered model name (or NAME/VERSION)")
    p.add_argument("version", nargs="?", default=None, help="version (default: latest)")
    p.add_argument("--to", default="production", choices=["staging", "production", "archived"])
    p.add_argument("--gate", default=None, help="gates.yaml:NAME, a gate file, or a name")
    p.add_argument("--holdout", default=None, help="CSV/parquet file or data version id")
    p.add_argument("--target", default=None, help="target column of the holdout")
    p.add_argument("--reason", default="")
    p.add_argument("--force", action="store_true", help="promote even if the gate fails")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("gate", help="run a gate on a version without promoting it")
    p.add_argument("gate", help="gates.yaml:NAME, a gate file, or a name")
    p.add_argument("ref", help="NAME, NAME/VERSION or NAME@ALIAS")
    p.add_argument("--holdout", default=None)
    p.add_argument("--target", default=None)
    p.add_argument("--no-record", action="store_true", help="do not store the result")
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser("rollback", help="put the previous production version back")
    p.add_argument("name")
    p.add_argument("--reason", default="")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("lineage", help="artifact, run, notebook cell and data behind a version")
    p.add_argument("ref", help="churn@3, churn/3, churn@production, churn@champion")
    p.set_defaults(func=cmd_lineage)

    p = sub.add_parser("alias", help="set (or --delete) a free alias such as champion")
    p.add_argument("name")
    p.add_argument("alias")
    p.add_argument("version", nargs="?", default=None)
    p.add_argument("--delete", action="store_true")
    p.set_defaults(func=cmd_alias)


def cmd_models(args: argparse.Namespace) -> None:
    from mlnb.render.models import models_text

    models = open_registry(args).models.find()
    emit(args, models, models_text(models))


def cmd_model(args: argparse.Namespace) -> None:
    from mlnb.render.models import lineage_text, model_text

    reg = open_registry(args)
    model = reg.models.get(args.name)
    text = model_text(model)
    if model["versions"]:
        ref = (
            f"{args.name}@production" if model.get("production_version") else f"{args.name}@latest"
        )
        lin = lineage_record(reg, ref)
        model["lineage"] = lin
        text += f"\n\nlineage of v{lin['version']} ({ref.split('@')[1]}):\n" + lineage_text(lin)
    emit(args, model, text)


def cmd_register(args: argparse.Namespace) -> None:
    from mlnb.lifecycle.versions import register_model

    aliases = [a.strip() for text in args.alias for a in text.split(",") if a.strip()]
    version = register_model(
        args.ref,
        args.name,
        stage=args.stage,
        aliases=aliases,
        description=args.description,
        registry=open_registry(args),
    )
    emit(args, version.to_dict(), f"registered {repr(version)}")


def cmd_promote(args: argparse.Namespace) -> int:
    from mlnb.lifecycle.promotion import promote

    result = promote(
        args.name,
        version=args.version,
        to=args.to,
        gate=args.gate,
        holdout=args.holdout,
        target=args.target,
        reason=args.reason,
        force=args.force,
        registry=open_registry(args),
    )
    emit(args, result.to_dict(), repr(result))
    return 0 if result.promoted else 1


def cmd_gate(args: argparse.Namespace) -> int:
    from mlnb.lifecycle.promotion import run_gate

    result = run_gate(
        args.gate,
        args.ref,
        holdout=args.holdout,
        target=args.target,
        record=not args.no_record,
        registry=open_registry(args),
    )
    emit(args, result.to_dict(), repr(result))
    return 0 if result.passed else 1


def cmd_rollback(args: argparse.Namespace) -> None:
    from mlnb.lifecycle.versions import rollback

    result = rollback(args.name, reason=args.reason, registry=open_registry(args))
    emit(args, result.to_dict(), repr(result))


def cmd_lineage(args: argparse.Namespace) -> None:
    from mlnb.render.models import lineage_text

    lin = lineage_record(open_registry(args), args.ref)
    emit(args, lin, lineage_text(lin))


def cmd_alias(args: argparse.Namespace) -> None:
    from mlnb.cli import CliError

    reg = open_registry(args)
    if args.delete:
        reg.models.delete_alias(args.name, args.alias)
        emit(args, {"deleted": args.alias}, f"{args.name}: alias {args.alias} removed")
        return
    if args.version is None:
        raise CliError(
            f"say which version {args.alias!r} should point at: mlnb alias {args.name} "
            f"{args.alias} VERSION (or --delete)."
        )
    if not str(args.version).isdigit():
        raise CliError(f"VERSION must be a number, got {args.version!r}.")
    row = reg.models.set_alias(args.name, args.alias, int(args.version))
    emit(args, row, f"{args.name}@{args.alias} -> v{row['version']}")
