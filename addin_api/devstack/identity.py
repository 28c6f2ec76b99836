"""The dev identity provider's tokens, shaped like Entra ID's: their claims, signing and verification.

Token shapes follow Entra: add-in (bootstrap) tokens are v2 access tokens for the add-in's app id, as Office's
`getAccessToken` returns them; Dataverse tokens are v1 tokens whose audience is the environment URL.
https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference

The functions take an `Issuer`: what they need of the identity provider (its key ring, the tokens it verified, the
app registration and its URLs). A running devstack's state is one; this module does not know it.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from addin_api.devstack.config import DEFAULT_AZP, DevConfig, DevUser
from addin_api.devstack.keys import KeyRing, SigningKey

ACCESS_TOKEN_LIFETIME = 3600
DATAVERSE_SCOPE = "user_impersonation"
ADDIN_SCOPE = "access_as_user"


class TokenRejected(Exception):
    """A presented token failed verification; `reason` says why (for Entra/Dataverse error text)."""

    def __init__(self, reason: str, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


class Issuer(Protocol):
    """The dev identity provider as its tokens need it: who it signs for, with which keys, and what it verified."""

    @property
    def config(self) -> DevConfig:
        """The app registration (client id) and the users."""

    @property
    def keys(self) -> KeyRing:
        """The keys that sign tokens and verify them."""

    @property
    def verified_tokens(self) -> VerifiedTokens:
        """The tokens verified so far."""

    @property
    def environment_url(self) -> str:
        """The emulated Dataverse environment: the audience of its tokens."""

    def issuer_v2(self, tenant_id: str) -> str:
        """The v2 issuer of add-in tokens for a tenant."""


def v1_issuer(tenant_id: str) -> str:
    """The v1 issuer Entra writes into tokens for resources such as Dataverse."""
    return f"https://sts.windows.net/{tenant_id}/"


def pairwise_sub(user: DevUser, client_id: str) -> str:
    # Entra's `sub` is pairwise per user and application.
    digest = hashlib.sha256(f"{user.oid}|{client_id}".encode()).digest()
    return jwt.utils.base64url_encode(digest).decode("ascii")[:43]


def addin_claims(idp: Issuer, user: DevUser, lifetime: int = ACCESS_TOKEN_LIFETIME) -> dict[str, Any]:
    """Claims of a v2 bootstrap token as Office's SSO returns it for the add-in."""
    now = int(time.time())
    client_id = idp.config.client_id
    return {
        "aud": client_id,
        "iss": idp.issuer_v2(user.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "aio": uuid.uuid4().hex,
        "azp": DEFAULT_AZP,
        "azpacr": "0",
        "name": user.name,
        "oid": user.oid,
        "preferred_username": user.upn,
        "rh": "0.dev." + uuid.uuid4().hex[:12],
        "scp": ADDIN_SCOPE,
        "sub": pairwise_sub(user, client_id),
        "tid": user.tenant_id,
        "uti": uuid.uuid4().hex[:22],
        "ver": "2.0",
    }


def dataverse_claims(
    idp: Issuer, user: DevUser, lifetime: int = ACCESS_TOKEN_LIFETIME, appid: str | None = None
) -> dict[str, Any]:
    """Claims of a v1 token for the emulated Dataverse environment, as Entra issues them after OBO."""
    now = int(time.time())
    given, _, family = user.name.partition(" ")
    return {
        "aud": idp.environment_url,
        "iss": v1_issuer(user.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "acr": "1",
        "aio": uuid.uuid4().hex,
        "amr": ["pwd"],
        "appid": appid or idp.config.client_id,
        "appidacr": "1",
        "family_name": family,
        "given_name": given,
        "ipaddr": "127.0.0.1",
        "name": user.name,
        "oid": user.oid,
        "puid": "10032000" + user.oid.replace("-", "")[:8].upper(),
        "scp": DATAVERSE_SCOPE,
        "sub": pairwise_sub(user, idp.environment_url),
        "tid": user.tenant_id,
        "unique_name": user.upn,
        "upn": user.upn,
        "uti": uuid.uuid4().hex[:22],
        "ver": "1.0",
    }


def mint_access_token(
    idp: Issuer,
    user: DevUser,
    audience: str = "addin",
    overrides: Mapping[str, Any] | None = None,
) -> tuple[str, int]:
    """Mint a signed token for `user` ("addin" bootstrap or "dataverse"); `overrides` set claims (None removes)."""
    claims = addin_claims(idp, user) if audience == "addin" else dataverse_claims(idp, user)
    for name, value in (overrides or {}).items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    expires_in = int(claims["exp"]) - int(time.time()) if isinstance(claims.get("exp"), int) else 0
    return idp.keys.sign(claims), expires_in


LEEWAY_SECONDS = 300  # Entra and Dataverse allow five minutes of clock skew
VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True)
class _Verified:
    claims: dict[str, Any]
    key: SigningKey  # the key that verified the signature; the entry counts only while the ring still has it
    expires: float  # `exp` plus the leeway


class VerifiedTokens:
    """Tokens whose signature and claims were verified, by exact token text, until they expire; bounded LRU.

    Like Dataverse, which does not re-verify a bearer token on every request. A hit needs the signing key still
    published (a key that left the ring takes its tokens with it) and is refused once `exp` plus the leeway has
    passed; failures are never kept.
    """

    def __init__(self, size: int = VERIFIED_CACHE_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str, str], _Verified] = OrderedDict()

    def clear(self) -> None:
        """Forget every token."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, keys: KeyRing, cache_key: tuple[str, str, str]) -> dict[str, Any] | None:
        """The claims of a token verified before, or None (unknown, or its key is gone); expired: TokenRejected."""
        with self._lock:
            entry = self._entries.get(cache_key)
            if entry is None:
                return None
            self._entries.move_to_end(cache_key)
        kid = entry.key.kid
        if keys.find(kid) is not entry.key:
            with self._lock:
                self._entries.pop(cache_key, None)
            return None
        if time.time() >= entry.expires:
            with self._lock:
                self._entries.pop(cache_key, None)
            raise TokenRejected("token expired", expired=True)
        return entry.claims

    def put(self, cache_key: tuple[str, str, str], claims: dict[str, Any], key: SigningKey) -> None:
        """Remember a verified token."""
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            return
        with self._lock:
            self._entries[cache_key] = _Verified(claims, key, float(exp) + LEEWAY_SECONDS)
            self._entries.move_to_end(cache_key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


def verify_token(idp: Issuer, token: str, audience: str, issuer: str) -> dict[str, Any]:
    """Verify an RS256 token signed by one of our published keys; return its claims or raise TokenRejected.

    Verified tokens are remembered (`Issuer.verified_tokens`), so a token presented again costs a dictionary lookup;
    the claims returned are shared and must not be modified.
    """
    return _verify_cached(idp, token, audience, issuer, lambda: issuer)


def _verify_cached(idp: Issuer, token: str, audience: str, cache_as: str, issuer: Callable[[], str]) -> dict[str, Any]:
    cache_key = (token, audience, cache_as)
    cached = idp.verified_tokens.get(idp.keys, cache_key)
    if cached is not None:
        return cached
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRejected("malformed token") from exc
    kid = header.get("kid")
    key = idp.keys.find(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenRejected("signing key not found")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=["RS256"],
            audience=audience,
            issuer=issuer(),
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "nbf", "iat", "iss", "aud", "tid", "oid"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenRejected("token expired", expired=True) from exc
    except jwt.PyJWTError as exc:
        raise TokenRejected(str(exc)) from exc
    idp.verified_tokens.put(cache_key, claims, key)
    return claims


def _v1_issuer_of(token: str) -> str:
    """The v1 issuer for the token's own `tid`, read without verifying anything (what Dataverse expects)."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenRejected("malformed token") from exc
    return v1_issuer(str(unverified.get("tid", "")))


class NotAMember(TokenRejected):
    """A valid token whose principal has no systemuser: an app without an application user."""


def verify_dataverse_token(idp: Issuer, token: str) -> DevUser:
    """Verify a bearer token presented to the emulated Dataverse and return the calling user.

    A delegated token (`scp`) names a user by (`tid`, `oid`); an app-only token (no `scp`: client credentials)
    acts as the application user whose `applicationid` is the token's `appid`, and raises NotAMember when the
    environment has none.
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/use-single-tenant-server-server-authentication
    """
    # The expected issuer follows from the token's own `tid`, so the token text alone keys the cache.
    claims = _verify_cached(idp, token, idp.environment_url, "dataverse", lambda: _v1_issuer_of(token))
    tenant_id = str(claims["tid"])
    if "scp" not in claims:
        app_user = idp.config.application_user(tenant_id, str(claims.get("appid", "")))
        if app_user is None:
            raise NotAMember("no application user for this app")
        return app_user
    user = idp.config.user_by_oid(tenant_id, str(claims["oid"]))
    if user is None:
        raise TokenRejected("no systemuser for this principal")
    return user
