"""Dev identity provider routes shaped like Entra ID: OIDC discovery, JWKS and the v2 and v1 token endpoints.

The token endpoints serve the grants the service and its tests use: on-behalf-of (jwt-bearer), refresh_token and
client_credentials, with Entra's success and error bodies so that MSAL Python drives them unchanged. The v2 endpoint
takes `scope=`, the v1 endpoint (which v1 discovery advertises, and older clients use) `resource=`.
https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow
https://learn.microsoft.com/en-us/previous-versions/azure/active-directory/azuread-dev/v1-oauth2-on-behalf-of-flow
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import jwt
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask.blueprints import BlueprintSetupState

from addin_api.devstack.config import DevUser, service_principal_id
from addin_api.devstack.errors import TokenError, entra_error
from addin_api.devstack.graph.tokens import (
    GRAPH_APP_ID,
    GRAPH_RESOURCE,
    graph_application_claims,
    graph_delegated_claims,
    graph_delegated_grant,
    is_graph_scope,
)
from addin_api.devstack.identity import (
    ACCESS_TOKEN_LIFETIME,
    DATAVERSE_SCOPE,
    TokenRejected,
    dataverse_claims,
    pairwise_sub,
    v1_issuer,
    verify_token,
)
from addin_api.devstack.state import DevstackState, current_state

bp = Blueprint("devstack_identity", __name__)

# Authorities that name no tenant: discovery templates the issuer with `{tenantid}`.
MULTI_TENANT = frozenset({"common", "organizations"})
TENANT_TEMPLATE = "{tenantid}"

GRANT_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})

# Entra refresh tokens live 90 days (24 h for single-page apps); redeeming one returns a new one, and the old one
# stays valid until it expires or is revoked (Entra does not revoke it on use).
# https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens
REFRESH_TOKEN_LIFETIME = 90 * 24 * 3600
# The devstack keeps this many refresh tokens, forgetting the oldest beyond (each redemption issues one more).
MAX_REFRESH_TOKENS = 100_000

# Discovery documents and keys are cacheable for a day, and readable cross-origin, as Entra serves them.
METADATA_CACHE_CONTROL = "max-age=86400, private"

# The conditional-access policy the MFA scenario user falls under (sent back in the claims challenge).
MFA_POLICY_ID = "c0a1b2c3-d4e5-4f60-8a7b-9c0d1e2f3a4b"
EXTENSION_KEY = "devstack_refresh_tokens"


@dataclass
class RefreshGrant:
    """What an issued refresh token stands for: a user's delegated grant to one client."""

    client_id: str
    tenant_id: str
    oid: str
    amr: tuple[str, ...]
    expires_at: float


class RefreshTokenStore:
    """Refresh tokens issued by one devstack app, each valid until it expires: redeeming one does not revoke it."""

    def __init__(self, size: int = MAX_REFRESH_TOKENS) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._grants: OrderedDict[str, RefreshGrant] = OrderedDict()

    def issue(self, client_id: str, user: DevUser, amr: tuple[str, ...]) -> str:
        """Issue an opaque refresh token for `user` and `client_id`."""
        token = "1.AdevRT." + secrets.token_urlsafe(48)
        grant = RefreshGrant(client_id, user.tenant_id, user.oid, amr, time.time() + REFRESH_TOKEN_LIFETIME)
        with self._lock:
            self._grants[token] = grant
            while len(self._grants) > self._size:
                self._grants.popitem(last=False)
        return token

    def redeem(self, token: str) -> RefreshGrant | None | str:
        """Look a refresh token up: its grant, None if unknown, or "expired"; it stays usable after this."""
        with self._lock:
            grant = self._grants.get(token)
            if grant is None:
                return None
            if grant.expires_at < time.time():
                self._grants.pop(token, None)
                return "expired"
            return grant


@bp.record_once
def _init_store(setup: BlueprintSetupState) -> None:
    # Per-app, never module-level: two devstacks in one process keep separate grants.
    setup.app.extensions[EXTENSION_KEY] = RefreshTokenStore()


def _refresh_tokens() -> RefreshTokenStore:
    store = current_app.extensions[EXTENSION_KEY]
    assert isinstance(store, RefreshTokenStore)
    return store


@bp.errorhandler(TokenError)
def _token_error(exc: TokenError) -> Response:
    return entra_error(exc.status, exc.error, exc.aadsts, exc.description, exc.extra)


# ---------------------------------------------------------------------------------------------------------------
# Tenants, discovery and keys


def _known_tenants(state: DevstackState) -> set[str]:
    return {state.config.tenant_id, *(u.tenant_id for u in state.config.users)}


