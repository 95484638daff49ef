"""Prometheus metrics of one app (its own registry, so several apps in one
process, as in tests, never collide)."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("pdfrag_http_requests", "HTTP requests by method, route template and status", ["method", "route", "status"], registry=r)
        self.errors = Counter("pdfrag_http_errors", "HTTP responses with status 400 or more, by route template and status", ["route", "status"], registry=r)
        self.latency = Histogram(
            "pdfrag_http_request_duration_seconds", "HTTP request duration by method and route template", ["method", "route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.search_embed = Histogram(
            "pdfrag_search_embed_seconds", "Query embedding time per search (with any wait for a shared batch)", buckets=LATENCY_BUCKETS, registry=r
        )
        self.search_milvus = Histogram("pdfrag_search_milvus_seconds", "Milvus time per search, by mode", ["mode"], buckets=LATENCY_BUCKETS, registry=r)
        self.search_results = Histogram("pdfrag_search_results", "Results returned per search", buckets=(0, 1, 5, 10, 20, 50, 100), registry=r)
        self.ready = Gauge("pdfrag_ready", "1 when the last /ready answered ready, else 0", registry=r)
        self.hybrid = Gauge("pdfrag_hybrid", "1 when searches fuse BM25 with dense vectors", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every response (including 401, 413 and errors raised before
    routing) under its route template, never the raw path."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Callable[[], list] | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        if getattr(route, "path", None):
            return route.path
        path = scope.get("path", "")
        if path.startswith("/static/"):
            return "/static"
        # Answered before routing (401, 413): find the route it was meant for.
        for r in self.routes() if self.routes else []:
            match, _ = r.matches(scope)
            if match == Match.FULL and getattr(r, "path", None):
                return r.path
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}
        t0 = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = self._template(scope)
            method = scope.get("method", "")
            code = str(status["code"])
            m = self.metrics
            m.requests.labels(method, path, code).inc()
            m.latency.labels(method, path).observe(time.perf_counter() - t0)
            if status["code"] >= 400:
                m.errors.labels(path, code).inc()
