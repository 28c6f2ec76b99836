"""The devstack control surface (`/_devstack/...`) plus the request log and fault injection around every request.

Contract: token minting, request log, faults and latency, reset, config. Extensions beyond the contract:
`POST /_devstack/keys/rotate`, `PUT /_devstack/limits`, and two optional fault fields: `user` (only requests made for
that user: the Dataverse caller, or the user of an OBO assertion at the token endpoint) and `body` (answer that JSON
body, with `status` or 200, instead of an error).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import jwt
from flask import Blueprint, Flask, Response, g, jsonify, request

from addin_api.devstack.config import OFFICE_CLIENT_IDS
from addin_api.devstack.dataverse.throttle import ServiceProtectionLimits
from addin_api.devstack.errors import dataverse_error, entra_error
from addin_api.devstack.faults import Fault
from addin_api.devstack.graph.errors import fault_error
from addin_api.devstack.graph.tokens import graph_delegated_claims
from addin_api.devstack.identity import mint_access_token
from addin_api.devstack.state import DevstackState, current_state

bp = Blueprint("devstack_control", __name__, url_prefix="/_devstack")

DATAVERSE_PREFIX = "/api/data/"
GRAPH_PREFIX = "/v1.0/"

# Service-protection messages as Dataverse words them.
# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/api-limits
THROTTLE_MESSAGES = {
    "0x80072322": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    "0x80072321": (
        "Combined execution time of incoming requests exceeded limit of 1,200,000 milliseconds "
        "over time window of 300 seconds. Decrease number of concurrent requests or reduce the duration "
        "of requests and try again later."
    ),
    "0x80072326": "Number of concurrent requests exceeded the limit of 52.",
}


def request_target(path: str) -> str | None:
    """Classify a request path: the emulated Dataverse, the identity provider, or the control surface and the
    web client's form stand-in (None)."""
    if path.startswith("/_devstack") or path == "/main.aspx":
        return None
    if path.startswith(DATAVERSE_PREFIX):
        return "dataverse"
    if path.startswith(GRAPH_PREFIX):
        return "graph"
    return "identity"


def _fault_response(fault: Fault, target: str) -> Response:
    if fault.body is not None:
        response = jsonify(fault.body)
        response.status_code = fault.status or 200
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(fault.retry_after)
        if target == "identity":
            response.headers["Cache-Control"] = "no-store, no-cache"
        return response
    assert fault.status is not None
    if target == "graph":
        return fault_error(fault.status, fault.code, fault.retry_after)
    if target == "dataverse":
        if fault.status == 429:
            code = fault.code or "0x80072322"
            message = THROTTLE_MESSAGES.get(code, THROTTLE_MESSAGES["0x80072322"])
        else:
            code = fault.code or ""
            message = "The service is temporarily unavailable." if fault.status >= 500 else "Injected fault."
        return dataverse_error(fault.status, code, message, fault.retry_after)
    error = fault.code or ("temporarily_unavailable" if fault.status >= 429 else "invalid_request")
    response = entra_error(fault.status, error, 90024 if fault.status >= 429 else 90014, "Injected fault.")
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


def _apply_faults() -> Response | None:
    path = request.path
    target = request_target(path)
    g.devstack_started = time.monotonic()
    if target is None:
        return None
    state = current_state()
    faults = state.faults.take(target, request.method, path, lambda: _request_user(state, target))
    delay = sum(f.delay_ms for f in faults)
    if delay:
        time.sleep(delay / 1000)
    failing = next((f for f in faults if f.answers), None)
    if failing is not None:
        _request_user(state, target)  # so the log says whom the injected answer was for
        return _fault_response(failing, target)
    return None


