"""Text and HTML renderings of the model registry: model lists, versions, lineage chains,
gate verdict tables and promotion outcomes. Every user string is escaped."""

from __future__ import annotations

from typing import Any

from mlnb.render.html import GREEN, GREY, RED, badge, esc, html_table
from mlnb.render.serving import serving_summary
from mlnb.render.text import fmt_time, fmt_value, short_id, text_table


def _short_class(name: str | None) -> str:
    return (name or "").rsplit(".", 1)[-1]


def _verdict(passed: bool) -> str:
    return badge("pass", GREEN) if passed else badge("FAIL", RED)


# -- one version ------------------------------------------------------------------------------


def version_text(v: dict[str, Any]) -> str:
    """One model version on one line: name, version, stage, aliases, class, hash, run."""
    aliases = f"  aliases: {', '.join(v['aliases'])}" if v.get("aliases") else ""
    run = f"  run #{v['run_id']}" if v.get("run_id") else ""
    return (
        f"{v['name']} v{v['version']} [{v['stage']}]{aliases}  {_short_class(v['class_name'])}  "
        f"{v['format']} sha256 {v['object_hash'][:12]}{run}"
    )


def version_html(v: dict[str, Any]) -> str:
    """One model version as an HTML line with its stage badge."""
    aliases = " ".join(badge(a, "#0969da") for a in v.get("aliases", []))
    inputs = [c["name"] for c in (v.get("signature") or {}).get("inputs", [])]
    inputs_text = ", ".join(inputs[:12]) + (f" (+{len(inputs) - 12})" if len(inputs) > 12 else "")
    run = f" · run <b>#{v['run_id']}</b>" if v.get("run_id") else ""
    return (
        f'<div style="font-size:12px;border-left:3px solid #0969da;padding:2px 8px">'
        f"<b>mlnb</b> registered <b>{esc(v['name'])}</b> version <b>{v['version']}</b> "
        f"{badge(v['stage'])} {aliases}<br>"
        f'<span style="color:{GREY}">{esc(_short_class(v["class_name"]))} · {esc(v["format"])} · '
        f"sha256 <code>{esc(v['object_hash'][:12])}</code>{run}"
        + (f" · inputs: {esc(inputs_text)}" if inputs else "")
        + "</span></div>"
    )


# -- all models / one model ----------------------------------------------------------------------


def _models_rows(models: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            m["name"],
            m["n_versions"],
            m["latest_version"],
            f"v{m['production_version']}" if m.get("production_version") else "-",
            ", ".join(f"v{v}" for v in m.get("staging_versions", [])) or "-",
            ", ".join(f"{a}=v{v}" for a, v in m.get("aliases", {}).items()) or "-",
            fmt_time(
                max(
                    filter(None, [m.get("last_version_at"), m.get("last_transition_at")]),
                    default=None,
                )
            ),
            serving_summary(m.get("deployment")),
        ]
        for m in models
    ]


_MODELS_HEADERS = [
    "model",
    "versions",
    "latest",
    "production",
    "staging",
    "aliases",
    "updated",
    "deployment",
]


def models_text(models: list[dict[str, Any]]) -> str:
    """Registered models as a text table (``mlnb models``)."""
    if not models:
        return "no registered models yet (register one with `%register_model VAR --name NAME`)"
    return text_table(_models_rows(models), _MODELS_HEADERS)


def models_html(models: list[dict[str, Any]]) -> str:
    """Registered models as an HTML table (``%mlnb registry``)."""
    if not models:
        return "<i>no registered models yet</i>"
    rows = []
    for r in _models_rows(models):
        cells = [esc(fmt_value(c)) for c in r]
        cells[0] = f"<b>{esc(r[0])}</b>"
        if r[3] != "-":
            cells[3] = badge(str(r[3]), GREEN)
        rows.append(cells)
    return html_table(_MODELS_HEADERS, rows)


def _version_rows(model: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            f"v{v['version']}",
            v["stage"],
            ", ".join(v.get("aliases", [])),
            _short_class(v["class_name"]),
            v["object_hash"][:12],
            f"#{v['run_id']}" if v.get("run_id") else "",
            v.get("created_by") or "",
            fmt_time(v["created_at"]),
        ]
        for v in reversed(model["versions"])
    ]


_VERSION_HEADERS = ["version", "stage", "aliases", "class", "sha256", "run", "by", "created"]


