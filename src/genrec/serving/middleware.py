"""ASGI middleware of the service: a request-body size limit and Prometheus metrics.

Both are plain ASGI (no per-request task or body copy beyond the limit), so they cost little on
the hot path.
"""

from __future__ import annotations

import json
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Every metric the service exports, on a registry of its own (no process-global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "genrec_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "genrec_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "genrec_decode_batch_size",
            "queries decoded together",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "genrec_decode_batch_seconds", "time to decode one batch", buckets=LATENCY_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.recommendations = Counter(
            "genrec_recommendations", "lists served", ["fallback"], registry=r
        )
        self.feedback = Counter(
            "genrec_feedback_events", "feedback events", ["event", "stored"], registry=r
        )
        self.served_log_errors = Counter(
            "genrec_served_log_errors", "served lists that could not be stored", registry=r
        )
        self.model_info = Gauge(
            "genrec_model_info", "the model version in use (value 1)", ["version"], registry=r
        )
        self.reloads = Counter("genrec_model_reloads", "model swaps", registry=r)
        self.finetunes = Counter(
            "genrec_online_finetunes", "online fine-tunes run", ["result"], registry=r
        )
        self.online_gauges()

    def online_gauges(self) -> None:
        """The online metrics per model version (genrec.monitoring), set by :meth:`set_online`."""
        r = self.registry
        names = {
            "lists": "lists served in the reporting period",
            "acceptance": "share of served lists a positive event answered",
            "hits_per_list": "distinct items of a list answered, on average",
            "coverage": "distinct items served over the catalog's size",
            "novelty": "mean -log2 popularity of the items served",
        }
        self.online = {
            name: Gauge(f"genrec_online_{name}", text, ["version"], registry=r)
            for name, text in names.items()
        }
        self.online_ctr = Gauge(
            "genrec_online_ctr", "share of lists answered at each position (1-based)",
            ["version", "position"], registry=r,
        )  # fmt: skip
        self.online_events = Gauge(
            "genrec_online_feedback_events", "feedback events in the reporting period", ["event"],
            registry=r,
        )  # fmt: skip

    def set_online(self, versions: list[dict[str, Any]], events: dict[str, int]) -> None:
        """Replace the online gauges with a report's rows (one per version)."""
        for gauge in [*self.online.values(), self.online_ctr, self.online_events]:
            gauge.clear()
        for row in versions:
            version = str(row["version"])
            for name, gauge in self.online.items():
                gauge.labels(version=version).set(float(row[name]))
            for key, value in row.items():
                if key.startswith("ctr_"):
                    self.online_ctr.labels(version=version, position=key[4:]).set(float(value))
        for event, count in events.items():
            self.online_events.labels(event=event).set(count)

    def set_model(self, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(version=version).set(1)


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (not raw path: bounded labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - started)


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, by header or by counting."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await _json(send, 400, {"error": "bad Content-Length header"})
                return
            if too_big:
                await self._refuse(send)
                return
        # Read the body here (bounded), then hand it on: a chunked upload cannot exceed the limit.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(body)
            more = bool(message.get("more_body", False))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        await _json(send, 413, {"error": f"request body over the limit of {self.max_bytes} bytes"})


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
