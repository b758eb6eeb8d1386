"""Alerts are stored with evidence and reach every sink; a broken sink breaks nothing."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mlnb.cli import main
from mlnb.errors import NotFoundError, ValidationError
from mlnb.monitoring import alerts


@pytest.fixture
def webhook_server():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


def test_alert_is_stored_and_sent_to_callback_webhook_and_log(registry, webhook_server, caplog):
    url, received = webhook_server
    seen = []
    with caplog.at_level(logging.WARNING, logger="mlnb.alerts"):
        alert = alerts.raise_alert(
            registry,
            "monitor",
            "accuracy_below_threshold",
            "churn: accuracy 0.71 is below 0.82",
            {"value": 0.71},
            sinks=[seen.append, alerts.WebhookSink(url)],
        )
    assert alerts.flush_webhooks(10)  # webhooks are posted by a background sender
    assert registry.alerts.find(status="open")[0]["id"] == alert["id"]
    assert registry.alerts.get(alert["id"])["evidence"] == {"value": 0.71}
    assert seen[0]["message"].startswith("churn: accuracy")
    assert received[0]["alert"]["kind"] == "accuracy_below_threshold"
    assert "accuracy 0.71" in caplog.text


def test_failing_sink_is_logged_without_secrets_and_alert_is_kept(registry, caplog):
    secret_url = "http://user:hunter2@127.0.0.1:9/hook?token=abc123"

    def broken(alert):
        raise RuntimeError(f"cannot reach {secret_url}")

    with caplog.at_level(logging.WARNING, logger="mlnb.alerts"):
        alerts.raise_alert(
            registry,
            "pipeline",
            "run_failed",
            "run failed",
            sinks=[broken, alerts.WebhookSink(secret_url)],
        )
    assert len(registry.alerts.find()) == 1
    assert "hunter2" not in caplog.text and "abc123" not in caplog.text
    assert "sink" in caplog.text


def test_acknowledge_resolve_and_cli(registry, capsys):
    a = alerts.raise_alert(registry, "monitor", "dataset_drift", "drift on <b>plan</b>")
    assert main(["--registry", str(registry.home), "alerts"]) == 0
    assert "drift on <b>plan</b>" in capsys.readouterr().out
    registry.alerts.acknowledge(a["id"])
    assert registry.alerts.find(status="open") == []
    assert main(["--registry", str(registry.home), "alerts", "resolve", str(a["id"])]) == 0
    assert registry.alerts.get(a["id"])["status"] == "resolved"
    assert main(["--registry", str(registry.home), "alerts", "ack", "999"]) == 1
    assert "no alert with id 999" in capsys.readouterr().err


def test_bad_alert_input(registry):
    with pytest.raises(ValidationError, match="severity"):
        alerts.raise_alert(registry, "monitor", "x", "y", severity="apocalyptic")
    with pytest.raises(ValidationError, match="webhook URL"):
        alerts.WebhookSink("ftp://example")
    with pytest.raises(ValidationError):
        alerts.add_sink("not callable")
    with pytest.raises(ValidationError, match="alert status"):
        registry.alerts.find(status="sleeping")
    with pytest.raises(NotFoundError):
        registry.alerts.find(monitor="nope")


def test_redact_url():
    assert alerts.redact_url("https://u:p@hooks.example/x?token=1") == "https://hooks.example"
