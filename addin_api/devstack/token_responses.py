"""The token endpoint's success bodies, v2 and v1, as Entra ID writes them (what MSAL Python reads).

https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow#success-response-example
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from flask import Response, jsonify, request

from addin_api.devstack.config import DevUser
from addin_api.devstack.graph.tokens import GRAPH_RESOURCE, graph_delegated_claims
from addin_api.devstack.identity import ACCESS_TOKEN_LIFETIME, dataverse_claims, pairwise_sub
from addin_api.devstack.state import DevstackState


def _b64url_json(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _id_token(state: DevstackState, user: DevUser, client_id: str) -> str:
    """A v2 ID token for the client: what MSAL reads to describe the account it caches."""
    now = int(time.time())
    claims = {
        "aud": client_id,
        "iss": state.issuer_v2(user.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + ACCESS_TOKEN_LIFETIME,
        "name": user.name,
        "oid": user.oid,
        "preferred_username": user.upn,
        "rh": "0.dev." + uuid.uuid4().hex[:12],
        "sub": pairwise_sub(user, client_id),
        "tid": user.tenant_id,
        "uti": uuid.uuid4().hex[:22],
        "ver": "2.0",
    }
    return state.keys.sign(claims)


def user_tokens(
    state: DevstackState,
    user: DevUser,
    client_id: str,
    scope: str,
    oidc: set[str],
    amr: tuple[str, ...],
    resource: str | None = None,
) -> Response:
    """The success body of a delegated grant, with id_token/refresh_token/client_info only when asked for.

    With `resource` (the v1 endpoint), the v1 body: a refresh token always, `scope` without the resource, and the
    numbers as strings beside `expires_on`, `not_before` and `resource`.
    """
    if scope.startswith(GRAPH_RESOURCE + "/"):
        claims = graph_delegated_claims(state, user, scope, appid=client_id)
    else:
        claims = dataverse_claims(state, user, appid=client_id)
    claims["amr"] = list(amr)
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": ACCESS_TOKEN_LIFETIME,
        "ext_expires_in": ACCESS_TOKEN_LIFETIME,
        "access_token": state.keys.sign(claims),
    }
    if "offline_access" in oidc or resource is not None:
        body["refresh_token"] = state.refresh_tokens.issue(client_id, user, amr)
    if "openid" in oidc:
        body["id_token"] = _id_token(state, user, client_id)
    if request.form.get("client_info") == "1":
        # MSAL asks for client_info=1 and keys its account cache on uid.utid.
        body["client_info"] = _b64url_json({"uid": user.oid, "utid": user.tenant_id})
    if resource is not None:
        body = _v1_body(body, claims, resource)
    return _no_store(jsonify(body))


def _v1_body(body: dict[str, Any], claims: dict[str, Any], resource: str) -> dict[str, Any]:
    """A v2 success body in the v1 endpoint's shape (its numbers are strings).

    https://learn.microsoft.com/en-us/previous-versions/azure/active-directory/azuread-dev/v1-oauth2-on-behalf-of-flow#service-to-service-access-token-response
    """
    out: dict[str, Any] = {"token_type": body["token_type"]}
    if "scope" in body:
        out["scope"] = " ".join(s.rsplit("/", 1)[-1] for s in body["scope"].split() if not s.endswith("/.default"))
    out.update(
        {
            "expires_in": str(body["expires_in"]),
            "ext_expires_in": str(body["ext_expires_in"]),
            "expires_on": str(claims["exp"]),
            "not_before": str(claims["nbf"]),
            "resource": resource,
            "access_token": body["access_token"],
        }
    )
    for name in ("refresh_token", "id_token", "client_info"):
        if name in body:
            out[name] = body[name]
    return out


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store, no-cache"
    response.headers["Pragma"] = "no-cache"
    return response


def app_token(state: DevstackState, claims: dict[str, Any], resource: str | None) -> Response:
    """The success body of an app-only grant (in the v1 endpoint's shape with `resource`)."""
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME,
        "ext_expires_in": ACCESS_TOKEN_LIFETIME,
        "access_token": state.keys.sign(claims),
    }
    if resource is not None:
        body = _v1_body(body, claims, resource)
    return _no_store(jsonify(body))
