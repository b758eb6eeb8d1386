"""Model registry and gate commands: ``models``, ``model``, ``register``,
``register_model`` (notebook), ``promote``, ``gate``, ``rollback``, ``lineage``, ``alias``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from mlnb.commands.spec import Context, Result
from mlnb.errors import MlnbError, ValidationError
from mlnb.lifecycle import promotion, versions
from mlnb.lifecycle.versions import lineage_record
from mlnb.render.models import lineage_html, lineage_text, model_html, model_text
from mlnb.store.refs import is_number


def models(ctx: Context, args: argparse.Namespace) -> Result:
    """Registered models, or one model's versions, stages, aliases and history."""
    view = versions.models(args.name, registry=ctx.registry)
    return Result.of(view, data=view.data)


def model(ctx: Context, args: argparse.Namespace) -> Result:
    """One model in full, with the lineage of its production (else latest) version."""
    found = ctx.registry.models.get(args.name)
    text, html = model_text(found), model_html(found)
    if found["versions"]:
        which = "production" if found.get("production_version") else "latest"
        lin = lineage_record(ctx.registry, f"{args.name}@{which}")
        found["lineage"] = lin
        text += f"\n\nlineage of v{lin['version']} ({which}):\n" + lineage_text(lin)
        html += lineage_html(lin)
    return Result(text, html, found)


def _aliases(texts: list[str]) -> list[str]:
    return [a.strip() for text in texts for a in text.split(",") if a.strip()]


def register(ctx: Context, args: argparse.Namespace) -> Result:
    """Register a stored model (``runs:/RUN/NAME``, ``artifact:ID``) as a new version."""
    version = versions.register_model(
        args.ref,
        args.name,
        stage=args.stage,
        aliases=_aliases(args.alias),
        description=args.description,
        registry=ctx.registry,
    )
    return Result(f"registered {version!r}", None, version.to_dict(), version)


def register_model(ctx: Context, args: argparse.Namespace) -> Result:
    """``%register_model VAR``: register a fitted model held by a notebook variable."""
    ns = ctx.namespace or {}
    if args.model in ns:
        fitted: Any = ns[args.model]
    elif ":" in args.model:
        fitted = args.model  # runs:/12/model, artifact:5
    else:
        raise MlnbError(
            f"%register_model: no variable named {args.model!r} in the notebook; pass the "
            "variable holding the fitted model, or runs:/RUN_ID/NAME."
        )
    if args.X is not None and args.X not in ns:
        raise MlnbError(f"%register_model --X: no variable named {args.X!r} in the notebook.")
    version = versions.register_model(
        fitted,
        args.name,
        stage=args.stage,
        aliases=_aliases(args.alias),
        description=args.description,
        X=ns[args.X] if args.X is not None else None,
        allow_pickle=args.allow_pickle,
        registry=ctx.registry,
    )
    return Result.of(version, version.to_dict())


def _holdout(ctx: Context, holdout: str | None) -> Any:
    """A notebook variable by that name, else the path or data version id as given."""
    if holdout is None or ctx.namespace is None:
        return holdout
    if holdout in ctx.namespace:
        return ctx.namespace[holdout]
    if os.path.exists(os.path.expanduser(holdout)) or holdout.startswith("dv-"):
        return os.path.expanduser(holdout)
    raise MlnbError(
        f"%promote --holdout: {holdout!r} is neither a notebook variable, a "
        "file, nor a data version id."
    )


def promote(ctx: Context, args: argparse.Namespace) -> Result:
    """Run the gate and move the version only if every check passes (exit 1 if not)."""
    version = args.version
    if args.version_option is not None:
        if version is not None and str(version) != str(args.version_option):
            raise ValidationError(
                f"two versions given ({version} and --version {args.version_option}); pass one."
            )
        version = args.version_option
    result = promotion.promote(
        args.name,
        version=version,
        to=args.to,
        gate=args.gate,
        holdout=_holdout(ctx, args.holdout),
        target=args.target,
        reason=args.reason,
        force=args.force,
        registry=ctx.registry,
    )
    return Result.of(result, result.to_dict(), code=0 if result.promoted or result.deferred else 1)


def gate(ctx: Context, args: argparse.Namespace) -> Result:
    """Evaluate a gate on a version without promoting it (exit 1 if it fails)."""
    result = promotion.run_gate(
        args.gate,
        args.ref,
        holdout=_holdout(ctx, args.holdout),
        target=args.target,
        record=not args.no_record,
        registry=ctx.registry,
    )
    return Result.of(result, result.to_dict(), code=0 if result.passed else 1)


def rollback(ctx: Context, args: argparse.Namespace) -> Result:
    """Put the previous production version back in production."""
    result = versions.rollback(args.name, reason=args.reason, registry=ctx.registry)
    return Result.of(result, result.to_dict())


def lineage(ctx: Context, args: argparse.Namespace) -> Result:
    """Artifact, run, notebook cell, git commit and data behind a version."""
    lin = versions.lineage(args.ref, registry=ctx.registry)
    return Result.of(lin, dict(lin))


def alias(ctx: Context, args: argparse.Namespace) -> Result:
    """Point a free alias (champion, challenger...) at a version, or ``--delete`` it."""
    if args.delete:
        ctx.registry.models.delete_alias(args.name, args.alias)
        return Result(f"{args.name}: alias {args.alias} removed", data={"deleted": args.alias})
    if args.version is None:
        raise ValidationError(
            f"say which version {args.alias!r} should point at: mlnb alias {args.name} "
            f"{args.alias} VERSION (or --delete)."
        )
    if not is_number(str(args.version)):
        raise ValidationError(f"VERSION must be a number, got {args.version!r}.")
    row = ctx.registry.models.set_alias(args.name, args.alias, int(args.version))
    return Result(f"{args.name}@{args.alias} -> v{row['version']}", data=row)