def _check_tenant(state: DevstackState, tenant: str) -> None:
    if tenant.lower() in MULTI_TENANT or tenant in _known_tenants(state):
        return
    raise TokenError(
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into "
        "the correct cloud. Check with your subscription administrator, this may happen if there are no active "
        "subscriptions for the tenant.",
    )


def _metadata_response(document: dict[str, Any]) -> Response:
    response = jsonify(document)
    response.headers["Cache-Control"] = METADATA_CACHE_CONTROL
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _claims_supported(extra: list[str]) -> list[str]:
    return [
        "sub",
        "iss",
        "cloud_instance_name",
        "cloud_instance_host_name",
        "cloud_graph_host_name",
        "msgraph_host",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "acr",
        "nonce",
        *extra,
    ]


def discovery_v2(state: DevstackState, tenant: str) -> dict[str, Any]:
    """The v2 OpenID configuration for a tenant (or `common`/`organizations`, with a templated issuer).

    https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri
    """
    base = state.base_url
    multi = tenant.lower() in MULTI_TENANT
    issuer_tenant = TENANT_TEMPLATE if multi else tenant
    host = urlsplit(base).hostname or "localhost"
    oauth = f"{base}/{tenant}/oauth2/v2.0"
    return {
        "token_endpoint": f"{oauth}/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/{issuer_tenant}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "authorization_endpoint": f"{oauth}/authorize",
        "device_authorization_endpoint": f"{oauth}/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{oauth}/logout",
        "claims_supported": _claims_supported(
            ["preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"]
        ),
        "kerberos_endpoint": f"{base}/{tenant}/kerberos",
        # Entra names a region for a concrete tenant and null for the multi-tenant authorities.
        "tenant_region_scope": None if multi else "NA",
        "cloud_instance_name": host,
        "cloud_graph_host_name": host,
        "msgraph_host": host,
        "rbac_url": base,
    }


def discovery_v1(state: DevstackState, tenant: str) -> dict[str, Any]:
    """The v1 OpenID configuration: issuer `https://sts.windows.net/<tid>/`, the issuer of Dataverse tokens."""
    base = state.base_url
    multi = tenant.lower() in MULTI_TENANT
    oauth = f"{base}/{tenant}/oauth2"
    return {
        "token_endpoint": f"{oauth}/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        # Entra's v1 documents point at the common key set.
        "jwks_uri": f"{base}/common/discovery/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": v1_issuer(TENANT_TEMPLATE if multi else tenant),
        "microsoft_multi_refresh_token": True,
        "authorization_endpoint": f"{oauth}/authorize",
        "device_authorization_endpoint": f"{oauth}/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{oauth}/logout",
        "claims_supported": _claims_supported(["amr", "email", "given_name", "family_name", "nickname"]),
        "check_session_iframe": f"{oauth}/checksession",
        "userinfo_endpoint": f"{base}/{tenant}/openid/userinfo",
        "kerberos_endpoint": f"{base}/{tenant}/kerberos",
        "tenant_region_scope": None if multi else "NA",
    }


@bp.get("/<tenant>/v2.0/.well-known/openid-configuration")
def openid_configuration_v2(tenant: str) -> Response:
    """Serve the v2 OpenID Connect discovery document."""
    state = current_state()
    _check_tenant(state, tenant)
    return _metadata_response(discovery_v2(state, tenant))


@bp.get("/<tenant>/.well-known/openid-configuration")
def openid_configuration_v1(tenant: str) -> Response:
    """Serve the v1 OpenID Connect discovery document."""
    state = current_state()
    _check_tenant(state, tenant)
    return _metadata_response(discovery_v1(state, tenant))


@bp.get("/<tenant>/discovery/v2.0/keys")
def keys_v2(tenant: str) -> Response:
    """Serve the JWKS; each key names the issuer it may sign for (templated for multi-tenant authorities).

    https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-issuer
    """
    state = current_state()
    _check_tenant(state, tenant)
    issuer_tenant = TENANT_TEMPLATE if tenant.lower() in MULTI_TENANT else tenant
    return _metadata_response(state.keys.jwks(f"{state.base_url}/{issuer_tenant}/v2.0"))


@bp.get("/<tenant>/discovery/keys")
def keys_v1(tenant: str) -> Response:
    """Serve the v1 JWKS, whose keys carry the v1 issuer (our choice: it is what Dataverse tokens carry)."""
    state = current_state()
    _check_tenant(state, tenant)
    return _metadata_response(state.keys.jwks(v1_issuer(TENANT_TEMPLATE if tenant.lower() in MULTI_TENANT else tenant)))


# ---------------------------------------------------------------------------------------------------------------
# Token endpoint


def _missing(name: str) -> TokenError:
    return TokenError("invalid_request", 900144, f"The request body must contain the following parameter: '{name}'.")


