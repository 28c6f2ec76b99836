"""The grants the dev identity provider's token endpoints serve: on-behalf-of, refresh_token, client_credentials.

Each validates its form as Entra does and answers Entra's errors (`TokenError`), so that MSAL Python drives them
unchanged. https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow
https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from flask import Response, g, request

from addin_api.devstack.config import service_principal_id
from addin_api.devstack.discovery import MULTI_TENANT
from addin_api.devstack.errors import TokenError
from addin_api.devstack.graph.tokens import (
    GRAPH_APP_ID,
    GRAPH_RESOURCE,
    graph_application_claims,
    graph_delegated_grant,
    is_graph_scope,
)
from addin_api.devstack.identity import (
    ACCESS_TOKEN_LIFETIME,
    DATAVERSE_SCOPE,
    TokenRejected,
    v1_issuer,
    verify_token,
)
from addin_api.devstack.refresh_tokens import RefreshGrant
from addin_api.devstack.state import DevstackState
from addin_api.devstack.token_responses import app_token, user_tokens

OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
# The conditional-access policy the MFA scenario user falls under (sent back in the claims challenge).
MFA_POLICY_ID = "c0a1b2c3-d4e5-4f60-8a7b-9c0d1e2f3a4b"


def missing(name: str) -> TokenError:
    """The error for a required form parameter the request lacks."""
    return TokenError("invalid_request", 900144, f"The request body must contain the following parameter: '{name}'.")


def _delegated_scope(state: DevstackState, raw: str | None) -> tuple[str, set[str]]:
    """Validate a delegated Dataverse scope request; return (granted scopes, requested OIDC scopes)."""
    if not raw:
        raise missing("scope")
    requested = raw.split()
    oidc = {s for s in requested if s in OIDC_SCOPES}
    resource = [s for s in requested if s not in OIDC_SCOPES]
    if resource and all(is_graph_scope(s) for s in resource):
        graph = graph_delegated_grant(resource)
        if graph is None:
            raise _invalid_scope(raw)
        return graph, oidc
    granted = f"{state.environment_url}/user_impersonation"
    default = f"{state.environment_url}/.default"
    if len(resource) != 1 or resource[0] not in (granted, default):
        raise _invalid_scope(raw)
    if resource[0] == default:
        # Entra answers `.default` with the permissions actually granted and echoes `.default` beside them, so that
        # a client caching by the answer's scopes (MSAL: a cached token serves a request whose scopes are a subset
        # of the token's) finds the token again when it asks for `.default` once more.
        # https://learn.microsoft.com/en-us/entra/identity-platform/scopes-oidc#the-default-scope
        return f"{granted} {default}", oidc
    return granted, oidc


def _v1_resource(state: DevstackState, tenant: str, raw: str | None) -> str:
    """Validate a v1 `resource=` (the environment URL, with or without a trailing slash); return it as sent."""
    if not raw:
        raise missing("resource")
    if raw.rstrip("/") != state.environment_url:
        raise TokenError(
            "invalid_resource",
            500011,
            f"The resource principal named {raw} was not found in the tenant named {tenant}. This can happen if "
            "the application has not been installed by the administrator of the tenant or consented to by any "
            "user in the tenant. You might have sent your authentication request to the wrong tenant.",
        )
    return raw


def _invalid_scope(raw: str) -> TokenError:
    return TokenError(
        "invalid_scope",
        70011,
        "The provided request must include a 'scope' input parameter. The provided value for the input "
        f"parameter 'scope' is not valid. The scope {raw} is not valid.",
    )


def _verify_assertion(state: DevstackState, tenant: str, assertion: str, client_id: str) -> dict[str, Any]:
    """Verify an OBO assertion: our signature, the tenant's v2 issuer, audience = the calling app, lifetime."""
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError("invalid_request", 50027, "JWT token is invalid or malformed.") from exc
    tid = str(unverified.get("tid", ""))
    claimed = state.config.user_by_oid(tid, str(unverified.get("oid", "")))
    if claimed is not None:
        # Log who the request is for even when the assertion is then refused (expired, wrong audience...).
        g.devstack_user = claimed.upn
    if tenant.lower() not in MULTI_TENANT and tid != tenant:
        raise TokenError(
            "invalid_grant",
            50013,
            f"Assertion failed validation. [Reason - The assertion was issued for tenant '{tid}', not for the "
            f"requested tenant '{tenant}'.]",
        )
    try:
        return verify_token(state, assertion, audience=client_id, issuer=state.issuer_v2(tid))
    except TokenRejected as exc:
        raise _assertion_error(exc, unverified, client_id) from exc


