"""gunicorn settings shipped with the service: `addin-api serve`, or `gunicorn -c <this file> 'addin_api:create_app()'`.

gevent workers (`addin_api.server.ProblemGeventWorker`): a request mostly waits on Dataverse and Entra, and a slow
client holds a greenlet rather than one of a few threads, so a few hundred slow connections cannot stop a worker from
answering. https://docs.gunicorn.org/en/stable/design.html — settings: https://docs.gunicorn.org/en/stable/settings.html

Environment: `ADDIN_API_BIND` (127.0.0.1:8000), `ADDIN_API_WORKERS` (2), `ADDIN_API_WORKER_CONNECTIONS` (1000),
`ADDIN_API_KEEPALIVE` (5 s; set it above the load balancer's idle timeout), `ADDIN_API_FORWARDED_ALLOW_IPS`,
`ADDIN_API_LOG_LEVEL`, `PROMETHEUS_MULTIPROC_DIR` (a fresh temporary directory when unset).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

from addin_api import logs
from addin_api.settings import Settings, parse_forwarded_allow_ips, parse_log_level


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise SystemExit(f"{name} must be a positive whole number")
    return int(raw)


bind = os.environ.get("ADDIN_API_BIND", "127.0.0.1:8000")
# gevent's worker (one greenlet per connection; gevent patches sockets and `threading` in each worker before the app
# is imported), answering what gunicorn refuses as problem+json. The master must not import requests or urllib3.
worker_class = "addin_api.server.ProblemGeventWorker"
workers = _positive_int("ADDIN_API_WORKERS", 2)
# Open connections per worker, slow or not; past it a worker stops accepting until one closes.
worker_connections = _positive_int("ADDIN_API_WORKER_CONNECTIONS", 1000)
# Every outbound call ends within the 20 s request budget (connect 3.05 s, read ≤ 15 s, never past the budget), so
# a request finishes well before the 30 s after which gunicorn kills a silent worker mid-write.
timeout = max(30, int(Settings.request_budget_seconds) + 10)
# On SIGTERM (a deploy) workers stop accepting and get as long as the longest request to finish in-flight tracks.
graceful_timeout = timeout
# Also the deadline for a request's line and headers: gevent's worker drops a connection whose next request has not
# arrived whole within `keepalive` seconds (the first one too), so a header a second cannot hold a greenlet for long.
keepalive = _positive_int("ADDIN_API_KEEPALIVE", 5)
# Request smuggling / resource guards. The token travels in one header: a token the app accepts
# (`addin_api.auth.tokens.MAX_TOKEN_BYTES`, 16 KiB — group claims make Entra tokens grow) must fit in one header
# line with its name, so the app, not gunicorn, decides about tokens up to that size (the ops tests check this).
MAX_TOKEN_BYTES = 16 * 1024
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = MAX_TOKEN_BYTES + 1024
# Recycle workers now and then so a slow leak cannot grow without bound; jitter avoids all restarting at once.
# Users' Retry-After windows survive a recycle (see ADDIN_API_SHARED_STATE_DIR below); their OBO tokens do not,
# so recycle rarely.
max_requests = 10000
max_requests_jitter = 1000
# Worker heartbeats in memory: a disk-backed /tmp (containers, overlay filesystems) can stall them into timeouts.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Trust X-Forwarded-* only from the load balancer.
forwarded_allow_ips, _problem = parse_forwarded_allow_ips(os.environ)
if _problem:
    raise SystemExit(_problem)
loglevel, _problem = parse_log_level(os.environ)
if _problem:
    raise SystemExit(_problem)
accesslog = "-"
errorlog = "-"

# Metrics from every worker, aggregated at /metrics. The variable must be set before a worker imports
# prometheus_client, and the directory emptied when the server starts.
# https://prometheus.github.io/client_python/multiprocess/
# Workers share users' Retry-After windows through a file here (Redis, when configured, shares them across hosts).
if not os.environ.get("ADDIN_API_SHARED_STATE_DIR"):
    os.environ["ADDIN_API_SHARED_STATE_DIR"] = tempfile.mkdtemp(prefix="addin-api-state-")

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="addin-api-metrics-")


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with redacted JSON lines: error log to stderr, one `access` event per request to stdout."""

    def setup(self, cfg: Any) -> None:
        """Configure gunicorn's loggers, then give them and the root logger (the app's records) our JSON handlers."""
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for found in log.handlers:
                found.setFormatter(logs.JsonFormatter())
                found.addFilter(logs.RedactingFilter())
        root = logging.getLogger()
        for found in [h for h in root.handlers if isinstance(h.formatter, logs.JsonFormatter)]:
            root.removeHandler(found)
        root.addHandler(logs.handler(sys.stderr))
        root.setLevel(cfg.loglevel.upper())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        """Log the request without its query string (it can carry addresses and search text)."""
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        headers = dict((k.lower(), v) for k, v in (resp.headers or []))
        self.access_log.info(
            "access",
            extra={
                "remote": environ.get("REMOTE_ADDR"),
                "method": environ.get("REQUEST_METHOD"),
                "path": environ.get("PATH_INFO"),
                "status": int(status),
                "bytes": getattr(resp, "sent", None),
                "duration_ms": round(request_time.total_seconds() * 1000, 1),
                "request_id": headers.get("x-request-id"),
                "user_agent": environ.get("HTTP_USER_AGENT"),
            },
        )


logger_class = JsonLogger


def on_starting(server: Any) -> None:
    """Start with an empty metrics directory: files of a previous run would add to our counts."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live-only samples from /metrics (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