def _transition_rows(model: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for t in reversed(model.get("transitions", [])):
        gate = ""
        if t.get("gate"):
            gate = f"{t['gate']} ({'passed' if t['gate_passed'] else 'FAILED'})"
        rows.append(
            [
                fmt_time(t["created_at"]),
                f"v{t['version']}",
                f"{t['from_stage']} -> {t['to_stage']}",
                t.get("user") or "",
                t.get("reason") or "",
                gate,
            ]
        )
    return rows


_TRANSITION_HEADERS = ["when", "version", "change", "by", "reason", "gate"]


def _gate_rows(model: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for g in model.get("gate_results", [])[:10]:
        failed = [c["name"] for c in g["checks"] if not c["passed"]]
        rows.append(
            [
                fmt_time(g["created_at"]),
                f"v{g['version']}",
                g["gate"],
                "passed" if g["passed"] else "FAILED",
                f"{len(g['checks']) - len(failed)}/{len(g['checks'])}",
                ", ".join(failed),
            ]
        )
    return rows


_GATE_HEADERS = ["when", "version", "gate", "verdict", "checks passed", "failed checks"]


def model_text(model: dict[str, Any]) -> str:
    """One model as text: its versions, stage transitions and gate results."""
    prod = model.get("production_version")
    lines = [
        f"model {model['name']}"
        + (f" - {model['description']}" if model.get("description") else "")
        + f"   production: {'v' + str(prod) if prod else 'none'}",
        *([serving_summary(model["deployment"])] if model.get("deployment") else []),
        "",
        text_table(_version_rows(model), _VERSION_HEADERS) if model["versions"] else "no versions",
    ]
    if model.get("transitions"):
        lines += ["", "stage history (newest first):"]
        lines.append(text_table(_transition_rows(model), _TRANSITION_HEADERS))
    if model.get("gate_results"):
        lines += ["", "gate results (newest first):"]
        lines.append(text_table(_gate_rows(model), _GATE_HEADERS))
    return "\n".join(lines)


def model_html(model: dict[str, Any]) -> str:
    """One model as HTML: its versions, stage transitions and gate results."""
    prod = model.get("production_version")
    head = (
        f'<div style="font-size:13px;margin:2px 0"><b>{esc(model["name"])}</b> '
        + (badge(f"production v{prod}", GREEN) if prod else badge("no production version"))
        + (
            f' <span style="color:{GREY}">{esc(model["description"])}</span>'
            if model.get("description")
            else ""
        )
        + (
            f" {badge(serving_summary(model['deployment']), GREEN)}"
            if model.get("deployment")
            else ""
        )
        + "</div>"
    )
    vrows = []
    for r in _version_rows(model):
        cells = [esc(fmt_value(c)) for c in r]
        cells[1] = badge(str(r[1]))
        cells[2] = " ".join(badge(a, "#0969da") for a in r[2].split(", ") if a)
        cells[4] = f"<code>{esc(r[4])}</code>"
        vrows.append(cells)
    parts = [head, html_table(_VERSION_HEADERS, vrows)]
    if model.get("transitions"):
        parts.append(f'<div style="font-size:12px;color:{GREY};margin-top:6px">stage history</div>')
        trows = []
        for r in _transition_rows(model):
            cells = [esc(fmt_value(c)) for c in r]
            if r[5]:
                cells[5] = badge(r[5], GREEN if "passed" in r[5] else RED)
            trows.append(cells)
        parts.append(html_table(_TRANSITION_HEADERS, trows))
    if model.get("gate_results"):
        parts.append(f'<div style="font-size:12px;color:{GREY};margin-top:6px">gate results</div>')
        grows = []
        for r in _gate_rows(model):
            cells = [esc(fmt_value(c)) for c in r]
            cells[3] = _verdict(r[3] == "passed")
            grows.append(cells)
        parts.append(html_table(_GATE_HEADERS, grows))
    return "".join(parts)


# -- gate verdicts and promotions -------------------------------------------------------------------


def _check_rows(gate: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for c in gate["checks"]:
        threshold = "" if c.get("threshold") is None else f"{c['op']} {fmt_value(c['threshold'])}"
        rows.append([c["name"], fmt_value(c.get("value")), threshold, c["passed"], _check_note(c)])
    return rows


def _check_note(c: dict[str, Any]) -> str:
    d = c.get("details") or {}
    if d.get("error"):
        return str(d["error"])
    if d.get("note"):
        return str(d["note"])
    if c.get("kind") == "no_regression" and "baseline" in d:
        return f"production v{d.get('baseline_version')} = {fmt_value(d['baseline'])}, tolerance {fmt_value(d.get('tolerance'))}"
    if c.get("kind") == "max_bias" and d.get("highest") is not None:
        return f"highest {d['highest']}, lowest {d['lowest']} ({len(d.get('groups', []))} groups)"
    if c.get("kind") == "max_latency" and "n" in d:
        return f"p50 {fmt_value(d.get('p50_ms'))} ms over {d['n']} calls"
    return ""


_CHECK_HEADERS = ["check", "value", "threshold", "verdict", "details"]


def _gate_footer(gate: dict[str, Any]) -> str:
    t = gate.get("timings") or {}
    bits = []
    if gate.get("n_rows"):
        bits.append(f"holdout {gate['n_rows']} rows")
    if gate.get("holdout_data_version"):
        bits.append(f"data version {short_id(gate['holdout_data_version'], 12)}")
    if gate.get("target"):
        bits.append(f"target {gate['target']}")
    if t:
        bits.append(
            f"predict {t.get('predict_s', 0) * 1000:.0f} ms, gate total {t.get('total_s', 0) * 1000:.0f} ms"
        )
    if gate.get("id"):
        bits.append(f"gate result #{gate['id']}")
    return " · ".join(bits)


def gate_text(gate: dict[str, Any]) -> str:
    """A gate verdict as text: each check with its value, threshold and note."""
    n_failed = sum(1 for c in gate["checks"] if not c["passed"])
    who = (
        f" on {gate['model']} v{gate['version']}"
        if gate.get("model") and gate.get("version")
        else ""
    )
    head = f"gate {gate['gate']}{who}: " + (
        "PASSED" if gate["passed"] else f"FAILED ({n_failed} of {len(gate['checks'])} checks)"
    )
    rows = [[r[0], r[1], r[2], "pass" if r[3] else "FAIL", r[4]] for r in _check_rows(gate)]
    lines = [head, text_table(rows, _CHECK_HEADERS), _gate_footer(gate)]
    lines += [f"note: {n}" for n in gate.get("notes", [])]
    return "\n".join(line for line in lines if line)


def gate_html(gate: dict[str, Any]) -> str:
    """A gate verdict as HTML: pass/FAIL badge per check."""
    color = GREEN if gate["passed"] else RED
    n_failed = sum(1 for c in gate["checks"] if not c["passed"])
    verdict = "passed" if gate["passed"] else f"failed {n_failed} of {len(gate['checks'])} checks"
    rows = []
    for r in _check_rows(gate):
        rows.append([esc(r[0]), esc(r[1]), esc(r[2]), _verdict(r[3]), esc(r[4])])
    notes = "".join(
        f'<div style="color:{GREY}">note: {esc(n)}</div>' for n in gate.get("notes", [])
    )
    return (
        f'<div style="font-size:12px;border-left:3px solid {color};padding:2px 8px">'
        f'<div>gate <b>{esc(gate["gate"])}</b>: <b style="color:{color}">{esc(verdict)}</b></div>'
        f"{html_table(_CHECK_HEADERS, rows)}"
        f'<div style="color:{GREY};font-size:11px">{esc(_gate_footer(gate))}</div>{notes}</div>'
    )


def promotion_text(p: dict[str, Any]) -> str:
    """What a promotion did, in one or two lines of text."""
    word = "PROMOTED: " if p["promoted"] else "NOT PROMOTED: "
    head = ("LEFT TO THE PIPELINE: " if p.get("deferred") else word) + p["message"]
    lines = [head]
    if p.get("reason") and p["promoted"]:
        lines.append(f"reason: {p['reason']}")
    if p.get("gate"):
        lines.append(gate_text(p["gate"]))
    return "\n".join(lines)


def promotion_html(p: dict[str, Any]) -> str:
    """What a promotion did, with its gate verdict, as HTML."""
    color = GREEN if p["promoted"] and not p.get("forced") else RED
    word = "promoted" if p["promoted"] else "not promoted"
    if p.get("deferred"):
        color, word = GREY, "left to the pipeline"
    head = (
        f'<div style="font-size:13px;margin:2px 0">{badge(word, color)} <b>{esc(p["model"])}</b> '
        f"v{p['version']} → {esc(p['to'])}: {esc(p['message'])}</div>"
    )
    if p.get("reason") and p["promoted"]:
        head += f'<div style="font-size:11px;color:{GREY}">reason: {esc(p["reason"])}</div>'
    return head + (gate_html(p["gate"]) if p.get("gate") else "")


def rollback_text(r: dict[str, Any]) -> str:
    """Which version a rollback restored and which it replaced."""
    was = f" (v{r['replaced']} archived)" if r.get("replaced") else ""
    return f"{r['model']}: rolled back, production is v{r['restored']} again{was}. reason: {r['reason']}"


def rollback_html(r: dict[str, Any]) -> str:
    """The rollback outcome as an HTML line."""
    was = f" (v{r['replaced']} archived)" if r.get("replaced") else ""
    return (
        f'<div style="font-size:12px">{badge("rolled back", GREEN)} <b>{esc(r["model"])}</b>: '
        f"production is v{r['restored']} again{esc(was)}.</div>"
    )


# -- lineage --------------------------------------------------------------------------------------


def lineage_text(lin: dict[str, Any]) -> str:
    """The chain behind a version as an indented text tree: artifact, run, data, pipeline."""
    a = lin["artifact"]
    aliases = f"; aliases: {', '.join(lin['aliases'])}" if lin.get("aliases") else ""
    lines = [
        f"{lin['model']}@{lin['version']}  [{lin['stage']}{aliases}]  registered {fmt_time(lin['created_at'])} by {lin.get('created_by') or '?'}",
        f"└─ artifact {a['id']}  {a['class_name']}  {a['format']}  {a['size']} bytes",
        f"   sha256 {a['object_hash']}",
    ]
    inputs = [c["name"] for c in (a.get("signature") or {}).get("inputs", [])]
    if inputs:
        lines.append(f"   signature: {', '.join(inputs)}")
    run = lin.get("run")
    if run is None:
        lines.append("   └─ no run recorded (artifact registered without one)")
    else:
        lines.append(
            f"   └─ run #{run['id']} {run.get('name') or ''}  ({run['experiment']}, {run['status']}, "
            f"{fmt_time(run['started_at'])}) by {run.get('user')}@{run.get('host')}"
        )
        where = []
        if run.get("notebook_path"):
            where.append(f"notebook {run['notebook_path']}")
        if run.get("execution_count"):
            where.append(f"cell [{run['execution_count']}]")
        if run.get("git_commit"):
            where.append(
                f"git {run['git_commit'][:12]}{' (dirty)' if run.get('git_dirty') else ''}"
            )
        where.append(f"source {run.get('source')}")
        lines.append("      " + "  ".join(where))
        if run.get("params"):
            lines.append(
                "      params:  "
                + ", ".join(f"{k}={fmt_value(v)}" for k, v in run["params"].items())
            )
        if run.get("metrics"):
            lines.append(
                "      metrics: "
                + ", ".join(f"{k}={fmt_value(v)}" for k, v in run["metrics"].items())
            )
        data = lin.get("data") or []
        lines.append("      └─ data" + ("" if data else ": none recorded"))
        for d in data:
            shape = f" {d['n_rows']}x{d['n_cols']}" if d.get("n_rows") is not None else ""
            path = f"  {d['source_path']}" if d.get("source_path") else ""
            lines.append(
                f"         {d['role']:6} {d['name'] or '-':16} {d['id']}  {d['kind']}{shape}{path}"
            )
        if run.get("cell_source"):
            lines.append("      └─ cell source")
            lines += [f"         | {ln}" for ln in run["cell_source"].splitlines()]
    if lin.get("deployment"):
        lines.append(
            f"   └─ {serving_summary(lin['deployment'])} (deployment {lin['deployment']['id']})"
        )
    pr = lin.get("pipeline_run")
    if pr:
        lines.append(
            f"   └─ pipeline {pr['pipeline']} run {pr['id']} (trigger {pr['trigger']}"
            + (f": {pr['reason']}" if pr.get("reason") else "")
            + f", {pr['status']})"
        )
    if lin.get("transitions"):
        lines.append("stage history:")
        for t in lin["transitions"]:
            gate = ""
            if t.get("gate"):
                gate = f"  [gate {t['gate']} {'passed' if t['gate_passed'] else 'FAILED'}, result #{t['gate_result_id']}]"
            lines.append(
                f"  {fmt_time(t['created_at'])}  {t['from_stage']} -> {t['to_stage']}  by {t.get('user')}: {t.get('reason')}{gate}"
            )
    return "\n".join(lines)


def lineage_html(lin: dict[str, Any]) -> str:
    """The lineage text tree in an HTML pre block, escaped."""
    return f'<pre style="font-size:12px;line-height:1.35;white-space:pre-wrap">{esc(lineage_text(lin))}</pre>'
