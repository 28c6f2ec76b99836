"""Validate the add-in's bearer token (Office SSO / NAA, Entra v2 access token) and name the caller.

The rules follow Microsoft's guidance for multi-tenant web APIs:
https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-tokens
https://learn.microsoft.com/en-us/entra/identity-platform/claims-validation

Order of checks (any failure stops; 401 = InvalidToken/TokenExpired):
  1. `Authorization: Bearer <jwt>`, token <= 16 KB, three base64url segments                        401
  2. unverified header: `alg == "RS256"`, `kid` a short string, no `jku`/`x5u`/`jwk`               401
  3. unverified `tid`: a lower-case GUID (it picks the issuer and the signing-key issuer)           401
     and `exp`/`nbf`/`iat`, where present, JSON numbers (not strings or booleans, which PyJWT
     would coerce with `int()`): RFC 7519 §2 defines a NumericDate as a JSON numeric value       401
  4. signing key by `kid` from our JWKS cache; its `issuer` ({tenantid} -> tid) = tenant issuer    401
  5. `jwt.decode`: RS256 only, aud = our client id (one value), iss = the tenant's v2 issuer,
     60 s leeway, `exp nbf iat iss aud tid oid azp ver` required; expired -> token_expired         401
  6. `ver == "2.0"`, `oid` a GUID                                                                  401
  7. `tid` in the onboarded tenants                                            403 tenant_not_allowed
  8. app-only (`idtyp == "app"`, `roles` without `scp`, or `oid == sub`)       403 insufficient_scope
  9. `access_as_user` among the space-separated `scp` values                   403 insufficient_scope
 10. `azp` in the allowed client apps                                          403 client_app_not_allowed

Two deliberate choices:
- The onboarded-tenant check (7) runs only once the signature and issuer are verified, so an unauthenticated caller
  cannot probe which tenants are customers (403 versus 401) with unsigned tokens. An unsigned token naming a
  foreign tenant is simply a 401.
- `scp` is checked after `jwt.decode` rather than through PyJWT's `require`, so that a token without it fails with
  403 insufficient_scope only after every 401 check (audience, issuer, lifetime) passed.

A token that passed every check is remembered (by its SHA-256, bounded LRU) with the key that verified it, so the
next request with the same token skips decoding and signature verification: a hit still needs that key in the key
set, and past `exp` (plus the leeway) the token is refused with token_expired exactly as a fresh check would.
Failures are never remembered.

Keys come from the multi-tenant key set `{authority_host}/common/discovery/v2.0/keys`: one document serves every
onboarded tenant, and each key names the issuer it may sign for (templated with `{tenantid}`).
https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-issuer
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import math
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests

from addin_api.auth.retry_after import identity_retry_after
from addin_api.errors import (
    ClientAppNotAllowed,
    IdentityUnavailable,
    InsufficientScope,
    InvalidToken,
    TenantNotAllowed,
    TokenExpired,
)
from addin_api.settings import CONSUMERS_TENANT, Settings

logger = logging.getLogger(__name__)

MAX_TOKEN_BYTES = 16 * 1024
REQUIRED_SCOPE = "access_as_user"
ALGORITHM = "RS256"
LEEWAY_SECONDS = 60
# `scp` is required too, but checked after decoding (see the module docstring).
REQUIRED_CLAIMS = ["exp", "nbf", "iat", "iss", "aud", "tid", "oid", "azp", "ver"]
# RFC 7519 §2 NumericDate claims: https://www.rfc-editor.org/rfc/rfc7519#section-2
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")
TENANT_TEMPLATE = "{tenantid}"

# Key-cache timing, mirroring Microsoft.IdentityModel's ConfigurationManager: scheduled refresh after 12 h,
# on-demand refresh (unknown `kid`) at most once per 5 minutes; Microsoft suggests checking keys daily.
# https://learn.microsoft.com/en-us/entra/identity-platform/signing-key-rollover
KEYS_REFRESH_AFTER_SECONDS = 12 * 3600
KEYS_MIN_REFRESH_INTERVAL_SECONDS = 300
# With no keys at all, retry the fetch at most this often (and tell clients to come back after it).
KEYS_COLD_RETRY_SECONDS = 5
MAX_KID_LENGTH = 256
# Validated tokens remembered per process (a token is about 1.5 KB; a user's lives an hour).
VALIDATED_CACHE_SIZE = 4096

_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the key is (`tid`, `oid`); name and username are for display only."""

    tenant_id: str
    object_id: str
    client_app: str
    name: str | None
    username: str | None
    assertion: str = field(repr=False)
    expires_at: int = 0

    @property
    def key(self) -> tuple[str, str]:
        """The principal key Microsoft recommends authorizing on: (tenant id, object id)."""
        return (self.tenant_id, self.object_id)