def _request_user(state: DevstackState, target: str) -> str | None:
    """Who a request is for: the Dataverse caller (verified before faults) or the user of an OBO assertion.

    The assertion is read without verifying it, only to choose which faults apply; the token endpoint verifies it.
    """
    if target == "dataverse":
        user: str | None = g.get("devstack_user")
        return user
    if request.method != "POST" or request.mimetype != "application/x-www-form-urlencoded":
        return None
    assertion = request.form.get("assertion")
    if not assertion:
        return None
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    found = state.config.user_by_oid(str(claims.get("tid", "")), str(claims.get("oid", "")))
    if found is None:
        return None
    g.devstack_user = found.upn
    return found.upn


def _log_request(response: Response) -> Response:
    req = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup, not one per attribute
    target = request_target(req.path)
    if target is None:
        return response
    headers = response.headers
    request_id = headers.get("x-ms-service-request-id")
    if target == "dataverse" and request_id is None:
        # Like Dataverse: every answer carries the id Microsoft support asks for.
        request_id = headers["x-ms-service-request-id"] = str(uuid.uuid4())
    now = time.monotonic()
    entry: dict[str, Any] = {
        "kind": target,
        "method": req.method,
        "path": req.path,
        "query": req.query_string.decode("latin-1"),
        "status": response.status_code,
        "user": g.get("devstack_user"),
        "at": time.time(),
        "serviceRequestId": request_id,
        "durationMs": round((now - g.get("devstack_started", now)) * 1000, 1),
    }
    acting = g.get("dataverse_acting")
    if acting is not None and acting.delegate is not None:
        # An impersonated request: `user` holds the token's principal, `actingAs` whom it acted as.
        entry["actingAs"] = acting.user.upn
    parts = g.get("devstack_parts")
    if parts is not None:
        entry["parts"] = parts
    retry_after = headers.get("Retry-After")
    if retry_after is not None:
        # With `at`, tells when the caller may send again (load tests check nothing was sent before).
        entry["retryAfter"] = retry_after
    current_state().log.append(entry)
    return response


def init_app(app: Flask) -> None:
    """Install fault injection, the request log and the control routes on the devstack app."""
    app.before_request(_apply_faults)
    app.after_request(_log_request)
    app.register_blueprint(bp)


def _bad_request(message: str) -> Response:
    response = jsonify({"error": "bad_request", "message": message})
    response.status_code = 400
    return response


