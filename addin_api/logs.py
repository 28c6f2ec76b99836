"""Structured JSON logs: one `request` event per request, and a filter that scrubs secrets and personal data.

Every record leaving our handlers goes through `RedactingFilter` first: values under sensitive keys are dropped,
and anything that looks like a bearer token, a JWT, an email address or a configured secret is replaced, in the
message, its arguments, every extra field and the exception text. Logs carry the request id, the tenant and a hashed
user id, the Dataverse round trips and their `x-ms-service-request-id` — never tokens, bodies or addresses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request

REDACTED = "[redacted]"
# Header and field names whose values are never logged (the Dataverse Python SDK's header list, plus ours).
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-ms-authorization-auxiliary",
        "ocp-apim-subscription-key",
        "assertion",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "client_assertion",
        "password",
        "token",
        "secret",
        "cookie",
        "set-cookie",
        "body",
        "description",
        "subject",
        "contentbase64",
        "content",
        "address",
        "email",
        "from",
        "to",
        "cc",
        "bcc",
        "error_description",
    }
)
BEARER = re.compile(r"(?i)\bbearer\s+[^\s\"',;]+")
# A JWT or JWS segment pair: base64url JSON starts with "eyJ" ('{"').
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}")
EMAIL = re.compile(r"[^\s@<>\"'(),;:\[\]\\/=?&]+@[^\s@<>\"'(),;:\[\]\\/=?&]+")
ENCODED_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+%40[A-Za-z0-9._%-]+", re.IGNORECASE)
# Query strings of URLs (HTTP client debug lines) carry search text and addresses: keep only the path.
QUERY = re.compile(r"\?[^\s\"'?]*=[^\s\"']*")
# What any of the patterns above needs to match: most logged strings (ids, routes, methods) have none of it, and one
# search settles them instead of five substitutions.
TRIGGERS = re.compile(r"(?i)bearer|eyj|\?|@|%40")
# The attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("n", 0, "p", 0, "m", None, None))) | {"message", "asctime", "taskName"}


class RedactingFilter(logging.Filter):
    """Scrub a record in place so no handler can emit a token, a secret, an email address or email content."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, secret: str | None) -> None:
        """Also replace this literal value wherever it appears (values shorter than 8 characters are ignored)."""
        if secret and len(secret) >= 8 and secret not in self._secrets:
            with self._lock:
                self._secrets = (*self._secrets, secret)

    def scrub(self, text: str) -> str:
        """Replace secrets, bearer tokens, JWTs and email addresses in `text`."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        if TRIGGERS.search(text) is None:
            return text
        text = BEARER.sub("Bearer " + REDACTED, text)
        text = JWT.sub(REDACTED, text)
        text = QUERY.sub("?[query]", text)
        text = ENCODED_EMAIL.sub("[address]", text)
        return EMAIL.sub("[address]", text)

    def scrub_value(self, value: Any, depth: int = 0) -> Any:
        """Scrub strings inside `value` (mappings and sequences too); keys in SENSITIVE_KEYS lose their value."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, bool | int | float) or value is None:
            return value
        if depth > 4:
            return REDACTED
        if isinstance(value, Mapping):
            return {
                str(k): REDACTED if str(k).lower() in SENSITIVE_KEYS else self.scrub_value(v, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self.scrub_value(v, depth + 1) for v in value]
        return self.scrub(str(value))

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message, extras and exception text; always let it through."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the event
            message = str(record.msg)
        record.msg = self.scrub(message)
        record.args = None
        for key in [k for k in vars(record) if k not in _STANDARD]:
            value = getattr(record, key)
            setattr(record, key, REDACTED if key.lower() in SENSITIVE_KEYS else self.scrub_value(value))
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, the request id when there is one, and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialize the record."""
        document: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        if has_request_context() and "request_id" not in vars(record):
            request_id = g.get("request_id")
            if request_id:
                document["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in document:
                document[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        return json.dumps(document, default=str, ensure_ascii=False)


class JsonLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that scrubs and formats outside its lock and holds the lock only to write the line.

    `logging.Handler.handle` formats under the handler's lock; with dozens of request threads per worker, a thread
    that loses the GIL mid-format keeps every other thread's log line waiting behind it.
    """

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter (scrub), format, then write the line under the lock; tell whether the record was emitted."""
        if not self.filter(record):
            return False
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return True
        with self.lock:  # type: ignore[union-attr]
            try:
                self.stream.write(line)
                self.flush()
            except Exception:
                self.handleError(record)
        return True


def handler(stream: Any = None, secrets: Iterable[str] = ()) -> logging.Handler:
    """A stream handler writing redacted JSON lines."""
    found = JsonLineHandler(stream if stream is not None else sys.stderr)
    found.addFilter(RedactingFilter(secrets))
    found.setFormatter(JsonFormatter())
    return found


def configure(level: str = "INFO", stream: Any = None) -> None:
    """Send every logger's records to one redacted JSON handler (for `addin-api dev`; gunicorn has its own)."""
    root = logging.getLogger()
    for existing in [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]:
        root.removeHandler(existing)
    root.addHandler(handler(stream))
    root.setLevel(level.upper())


def register_secret(secret: str | None) -> None:
    """Teach every redacting filter on the root logger's handlers (and gunicorn's) a configured secret."""
    for name in ("", "gunicorn.error", "gunicorn.access"):
        for found in logging.getLogger(name).handlers:
            for candidate in found.filters:
                if isinstance(candidate, RedactingFilter):
                    candidate.add_secret(secret)


def hashed_user(tenant_id: str, object_id: str) -> str:
    """A stable pseudonym for a user: enough to correlate their requests, not to recover the object id."""
    return hashlib.sha256(f"addin-api|{tenant_id}|{object_id}".encode()).hexdigest()[:16]


def note_outbound(target: str, status: int, seconds: float, service_request_id: str | None) -> None:
    """Remember an outbound call for this request's log event (no-op outside a request)."""
    if has_request_context():
        calls: list[dict[str, Any]] | None = g.get("outbound")
        if calls is None:
            calls = []
            g.outbound = calls
        calls.append({"target": target, "status": status, "ms": round(seconds * 1000, 1), "srid": service_request_id})


log = logging.getLogger("addin_api.request")
# `app.extensions[QUIET_PATHS]`: path prefixes whose successful requests are logged at DEBUG, not INFO (the dev
# harness's own polling, which would otherwise bury everything else in the console).
QUIET_PATHS = "addin_api_quiet_request_paths"


def _start() -> None:
    # `g` belongs to the app context, which a test client may share between requests: start each one clean.
    g.pop("principal", None)
    g.outbound = []
    g.started = time.perf_counter()


def _log_request(response: Response) -> Response:
    started = g.get("started")
    calls: list[dict[str, Any]] = g.get("outbound") or []
    dataverse = [c for c in calls if c["target"] == "dataverse"]
    event: dict[str, Any] = {
        "request_id": g.get("request_id"),
        "method": request.method,
        "route": request.url_rule.rule if request.url_rule is not None else None,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started is not None else None,
        "dataverse_round_trips": len(dataverse),
        "dataverse_request_ids": [c["srid"] for c in dataverse if c["srid"]],
        "identity_calls": sum(1 for c in calls if c["target"] == "identity"),
    }
    principal = g.get("principal")
    tenant_id = getattr(principal, "tenant_id", None)
    object_id = getattr(principal, "object_id", None)
    if isinstance(tenant_id, str) and isinstance(object_id, str):
        event["tenant"] = tenant_id
        event["user"] = hashed_user(tenant_id, object_id)
    if response.status_code >= 400 and response.is_json:
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            event["code"] = body["code"]
    quiet = any(request.path.startswith(p) for p in current_app.extensions.get(QUIET_PATHS, ()))
    log.log(logging.DEBUG if quiet and response.status_code < 500 else logging.INFO, "request", extra=event)
    return response


def init_app(app: Flask) -> None:
    """Log one structured `request` event per request (register before the API so it runs last)."""
    app.before_request(_start)
    app.after_request(_log_request)