@dataclass(frozen=True)
class _Key:
    jwk: jwt.PyJWK
    issuer: str | None


@dataclass(frozen=True)
class _Validated:
    principal: Principal
    kid: str
    key: _Key  # the key that verified the signature: a hit needs the key set to still hold it


class _ValidatedTokens:
    """Principals of tokens that passed validation, by the SHA-256 of the token; bounded LRU, thread-safe."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, _Validated] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, digest: bytes) -> _Validated | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None:
                self._entries.move_to_end(digest)
            return entry

    def put(self, digest: bytes, entry: _Validated) -> None:
        with self._lock:
            self._entries[digest] = entry
            self._entries.move_to_end(digest)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def discard(self, digest: bytes) -> None:
        with self._lock:
            self._entries.pop(digest, None)


class _FetchFailed(Exception):
    def __init__(self, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class TokenValidator:
    """Validate bearer tokens against Entra's published keys; thread-safe, one per app."""

    def __init__(
        self,
        settings: Settings,
        session: requests.Session,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        cache_size: int = VALIDATED_CACHE_SIZE,
    ) -> None:
        self._settings = settings
        self._session = session
        self._clock = clock
        self._wall_clock = wall_clock  # for `exp` of remembered tokens
        self._validated = _ValidatedTokens(cache_size)
        self._jwks_url = f"{settings.authority_host}/common/discovery/v2.0/keys"
        self._lock = threading.Lock()  # single flight for key fetches
        self._keys: Mapping[str, _Key] = {}  # replaced wholesale, so readers need no lock
        self._fetched_at: float | None = None  # last successful fetch
        # When each refresh trigger last let a fetch through: "miss" (unknown kid), "scheduled" (old keys).
        self._gates: dict[str, float] = {}
        self._cold_failure: tuple[float, int] | None = None  # (when, retry after) of a failed fetch with no keys
        self._tenants = frozenset(t.lower() for t in settings.tenants) - {CONSUMERS_TENANT}
        self._client_apps = frozenset(a.lower() for a in settings.allowed_client_apps)

    # -- keys ---------------------------------------------------------------------------------------------------

    @property
    def has_keys(self) -> bool:
        """Tell whether signing keys are loaded (fresh or last-known-good)."""
        return bool(self._keys)

    def ensure_keys(self) -> None:
        """Load the key set if none is loaded, within the cold-start backoff the API path uses; else do nothing.

        Readiness probes call this: with keys loaded (fresh or last-known-good) it makes no request, and with none
        it fetches at most once per backoff window however often it is asked (IdentityUnavailable meanwhile).
        """
        if not self._keys:
            self._load_cold()

    @property
    def remembered_tokens(self) -> int:
        """How many validated tokens are remembered."""
        return len(self._validated)

    def refresh_keys(self) -> None:
        """Fetch the key set now; keep the last-known-good keys and raise IdentityUnavailable if that fails."""
        with self._lock:
            try:
                self._install(self._fetch())
            except _FetchFailed as exc:
                logger.warning("jwks_refresh_failed", extra={"reason": exc.reason, "had_keys": bool(self._keys)})
                raise IdentityUnavailable(
                    "The sign-in keys could not be loaded", retry_after=exc.retry_after or KEYS_COLD_RETRY_SECONDS
                ) from None

    def _key(self, kid: str) -> _Key | None:
        """Find a signing key, loading or refreshing the key set within the rate limits."""
        if not self._keys:
            self._load_cold()
        key = self._keys.get(kid)
        if key is None:
            # An unknown kid is a rollover we have not seen yet or an attacker's invention: at most one refresh
            # per interval, process-wide, whatever the number of distinct kids (PyJWKClient has no such limit).
            self._refresh_gated("miss")
            key = self._keys.get(kid)
        elif self._fetched_at is not None and self._clock() - self._fetched_at > KEYS_REFRESH_AFTER_SECONDS:
            # Scheduled refresh on the request path; a failure keeps the last-known-good keys.
            self._refresh_gated("scheduled")
        return key

    def _load_cold(self) -> None:
        with self._lock:
            if self._keys:
                return  # another thread loaded them while we waited
            now = self._clock()
            if self._cold_failure is not None:
                # Wait as long as the IdP asked (its Retry-After), else KEYS_COLD_RETRY_SECONDS.
                failed_at, wait = self._cold_failure
                if now - failed_at < wait:
                    retry_after = max(1, math.ceil(wait - (now - failed_at)))
                    raise IdentityUnavailable("The sign-in keys could not be loaded", retry_after=retry_after)
            try:
                self._install(self._fetch())
            except _FetchFailed as exc:
                retry_after = exc.retry_after or KEYS_COLD_RETRY_SECONDS
                self._cold_failure = (now, retry_after)
                logger.warning("jwks_load_failed", extra={"reason": exc.reason})
                # Without keys we cannot tell a good token from a forged one: 503, never 401.
                raise IdentityUnavailable("The sign-in keys could not be loaded", retry_after=retry_after) from None

    def _refresh_gated(self, gate: str) -> None:
        """Refresh unless this gate let a refresh through less than the minimum interval ago (single flight)."""
        with self._lock:
            now = self._clock()
            last = self._gates.get(gate)
            if last is not None and now - last < KEYS_MIN_REFRESH_INTERVAL_SECONDS:
                return
            self._gates[gate] = now
            try:
                self._install(self._fetch())
            except _FetchFailed as exc:
                logger.warning("jwks_refresh_failed", extra={"reason": exc.reason, "had_keys": True})

    def _install(self, keys: dict[str, _Key]) -> None:
        self._keys = keys
        self._fetched_at = self._clock()
        self._cold_failure = None
        logger.info("jwks_loaded", extra={"keys": len(keys)})

    def _fetch(self) -> dict[str, _Key]:
        try:
            response = self._session.get(
                self._jwks_url, timeout=self._settings.timeout, headers={"Accept": "application/json"}
            )
        except requests.RequestException as exc:
            raise _FetchFailed(type(exc).__name__) from None
        if response.status_code != 200:
            raise _FetchFailed(
                f"http_{response.status_code}", identity_retry_after(response.headers.get("Retry-After"))
            )
        try:
            document = response.json()
        except ValueError:
            raise _FetchFailed("not_json") from None
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise _FetchFailed("no_keys")
        keys: dict[str, _Key] = {}
        for entry in entries:
            parsed = _parse_jwk(entry)
            if parsed is not None:
                keys[parsed[0]] = parsed[1]
        if not keys:
            raise _FetchFailed("no_usable_keys")
        return keys

    # -- validation ---------------------------------------------------------------------------------------------

    def validate(self, authorization: str | None) -> Principal:
        """Validate the raw `Authorization` header value and return the caller, or raise an ApiError."""
        token = _bearer(authorization)
        digest = hashlib.sha256(token.encode()).digest()
        remembered = self._remembered(digest)
        if remembered is not None:
            return remembered
        principal, kid, key = self._validate(token)
        self._validated.put(digest, _Validated(principal, kid, key))
        return principal

    def _remembered(self, digest: bytes) -> Principal | None:
        """The principal of a token validated before, if its key is still in use; past `exp`: TokenExpired."""
        entry = self._validated.get(digest)
        if entry is None:
            return None
        if self._key(entry.kid) is not entry.key:  # also runs the scheduled key refresh, as a full check would
            self._validated.discard(digest)
            return None
        principal = entry.principal
        if principal.expires_at <= self._wall_clock() - LEEWAY_SECONDS:  # PyJWT's rule for `exp`
            self._validated.discard(digest)
            logger.info("token_rejected", extra={"reason": "expired", "tid": principal.tenant_id})
            raise TokenExpired()
        return principal

    def _validate(self, token: str) -> tuple[Principal, str, _Key]:
        """Every check of the module docstring; the principal, and the kid and key that verified the token."""
        header = _unverified_header(token)
        kid = header["kid"]
        payload = _unverified_payload(token)
        tid = _unverified_tid(payload)
        _check_numeric_dates(payload, tid)
        expected_issuer = self._settings.issuer(tid)

        key = self._key(kid)
        if key is None:
            raise _reject("unknown_kid", "The token was not signed by a known key", tid)
        # Signing-key issuer rule: a key may only sign for the issuer it is published for.
        if key.issuer is not None and key.issuer.replace(TENANT_TEMPLATE, tid) != expected_issuer:
            raise _reject("key_issuer_mismatch", "The token was not signed by a key for its issuer", tid)

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.jwk,
                algorithms=[ALGORITHM],  # fixed, never taken from the token
                audience=self._settings.client_id,
                issuer=expected_issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.ExpiredSignatureError:
            logger.info("token_rejected", extra={"reason": "expired", "tid": tid})
            raise TokenExpired() from None
        except jwt.PyJWTError as exc:
            raise _reject(_reason(exc), "The access token is not valid", tid) from None

        if claims.get("ver") != "2.0":
            raise _reject("version", "The access token is not a v2.0 token", tid)
        oid = claims.get("oid")
        if not isinstance(oid, str) or not _is_guid(oid):
            raise _reject("oid", "The access token does not name a user", tid)
        if claims.get("tid") != tid or tid not in self._tenants:
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
        if not isinstance(azp, str) or azp.lower() not in self._client_apps:
            logger.info("token_rejected", extra={"reason": "client_app", "tid": tid})
            raise ClientAppNotAllowed()

        principal = Principal(
            tenant_id=tid,
            object_id=oid,
            client_app=azp.lower(),
            name=_optional_str(claims.get("name")),
            username=_optional_str(claims.get("preferred_username")),
            assertion=token,
            expires_at=int(claims["exp"]),
        )
        return principal, kid, key


