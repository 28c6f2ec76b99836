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

The key set is cached by keys.py; the checks that need no key are in claims.py.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests

from addin_api.auth import claims as checks
from addin_api.auth.claims import MAX_TOKEN_BYTES
from addin_api.auth.keys import ALGORITHM, Key, SigningKeys
from addin_api.errors import TokenExpired
from addin_api.settings import CONSUMERS_TENANT, Settings

__all__ = ["MAX_TOKEN_BYTES", "Principal", "TokenValidator"]

logger = logging.getLogger(__name__)

LEEWAY_SECONDS = 60
# `scp` is required too, but checked after decoding (see the module docstring).
REQUIRED_CLAIMS = ["exp", "nbf", "iat", "iss", "aud", "tid", "oid", "azp", "ver"]
TENANT_TEMPLATE = "{tenantid}"
# Validated tokens remembered per process (a token is about 1.5 KB; a user's lives an hour).
VALIDATED_CACHE_SIZE = 4096


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
class _Validated:
    principal: Principal
    kid: str
    key: Key  # the key that verified the signature: a hit needs the key set to still hold it


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
        self._wall_clock = wall_clock  # for `exp` of remembered tokens
        self._validated = _ValidatedTokens(cache_size)
        self._keys = SigningKeys(
            f"{settings.authority_host}/common/discovery/v2.0/keys", session, settings.timeout, clock
        )
        self._tenants = frozenset(t.lower() for t in settings.tenants) - {CONSUMERS_TENANT}
        self._client_apps = frozenset(a.lower() for a in settings.allowed_client_apps)

    # -- keys ---------------------------------------------------------------------------------------------------

    @property
    def has_keys(self) -> bool:
        """Tell whether signing keys are loaded (fresh or last-known-good)."""
        return self._keys.loaded

    def ensure_keys(self) -> None:
        """Load the key set if none is loaded, within the cold-start backoff the API path uses; else do nothing.

        Readiness probes call this: with keys loaded (fresh or last-known-good) it makes no request, and with none
        it fetches at most once per backoff window however often it is asked (IdentityUnavailable meanwhile).
        """
        self._keys.ensure()

    @property
    def remembered_tokens(self) -> int:
        """How many validated tokens are remembered."""
        return len(self._validated)

    def refresh_keys(self) -> None:
        """Fetch the key set now; keep the last-known-good keys and raise IdentityUnavailable if that fails."""
        self._keys.refresh()

    # -- validation ---------------------------------------------------------------------------------------------

    def validate(self, authorization: str | None) -> Principal:
        """Validate the raw `Authorization` header value and return the caller, or raise an ApiError."""
        token = checks.bearer(authorization)
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
        if self._keys.find(entry.kid) is not entry.key:  # also runs the scheduled key refresh, as a full check would
            self._validated.discard(digest)
            return None
        principal = entry.principal
        if principal.expires_at <= self._wall_clock() - LEEWAY_SECONDS:  # PyJWT's rule for `exp`
            self._validated.discard(digest)
            logger.info("token_rejected", extra={"reason": "expired", "tid": principal.tenant_id})
            raise TokenExpired()
        return principal

    def _validate(self, token: str) -> tuple[Principal, str, Key]:
        """Every check of the module docstring; the principal, and the kid and key that verified the token."""
        kid = checks.unverified_header(token)["kid"]
        payload = checks.unverified_payload(token)
        tid = checks.unverified_tid(payload)
        checks.check_numeric_dates(payload, tid)
        key = self._signing_key(kid, tid)
        claims = self._decode(token, key, tid)
        oid, azp = checks.authorized_caller(claims, tid, tenants=self._tenants, client_apps=self._client_apps)
        principal = Principal(
            tenant_id=tid,
            object_id=oid,
            client_app=azp,
            name=checks.optional_str(claims.get("name")),
            username=checks.optional_str(claims.get("preferred_username")),
            assertion=token,
            expires_at=int(claims["exp"]),
        )
        return principal, kid, key

    def _signing_key(self, kid: str, tid: str) -> Key:
        """The published key named `kid`, if it may sign for the tenant's issuer."""
        key = self._keys.find(kid)
        if key is None:
            raise checks.reject("unknown_kid", "The token was not signed by a known key", tid)
        # Signing-key issuer rule: a key may only sign for the issuer it is published for.
        if key.issuer is not None and key.issuer.replace(TENANT_TEMPLATE, tid) != self._settings.issuer(tid):
            raise checks.reject("key_issuer_mismatch", "The token was not signed by a key for its issuer", tid)
        return key

    def _decode(self, token: str, key: Key, tid: str) -> dict[str, Any]:
        """Verify the signature, audience, issuer and lifetime (check 5); the claims."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.jwk,
                algorithms=[ALGORITHM],  # fixed, never taken from the token
                audience=self._settings.client_id,
                issuer=self._settings.issuer(tid),
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.ExpiredSignatureError:
            logger.info("token_rejected", extra={"reason": "expired", "tid": tid})
            raise TokenExpired() from None
        except jwt.PyJWTError as exc:
            raise checks.reject(checks.reason(exc), "The access token is not valid", tid) from None
        return claims
