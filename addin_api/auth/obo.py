"""Exchange the user's bootstrap token on-behalf-of (OBO) them for a Dataverse token, with MSAL, and cache it.

https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow

- One `msal.ConfidentialClientApplication` per caller tenant (authority `<host>/<tid>`), built lazily: the OBO request
  must go to the user's tenant (Microsoft.Identity.Web does the same with `WithTenantId(userTenant)`).
- MSAL Python's `acquire_token_on_behalf_of` always calls the token endpoint, so Dataverse tokens are cached here per
  (tenant, user, environment) until five minutes before they expire: a warm request makes no identity call.
- MSAL gets the app's `requests.Session` through a small adapter that adds the (connect, read) timeout to every call
  (MSAL applies its own `timeout=` only to a session it creates itself) and remembers the last HTTP status and
  `Retry-After` so a throttled or failing token endpoint becomes 503 + Retry-After.
- Every MSAL error dict is translated by `map_msal_error`, on `error`, `error_codes` and `suberror` only — never on
  the description, which is never shown to clients (codes: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import msal
import requests
from msal.exceptions import MsalError

from addin_api.auth.cache import InMemoryTokenCache, TokenCache
from addin_api.auth.tokens import Principal, parse_retry_after
from addin_api.errors import (
    AccessBlockedByPolicy,
    ApiError,
    ClaimsChallenge,
    ConfigurationError,
    ConsentRequired,
    IdentityUnavailable,
    InvalidToken,
    TenantNotAllowed,
    TokenExpired,
)
from addin_api.settings import Settings

logger = logging.getLogger(__name__)

DATAVERSE_SCOPE = "user_impersonation"
# Reuse a cached Dataverse token until this long before it expires.
EXPIRY_MARGIN_SECONDS = 300
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


class _MsalHttpClient:
    """MSAL's `http_client`: the app's session, a timeout on every call, and the last status / Retry-After seen."""

    def __init__(self, session: requests.Session, timeout: tuple[float, float]) -> None:
        self._session = session
        self._timeout = timeout
        self._seen = threading.local()

    def begin(self) -> None:
        """Forget what the previous call on this thread saw."""
        self._seen.status = None
        self._seen.retry_after = None

    @property
    def status(self) -> int | None:
        """The HTTP status of the last response on this thread (None if MSAL answered from its throttle cache)."""
        status: int | None = getattr(self._seen, "status", None)
        return status

    @property
    def retry_after(self) -> int | None:
        """The Retry-After (seconds) of the last response on this thread, if any."""
        retry_after: int | None = getattr(self._seen, "retry_after", None)
        return retry_after

    def post(
        self,
        url: str,
        params: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """POST with our timeout (MSAL's HttpClient interface)."""
        kwargs.setdefault("timeout", self._timeout)
        return self._note(self._session.post(url, params=params, data=data, headers=headers, **kwargs))

    def get(
        self, url: str, params: Any = None, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        """GET with our timeout (MSAL's HttpClient interface)."""
        kwargs.setdefault("timeout", self._timeout)
        return self._note(self._session.get(url, params=params, headers=headers, **kwargs))

    def close(self) -> None:
        """Leave the session open: it belongs to the app."""

    def _note(self, response: requests.Response) -> requests.Response:
        self._seen.status = response.status_code
        self._seen.retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return response


class _DiscardingTokenCache(msal.TokenCache):  # type: ignore[misc]
    """An MSAL token cache that keeps nothing.

    Our own `TokenCache` holds the Dataverse tokens; MSAL's default in-memory cache would also keep every user's
    access, ID and account entries for the life of the process, without bound.
    """

    def add(self, event: Any, now: Any = None) -> None:
        """Drop the tokens MSAL obtained (they are returned to the caller and cached by OboProvider)."""


class OboProvider:
    """Dataverse tokens for a validated principal, obtained on-behalf-of them and cached per user."""

    def __init__(self, settings: Settings, session: requests.Session, cache: TokenCache | None = None) -> None:
        self._settings = settings
        self._http = _MsalHttpClient(session, settings.timeout)
        self._cache: TokenCache = cache if cache is not None else InMemoryTokenCache()
        self._apps: dict[str, Any] = {}
        self._apps_lock = threading.Lock()

    def dataverse_token(self, principal: Principal, environment_url: str, *, force_refresh: bool = False) -> str:
        """Return a Dataverse access token for `principal` in `environment_url`; raise ApiError on failure."""
        environment_url = self._environment(principal.tenant_id, environment_url)
        key = self._key(principal, environment_url)
        if not force_refresh:
            cached = self._cache.get(key)
            if cached is not None:
                return cached

        app = self._app(principal.tenant_id)
        scopes = [f"{environment_url}/{DATAVERSE_SCOPE}"]
        self._http.begin()
        try:
            result = app.acquire_token_on_behalf_of(principal.assertion, scopes=scopes)
        except requests.RequestException as exc:  # timeouts, refused connections, TLS failures
            raise self._unavailable(principal, type(exc).__name__) from None
        except MsalError:  # MSAL raises on 5xx from the token endpoint
            raise self._unavailable(principal, f"http_{self._http.status}") from None
        except ValueError:  # a body that is not JSON
            raise self._unavailable(principal, "not_json") from None

        token = result.get("access_token") if isinstance(result, dict) else None
        if not isinstance(token, str) or not token:
            failure = result if isinstance(result, dict) else {}
            error = map_msal_error(failure, status=self._http.status, retry_after=self._http.retry_after)
            logger.warning(
                "obo_failed",
                extra={
                    "tid": principal.tenant_id,
                    "error": failure.get("error"),
                    "error_codes": failure.get("error_codes"),
                    "mapped": error.code,
                    "trace_id": failure.get("trace_id"),
                    "correlation_id": failure.get("correlation_id"),
                },
            )
            raise error
        expires_in = result.get("expires_in")
        if isinstance(expires_in, int) and not isinstance(expires_in, bool):
            self._cache.set(key, token, expires_in - EXPIRY_MARGIN_SECONDS)
        return token

    def forget(self, principal: Principal, environment_url: str) -> None:
        """Drop the cached token for this user and environment (Dataverse rejected it)."""
        self._cache.delete(self._key(principal, environment_url.rstrip("/")))

    def warm(self, tenant_id: str) -> None:
        """Build the tenant's MSAL application now (it fetches the tenant's OpenID configuration)."""
        self._app(tenant_id)

    # -- internals ----------------------------------------------------------------------------------------------

    def _environment(self, tenant_id: str, environment_url: str) -> str:
        # The user's token may only ever be exchanged for the environment configured for their tenant.
        expected = self._settings.dataverse_urls.get(tenant_id)
        if expected is None or environment_url.rstrip("/") != expected.rstrip("/"):
            raise ConfigurationError("No Dataverse environment is configured for this organization")
        return expected.rstrip("/")

    def _key(self, principal: Principal, environment_url: str) -> str:
        # Per tenant, user and resource: one user's token is never served to another.
        return "|".join(("obo", self._settings.client_id, principal.tenant_id, principal.object_id, environment_url))

    def _app(self, tenant_id: str) -> Any:
        app = self._apps.get(tenant_id)
        if app is not None:
            return app
        if tenant_id not in self._settings.tenants:
            raise TenantNotAllowed()
        with self._apps_lock:
            app = self._apps.get(tenant_id)
            if app is None:
                app = self._build_app(tenant_id)
                self._apps[tenant_id] = app
        return app

    def _build_app(self, tenant_id: str) -> Any:
        settings = self._settings
        self._http.begin()
        try:
            # Construction fetches `<authority>/v2.0/.well-known/openid-configuration`. Instance discovery is only
            # meaningful against Microsoft's clouds; the devstack (or any other host) is trusted as configured.
            # https://learn.microsoft.com/en-us/python/api/msal/msal.application.confidentialclientapplication
            return msal.ConfidentialClientApplication(
                settings.client_id,
                client_credential=self._credential(),
                authority=settings.authority(tenant_id),
                http_client=self._http,
                instance_discovery=None if settings.is_public_cloud else False,
                token_cache=_DiscardingTokenCache(),
                # We never redeem refresh tokens: every request brings a fresh assertion.
                exclude_scopes=["offline_access"],
                enable_pii_log=False,
            )
        except requests.RequestException as exc:
            raise self._unavailable(None, type(exc).__name__, tenant_id) from None
        except MsalError:
            raise self._unavailable(None, f"discovery_http_{self._http.status}", tenant_id) from None
        except (ValueError, KeyError):
            # 4xx from discovery (unknown tenant) or a document without endpoints.
            logger.error("obo_authority_invalid", extra={"tid": tenant_id, "status": self._http.status})
            raise ConfigurationError() from None

    def _credential(self) -> str | dict[str, str]:
        settings = self._settings
        if settings.client_secret:
            return settings.client_secret
        if settings.client_cert_path is not None and settings.client_cert_thumbprint:
            try:
                private_key = settings.client_cert_path.read_text()
            except OSError:
                logger.error("obo_certificate_unreadable")
                raise ConfigurationError() from None
            return {"private_key": private_key, "thumbprint": settings.client_cert_thumbprint}
        raise ConfigurationError()

    def _unavailable(self, principal: Principal | None, reason: str, tenant_id: str | None = None) -> ApiError:
        tid = principal.tenant_id if principal is not None else tenant_id
        logger.warning("obo_unavailable", extra={"tid": tid, "reason": reason})
        return IdentityUnavailable(retry_after=self._http.retry_after or DEFAULT_RETRY_AFTER)
