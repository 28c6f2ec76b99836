"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from addin_api.api.declare import PUBLIC, Auth, declare
from addin_api.errors import ApiError
from addin_api.schemas.responses import HealthSchema, ReadinessSchema
from addin_api.wiring import Collaborators, Unconfigured, reconfigure

# Retry-After of a not-ready answer when the failing check did not say how long to wait.
DEFAULT_RETRY_AFTER = 5
READINESS = ReadinessSchema()

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@declare("Liveness", Auth.NONE, response=HealthSchema(), errors=PUBLIC, tag="operations")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@bp.get("/readyz")
@declare(
    "Readiness: settings valid, signing keys and identity metadata loadable",
    Auth.NONE,
    response=READINESS,
    errors=PUBLIC,
    tag="operations",
    other={503: READINESS},
)
def readyz() -> Response:
    """Ready when the settings are valid and the token-signing keys (and OBO metadata) are loaded or loadable.

    The probe reads what the API path holds: loaded keys and built MSAL applications answer without a request, and
    while the identity provider is failing it waits out the same backoff the API path does, so a probe never
    fetches more often than requests would. An app that started with invalid settings re-reads the environment
    here, so it recovers without a restart.
    """
    wired = reconfigure(current_app)
    if isinstance(wired, Unconfigured):
        response = jsonify({"status": "not_ready", "checks": {"settings": "invalid"}, "problems": wired.problems})
        response.status_code = 503
        return response
    assert isinstance(wired, Collaborators)
    checks: dict[str, str] = {"settings": "ok"}
    waits: list[int] = []
    try:
        wired.validator.ensure_keys()
        checks["signingKeys"] = "ok"
    except ApiError as exc:
        checks["signingKeys"] = "unavailable"
        waits.append(exc.retry_after or DEFAULT_RETRY_AFTER)
    try:
        for tenant in wired.settings.tenants:
            wired.obo.warm(tenant)
        checks["identityMetadata"] = "ok"
    except ApiError as exc:
        checks["identityMetadata"] = "unavailable"
        waits.append(exc.retry_after or DEFAULT_RETRY_AFTER)
    response = jsonify({"status": "not_ready" if waits else "ready", "checks": checks})
    response.status_code = 503 if waits else 200
    if waits:
        response.headers["Retry-After"] = str(max(waits))
    return response
