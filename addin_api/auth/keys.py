"""Entra's signing keys for bearer tokens: fetched, cached, refreshed within rate limits, kept when Entra fails.

Keys come from the multi-tenant key set `{authority_host}/common/discovery/v2.0/keys`: one document serves every
onboarded tenant, and each key names the issuer it may sign for (templated with `{tenantid}`).
https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-issuer

Timing mirrors Microsoft.IdentityModel's ConfigurationManager: scheduled refresh after 12 h, on-demand refresh
(unknown `kid`) at most once per 5 minutes; Microsoft suggests checking keys daily.
https://learn.microsoft.com/en-us/entra/identity-platform/signing-key-rollover
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jwt
import requests

from addin_api.auth.retry_after import identity_retry_after
from addin_api.errors import IdentityUnavailable

# The key set's events keep the logger name they have always had (the "logger" field of our JSON logs).
logger = logging.getLogger("addin_api.auth.tokens")

ALGORITHM = "RS256"
KEYS_REFRESH_AFTER_SECONDS = 12 * 3600
KEYS_MIN_REFRESH_INTERVAL_SECONDS = 300
# With no keys at all, retry the fetch at most this often (and tell clients to come back after it).
KEYS_COLD_RETRY_SECONDS = 5


@dataclass(frozen=True)
class Key:
    """One published signing key and the issuer it may sign for (None: any)."""

    jwk: jwt.PyJWK
    issuer: str | None


class _FetchFailed(Exception):
    def __init__(self, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class SigningKeys:
    """The key set, by `kid`; thread-safe, one fetch at a time, the last-known-good keys kept on failure."""

    def __init__(
        self,
        jwks_url: str,
        session: requests.Session,
        timeout: tuple[float, float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jwks_url = jwks_url
        self._session = session
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()  # single flight for key fetches
        self._keys: Mapping[str, Key] = {}  # replaced wholesale, so readers need no lock
        self._fetched_at: float | None = None  # last successful fetch
        # When each refresh trigger last let a fetch through: "miss" (unknown kid), "scheduled" (old keys).
        self._gates: dict[str, float] = {}
        self._cold_failure: tuple[float, int] | None = None  # (when, retry after) of a failed fetch with no keys

    @property
    def loaded(self) -> bool:
        """Tell whether signing keys are loaded (fresh or last-known-good)."""
        return bool(self._keys)

    def ensure(self) -> None:
        """Load the key set if none is loaded, within the cold-start backoff; else do nothing."""
        if not self._keys:
            self._load_cold()

    def refresh(self) -> None:
        """Fetch the key set now; keep the last-known-good keys and raise IdentityUnavailable if that fails."""
        with self._lock:
            try:
                self._install(self._fetch())
            except _FetchFailed as exc:
                logger.warning("jwks_refresh_failed", extra={"reason": exc.reason, "had_keys": bool(self._keys)})
                raise IdentityUnavailable(
                    "The sign-in keys could not be loaded", retry_after=exc.retry_after or KEYS_COLD_RETRY_SECONDS
                ) from None

    def find(self, kid: str) -> Key | None:
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

    def _install(self, keys: dict[str, Key]) -> None:
        self._keys = keys
        self._fetched_at = self._clock()
        self._cold_failure = None
        logger.info("jwks_loaded", extra={"keys": len(keys)})

    def _fetch(self) -> dict[str, Key]:
        try:
            response = self._session.get(self._jwks_url, timeout=self._timeout, headers={"Accept": "application/json"})
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
        keys: dict[str, Key] = {}
        for entry in entries:
            parsed = _parse_jwk(entry)
            if parsed is not None:
                keys[parsed[0]] = parsed[1]
        if not keys:
            raise _FetchFailed("no_usable_keys")
        return keys


def _parse_jwk(entry: object) -> tuple[str, Key] | None:
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
    return kid, Key(jwk=jwk, issuer=issuer if isinstance(issuer, str) else None)
