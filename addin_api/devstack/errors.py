"""Error answers in the shapes Dataverse and Entra ID give them (a leaf: imports only Flask).

Dataverse: `{"error": {"code", "message"}}`
(https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors);
Entra's token endpoint: `error`, `error_description` with its AADSTS number, `error_codes`, trace and correlation ids
(https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify


def dataverse_error(status: int, code: str, message: str, retry_after: int | None = None) -> Response:
    """Build an error response in Dataverse's shape: `{"error": {"code", "message"}}`."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    response.headers["OData-Version"] = "4.0"
    return response


def entra_error(
    status: int, error: str, aadsts: int, description: str, extra: dict[str, Any] | None = None
) -> Response:
    """Build an error response in Entra ID's token-endpoint shape, with trace and correlation ids."""
    body: dict[str, Any] = {
        "error": error,
        "error_description": f"AADSTS{aadsts}: {description}",
        "error_codes": [aadsts],
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
        "error_uri": "https://login.microsoftonline.com/error?code=" + str(aadsts),
    }
    body.update(extra or {})
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


class TokenError(Exception):
    """An Entra token-endpoint error: HTTP status, OAuth error, AADSTS number, description and extra fields."""

    def __init__(
        self, error: str, aadsts: int, description: str, status: int = 400, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error = error
        self.aadsts = aadsts
        self.description = description
        self.status = status
        self.extra = extra or {}