# -- helpers ------------------------------------------------------------------------------------------------------


def _reject(reason: str, detail: str, tid: str | None = None) -> InvalidToken:
    logger.info("token_rejected", extra={"reason": reason, "tid": tid})
    return InvalidToken(detail)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise _reject("missing", "An Authorization: Bearer token is required")
    if len(authorization) > MAX_TOKEN_BYTES + len("Bearer "):
        raise _reject("too_large", "The access token is too large")
    scheme, sep, token = authorization.partition(" ")
    # The scheme is case-insensitive (RFC 7235 §2.1); exactly one space, then the token (RFC 6750 §2.1).
    if not sep or scheme.lower() != "bearer":
        raise _reject("scheme", "An Authorization: Bearer token is required")
    if not _JWT_SHAPE.fullmatch(token):
        raise _reject("shape", "The access token is not a signed JWT")
    return token


def _unverified_header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, RecursionError):
        raise _reject("header", "The access token is not a signed JWT") from None
    if header.get("alg") != ALGORITHM:
        raise _reject("alg", "The access token is not signed with RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise _reject("kid", "The access token does not name its signing key")
    # We always supply the key ourselves; a token pointing at its own key is never Entra's.
    if any(name in header for name in _FORBIDDEN_HEADERS):
        raise _reject("key_reference", "The access token is not valid")
    return header


def _unverified_payload(token: str) -> dict[str, Any]:
    """Read the claims before verification, only to check their shape and choose the issuer."""
    segment = token.split(".")[1]
    try:
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise _reject("payload", "The access token is not a signed JWT") from None
    if not isinstance(payload, dict):
        raise _reject("payload", "The access token is not a signed JWT")
    return payload


def _unverified_tid(payload: Mapping[str, Any]) -> str:
    """The `tid` that picks the issuer; everything is verified afterwards."""
    tid = payload.get("tid")
    # Microsoft: "Validate that the tid claim is a GUID".
    if not isinstance(tid, str) or not _is_guid(tid):
        raise _reject("tid", "The access token does not name a tenant")
    return tid


def _check_numeric_dates(payload: Mapping[str, Any], tid: str) -> None:
    """Refuse `exp`, `nbf` or `iat` that is not a finite JSON number (a string, a boolean, null, NaN)."""
    for name in NUMERIC_DATE_CLAIMS:
        if name not in payload:
            continue  # a missing one is refused by `jwt.decode` (required claims)
        value = payload[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _reject(f"{name}_not_a_number", "The access token is not valid", tid)


def _parse_jwk(entry: object) -> tuple[str, _Key] | None:
    if not isinstance(entry, dict):
        return None
    kid = entry.get("kid")
    if not isinstance(kid, str) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
        return None
    try:
        jwk = jwt.PyJWK(entry, algorithm=ALGORITHM)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    issuer = entry.get("issuer")
    return kid, _Key(jwk=jwk, issuer=issuer if isinstance(issuer, str) else None)


def _is_app_only(claims: Mapping[str, Any], oid: str) -> bool:
    # https://learn.microsoft.com/en-us/entra/identity-platform/scenario-protected-web-api-verification-scope-app-roles
    if claims.get("idtyp") == "app":
        return True
    if "roles" in claims and "scp" not in claims:
        return True
    return claims.get("sub") == oid


def _reason(exc: jwt.PyJWTError) -> str:
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


def _is_guid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None
