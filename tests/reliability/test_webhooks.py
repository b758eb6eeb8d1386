"""Alert webhooks against a real HTTP server on 127.0.0.1: delivered off the caller's thread,
retried on 5xx, bounded by a timeout and a queue, and never a source of leaked secrets (a
Slack or Teams URL carries its secret in the path) or of an exception in ``raise_alert``.
``mlnb sync --to-mlflow`` with credentials in the URL keeps them out of its errors too."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlnb.monitoring import alerts
from mlnb.render.secrets import redact_url, redact_urls

PATH_SECRET = "T0AAAAAAA/B0BBBBBBB/XkZp9QeR7vB2wq1"
TOKEN = "tok-93c1d"
PASSWORD = "pw-7e2a"
SECRETS = (PATH_SECRET, "XkZp9QeR7vB2wq1", TOKEN, PASSWORD)


class Hook:
    """A webhook receiver whose answers the test scripts: status codes in order, an event
    that holds every request until set, and everything received."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[dict] = []
        self.auth: list[str | None] = []
        self.hold = threading.Event()
        self.hold.set()
        self.holding = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.holding.set()
                hook.hold.wait(30)
                hook.received.append(json.loads(body))
                hook.auth.append(self.headers.get("Authorization"))
                status = hook.statuses.pop(0) if hook.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, secret: bool = True) -> str:
        if not secret:
            return f"http://127.0.0.1:{self.port}/hook"
        return f"http://alice:{PASSWORD}@127.0.0.1:{self.port}/services/{PATH_SECRET}?t={TOKEN}"


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.hold.set()
    h.server.shutdown()
    alerts.flush_webhooks(30)


def _no_secret(text: str) -> bool:
    return not any(s in text for s in SECRETS)


def test_urls_are_shown_as_scheme_and_host_only():
    assert redact_url("https://hooks.slack.com/services/T0/B0/secret") == "https://hooks.slack.com"
    assert redact_url("http://u:p@127.0.0.1:8080/x?token=1#f") == "http://127.0.0.1:8080"
    assert redact_url("https://[::1]:9/x") == "https://[::1]:9"
    assert redact_url("not a url") == "<invalid url>"
    assert redact_url("http://host:99999999/x") == "<invalid url>"
    text = "POST https://outlook.office.com/webhook/abc/IncomingWebhook/def failed (x)"
    assert redact_urls(text) == "POST https://outlook.office.com failed (x)"


def test_the_webhook_is_posted_off_the_callers_thread(registry, hook):
    hook.hold.clear()  # the receiver hangs until the test lets it answer
    alert = alerts.raise_alert(
        registry, "monitor", "accuracy", "acc 0.71", sinks=[alerts.WebhookSink(hook.url(False))]
    )
    # raise_alert returned while the receiver still holds the request
    assert hook.holding.wait(10) and hook.received == []
    assert registry.alerts.get(alert["id"])["status"] == "open"
    hook.hold.set()
    assert alerts.flush_webhooks(30)
    assert hook.received[0]["alert"]["id"] == alert["id"]
    assert hook.received[0]["text"] == "mlnb alert: acc 0.71"


def test_a_5xx_is_retried_and_credentials_become_basic_auth(registry, hook, caplog):
    hook.statuses = [503, 502]
    sink = alerts.WebhookSink(hook.url())
    with caplog.at_level(logging.DEBUG):
        alerts.raise_alert(registry, "monitor", "drift", "drift", sinks=[sink])
        assert alerts.flush_webhooks(30)
    assert len(hook.received) == 3 and sink.failures == []
    expected = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert hook.auth == [expected] * 3
    assert _no_secret(caplog.text)