@bp.post("/token")
def mint_token() -> Response:
    """Mint a bootstrap token as Office would (or a Dataverse token with `"audience": "dataverse"`)."""
    state = current_state()
    body = request.get_json(silent=True) or {}
    user = state.config.user_by_upn(str(body.get("user", "")))
    if user is None:
        return _bad_request("unknown user; see GET /_devstack/config for the demo users")
    audience = str(body.get("audience", "addin"))
    if audience not in ("addin", "dataverse", "graph"):
        return _bad_request("audience must be 'addin', 'dataverse' or 'graph'")
    claims = body.get("claims") or {}
    if not isinstance(claims, dict):
        return _bad_request("claims must be an object")
    if audience == "graph":
        # A delegated Graph token for the user, as Outlook's own session would hold.
        claims = {**graph_delegated_claims(state, user), **claims}
    token, expires_in = mint_access_token(state, user, audience=audience, overrides=claims)
    return jsonify({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


@bp.get("/requests")
def list_requests() -> Response:
    """Return the request log in arrival order."""
    return jsonify({"requests": current_state().log.entries()})


@bp.delete("/requests")
def clear_requests() -> Response:
    """Clear the request log."""
    current_state().log.clear()
    return Response(status=204)


@bp.post("/faults")
def add_fault() -> Response:
    """Inject a failure and/or latency (`skip`: let that many matching requests through before it applies)."""
    body = request.get_json(silent=True) or {}
    target = body.get("target")
    if target not in ("dataverse", "identity", "graph"):
        return _bad_request("target must be 'dataverse', 'identity' or 'graph'")
    try:
        fault = Fault(
            target=target,
            path=re.compile(str(body.get("path", ".*"))),
            method=body.get("method"),
            status=int(body["status"]) if body.get("status") is not None else None,
            retry_after=int(body["retryAfter"]) if body.get("retryAfter") is not None else None,
            count=int(body["count"]) if body.get("count") is not None else None,
            delay_ms=int(body.get("delayMs") or 0),
            code=body.get("code"),
            user=_optional_text(body.get("user"), "user"),
            body=_optional_object(body.get("body"), "body"),
            skip=int(body.get("skip") or 0),
        )
    except (re.error, ValueError, TypeError) as exc:
        return _bad_request(f"invalid fault: {exc}")
    current_state().faults.add(fault)
    response = jsonify({"added": True})
    response.status_code = 201
    return response


def _optional_text(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{name} must be a string")


def _optional_object(value: object, name: str) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    raise ValueError(f"{name} must be an object")


@bp.delete("/faults")
def clear_faults() -> Response:
    """Remove every injected fault and latency."""
    current_state().faults.clear()
    return Response(status=204)


@bp.post("/reset")
def reset() -> Response:
    """Return to the seeded state: data, request log, faults and limits."""
    state = current_state()
    state.dataverse.reset()
    state.log.clear()
    state.faults.clear()
    state.limits = ServiceProtectionLimits()
    for hook in state.reset_hooks:
        hook()
    return Response(status=204)


@bp.get("/config")
def config() -> Response:
    """Describe the demo app registration, environment, CA file and users."""
    state = current_state()
    return jsonify(config_document(state))


def config_document(state: DevstackState) -> dict[str, Any]:
    """Build the `/_devstack/config` document (also printed by `addin-api devstack`)."""
    cfg = state.config
    return {
        "tenantId": cfg.tenant_id,
        "clientId": cfg.client_id,
        "clientSecret": cfg.client_secret,
        "authority": state.authority(cfg.tenant_id),
        "authorityHost": state.base_url,
        "environmentUrl": state.environment_url,
        # the emulated Microsoft Graph (its tokens' audience is https://graph.microsoft.com)
        "graphUrl": f"{state.base_url}/v1.0",
        "caFile": str(state.ca_file),
        "officeClientIds": list(OFFICE_CLIENT_IDS),
        "users": [
            {"upn": u.upn, "oid": u.oid, "tenantId": u.tenant_id, "scenario": u.scenario, "name": u.name}
            for u in cfg.users
        ],
        # Dataverse application users: the systemusers app registrations act as with app-only tokens.
        "applicationUsers": [
            {"applicationId": u.application_id, "systemuserid": u.systemuserid, "oid": u.oid, "name": u.name}
            for u in cfg.application_users
        ],
    }


@bp.post("/keys/rotate")
def rotate_keys() -> Response:
    """Start signing with a new key; the previous one stays published for a while, as in Entra."""
    kid = current_state().keys.rotate()
    return jsonify({"kid": kid})


@bp.put("/limits")
def set_limits() -> Response:
    """Scale the per-user service-protection limits (omitted fields keep their current values)."""
    limits = current_state().limits
    body = request.get_json(silent=True) or {}
    try:
        if "requests" in body:
            limits.requests = int(body["requests"])
        if "windowSeconds" in body:
            limits.window_seconds = float(body["windowSeconds"])
        if "executionMs" in body:
            limits.execution_ms = int(body["executionMs"])
        if "concurrent" in body:
            limits.concurrent = int(body["concurrent"])
        if "retryAfter" in body:
            limits.retry_after_seconds = None if body["retryAfter"] is None else int(body["retryAfter"])
    except (TypeError, ValueError) as exc:
        return _bad_request(f"invalid limits: {exc}")
    return jsonify(
        {
            "requests": limits.requests,
            "windowSeconds": limits.window_seconds,
            "executionMs": limits.execution_ms,
            "concurrent": limits.concurrent,
            "retryAfter": limits.retry_after_seconds,
        }
    )
