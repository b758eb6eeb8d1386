"""Alerts: a threshold breach or a pipeline failure, stored in the registry with its
evidence and sent to sinks (the log, a webhook, a Python callback, the notebook).

A sink that fails never breaks the caller: the failure is logged and the alert stays stored.
Webhooks are posted off the caller's thread; URLs are shown and logged as scheme and host
only (Slack and Teams webhooks carry their secret in the path).
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import queue
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import urllib3

from mlnb.errors import MlnbError, ValidationError
from mlnb.render.html import Rendered, esc
from mlnb.render.secrets import redact_url, redact_urls, scrub
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


class WebhookError(MlnbError):
    """A webhook could not be delivered (the message names the host only)."""


class WebhookSink:
    """POST the alert as JSON to a URL (Slack-compatible ``text`` field included).

    Calling the sink only queues the alert: a background sender (one thread, at most
    ``QUEUE_SIZE`` alerts waiting) posts it through urllib3 with retries and a timeout, so a
    slow or dead webhook never holds up the notebook, the monitor or the scheduler. A failed
    delivery is logged to ``mlnb.alerts`` with the URL reduced to its host and kept in
    ``failures``. ``send`` posts synchronously (and raises :class:`WebhookError`).
    """

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        headers: dict[str, str] | None = None,
        retries: int = 3,
    ) -> None:
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except (ValueError, TypeError):
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(
                f"webhook URL must be http(s)://host/path, got {redact_url(str(url))!r}."
            )
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValidationError(f"webhook timeout must be a positive number, got {timeout!r}.")
        self.url = url
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        if parts.username:
            auth = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            self.headers.update(urllib3.make_headers(basic_auth=auth))
        self.failures: list[str] = []
        _hide_in_urllib3_logs(parts)

    def __repr__(self) -> str:
        return f"WebhookSink({redact_url(self.url)!r})"

    def __call__(self, alert: dict[str, Any]) -> None:
        body = json.dumps(
            {"text": f"mlnb alert: {alert.get('message')}", "alert": alert}, default=str
        ).encode()
        _sender().submit(self, body, alert.get("id"))

    def send(self, body: bytes) -> int:
        """POST ``body`` now, retrying connection errors and 429/5xx answers with backoff;
        returns the HTTP status. (Retries are counted here rather than by urllib3's ``Retry``,
        which logs the request path, where Slack and Teams keep their secret.)"""
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1), 5.0))
            try:
                response = _pool().request(
                    "POST",
                    self.url,
                    body=body,
                    headers=self.headers,
                    timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                    retries=False,
                    redirect=False,
                )
            except urllib3.exceptions.HTTPError as exc:
                problem = scrub(f"{type(exc).__name__}: {exc}", self.url)
                continue
            if response.status in RETRY_STATUSES:
                problem = f"HTTP {response.status}"
                continue
            if response.status >= 300:
                raise WebhookError(
                    f"webhook {redact_url(self.url)} answered HTTP {response.status}"
                )
            return int(response.status)
        raise WebhookError(
            f"webhook {redact_url(self.url)} failed {self.retries + 1} time(s): {problem}"
        )


RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_BACKOFF_SECONDS = 0.25


class _HideSecrets(logging.Filter):
    """Rewrites urllib3's debug lines (``"POST /services/T0/B0/secret HTTP/1.1" 200``) that
    name a webhook's path or query, so DEBUG logging cannot leak a webhook's secret."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            hidden = text
            for secret in sorted(self.secrets, key=len, reverse=True):
                hidden = hidden.replace(secret, "…")
            if hidden != text:
                record.msg, record.args = hidden, ()
        return True


_urllib3_filter = _HideSecrets()


def _hide_in_urllib3_logs(parts: urllib.parse.SplitResult) -> None:
    with _lock:
        if not _urllib3_filter.secrets:
            logging.getLogger("urllib3.connectionpool").addFilter(_urllib3_filter)
        _urllib3_filter.secrets.update(s for s in (parts.path, parts.query) if len(s) > 1)


QUEUE_SIZE = 100
FLUSH_AT_EXIT_SECONDS = 10.0


