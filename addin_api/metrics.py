"""Prometheus metrics at `/metrics`: requests, Dataverse and identity calls, throttling, token-cache hits.

Each app has its own registry. Under gunicorn, set `PROMETHEUS_MULTIPROC_DIR` (the shipped config does) before any
worker imports prometheus_client: every worker then writes its samples to files there, `/metrics` aggregates them
all, and the config's `child_exit` hook marks dead workers so their live-only samples are dropped.
https://prometheus.github.io/client_python/multiprocess/
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any

import requests
from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from addin_api import logs
from addin_api.auth.cache import TokenCache

EXTENSION = "addin_api.metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Interactive latencies: most requests take 50 ms – 2 s, the budget is 20 s.
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)


class Metrics:
    """The app's collectors, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "addin_api_requests", "HTTP requests answered", ("method", "route", "status"), registry=r
        )
        self.request_seconds = Histogram(
            "addin_api_request_duration_seconds",
            "Time to answer an HTTP request",
            ("method", "route", "status"),
            buckets=BUCKETS,
            registry=r,
        )
        self.outbound = Counter(
            "addin_api_outbound_requests",
            "Calls to Dataverse and the identity provider, by answer status",
            ("target", "status"),
            registry=r,
        )
        self.outbound_seconds = Histogram(
            "addin_api_outbound_duration_seconds",
            "Time until Dataverse or the identity provider answered",
            ("target",),
            buckets=BUCKETS,
            registry=r,
        )
        self.throttled = Counter(
            "addin_api_throttled",
            "Throttling events: 429 from Dataverse, or a request refused inside a user's Retry-After window",
            ("source",),
            registry=r,
        )
        self.token_cache = Counter(
            "addin_api_token_cache_lookups", "Dataverse token cache lookups", ("result",), registry=r
        )

    def exposition(self) -> bytes:
        """The text exposition: every worker's samples under multiprocess mode, else this registry's."""
        directory = os.environ.get(MULTIPROC_ENV)
        if directory:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)

    def record_outbound(self, target: str, status: int, seconds: float, service_request_id: str | None) -> None:
        """Count one outbound call and note it for the request's log event."""
        self.outbound.labels(target, str(status)).inc()
        self.outbound_seconds.labels(target).observe(seconds)
        if target == "dataverse" and status == 429:
            self.throttled.labels("dataverse").inc()
        logs.note_outbound(target, status, seconds, service_request_id)

    def dataverse_observer(self) -> Callable[[int, float, str | None], None]:
        """What the Dataverse client calls with each answer (it sends through the session's pool, not its hooks)."""
        return functools.partial(self.record_outbound, "dataverse")

    def outbound_hook(self, dataverse_urls: tuple[str, ...]) -> Callable[..., Any]:
        """A `requests` response hook recording the session's calls: the identity provider's (and the dev harness's)."""
        prefixes = tuple(u.rstrip("/") + "/api/data/" for u in dataverse_urls)

        def on_response(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
            target = "dataverse" if response.url.startswith(prefixes) else "identity"
            request_id = response.headers.get("x-ms-service-request-id") if target == "dataverse" else None
            self.record_outbound(target, response.status_code, response.elapsed.total_seconds(), request_id)
            return response

        return on_response


class CountingTokenCache:
    """A `TokenCache` that counts hits and misses of the cache it wraps."""

    def __init__(self, inner: TokenCache, metrics: Metrics) -> None:
        self.inner = inner
        self._metrics = metrics

    def get(self, key: str) -> str | None:
        """Look up, counting a hit or a miss."""
        found = self.inner.get(key)
        self._metrics.token_cache.labels("hit" if found is not None else "miss").inc()
        return found

    def set(self, key: str, token: str, ttl_seconds: float) -> None:
        """Store in the wrapped cache."""
        self.inner.set(key, token, ttl_seconds)

    def delete(self, key: str) -> None:
        """Forget in the wrapped cache."""
        self.inner.delete(key)


def metrics_of(app: Flask) -> Metrics:
    """The app's metrics."""
    found = app.extensions[EXTENSION]
    assert isinstance(found, Metrics)
    return found


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _record(response: Response) -> Response:
    if request.endpoint == "metrics":
        return response
    metrics = metrics_of(current_app)
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    status = str(response.status_code)
    started = g.get("metrics_started")
    metrics.requests.labels(request.method, route, status).inc()
    if started is not None:
        metrics.request_seconds.labels(request.method, route, status).observe(time.perf_counter() - started)
    if response.status_code == 429:
        calls: list[dict[str, Any]] = g.get("outbound") or []
        if not any(c["target"] == "dataverse" and c["status"] == 429 for c in calls):
            # Answered from the user's Retry-After window (or their concurrency cap): nothing was sent.
            metrics.throttled.labels("retry_after_window").inc()
    return response


def _metrics_view() -> Response:
    return Response(metrics_of(current_app).exposition(), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> Metrics:
    """Create the app's metrics, time every request and serve `/metrics`."""
    metrics = Metrics()
    app.extensions[EXTENSION] = metrics
    app.before_request(_start)
    app.after_request(_record)
    app.add_url_rule("/metrics", "metrics", _metrics_view, methods=["GET"])
    return metrics
