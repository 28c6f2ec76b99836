"""The checks of a bearer token that need no key and no network: its shape, header and claims (tokens.py's order).

Every refusal is logged as `token_rejected` with a reason and becomes InvalidToken (401), or the 403 of an
authorization rule; the token itself is never logged.
https://learn.microsoft.com/en-us/entra/identity-platform/claims-validation
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
import uuid
from collections.abc import Mapping, Set
from typing import Any

import jwt

from addin_api.auth.keys import ALGORITHM
from addin_api.errors import ClientAppNotAllowed, InsufficientScope, InvalidToken, TenantNotAllowed

# The checks' events keep the logger name they have always had (the "logger" field of our JSON logs).
logger = logging.getLogger("addin_api.auth.tokens")

MAX_TOKEN_BYTES = 16 * 1024
REQUIRED_SCOPE = "access_as_user"
# RFC 7519 §2 NumericDate claims: https://www.rfc-editor.org/rfc/rfc7519#section-2
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")
MAX_KID_LENGTH = 256

_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk")


def reject(reason: str, detail: str, tid: str | None = None) -> InvalidToken:
    """Log why a token was refused and return the 401 to raise."""
    logger.info("token_rejected", extra={"reason": reason, "tid": tid})
    return InvalidToken(detail)


def bearer(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer` header value, if it is shaped like a signed JWT."""
    if not authorization:
        raise reject("missing", "An Authorization: Bearer token is required")
    if len(authorization) > MAX_TOKEN_BYTES + len("Bearer "):
        raise reject("too_large", "The access token is too large")
    scheme, sep, token = authorization.partition(" ")
    # The scheme is case-insensitive (RFC 7235 §2.1); exactly one space, then the token (RFC 6750 §2.1).
    if not sep or scheme.lower() != "bearer":
        raise reject("scheme", "An Authorization: Bearer token is required")
    if not _JWT_SHAPE.fullmatch(token):
        raise reject("shape", "The access token is not a signed JWT")
    return token


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, if it asks for RS256 with a short `kid` and points at no key of its own."""
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, RecursionError):
        raise reject("header", "The access token is not a signed JWT") from None
    if header.get("alg") != ALGORITHM:
        raise reject("alg", "The access token is not signed with RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise reject("kid", "The access token does not name its signing key")
    # We always supply the key ourselves; a token pointing at its own key is never Entra's.
    if any(name in header for name in _FORBIDDEN_HEADERS):
        raise reject("key_reference", "The access token is not valid")
    return header


def unverified_payload(token: str) -> dict[str, Any]:
    """Read the claims before verification, only to check their shape and choose the issuer."""
    segment = token.split(".")[1]
    try:
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise reject("payload", "The access token is not a signed JWT") from None
    if not isinstance(payload, dict):
        raise reject("payload", "The access token is not a signed JWT")
    return payload


def unverified_tid(payload: Mapping[str, Any]) -> str:
    """The `tid` that picks the issuer; everything is verified afterwards."""
    tid = payload.get("tid")
    # Microsoft: "Validate that the tid claim is a GUID".
    if not isinstance(tid, str) or not is_guid(tid):
        raise reject("tid", "The access token does not name a tenant")
    return tid


def check_numeric_dates(payload: Mapping[str, Any], tid: str) -> None:
    """Refuse `exp`, `nbf` or `iat` that is not a finite JSON number (a string, a boolean, null, NaN)."""
    for name in NUMERIC_DATE_CLAIMS:
        if name not in payload:
            continue  # a missing one is refused by `jwt.decode` (required claims)
        value = payload[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise reject(f"{name}_not_a_number", "The access token is not valid", tid)


def authorized_caller(
    claims: Mapping[str, Any], tid: str, *, tenants: Set[str], client_apps: Set[str]
) -> tuple[str, str]:
    """Checks 6-10 on verified claims: the caller's (`oid`, lower-case `azp`), or the 401/403 to raise."""
    if claims.get("ver") != "2.0":
        raise reject("version", "The access token is not a v2.0 token", tid)
    oid = claims.get("oid")
    if not isinstance(oid, str) or not is_guid(oid):
        raise reject("oid", "The access token does not name a user", tid)
    if claims.get("tid") != tid or tid not in tenants:
        logger.info("token_rejected", extra={"reason": "tenant", "tid": tid})
        raise TenantNotAllowed()
    scp = claims.get("scp")
    if _is_app_only(claims, oid):
        logger.info("token_rejected", extra={"reason": "app_only", "tid": tid})
        raise InsufficientScope("Application tokens are not accepted; sign in as a user")
    if not isinstance(scp, str) or REQUIRED_SCOPE not in scp.split(" "):
        logger.info("token_rejected", extra={"reason": "scope", "tid": tid})
        raise InsufficientScope()
    azp = claims.get("azp")
    if not isinstance(azp, str) or azp.lower() not in client_apps:
        logger.info("token_rejected", extra={"reason": "client_app", "tid": tid})
        raise ClientAppNotAllowed()
    return oid, azp.lower()


def _is_app_only(claims: Mapping[str, Any], oid: str) -> bool:
    # https://learn.microsoft.com/en-us/entra/identity-platform/scenario-protected-web-api-verification-scope-app-roles
    if claims.get("idtyp") == "app":
        return True
    if "roles" in claims and "scp" not in claims:
        return True
    return claims.get("sub") == oid


def reason(exc: jwt.PyJWTError) -> str:
    """The `token_rejected` reason for PyJWT's refusal."""
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing_{exc.claim}"
    reasons: dict[type[jwt.PyJWTError], str] = {
        jwt.InvalidSignatureError: "signature",
        jwt.InvalidAudienceError: "audience",
        jwt.InvalidIssuerError: "issuer",
        jwt.ImmatureSignatureError: "not_yet_valid",
        jwt.InvalidAlgorithmError: "alg",
    }
    return reasons.get(type(exc), "invalid")


def is_guid(value: str) -> bool:
    """Whether `value` is a GUID in its canonical lower-case form."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def optional_str(value: object) -> str | None:
    """`value` if it is a string, else None."""
    return value if isinstance(value, str) else None