def _authenticate_client(state: DevstackState, tenant: str) -> str:
    """Check client_id and client_secret (form body or HTTP Basic); return the client id."""
    client_id = request.form.get("client_id")
    secret = request.form.get("client_secret")
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        # RFC 6749 §2.3.1: Basic credentials are form-url-encoded before base64.
        client_id = unquote_plus(auth.username or "")
        secret = unquote_plus(auth.password or "")
    if not client_id:
        raise _missing("client_id")
    if client_id != state.config.client_id:
        raise TokenError(
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can "
            "happen if the application has not been installed by the administrator of the tenant or consented "
            "to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
        )
    if not secret:
        raise TokenError(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            status=401,
        )
    if not secrets.compare_digest(secret, state.config.client_secret):
        raise TokenError(
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
            f"value, not the client secret ID, for a secret added to app '{client_id}'.",
            status=401,
        )
    return client_id


def _delegated_scope(state: DevstackState, raw: str | None) -> tuple[str, set[str]]:
    """Validate a delegated Dataverse scope request; return (granted scopes, requested OIDC scopes)."""
    if not raw:
        raise _missing("scope")
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
        raise _missing("resource")
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


def _user_tokens(
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
        body["refresh_token"] = _refresh_tokens().issue(client_id, user, amr)
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


def _obo(state: DevstackState, tenant: str, client_id: str, v1: bool = False) -> Response:
    form = request.form
    if form.get("requested_token_use") != "on_behalf_of":
        raise _missing("requested_token_use")
    assertion = form.get("assertion")
    if not assertion:
        raise _missing("assertion")
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
    return _user_tokens(state, user, client_id, scope, oidc, amr, resource)


def _v1_scope(form: Any) -> tuple[str, set[str]]:
    """The v1 endpoint grants the resource's delegated permission; `scope=` only adds OIDC scopes (e.g. openid)."""
    return DATAVERSE_SCOPE, {s for s in (form.get("scope") or "").split() if s in OIDC_SCOPES}


def _refresh(state: DevstackState, tenant: str, client_id: str, v1: bool = False) -> Response:
    token = request.form.get("refresh_token")
    if not token:
        raise _missing("refresh_token")
    resource = _v1_resource(state, tenant, request.form.get("resource")) if v1 else None
    scope, oidc = _v1_scope(request.form) if v1 else _delegated_scope(state, request.form.get("scope"))
    grant = _refresh_tokens().redeem(token)
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
    return _user_tokens(state, user, client_id, scope, oidc, grant.amr, resource)


def _client_credentials(state: DevstackState, tenant: str, client_id: str, v1: bool = False) -> Response:
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
        raise _missing("scope")
    if raw.strip().lower() in (f"{GRAPH_RESOURCE}/.default", f"{GRAPH_APP_ID}/.default") and resource is None:
        return _app_token(graph_application_claims(tenant, client_id), None)
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
    return _app_token(claims, resource)


def _app_token(claims: dict[str, Any], resource: str | None) -> Response:
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME,
        "ext_expires_in": ACCESS_TOKEN_LIFETIME,
        "access_token": current_state().keys.sign(claims),
    }
    if resource is not None:
        body = _v1_body(body, claims, resource)
    return _no_store(jsonify(body))


@bp.post("/<tenant>/oauth2/v2.0/token")
def token(tenant: str) -> Response:
    """Issue tokens for the OBO, refresh_token and client_credentials grants, or answer an Entra error."""
    return _token(tenant, v1=False)


@bp.post("/<tenant>/oauth2/token")
def token_v1(tenant: str) -> Response:
    """The v1 token endpoint: the same grants with `resource=` instead of `scope=`, answered in v1's shape.

    https://learn.microsoft.com/en-us/previous-versions/azure/active-directory/azuread-dev/v1-oauth2-client-creds-grant-flow
    """
    return _token(tenant, v1=True)


def _token(tenant: str, v1: bool) -> Response:
    state = current_state()
    _check_tenant(state, tenant)
    grant_type = request.form.get("grant_type")
    if not grant_type:
        raise _missing("grant_type")
    handlers = {
        GRANT_JWT_BEARER: _obo,
        GRANT_REFRESH_TOKEN: _refresh,
        GRANT_CLIENT_CREDENTIALS: _client_credentials,
    }
    handler = handlers.get(grant_type)
    if handler is None:
        raise TokenError(
            "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'."
        )
    client_id = _authenticate_client(state, tenant)
    return handler(state, tenant, client_id, v1)


def init_app(app: Flask) -> None:
    """Register the identity-provider routes (discovery, JWKS, token endpoints)."""
    app.register_blueprint(bp)
