"""The inference log's writer: requests queue up in memory and a thread appends them to the
registry at least once a second, so logging never waits on the disk in the request path.

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

from mlnb.store.deployments import LogRow

log = logging.getLogger("mlnb.serving")

FLUSH_SECONDS = 0.5
MAX_QUEUED_ROWS = 200_000
DROP_ALERT_EVERY = 60.0


@dataclass
class Entry:
    """One answered (or refused) request waiting to be written."""

    request_id: str
    logged_at: float
    version: int | None
    columns: list[str]
    data: dict[str, Any]
    predictions: list[Any]
    probabilities: list[float | None] | None
    latency_ms: float
    error: str | None = None


_json = json.JSONEncoder(default=str, allow_nan=True).encode  # one encoder, not one per row


def expand(deployment_id: int, entry: Entry) -> list[LogRow]:
    """The log rows of one request (one row for a refused request)."""
    if entry.error is not None:
        return [
            (
                deployment_id,
                entry.request_id,
                0,
                entry.logged_at,
                entry.version,
                None,
                None,
                None,
                entry.latency_ms,
                0,
                entry.error,
            )
        ]
    n = len(entry.predictions)
    probs = entry.probabilities or [None] * n
    features = _feature_json(entry.columns, entry.data, n)
    return [
        (
            deployment_id,
            entry.request_id,
            i,
            entry.logged_at,
            entry.version,
            features[i],
            _prediction_json(pred),
            prob,
            entry.latency_ms,
            1,
            None,
        )
        for i, (pred, prob) in enumerate(zip(entry.predictions, probs, strict=True))
    ]


def _feature_json(columns: list[str], data: dict[str, Any], n: int) -> list[str]:
    """Each row's features as a JSON object (numpy columns become Python values first)."""
    cols = [data[c].tolist() if hasattr(data[c], "tolist") else data[c] for c in columns]
    return [_json(dict(zip(columns, row, strict=True))) for row in zip(*cols, strict=True)]


def _prediction_json(value: Any) -> str:
    """A prediction as JSON; class labels are mostly ints, written without the encoder."""
    return str(value) if type(value) is int else _json(value)


class InferenceLog:
    """A bounded in-memory queue flushed by one thread into ``reg.deployments``."""

    def __init__(
        self,
        append: Callable[[list[LogRow]], int],
        deployment_id: int,
        max_rows: int = MAX_QUEUED_ROWS,
        flush_seconds: float = FLUSH_SECONDS,
        on_drop: Callable[[int, int], None] | None = None,
        enabled: bool = True,
    ) -> None:
        self.append = append
        self.deployment_id = deployment_id
        self.max_rows = max_rows
        self.flush_seconds = flush_seconds
        self.on_drop = on_drop
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
        n = max(len(entry.predictions), 1)
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
            self.flush()
        self.flush()

    def flush(self) -> int:
        """Write everything queued now in one transaction; returns the rows written."""
        with self._lock:
            entries = list(self._queue)
            self._queue.clear()
            n_queued = self.queued_rows
            self.queued_rows = 0
        if not entries:
            return 0
        rows = [r for e in entries for r in expand(self.deployment_id, e)]
        try:
            written = self.append(rows)
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