def _assertion_error(exc: TokenRejected, unverified: dict[str, Any], client_id: str) -> TokenError:
    if exc.expired:
        exp = unverified.get("exp")
        return TokenError(
            "invalid_grant",
            500133,
            "Assertion is not within its valid time range. Ensure that the access token is not expired before "
            f"using it for user assertion, or request a new token. Current time: {_iso(time.time())}, expiry "
            f"time of assertion {_iso(exp) if isinstance(exp, int) else 'unknown'}.",
        )
    cause = exc.__cause__
    if isinstance(cause, jwt.InvalidAudienceError):
        reason = (
            "Assertion audience does not match the Client app presenting the assertion. The audience in the "
            f"assertion was '{unverified.get('aud')}' and the expected audience is '{client_id}' or one of the "
            f"Application Id URIs of this application with App ID '{client_id}'."
        )
    elif isinstance(cause, jwt.InvalidIssuerError):
        reason = f"Assertion contains an invalid issuer '{unverified.get('iss')}'."
    elif isinstance(cause, jwt.InvalidSignatureError) or exc.reason == "signing key not found":
        reason = "Assertion failed signature validation. [Reason - The key was not found or the signature is invalid.]"
    else:
        reason = f"Assertion failed validation. [Reason - {exc.reason}.]"
    return TokenError("invalid_grant", 50013, reason)


def _iso(epoch: float) -> str:
    return time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(epoch))


def _amr(claims: dict[str, Any]) -> tuple[str, ...]:
    amr = claims.get("amr")
    if isinstance(amr, list):
        return tuple(str(a) for a in amr)
    return ("pwd",)


def obo(state: DevstackState, tenant: str, client_id: str, v1: bool = False) -> Response:
    """The on-behalf-of grant (jwt-bearer): a token for the user of the assertion the middle tier presents."""
    form = request.form
    if form.get("requested_token_use") != "on_behalf_of":
        raise missing("requested_token_use")
    assertion = form.get("assertion")
    if not assertion:
        raise missing("assertion")
    claims = _verify_assertion(state, tenant, assertion, client_id)
    user = state.config.user_by_oid(str(claims["tid"]), str(claims["oid"]))
    if user is None:
        raise TokenError(
            "invalid_grant",
            50034,
            f"The user account {claims['oid']} does not exist in the {claims['tid']} directory. To sign into this "
            "application, the account must be added to the directory.",
        )
    g.devstack_user = user.upn
    resource = _v1_resource(state, tenant, form.get("resource")) if v1 else None
    scope, oidc = _v1_scope(form) if v1 else _delegated_scope(state, form.get("scope"))
    amr = _amr(claims)
    if user.scenario == "mfa_claims_challenge" and "mfa" not in amr:
        # A conditional-access policy requires MFA for Dataverse; the middle tier relays `claims` to the client,
        # which gets a new bootstrap token satisfying them.
        # https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow#error-response-example
        challenge = {"access_token": {"capolids": {"essential": True, "values": [MFA_POLICY_ID]}}}
        raise TokenError(
            "interaction_required",
            50076,
            "Due to a configuration change made by your administrator, or because you moved to a new location, "
            f"you must use multi-factor authentication to access '{state.environment_url}'.",
            extra={"claims": json.dumps(challenge, separators=(",", ":"))},
        )
    if user.scenario == "no_consent":
        raise TokenError(
            "invalid_grant",
            65001,
            f"The user or administrator has not consented to use the application with ID '{client_id}' named "
            "'Contoso Dataverse Add-in'. Send an interactive authorization request for this user and resource.",
            extra={"suberror": "consent_required"},
        )
    return user_tokens(state, user, client_id, scope, oidc, amr, resource)