def test_a_dead_or_slow_webhook_is_reported_without_its_secret(registry, hook, caplog):
    hook.statuses = [500] * 10
    failing = alerts.WebhookSink(hook.url(), retries=2)
    slow_hook = Hook()
    slow_hook.hold.clear()
    slow = alerts.WebhookSink(slow_hook.url(), timeout=0.3, retries=1)
    closed = alerts.WebhookSink(f"http://127.0.0.1:9/services/{PATH_SECRET}?t={TOKEN}", retries=1)
    with caplog.at_level(logging.DEBUG):
        alert = alerts.raise_alert(
            registry, "pipeline", "run_failed", "failed", sinks=[failing, slow, closed]
        )
        assert alerts.flush_webhooks(60)
    slow_hook.hold.set()
    slow_hook.server.shutdown()
    assert registry.alerts.get(alert["id"])["message"] == "failed"
    assert failing.failures == [
        f"alert #{alert['id']} not delivered: webhook http://127.0.0.1:{hook.port} failed "
        "3 time(s): HTTP 500"
    ]
    assert "Timeout" in slow.failures[0] and "failed 2 time(s)" in slow.failures[0]
    assert "webhook http://127.0.0.1:9 failed 2 time(s)" in closed.failures[0]
    assert "Connection" in closed.failures[0]
    assert f"http://127.0.0.1:{hook.port} failed" in caplog.text
    everything = (
        caplog.text
        + repr([failing, slow, closed])
        + " ".join(failing.failures + slow.failures + closed.failures)
    )
    assert _no_secret(everything)


def test_the_queue_is_bounded(registry, hook, monkeypatch, caplog):
    alerts.flush_webhooks(30)
    monkeypatch.setattr(alerts, "QUEUE_SIZE", 3)
    monkeypatch.setattr(alerts, "_sender_instance", None)
    hook.hold.clear()
    sink = alerts.WebhookSink(hook.url(False))
    with caplog.at_level(logging.WARNING, logger="mlnb.alerts"):
        alerts.raise_alert(registry, "monitor", "drift", "drift 0", sinks=[sink])
        assert hook.holding.wait(10)  # the first is in flight
        for i in range(1, 6):
            alerts.raise_alert(registry, "monitor", "drift", f"drift {i}", sinks=[sink])
    # one in flight, three waiting, two dropped and said so
    assert len(sink.failures) == 2 and "dropped" in sink.failures[0]
    hook.hold.set()
    assert alerts.flush_webhooks(30)
    assert len(hook.received) == 4
    assert len(registry.alerts.find(limit=None)) == 6  # every alert is stored regardless


@pytest.mark.parametrize(
    "value",
    ["not a url", "ftp://x/y", "http://[::1", "http://host:99999999/x", f"https://:{TOKEN}@/p"],
)
def test_an_invalid_entry_in_mlnb_alert_webhooks_never_breaks_raise_alert(
    registry, hook, monkeypatch, caplog, value
):
    monkeypatch.setenv("MLNB_ALERT_WEBHOOKS", f"{value}, {hook.url(False)}")
    with caplog.at_level(logging.WARNING, logger="mlnb.alerts"):
        alert = alerts.raise_alert(registry, "monitor", "drift", "drift")
        assert alerts.flush_webhooks(30)
    assert registry.alerts.get(alert["id"])["kind"] == "drift"
    assert "MLNB_ALERT_WEBHOOKS: skipped an entry" in caplog.text
    assert TOKEN not in caplog.text
    assert len(hook.received) == 1  # the valid entry still gets it


def test_sync_errors_keep_credentials_out(registry, hook):
    from mlnb.cli import main

    registry.runs.end(registry.runs.start("e", name="to sync"))
    hook.statuses = [500] * 10
    urls = [
        f"http://bob:{PASSWORD}@127.0.0.1:9/{PATH_SECRET}?token={TOKEN}",  # nothing listens
        f"http://bob:{PASSWORD}@127.0.0.1:{hook.port}/{PATH_SECRET}?token={TOKEN}",
        f"ftp://bob:{PASSWORD}@127.0.0.1/{PATH_SECRET}?token={TOKEN}",
    ]
    for url in urls:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["--registry", str(registry.home), "sync", "--to-mlflow", url])
        assert code == 1 and "127.0.0.1" in err.getvalue()
        assert _no_secret(err.getvalue()), err.getvalue()
