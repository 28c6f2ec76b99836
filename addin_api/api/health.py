"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from addin_api.errors import ApiError
from addin_api.wiring import Collaborators, Unconfigured, reconfigure

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready when the settings are valid and the token-signing keys (and OBO metadata) can be loaded.

    An app that started with invalid settings re-reads the environment here, so it recovers without a restart.
    """
    wired = reconfigure(current_app)
    checks: dict[str, str] = {}
    ready = True
    if isinstance(wired, Unconfigured):
        response = jsonify({"status": "not_ready", "checks": {"settings": "invalid"}, "problems": wired.problems})
        response.status_code = 503
        return response
    assert isinstance(wired, Collaborators)
    checks["settings"] = "ok"
    try:
        if not wired.validator.has_keys:
            wired.validator.refresh_keys()
        checks["signingKeys"] = "ok"
    except ApiError:
        checks["signingKeys"] = "unavailable"
        ready = False
    try:
        for tenant in wired.settings.tenants:
            wired.obo.warm(tenant)
        checks["identityMetadata"] = "ok"
    except ApiError:
        checks["identityMetadata"] = "unavailable"
        ready = False
    response = jsonify({"status": "ready" if ready else "not_ready", "checks": checks})
    response.status_code = 200 if ready else 503
    if not ready:
        response.headers["Retry-After"] = "5"
    return response
