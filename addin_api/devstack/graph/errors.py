"""Microsoft Graph's error body and the error codes the emulated Graph answers with (a leaf: imports only Flask).

Every error is `{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}`, and the
request id is also sent as the `request-id` header, as Graph does.
https://learn.microsoft.com/en-us/graph/errors
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask import Response, has_request_context, jsonify, request


class GraphError(Exception):
    """A Graph error answer: HTTP status, Graph error code and message (and Retry-After for 429/503)."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def graph_error(status: int, code: str, message: str, retry_after: int | None = None) -> Response:
    """Build an error response in Graph's shape, with a fresh request id and the caller's client-request-id."""
    request_id = str(uuid.uuid4())
    client_request_id = request.headers.get("client-request-id") if has_request_context() else None
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_request_id or request_id,
    }
    response = jsonify({"error": {"code": code, "message": message, "innerError": inner}})
    response.status_code = status
    response.headers["request-id"] = request_id
    response.headers["client-request-id"] = inner["client-request-id"]
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def not_found(what: str = "The specified object was not found in the store.") -> GraphError:
    """Exchange's answer for an id that names nothing in the mailbox."""
    return GraphError(404, "ErrorItemNotFound", what)


def invalid_request(message: str) -> GraphError:
    """A malformed request (bad body, bad query option)."""
    return GraphError(400, "ErrorInvalidRequest", message)


def access_denied() -> GraphError:
    """Exchange's answer when the token does not reach that mailbox or lacks the permission."""
    return GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


# Outlook's per-mailbox limits: 4 concurrent requests per app and mailbox, answered with 429.
# https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits
MAILBOX_CONCURRENCY_CODE = "ApplicationThrottled"
MAILBOX_CONCURRENCY_MESSAGE = "Application is over its MailboxConcurrency limit."


def fault_error(status: int, code: str | None, retry_after: int | None) -> Response:
    """The Graph body of an injected fault (429 reads as Outlook's concurrency throttling, 410 as a lost sync state)."""
    if status == 429:
        return graph_error(429, code or MAILBOX_CONCURRENCY_CODE, MAILBOX_CONCURRENCY_MESSAGE, retry_after)
    if status == 410:
        # https://learn.microsoft.com/en-us/graph/delta-query-overview#synchronization-reset
        return graph_error(410, code or "SyncStateNotFound", "The sync state generation is not found.", retry_after)
    if status >= 500:
        return graph_error(status, code or "ServiceUnavailable", "The service is temporarily unavailable.", retry_after)
    return graph_error(status, code or "BadRequest", "Injected fault.", retry_after)
