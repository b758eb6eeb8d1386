"""The ASGI app of ``mlnb serve`` (Starlette on uvicorn): MLflow-compatible
``/invocations``, ``/feedback``, health, version, Prometheus metrics and OpenAPI docs.

Requests that arrive together are scored together: each one is parsed and checked on
arrival, then a batcher on the event loop runs the model once for everything queued (the
way a busy server answers many single-row requests at the price of one). Answered rows go
to the inference log's queue; nothing in the request path touches the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mlnb._runtime import host as this_host
from mlnb.monitoring.alerts import raise_alert
from mlnb.serving.inference_log import Entry, InferenceLog
from mlnb.serving.model import Loaded, ServedModel, preload_skops
from mlnb.serving.payloads import Parsed, PayloadError, parse_body
from mlnb.serving.spec import OPENAPI, docs_html
from mlnb.store.registry import Registry

log = logging.getLogger("mlnb.serving")
HEARTBEAT_SECONDS = 2.0
MAX_BODY_BYTES = 5 * 1024 * 1024
GATHER_SECONDS = 0.005
ASGIApp = Callable[
    [dict[str, Any], Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]
]


@dataclass
class ServeConfig:
    """What one server process needs (passed to uvicorn's workers as JSON)."""

    home: str
    ref: str
    deployment_id: int
    token: str | None = None
    log: bool = True
    max_body: int = MAX_BODY_BYTES
    queue_rows: int = 200_000
    flush_seconds: float = 0.5
    metrics_dir: str | None = None  # with several workers: where they share /metrics

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        return cls(**json.loads(text))


class Metrics:
    """The Prometheus series of a deployment. With several worker processes each one writes
    its values to files in ``shared_dir`` (prometheus_client's multiprocess mode, chosen by
    ``PROMETHEUS_MULTIPROC_DIR`` before the worker imports it) and /metrics adds them up:
    counters and histograms are summed, the version is the one set last by a live worker."""

    def __init__(self, shared_dir: str | None = None) -> None:
        self.shared_dir = shared_dir
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("mlnb_requests", "Scoring requests", ["status"], registry=r)
        self.errors = Counter("mlnb_errors", "Refused or failed scoring requests", registry=r)
        self.latency = Histogram(
            "mlnb_request_latency_seconds",
            "Scoring latency",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.rows_logged = Gauge(
            "mlnb_rows_logged",
            "Rows written to the inference log",
            registry=r,
            multiprocess_mode="sum",
        )
        self.rows_dropped = Gauge(
            "mlnb_rows_dropped",
            "Rows dropped by a full log queue",
            registry=r,
            multiprocess_mode="sum",
        )
        self.extra_columns = Counter(
            "mlnb_extra_columns_dropped", "Input columns not in the signature, dropped", registry=r
        )
        self.version = Gauge(
            "mlnb_model_version",
            "Registered version being served",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.swaps = Counter(
            "mlnb_model_swaps", "Hot swaps to a new version (by each worker process)", registry=r
        )
        self.exposed = self.registry
        if shared_dir is not None:
            self.exposed = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.exposed, path=shared_dir)

    def text(self) -> bytes:
        """The Prometheus exposition: this process's series, or every worker's added up."""
        return generate_latest(self.exposed)

    def close(self) -> None:
        """A stopping worker: its live-only series (the version) stop counting."""
        if self.shared_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), self.shared_dir)


@dataclass
class Stats:
    """Counters for the deployment's heartbeat (deltas since the last beat)."""

    requests: int = 0
    errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    beat_requests: int = 0
    beat_errors: int = 0
    beat_logged: int = 0
    beat_dropped: int = 0
    beat_at: float = field(default_factory=time.monotonic)

    def p95_ms(self) -> float | None:
        values = sorted(self.latencies)
        if not values:
            return None
        return values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)]


Scored = tuple[list[Any], np.ndarray | None]  # labels, and probabilities (rows x classes)


@dataclass
class Pending:
    loaded: Loaded
    parsed: Parsed
    future: asyncio.Future[Scored]