def _v1_scope(form: Any) -> tuple[str, set[str]]:
    """The v1 endpoint grants the resource's delegated permission; `scope=` only adds OIDC scopes (e.g. openid)."""
    return DATAVERSE_SCOPE, {s for s in (form.get("scope") or "").split() if s in OIDC_SCOPES}


def refresh(state: DevstackState, tenant: str, client_id: str, v1: bool = False) -> Response:
    """The refresh_token grant: new tokens for the user and client a refresh token stands for."""
    token = request.form.get("refresh_token")
    if not token:
        raise missing("refresh_token")
    resource = _v1_resource(state, tenant, request.form.get("resource")) if v1 else None
    scope, oidc = _v1_scope(request.form) if v1 else _delegated_scope(state, request.form.get("scope"))
    grant = state.refresh_tokens.redeem(token)
    if grant is None:
        raise TokenError("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if grant == "expired":
        raise TokenError(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new "
            "interactive authorization request for this user and resource.",
        )
    assert isinstance(grant, RefreshGrant)
    user = state.config.user_by_oid(grant.tenant_id, grant.oid)
    if (
        grant.client_id != client_id
        or user is None
        or (tenant.lower() not in MULTI_TENANT and tenant != grant.tenant_id)
    ):
        raise TokenError("invalid_grant", 70000, "Provided grant is invalid or malformed.")
    g.devstack_user = user.upn
    return user_tokens(state, user, client_id, scope, oidc, grant.amr, resource)


def client_credentials(state: DevstackState, tenant: str, client_id: str, v1: bool = False) -> Response:
    """The client_credentials grant: an app-only token for Dataverse or Graph."""
    if tenant.lower() in MULTI_TENANT:
        # Our choice: app-only tokens need a concrete tenant, so the multi-tenant aliases are refused.
        raise TokenError(
            "invalid_request",
            900023,
            f"Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain.",
        )
    resource = _v1_resource(state, tenant, request.form.get("resource")) if v1 else None
    raw = f"{state.environment_url}/.default" if v1 else request.form.get("scope")
    if not raw:
        raise missing("scope")
    if raw.strip().lower() in (f"{GRAPH_RESOURCE}/.default", f"{GRAPH_APP_ID}/.default") and resource is None:
        return app_token(state, graph_application_claims(tenant, client_id), None)
    if raw.strip() != f"{state.environment_url}/.default":
        if raw.strip().startswith(state.environment_url + "/"):
            # https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
            raise TokenError(
                "invalid_scope",
                1002012,
                f"The provided value for scope {raw} is not valid. Client credential flows must have a scope "
                "value with /.default suffixed to the resource identifier (application ID URI).",
            )
        raise _invalid_scope(raw)
    now = int(time.time())
    sp_oid = service_principal_id(tenant, client_id)
    claims = {
        "aud": state.environment_url,
        "iss": v1_issuer(tenant),
        "iat": now,
        "nbf": now,
        "exp": now + ACCESS_TOKEN_LIFETIME,
        "aio": uuid.uuid4().hex,
        "app_displayname": "Contoso Dataverse Add-in",
        "appid": client_id,
        "appidacr": "1",
        "idp": v1_issuer(tenant),
        "idtyp": "app",
        "oid": sp_oid,
        "rh": "0.dev." + uuid.uuid4().hex[:12],
        "roles": ["user"],
        "sub": sp_oid,
        "tid": tenant,
        "uti": uuid.uuid4().hex[:22],
        "ver": "1.0",
    }
    return app_token(state, claims, resource)
