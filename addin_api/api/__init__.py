"""HTTP edge: request ids, problem+json for every error, security headers, and the v1 blueprints."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from addin_api.errors import ApiError

log = logging.getLogger("addin_api")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Some of werkzeug's descriptions are HTML (411's wraps a header name in <code>): a problem's detail is plain text.
MARKUP = re.compile(r"<[^<>]*>")
# Codes for errors raised by Flask/werkzeug themselves (routing, method, body size, malformed JSON).
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    431: "request_header_fields_too_large",
}


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    """A problem+json response carrying our stable `code` and the request id."""
    body: dict[str, Any] = {
        "type": f"https://addin-api.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "requestId": g.get("request_id"),
    }
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _handle_api_error(error: ApiError) -> Response:
    response = problem(error.status, error.code, error.title, error.detail, **error.extra())
    response.headers.update(error.headers())
    if error.status >= 500:
        log.warning("request failed", extra={"code": error.code, "status": error.status})
    return response


def _handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    code = HTTP_CODES.get(status, "http_error")
    response = problem(status, code, error.name, MARKUP.sub("", error.description or error.name))
    if status == 405 and error.response is None:
        valid = getattr(error, "valid_methods", None)
        if valid:
            response.headers["Allow"] = ", ".join(valid)
    return response


def _handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error")
    return problem(500, "internal_error", "Internal error", "Something went wrong; quote the request id.")


def _assign_request_id() -> None:
    sent = request.headers.get("X-Request-ID", "")
    g.request_id = sent if REQUEST_ID.match(sent) else str(uuid.uuid4())


def _finish(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id") or str(uuid.uuid4())
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
    return response


def init_app(app: Flask) -> None:
    """Install request ids, error handlers and the blueprints."""
    from addin_api.api.appointments import bp as appointments
    from addin_api.api.compose import bp as compose
    from addin_api.api.emails import bp as emails
    from addin_api.api.folder_rules import bp as folder_rules
    from addin_api.api.health import bp as health
    from addin_api.api.mailbox import bp as mailbox
    from addin_api.api.me import bp as me
    from addin_api.api.options import bp as options
    from addin_api.api.people import bp as people
    from addin_api.api.records import bp as records
    from addin_api.api.regarding import bp as regarding
    from addin_api.api.taskpane import bp as taskpane
    from addin_api.api.webhooks import bp as webhooks

    app.before_request(_assign_request_id)
    app.after_request(_finish)
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
    for blueprint in (
        health,
        me,
        emails,
        appointments,
        regarding,
        records,
        people,
        taskpane,
        mailbox,
        options,
        folder_rules,
        compose,
        webhooks,
    ):
        app.register_blueprint(blueprint)
    _connect_jobs(app)


def _connect_jobs(app: Flask) -> None:
    """The webhooks enqueue on the sync workers' Redis broker (`ADDIN_API_REDIS_URL`); without Redis no worker can
    hear them (`addin-api dev` hands them its in-process worker's queue instead)."""
    from addin_api.api import webhooks
    from addin_api.sync.jobs import open_jobs
    from addin_api.wiring import Collaborators

    wired = app.extensions.get("addin_api")
    redis_url = wired.settings.redis_url if isinstance(wired, Collaborators) else None
    webhooks.init_app(app, open_jobs(redis_url) if redis_url else None)