class Batcher:
    """Scores every request queued since the model last ran, in one call per version."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def score(self, loaded: Loaded, parsed: Parsed) -> Scored:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())
        future: asyncio.Future[Scored] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(Pending(loaded, parsed, future))
        return await future

    async def _gather(self) -> None:
        """Let requests that arrived together join the batch: yield to the event loop until
        the queue stops growing for a few turns (at most ``GATHER_SECONDS``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GATHER_SECONDS
        quiet = 0
        while quiet < 3 and loop.time() < deadline:
            size = self.queue.qsize()
            await asyncio.sleep(0)
            quiet = quiet + 1 if self.queue.qsize() == size else 0

    async def _run(self) -> None:
        while True:
            first = await self.queue.get()
            await self._gather()
            batch = [first]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            groups: dict[int, list[Pending]] = {}
            for p in batch:
                groups.setdefault(id(p.loaded), []).append(p)
            for items in groups.values():
                _score_group(items)


def _predict(loaded: Loaded, columns: list[str], data: dict[str, Any]) -> Scored:
    """Labels as Python values and the probability matrix as numpy (converted only if the
    client asked for it)."""
    frame = pd.DataFrame(data, columns=columns)
    if loaded.has_proba and loaded.classes is not None:
        proba = np.asarray(loaded.model.predict_proba(frame))
        labels: list[Any] = np.asarray(loaded.classes, dtype=object)[proba.argmax(axis=1)].tolist()
        return labels, proba
    preds = loaded.model.predict(frame)
    return [p.item() if hasattr(p, "item") else p for p in preds], None


def _joined(columns: list[str], items: list[Pending]) -> dict[str, Any]:
    """The columns of several requests, one after the other."""
    out: dict[str, Any] = {}
    for c in columns:
        parts = [p.parsed.data[c] for p in items]
        if all(isinstance(x, np.ndarray) for x in parts):
            out[c] = np.concatenate(parts)
        else:
            out[c] = [v for x in parts for v in x]
    return out


def _score_group(items: list[Pending]) -> None:
    """One model call for the group; if it fails, each request alone (so one bad request
    cannot fail the others)."""
    loaded = items[0].loaded
    columns = items[0].parsed.columns
    same = all(p.parsed.columns == columns for p in items)
    if same and len(items) > 1:
        try:
            labels, proba = _predict(loaded, columns, _joined(columns, items))
        except Exception:
            pass
        else:
            start = 0
            for p in items:
                n = p.parsed.n_rows
                if not p.future.done():
                    p.future.set_result(
                        (
                            labels[start : start + n],
                            None if proba is None else proba[start : start + n],
                        )
                    )
                start += n
            return
    for p in items:
        try:
            result = _predict(loaded, p.parsed.columns, p.parsed.data)
        except Exception as exc:
            if not p.future.done():
                p.future.set_exception(exc)
        else:
            if not p.future.done():
                p.future.set_result(result)


def _logged_probability(proba: np.ndarray | None) -> np.ndarray | None:
    """The probabilities logged per row: of the positive class for two classes, else every
    class's (the rows of the matrix: a multiclass monitor estimates accuracy from them).
    Numpy as it came: the writer converts it, not the request path."""
    if proba is None or proba.ndim != 2 or not len(proba):
        return None
    return proba[:, 1] if proba.shape[1] == 2 else proba


class Server:
    """The state of one server process: registry, model, log, counters."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.reg = Registry(config.home, create=False)
        self.deployment = self.reg.deployments.get(config.deployment_id)
        self.metrics = Metrics(config.metrics_dir)
        self.stats = Stats()
        self.started = time.time()
        preload_skops()
        self.model = ServedModel(self.reg, config.ref, self._swapped, self._monitor_id)
        self.metrics.version.set(self.model.current.version)
        self.log = InferenceLog(
            self.reg.deployments.append_requests,
            config.deployment_id,
            max_rows=config.queue_rows,
            flush_seconds=config.flush_seconds,
            on_drop=self._alert_dropped,
            enabled=config.log,
            on_flush=self._logged,
        )
        self.batcher = Batcher()
        self._stop = threading.Event()
        self._beat_thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self.log.start()
        self.model.start_watching()
        self.reg.deployments.set_version(self.config.deployment_id, self.model.current.version)
        self.reg.deployments.set_status(self.config.deployment_id, "running")
        self._beat_thread = threading.Thread(
            target=self._beat_loop, name="mlnb-heartbeat", daemon=True
        )
        self._beat_thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.model.stop()
        self.log.close()
        self.beat()
        self.metrics.close()
        self.reg.deployments.set_status(self.config.deployment_id, "stopped")

    def _beat_loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.beat()
            except Exception as exc:  # a locked registry: next beat carries the counts
                log.warning("deployment heartbeat failed: %s", exc)

    def beat(self) -> None:
        s = self.stats
        t = time.monotonic()
        requests, errors = s.requests, s.errors
        logged, dropped = self.log.rows_logged, self.log.rows_dropped
        elapsed = max(t - s.beat_at, 1e-6)
        self.reg.deployments.heartbeat(
            self.config.deployment_id,
            {
                "requests": requests - s.beat_requests,
                "errors": errors - s.beat_errors,
                "rows_logged": logged - s.beat_logged,
                "rows_dropped": dropped - s.beat_dropped,
                "req_per_min": (requests - s.beat_requests) * 60.0 / elapsed,
                "p95_ms": s.p95_ms(),
            },
        )
        s.beat_requests, s.beat_errors, s.beat_logged, s.beat_dropped = (
            requests,
            errors,
            logged,
            dropped,
        )
        s.beat_at = t
        self.metrics.rows_logged.set(logged)
        self.metrics.rows_dropped.set(dropped)

    def _logged(self, logged: int, dropped: int) -> None:
        """Keep /metrics current after each flush (other workers read these series too)."""
        self.metrics.rows_logged.set(logged)
        self.metrics.rows_dropped.set(dropped)

    def _monitor_id(self) -> int | None:
        name = self.deployment["config"].get("monitor")
        return self.reg.db.id_by_name("monitors", name) if name else None

    def _swapped(self, loaded: Loaded) -> None:
        self.metrics.version.set(loaded.version)
        self.metrics.swaps.inc()
        self.reg.deployments.set_version(self.config.deployment_id, loaded.version)

    def _alert_dropped(self, n: int, total: int) -> None:
        try:
            raise_alert(
                self.reg,
                "deployment",
                "inference_log_full",
                f"{self.config.ref}: the inference log queue is full; {total} row(s) dropped "
                "so far (requests are still answered). The disk or the registry is too slow "
                "for this traffic.",
                {"dropped": total, "deployment_id": self.config.deployment_id, "host": this_host()},
                monitor_id=self._monitor_id(),
            )
        except Exception as exc:
            log.error("could not record the dropped-rows alert: %s", exc)

    # -- endpoints ---------------------------------------------------------------------

    async def invocations(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = _request_id(request)
        loaded = self.model.current
        try:
            body = await _read_body(request, self.config.max_body)
            parsed = parse_body(
                body,
                request.headers.get("content-type", "application/json"),
                loaded.schema,
                probabilities=request.query_params.get("probabilities", "") in ("1", "true"),
            )
        except PayloadError as exc:
            return self._refused(request_id, loaded, exc.status, str(exc), started)
        try:
            labels, proba = await self.batcher.score(loaded, parsed)
        except Exception as exc:
            return self._refused(
                request_id,
                loaded,
                422,
                f"the model could not score these rows: {type(exc).__name__}: {exc}",
                started,
            )
        if parsed.dropped:
            self.metrics.extra_columns.inc(len(parsed.dropped))
        payload: dict[str, Any] = {"predictions": labels}
        if parsed.probabilities:
            if proba is None:
                return self._refused(
                    request_id, loaded, 400, "this model does not give probabilities.", started
                )
            payload["probabilities"] = proba.tolist()
            payload["classes"] = loaded.classes
        latency = (time.perf_counter() - started) * 1000
        self._count(latency, ok=True)
        self.log.put(
            Entry(
                request_id,
                time.time(),
                loaded.version,
                parsed.columns,
                parsed.data,
                labels,
                _logged_probability(proba),
                latency,
            )
        )
        headers = {"x-request-id": request_id, "x-model-version": str(loaded.version)}
        if parsed.dropped:
            headers["x-dropped-columns"] = ",".join(parsed.dropped)
        return JSONResponse(payload, headers=headers)

    def _refused(
        self, request_id: str, loaded: Loaded, status: int, message: str, started: float
    ) -> Response:
        latency = (time.perf_counter() - started) * 1000
        self._count(latency, ok=False)
        self.log.put(
            Entry(request_id, time.time(), loaded.version, [], {}, [], None, latency, message)
        )
        return JSONResponse(
            {"error_code": "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR", "message": message},
            status_code=status,
            headers={"x-request-id": request_id},
        )

    def _count(self, latency_ms: float, ok: bool) -> None:
        self.stats.requests += 1
        self.stats.latencies.append(latency_ms)
        self.metrics.requests.labels("ok" if ok else "error").inc()
        self.metrics.latency.observe(latency_ms / 1000)
        if not ok:
            self.stats.errors += 1
            self.metrics.errors.inc()

    async def feedback(self, request: Request) -> Response:
        try:
            body = await _read_body(request, self.config.max_body)
            labels = parse_feedback(body)
        except PayloadError as exc:
            return JSONResponse(
                {"error_code": "BAD_REQUEST", "message": str(exc)}, status_code=exc.status
            )
        joined, unknown = await run_in_threadpool(self._join, labels)
        return JSONResponse({"joined": joined, "unknown_request_ids": unknown})

    def _join(self, labels: list[tuple[str, int, Any]]) -> tuple[int, list[str]]:
        self.log.flush()  # labels for rows still queued join too
        return self.reg.deployments.add_labels(labels)

    async def ping(self, request: Request) -> Response:
        return Response("\n", media_type="application/json")

    async def health(self, request: Request) -> Response:
        current = self.model.current
        return JSONResponse(
            {
                "status": "ok",
                "pid": os.getpid(),
                "model": current.name,
                "version": current.version,
                "uptime_seconds": round(time.time() - self.started, 1),
                "requests": self.stats.requests,
                "errors": self.stats.errors,
                "p95_ms": self.stats.p95_ms(),
                "log": {
                    "enabled": self.log.enabled,
                    "queued_rows": self.log.queued_rows,
                    "rows_logged": self.log.rows_logged,
                    "rows_dropped": self.log.rows_dropped,
                    "flush_seconds": self.log.flush_seconds,
                },
                "swaps": self.model.swaps,
            }
        )

    async def version(self, request: Request) -> Response:
        current = self.model.current
        return JSONResponse(
            {
                "model": current.name,
                "alias": self.config.ref,
                "version": current.version,
                "sha256": current.sha256,
                "deployment_id": self.config.deployment_id,
            }
        )

    async def prometheus(self, request: Request) -> Response:
        self.metrics.rows_logged.set(self.log.rows_logged)
        self.metrics.rows_dropped.set(self.log.rows_dropped)
        return Response(self.metrics.text(), media_type=CONTENT_TYPE_LATEST)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def docs(self, request: Request) -> Response:
        return HTMLResponse(docs_html())


def parse_feedback(body: bytes) -> list[tuple[str, int, Any]]:
    """``{"request_id": ID, "labels": [...]}`` or ``{"labels": [{"request_id", "label",
    "row"}]}`` as (request id, row, label) triples."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise PayloadError(f"the body is not valid JSON ({exc}).") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("labels"), list):
        raise PayloadError(
            'feedback must be {"request_id": ID, "labels": [label, ...]} or '
            '{"labels": [{"request_id": ID, "label": L, "row": 0}, ...]}.'
        )
    if "request_id" in doc:
        rid = str(doc["request_id"])
        out = [(rid, i, label) for i, label in enumerate(doc["labels"])]
    else:
        out = []
        for i, item in enumerate(doc["labels"]):
            if not isinstance(item, dict) or "request_id" not in item or "label" not in item:
                raise PayloadError(f"labels[{i}] needs a request_id and a label.")
            out.append((str(item["request_id"]), int(item.get("row", 0)), item["label"]))
    missing = [i for i, (_, _, label) in enumerate(out) if label is None]
    if missing:
        raise PayloadError(
            f"labels[{missing[0]}] is null: send each row's true label (leave out rows whose "
            "label is not known yet; they can follow later)."
        )
    return out


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    if given and len(given) <= 128:
        return given
    return uuid.uuid4().hex


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadError(
            f"the body is {int(declared)} bytes, over the limit of {limit}: split the rows "
            "into smaller requests (or start the server with a larger --max-body-mb).",
            status=413,
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadError(
                f"the body is over the limit of {limit} bytes: split the rows into smaller "
                "requests (or start the server with a larger --max-body-mb).",
                status=413,
            )
        chunks.append(chunk)
    return b"".join(chunks)


class TokenGate:
    """Refuses every request without the deployment's token (Bearer or X-Mlnb-Token)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = b""
        for key, value in scope.get("headers", []):
            if key == b"authorization" and value.lower().startswith(b"bearer "):
                given = value[7:].strip()
            elif key == b"x-mlnb-token":
                given = value.strip()
        if not hmac.compare_digest(given, self.token):
            response = JSONResponse(
                {
                    "error_code": "UNAUTHORIZED",
                    "message": "this deployment needs its token: send 'Authorization: Bearer "
                    "TOKEN' (the --token or MLNB_SERVE_TOKEN it was started with).",
                },
                status_code=401,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def build_app(config: ServeConfig) -> Any:
    """The ASGI app of one server process (with the token gate when a token is set)."""
    server = Server(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await run_in_threadpool(server.start)
        try:
            yield
        finally:
            await run_in_threadpool(server.stop)

    app = Starlette(
        routes=[
            Route("/invocations", server.invocations, methods=["POST"]),
            Route("/feedback", server.feedback, methods=["POST"]),
            Route("/ping", server.ping, methods=["GET"]),
            Route("/health", server.health, methods=["GET"]),
            Route("/version", server.version, methods=["GET"]),
            Route("/metrics", server.prometheus, methods=["GET"]),
            Route("/openapi.json", server.openapi, methods=["GET"]),
            Route("/docs", server.docs, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.server = server
    return TokenGate(app, config.token) if config.token else app


def create_app() -> Any:
    """uvicorn's factory for each worker: the config comes in ``MLNB_SERVE_CONFIG``."""
    return build_app(ServeConfig.from_json(os.environ["MLNB_SERVE_CONFIG"]))
