"""Static views of monitors for the CLI and notebooks (HTML and text)."""

from __future__ import annotations

from typing import Any

from mlnb.render.html import GREEN, RED, Rendered, badge, esc, html_table
from mlnb.render.text import fmt_time, fmt_value, text_table


def monitors_rows(monitors: list[dict[str, Any]]) -> list[list[Any]]:
    """Raw cells of the monitors table, shared by the text and HTML forms."""
    return [
        [
            m["name"],
            m.get("model_name") or "",
            m["n_batches"],
            m["open_alerts"],
            fmt_time(m["updated_at"]),
        ]
        for m in monitors
    ]


def monitors_view(monitors: list[dict[str, Any]]) -> Rendered:
    """Monitors as a table in both forms (``mlnb monitor list``, ``%monitor``)."""
    headers = ["monitor", "model", "batches", "open alerts", "updated"]
    rows = monitors_rows(monitors)
    if not rows:
        return Rendered("<i>no monitors yet</i>", "no monitors yet")
    return Rendered(
        html_table(headers, [[esc(fmt_value(c)) for c in r] for r in rows]),
        text_table(rows, headers),
    )


def status_text(s: dict[str, Any]) -> str:
    """One monitor's status as text: latest verdict, thresholds, open alerts."""
    latest = s.get("latest")
    lines = [
        f"monitor {s['monitor']} (model {s.get('model') or '-'}), {s['features']} features, {s['batches']} batches"
    ]
    if latest:
        lines.append(
            f"  latest batch #{s.get('latest_number') or latest['id']} at {fmt_time(latest['batch_at'])}: {latest['n_drifted']}/{latest['n_columns']} "
            f"columns drifted, dataset drift {'YES' if latest['dataset_drift'] else 'no'}"
        )
        if latest["metrics"]:
            lines.append(
                "  metrics: "
                + ", ".join(f"{k}={fmt_value(v)}" for k, v in latest["metrics"].items())
            )
        lines += _labels_and_estimates(latest)
    if s["thresholds"]:
        lines.append(
            "  thresholds: " + ", ".join(f"{k} {fmt_value(v)}" for k, v in s["thresholds"].items())
        )
    if s["open_alerts"]:
        lines.append(f"  open alerts ({len(s['open_alerts'])}):")
        lines += [
            f"    #{a['id']} {fmt_time(a['created_at'])} {a['message']}" for a in s["open_alerts"]
        ]
    else:
        lines.append("  no open alerts")
    return "\n".join(lines)


def _labels_and_estimates(batch: dict[str, Any]) -> list[str]:
    """Label coverage and label drift, and the label-free estimates with their bands."""
    lines = []
    labels = batch.get("labels")
    if labels:
        drift = labels.get("drift") or {}
        verdict = (
            ""
            if not drift
            else (", label drift YES" if drift.get("drifted") else ", no label drift")
        )
        lines.append(
            f"  labels: {labels['n_labelled']}/{labels['n_rows']} rows "
            f"({labels['coverage']:.0%}){verdict}"
        )
    estimates = batch.get("estimates")
    if estimates:
        lines.append(
            "  estimated without labels: "
            + ", ".join(
                f"{k} {fmt_value(e['value'])} [{fmt_value(e['low'])}, {fmt_value(e['high'])}]"
                for k, e in estimates.items()
            )
        )
    return lines


def status_view(s: dict[str, Any]) -> Rendered:
    """One monitor's status in both forms."""
    latest = s.get("latest")
    parts = [
        f"<div style='font-size:12px'><b>monitor {esc(s['monitor'])}</b> · model {esc(s.get('model') or '-')} · {s['batches']} batches</div>"
    ]
    if latest:
        verdict = (
            badge("dataset drift", RED)
            if latest["dataset_drift"]
            else badge("no dataset drift", GREEN)
        )
        metrics = ", ".join(f"{esc(k)}={esc(fmt_value(v))}" for k, v in latest["metrics"].items())
        parts.append(
            f"<div style='font-size:12px'>latest batch #{s.get('latest_number') or latest['id']}: {verdict} "
            f"{latest['n_drifted']}/{latest['n_columns']} columns drifted {metrics}</div>"
        )
        parts += [
            f"<div style='font-size:12px'>{esc(line.strip())}</div>"
            for line in _labels_and_estimates(latest)
        ]
    for a in s["open_alerts"]:
        parts.append(
            f"<div style='border-left:4px solid {RED};padding:2px 8px;font-size:12px'>alert #{a['id']}: {esc(a['message'])}</div>"
        )
    return Rendered("".join(parts), status_text(s))


def history_rows(
    history: list[dict[str, Any]], thresholds: dict[str, float]
) -> tuple[list[str], list[list[Any]]]:
    """Headers and cells of a monitor's batch history."""
    metric_names = sorted({k for h in history for k in h["metrics"]})
    headers = [
        "batch",
        "when",
        "rows",
        "labelled",
        "drifted",
        "share",
        "dataset drift",
        *metric_names,
    ]
    rows = []
    for h in history:
        rep = h["report"]
        rows.append(
            [
                h.get("number") or h["batch_id"],
                fmt_time(h["batch_at"]),
                h["n_rows"],
                _coverage(h.get("labels")),
                f"{rep.get('n_drifted')}/{rep.get('n_columns')}",
                rep.get("share_drifted"),
                "YES" if rep.get("dataset_drift") else "no",
                *[h["metrics"].get(m) for m in metric_names],
            ]
        )
    return headers, rows


def _coverage(labels: dict[str, Any] | None) -> str:
    return "" if not labels else f"{labels['coverage']:.0%}"


def history_view(
    name: str, history: list[dict[str, Any]], thresholds: dict[str, float]
) -> Rendered:
    """A monitor's batch history in both forms."""
    if not history:
        return Rendered(
            f"<i>monitor {esc(name)} has no batches yet</i>", f"monitor {name} has no batches yet"
        )
    headers, rows = history_rows(history, thresholds)
    text = text_table(rows, headers)
    if thresholds:
        text += "\nthresholds: " + ", ".join(f"{k} {fmt_value(v)}" for k, v in thresholds.items())
    return Rendered(html_table(headers, [[esc(fmt_value(c)) for c in r] for r in rows]), text)
