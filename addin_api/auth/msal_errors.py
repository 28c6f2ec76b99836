"""MSAL's error answers as our exceptions: on `error`, `error_codes` and `suberror` only, never the description.

The description is never shown to clients. Codes:
https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from addin_api.errors import (
    AccessBlockedByPolicy,
    ApiError,
    ClaimsChallenge,
    ConfigurationError,
    ConsentRequired,
    IdentityUnavailable,
    InvalidToken,
    TokenExpired,
)

# When Entra says to come back later without saying when (MSAL's own default throttle is 5 s).
DEFAULT_RETRY_AFTER = 5

# Conditional access blocks the user outright (no claims the client could satisfy): 53000 device not compliant,
# 53001 device not domain joined, 53002 app not approved, 53003 blocked by conditional access.
_BLOCKED_BY_POLICY = frozenset({53000, 53001, 53002, 53003})
_CONSENT = frozenset({65001})
_ASSERTION_EXPIRED = frozenset({500133})
_ASSERTION_INVALID = frozenset({50013, 50027})
# The app registration or our request is wrong: invalid scope, resource not in the app's permissions, resource not
# found, bad/expired secret or certificate, app not found in the tenant, tenant not found.
_MISCONFIGURED = frozenset(
    {70011, 650057, 65005, 1002012, 70002, 7000215, 7000222, 7000218, 700016, 700027, 90002, 90014, 900144}
)
_MISCONFIGURED_ERRORS = frozenset({"invalid_scope", "invalid_client", "unauthorized_client", "invalid_request"})
# Transient on Entra's side: 90024 request budget exceeded, 50196 loop detected (back off).
_TRANSIENT = frozenset({90024, 50196})


def map_msal_error(result: Mapping[str, Any], *, status: int | None = None, retry_after: int | None = None) -> ApiError:
    """Translate an MSAL error dict (and the HTTP status / Retry-After seen, if known) into our exception."""
    error = str(result.get("error") or "")
    codes = _codes(result.get("error_codes"))
    claims = result.get("claims")
    suberror = result.get("suberror")

    if isinstance(claims, str) and claims:
        # MFA / conditional access step-up: relay the claims so the client calls getAccessToken({authChallenge}).
        # https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow#error-response-example
        return ClaimsChallenge(claims)
    if codes & _BLOCKED_BY_POLICY:
        return AccessBlockedByPolicy()
    if codes & _CONSENT or suberror == "consent_required":
        return ConsentRequired()
    if error == "interaction_required":
        # Step-up without a claims value (e.g. 50079 MFA enrollment): the client must sign in interactively.
        return ClaimsChallenge("")
    if codes & _ASSERTION_EXPIRED:
        return TokenExpired()
    if codes & _ASSERTION_INVALID:
        return InvalidToken()
    if (
        codes & _TRANSIENT
        or error in ("temporarily_unavailable", "server_error")
        or (status is not None and (status == 429 or status >= 500))
    ):
        return IdentityUnavailable(retry_after=retry_after or DEFAULT_RETRY_AFTER)
    if codes & _MISCONFIGURED or error in _MISCONFIGURED_ERRORS:
        return ConfigurationError()
    if error == "invalid_grant":
        # Any other refusal of the assertion (user gone, grant revoked): the client needs a new token.
        return InvalidToken()
    return IdentityUnavailable(retry_after=retry_after or DEFAULT_RETRY_AFTER)


def _codes(raw: object) -> frozenset[int]:
    if not isinstance(raw, list):
        return frozenset()
    return frozenset(c for c in raw if isinstance(c, int) and not isinstance(c, bool))