class _Sender:
    """One daemon thread posting queued webhook alerts in order; the queue is bounded, so a
    dead webhook and a flood of alerts cannot grow memory (extra alerts are dropped, logged)."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[WebhookSink, bytes, Any]] = queue.Queue(QUEUE_SIZE)
        self.thread = threading.Thread(target=self._loop, name="mlnb-webhooks", daemon=True)
        self.thread.start()

    def submit(self, sink: WebhookSink, body: bytes, alert_id: Any) -> None:
        try:
            self.queue.put_nowait((sink, body, alert_id))
        except queue.Full:
            _report(sink, f"alert #{alert_id} dropped: {QUEUE_SIZE} alerts already wait to be sent")

    def _loop(self) -> None:
        while True:
            sink, body, alert_id = self.queue.get()
            try:
                sink.send(body)
            except Exception as exc:
                _report(sink, f"alert #{alert_id} not delivered: {_safe_error(exc)}")
            finally:
                self.queue.task_done()

    def flush(self, timeout: float) -> bool:
        """Wait until every queued alert was sent (or failed); False if time ran out."""
        deadline = time.monotonic() + timeout
        with self.queue.all_tasks_done:
            while self.queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.queue.all_tasks_done.wait(left)
        return True


_sender_instance: _Sender | None = None
_pool_instance: urllib3.PoolManager | None = None


def _sender() -> _Sender:
    global _sender_instance
    with _lock:
        if _sender_instance is None:
            _sender_instance = _Sender()
            atexit.register(flush_webhooks, FLUSH_AT_EXIT_SECONDS)
        return _sender_instance


def _pool() -> urllib3.PoolManager:
    global _pool_instance
    with _lock:
        if _pool_instance is None:
            _pool_instance = urllib3.PoolManager(num_pools=4, maxsize=2)
        return _pool_instance


def flush_webhooks(timeout: float = 30.0) -> bool:
    """Wait (at most ``timeout`` s) until queued webhook alerts are sent; True when done.
    Runs at interpreter exit too, so a short-lived process still delivers its alerts."""
    return _sender_instance.flush(timeout) if _sender_instance is not None else True


def _report(sink: WebhookSink, message: str) -> None:
    """A failed delivery: logged (host only) and kept on the sink."""
    sink.failures.append(message)
    del sink.failures[:-20]
    log.warning("alert sink %r failed: %s", sink, message)


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
    """Webhooks listed in ``MLNB_ALERT_WEBHOOKS`` (comma-separated), for schedulers and CI;
    an invalid entry is logged (host only) and skipped, never raised."""
    urls = [u.strip() for u in os.environ.get("MLNB_ALERT_WEBHOOKS", "").split(",") if u.strip()]
    sinks: list[Sink] = []
    for url in urls:
        try:
            sinks.append(WebhookSink(url))
        except ValidationError as exc:
            log.warning("MLNB_ALERT_WEBHOOKS: skipped an entry: %s", exc)
    return sinks


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
    handled_by: str | None = None,
) -> dict[str, Any]:
    """Store an alert and dispatch it to the log, the global sinks and ``sinks``.
    ``handled_by`` stores it acknowledged by that handler (it is news, not a new task)."""
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
        "handled_by": handled_by,
    }
    alert["id"] = registry.alerts.record(alert)
    alert["status"] = "acknowledged" if handled_by else "open"
    with _lock:
        everyone = [log_sink, notebook_sink, *_global_sinks, *sinks]
    everyone += sinks_from_env()
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
    handled_by: str | None = None,
) -> dict[str, Any]:
    """A breach of ``metric``: opens an incident (a stored, dispatched alert) or, when the
    monitor already has one open for the metric, extends it in place (count, last batch,
    worst value) without a new alert or notification, so a pipeline triggers once. A new
    incident with ``handled_by`` starts acknowledged by that handler."""
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
            handled_by=handled_by,
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
    """An exception message with any URL reduced to its host (webhook URLs carry tokens)."""
    if isinstance(exc, WebhookError):
        return str(exc)
    return redact_urls(f"{type(exc).__name__}: {exc}")
