"""Dev identity provider routes shaped like Entra ID: OIDC discovery, JWKS and the v2 and v1 token endpoints.

The token endpoints serve the grants the service and its tests use (`token_grants`): on-behalf-of (jwt-bearer),
refresh_token and client_credentials, with Entra's success and error bodies so that MSAL Python drives them
unchanged. The v2 endpoint takes `scope=`, the v1 endpoint (which v1 discovery advertises, and older clients use)
`resource=`.
https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow
https://learn.microsoft.com/en-us/previous-versions/azure/active-directory/azuread-dev/v1-oauth2-on-behalf-of-flow
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import unquote_plus

from flask import Blueprint, Flask, Response, jsonify, request

from addin_api.devstack.discovery import MULTI_TENANT, TENANT_TEMPLATE, discovery_v1, discovery_v2
from addin_api.devstack.errors import TokenError, entra_error
from addin_api.devstack.identity import v1_issuer
from addin_api.devstack.state import DevstackState, current_state
from addin_api.devstack.token_grants import client_credentials, missing, obo, refresh

bp = Blueprint("devstack_identity", __name__)

GRANT_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_CLIENT_CREDENTIALS = "client_credentials"

# Discovery documents and keys are cacheable for a day, and readable cross-origin, as Entra serves them.
METADATA_CACHE_CONTROL = "max-age=86400, private"


@bp.errorhandler(TokenError)
def _token_error(exc: TokenError) -> Response:
    return entra_error(exc.status, exc.error, exc.aadsts, exc.description, exc.extra)


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


@bp.get("/<tenant>/v2.0/.well-known/openid-configuration")
def openid_configuration_v2(tenant: str) -> Response:
    """Serve the v2 OpenID Connect discovery document."""
    state = current_state()
    _check_tenant(state, tenant)
    return _metadata_response(discovery_v2(state.base_url, tenant))


@bp.get("/<tenant>/.well-known/openid-configuration")
def openid_configuration_v1(tenant: str) -> Response:
    """Serve the v1 OpenID Connect discovery document."""
    state = current_state()
    _check_tenant(state, tenant)
    return _metadata_response(discovery_v1(state.base_url, tenant))


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
        raise missing("client_id")
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
        raise missing("grant_type")
    handlers = {
        GRANT_JWT_BEARER: obo,
        GRANT_REFRESH_TOKEN: refresh,
        GRANT_CLIENT_CREDENTIALS: client_credentials,
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
