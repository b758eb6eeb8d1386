"""The inference log's writer: requests queue up in memory and a thread appends them to the
registry at least once a second, so logging never waits on the disk in the request path.
The request path only queues what it already holds (columns, predictions, the probability
column); the writer encodes each request once, as columns, and inserts one record for it.

The queue is bounded by rows: when it is full a request is still answered, its rows are
dropped, counted and, at most once a minute, reported as an alert. A process killed with
SIGKILL loses what was queued since the last committed flush (one flush interval of
traffic at most); every committed flush is intact (one SQLite transaction each).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlnb.store.deployments import LoggedRequest, column_value

log = logging.getLogger("mlnb.serving")

FLUSH_SECONDS = 0.5
MAX_QUEUED_ROWS = 200_000
DROP_ALERT_EVERY = 60.0


@dataclass
class Entry:
    """One answered (or refused) request waiting to be written, as the request path had it:
    turning it into JSON is the writer's job, off the request path."""

    request_id: str
    logged_at: float
    version: int | None
    columns: list[str]
    data: dict[str, Any]
    predictions: list[Any]
    probabilities: Any  # one per row (a numpy column or a list), or None
    latency_ms: float
    error: str | None = None

    @property
    def n_rows(self) -> int:
        """Rows this entry takes in the queue (a refused request takes one)."""
        return max(len(self.predictions), 1)


_json = json.JSONEncoder(default=str, allow_nan=True).encode  # one encoder for every record


def encode(deployment_id: int, entry: Entry) -> LoggedRequest:
    """The log record of one request: its columns, predictions and probabilities encoded
    once each, whatever the number of rows."""
    if entry.error is not None:
        return (
            deployment_id,
            entry.request_id,
            entry.logged_at,
            entry.version,
            0,
            None,
            None,
            None,
            entry.latency_ms,
            0,
            entry.error,
        )
    probabilities = entry.probabilities
    return (
        deployment_id,
        entry.request_id,
        entry.logged_at,
        entry.version,
        len(entry.predictions),
        _json({c: column_value(entry.data[c]) for c in entry.columns}),
        _json(column_value(entry.predictions)),
        None if probabilities is None else _json(column_value(probabilities)),
        entry.latency_ms,
        1,
        None,
    )


class InferenceLog:
    """A bounded in-memory queue flushed by one thread into ``reg.deployments``."""

    def __init__(
        self,
        append: Callable[[list[LoggedRequest]], int],
        deployment_id: int,
        max_rows: int = MAX_QUEUED_ROWS,
        flush_seconds: float = FLUSH_SECONDS,
        on_drop: Callable[[int, int], None] | None = None,
        enabled: bool = True,
        on_flush: Callable[[int, int], None] | None = None,
    ) -> None:
        self.append = append
        self.deployment_id = deployment_id
        self.max_rows = max_rows
        self.flush_seconds = flush_seconds
        self.on_drop = on_drop
        self.on_flush = on_flush  # (rows logged, rows dropped) after each flush
        self.enabled = enabled
        self.queued_rows = 0
        self.rows_logged = 0
        self.rows_dropped = 0
        self.flushes = 0
        self.failures = 0
        self._queue: deque[Entry] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_drop_alert = 0.0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="mlnb-inference-log", daemon=True
            )
            self._thread.start()

    def put(self, entry: Entry) -> bool:
        """Queue a request's rows; False (and counted) when the queue is full. Never blocks
        on the disk: the lock only guards the in-memory counter."""
        if not self.enabled:
            return False
        n = entry.n_rows
        with self._lock:
            if self.queued_rows + n > self.max_rows:
                self.rows_dropped += n
                dropped, when = self.rows_dropped, time.monotonic()
                report = when - self._last_drop_alert >= DROP_ALERT_EVERY
                if report:
                    self._last_drop_alert = when
            else:
                self.queued_rows += n
                self._queue.append(entry)
                return True
        if report and self.on_drop is not None:
            threading.Thread(target=self.on_drop, args=(n, dropped), daemon=True).start()
        return False

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self._flush_and_report()
        self._flush_and_report()

    def _flush_and_report(self) -> None:
        if self.flush() and self.on_flush is not None:
            self.on_flush(self.rows_logged, self.rows_dropped)

    def flush(self) -> int:
        """Write everything queued now in one transaction; returns the rows written."""
        with self._lock:
            entries = list(self._queue)
            self._queue.clear()
            n_queued = self.queued_rows
            self.queued_rows = 0
        if not entries:
            return 0
        try:
            written = self.append([encode(self.deployment_id, e) for e in entries])
        except Exception as exc:  # a locked or full disk: count the loss, keep serving
            self.failures += 1
            with self._lock:
                self.rows_dropped += n_queued
            log.error("inference log: %d rows could not be written: %s", n_queued, exc)
            return 0
        self.rows_logged += written
        self.flushes += 1
        return written

    def close(self) -> None:
        """Stop the writer after a last flush."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        else:
            self.flush()
