"""Alerts: a threshold breach or a pipeline failure, stored in the registry with its
evidence and sent to sinks (the log, a webhook, a Python callback, the notebook).

A sink that fails never breaks the caller: the failure is logged and the alert stays stored.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from mlnb.errors import ValidationError
from mlnb.render.html import Rendered, esc
from mlnb.store.alerts import SEVERITIES

log = logging.getLogger("mlnb.alerts")
# Library logging stays silent until the application configures it (the CLI and the scheduler
# do); in a notebook the alert is shown by the notebook sink instead of a stderr line.
logging.getLogger("mlnb").addHandler(logging.NullHandler())

Sink = Callable[[dict[str, Any]], None]
_global_sinks: list[Sink] = []
_lock = threading.Lock()


def add_sink(sink: Sink) -> None:
    """Send every alert raised in this process to ``sink`` (a callable taking the alert dict)."""
    if not callable(sink):
        raise ValidationError(f"an alert sink must be callable, got {type(sink).__name__}.")
    with _lock:
        _global_sinks.append(sink)


def remove_sink(sink: Sink) -> None:
    with _lock:
        if sink in _global_sinks:
            _global_sinks.remove(sink)


def log_sink(alert: dict[str, Any]) -> None:
    """Write the alert to the ``mlnb.alerts`` logger."""
    level = logging.ERROR if alert.get("severity") == "critical" else logging.WARNING
    log.log(level, "[%s] %s: %s", alert.get("source"), alert.get("kind"), alert.get("message"))


def redact_url(url: str) -> str:
    """A URL safe to print: credentials and query strings (often tokens) removed."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


class WebhookSink:
    """POST the alert as JSON to a URL (Slack-compatible ``text`` field included)."""

    def __init__(
        self, url: str, timeout: float = 5.0, headers: dict[str, str] | None = None
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError(
                f"webhook URL must be http(s)://host/path, got {redact_url(url)!r}."
            )
        self.url = url
        self.timeout = timeout
        self.headers = headers or {}

    def __repr__(self) -> str:
        return f"WebhookSink({redact_url(self.url)!r})"

    def __call__(self, alert: dict[str, Any]) -> None:
        body = json.dumps(
            {"text": f"mlnb alert: {alert.get('message')}", "alert": alert}, default=str
        ).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            headers={"Content-Type": "application/json", **self.headers},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            response.read(0)


def notebook_sink(alert: dict[str, Any]) -> None:
    """Show the alert in the running notebook, if there is one (no IPython import otherwise)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return
    shell = ipython.get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return

    color = "#cf222e" if alert.get("severity") in ("warning", "critical") else "#6e7781"
    html = (
        f'<div style="border-left:4px solid {color};padding:4px 8px;font-size:12px">'
        f"<b>mlnb alert #{alert.get('id')}</b> ({esc(alert.get('kind'))}): {esc(alert.get('message'))}</div>"
    )
    ipython.display.display(
        Rendered(html, f"mlnb alert #{alert.get('id')}: {alert.get('message')}")
    )


def sinks_from_env() -> list[Sink]:
    """Webhooks listed in ``MLNB_ALERT_WEBHOOKS`` (comma-separated), for schedulers and CI."""
    urls = [u.strip() for u in os.environ.get("MLNB_ALERT_WEBHOOKS", "").split(",") if u.strip()]
    return [WebhookSink(u) for u in urls]


def raise_alert(
    registry: Any,
    source: str,
    kind: str,
    message: str,
    evidence: dict[str, Any] | None = None,
    severity: str = "warning",
    monitor_id: int | None = None,
    pipeline_id: int | None = None,
    batch_id: int | None = None,
    sinks: Iterable[Sink] = (),
) -> dict[str, Any]:
    """Store an alert and dispatch it to the log, the global sinks and ``sinks``."""
    if severity not in SEVERITIES:
        raise ValidationError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}.")
    alert = {
        "source": source,
        "kind": kind,
        "message": message,
        "evidence": evidence or {},
        "severity": severity,
        "monitor_id": monitor_id,
        "pipeline_id": pipeline_id,
        "batch_id": batch_id,
    }
    alert["id"] = registry.alerts.record(alert)
    alert["status"] = "open"
    with _lock:
        everyone = [log_sink, notebook_sink, *_global_sinks, *sinks_from_env(), *sinks]
    for sink in everyone:
        try:
            sink(alert)
        except Exception as exc:
            name = (
                repr(sink)
                if isinstance(sink, WebhookSink)
                else getattr(sink, "__name__", type(sink).__name__)
            )
            log.warning("alert sink %s failed: %s", name, _safe_error(exc))
    return alert


def raise_incident(
    registry: Any,
    kind: str,
    message: str,
    evidence: dict[str, Any],
    *,
    metric: str,
    value: float | None,
    lower_is_worse: bool,
    monitor_id: int,
    batch_id: int | None,
    severity: str = "warning",
    sinks: Iterable[Sink] = (),
) -> dict[str, Any]:
    """A breach of ``metric``: opens an incident (a stored, dispatched alert) or, when the
    monitor already has one open for the metric, extends it in place (count, last batch,
    worst value) without a new alert or notification, so a pipeline triggers once."""
    current = registry.alerts.active_incident(monitor_id, metric)
    if current is None:
        alert = raise_alert(
            registry,
            "monitor",
            kind,
            message,
            evidence,
            severity=severity,
            monitor_id=monitor_id,
            batch_id=batch_id,
            sinks=sinks,
        )
        registry.alerts.mark_incident(alert["id"], metric, batch_id, value)
        return {**registry.alerts.get(alert["id"]), "new": True}
    worst = current["worst_value"]
    if value is not None and (
        worst is None or (value < worst if lower_is_worse else value > worst)
    ):
        worst = value
    evidence = {**evidence, "opened_by_batch": current["first_batch_id"]}
    since = current["first_batch_id"]
    message += f" (breach {current['breach_count'] + 1} of this incident"
    message += f", open since batch {since})" if since is not None else ")"
    updated = registry.alerts.extend_incident(current["id"], batch_id, worst, message, evidence)
    log.info("incident #%s continues: %s", updated["id"], message)
    return {**updated, "new": False}


def resolve_incident(
    registry: Any, monitor_id: int, metric: str, batch_id: int | None, value: float | None
) -> dict[str, Any] | None:
    """Resolve the open incident of ``metric`` once a batch at least as new as its last
    breach is back within bounds; None when there is no incident to resolve."""
    current = registry.alerts.active_incident(monitor_id, metric)
    if current is None:
        return None
    last = current["last_batch_id"]
    if batch_id is not None and last is not None and batch_id < last:
        return None  # late labels of an older batch say nothing about the present
    shown = "n/a" if value is None else f"{value:.4g}"
    reason = f"recovered: {metric} {shown} at batch {batch_id}"
    resolved = registry.alerts.close_incident(current["id"], reason)
    log.info("incident #%s resolved: %s", resolved["id"], reason)
    return dict(resolved)


def _safe_error(exc: Exception) -> str:
    """An exception message with any URL redacted (webhook URLs may carry tokens)."""
    text = f"{type(exc).__name__}: {exc}"
    words = []
    for word in text.split():
        words.append(redact_url(word) if "://" in word else word)
    return " ".join(words)
