"""The dev identity provider's OpenID Connect discovery documents, v2 and v1, shaped like Entra ID's.

https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from addin_api.devstack.identity import v1_issuer

# Authorities that name no tenant: discovery templates the issuer with `{tenantid}`.
MULTI_TENANT = frozenset({"common", "organizations"})
TENANT_TEMPLATE = "{tenantid}"


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


def discovery_v2(base: str, tenant: str) -> dict[str, Any]:
    """The v2 OpenID configuration for a tenant (or `common`/`organizations`, with a templated issuer).

    https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri
    """
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


def discovery_v1(base: str, tenant: str) -> dict[str, Any]:
    """The v1 OpenID configuration: issuer `https://sts.windows.net/<tid>/`, the issuer of Dataverse tokens."""
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
