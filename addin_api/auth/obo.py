"""Exchange the user's bootstrap token on-behalf-of (OBO) them for a Dataverse token (and, for their mail folders,
a Microsoft Graph token), with MSAL, and cache each per user and resource.

https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-on-behalf-of-flow

- One `msal.ConfidentialClientApplication` per caller tenant (authority `<host>/<tid>`), built lazily: the OBO request
  must go to the user's tenant (Microsoft.Identity.Web does the same with `WithTenantId(userTenant)`).
- MSAL Python's `acquire_token_on_behalf_of` always calls the token endpoint, so Dataverse tokens are cached here per
  (tenant, user, environment) until five minutes before they expire: a warm request makes no identity call.
- MSAL gets the app's `requests.Session` through a small adapter that adds the (connect, read) timeout to every call
  (MSAL applies its own `timeout=` only to a session it creates itself) and remembers the last HTTP status and
  `Retry-After` so a throttled or failing token endpoint becomes 503 + Retry-After.
- Every MSAL error dict is translated by `msal_errors.map_msal_error`, on `error`, `error_codes` and `suberror`
  only — never on the description, which is never shown to clients
  (codes: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes).

Users never share an identity-provider answer:
- MSAL wraps every `http_client` in its `ThrottledHttpClient` (msal/application.py, `ClientApplication.__init__`),
  which replays a 429/5xx/Retry-After answer for Retry-After seconds under the key
  "POST <url> client_id=… scope=… hash=<refresh_token | code | username | user_id>" (msal/throttled_http_client.py).
  An OBO request carries none of those four fields (its user is in `assertion`), so the key is the same for every
  user of the tenant: one user's 429 would be replayed to all of them, and a success that carried Retry-After
  would hand one user's token to another. MSAL's documented `http_cache` option ("accepts any dict-like object",
  https://learn.microsoft.com/en-us/python/api/msal/msal.application.clientapplication) is where those replays
  live, so we give it `msal_http.PerUserHttpCache`: one partition per caller, chosen around each exchange. MSAL's
  throttling and its 60 s replay of a 400 for the same assertion then hold per user, as they should.
- We keep our own per-user Retry-After window for the token endpoint (shared between instances when a shared store
  is configured): a throttled user is answered 503 with the time that is left and nothing is sent, while everyone
  else's exchange goes out.
- A token is used and cached only once the answer names the caller, and names nobody else: MSAL's
  `id_token_claims` (MSAL asks for an ID token on OBO "so that the calling app could use id_token_claims to
  implement their own cache mapping", msal/application.py `acquire_token_on_behalf_of`), the `client_info`
  (uid = oid, utid = tid) MSAL requests on every grant, and the access token's own `tid`/`oid` when it is a
  readable JWT that carries them. At least one must be present and every one present must equal the caller's.
  Clients are to treat access tokens as opaque and Microsoft encrypts them for more and more of its APIs
  (https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens), so an unreadable access token is not
  an error by itself. Anything else is an identity failure: 503 identity_unavailable, logged without the token.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

import requests
from msal.exceptions import MsalError

from addin_api.auth.cache import InMemoryTokenCache, TokenCache
from addin_api.auth.holdback import SingleFlight, UserWindows
from addin_api.auth.issued_to import not_issued_to
from addin_api.auth.msal_errors import DEFAULT_RETRY_AFTER, map_msal_error
from addin_api.auth.msal_http import (
    DiscardingTokenCache,
    MsalHttpClient,
    PerUserHttpCache,
    client_credential,
    confidential_app,
)
from addin_api.auth.tokens import Principal
from addin_api.dataverse.limits import ThrottleWindows
from addin_api.errors import ApiError, ConfigurationError, IdentityUnavailable, TenantNotAllowed
from addin_api.logs import hashed_user
from addin_api.settings import Settings

__all__ = ["DATAVERSE_SCOPE", "GRAPH_RESOURCE", "GRAPH_SCOPE", "OboProvider"]

logger = logging.getLogger(__name__)

DATAVERSE_SCOPE = "user_impersonation"
# The second resource the service reaches as the user: Microsoft Graph, to list their mail folders (the pane's
# folder-rule picker). `Mail.ReadBasic` is the least privilege that lists folders; the scope names Graph's resource
# whatever URL the deployment sends Graph requests to.
# https://learn.microsoft.com/en-us/graph/api/mailfolder-list-childfolders#permissions
GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_SCOPE = f"{GRAPH_RESOURCE}/Mail.ReadBasic"
# Reuse a cached Dataverse token until this long before it expires.
EXPIRY_MARGIN_SECONDS = 300
# Users whose MSAL http-cache partition and Retry-After window are kept (least recently used go first).
MAX_TRACKED_USERS = 10_000


class OboProvider:
    """Dataverse tokens for a validated principal, obtained on-behalf-of them and cached per user."""

    def __init__(
        self,
        settings: Settings,
        session: requests.Session,
        cache: TokenCache | None = None,
        *,
        windows: ThrottleWindows | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._http = MsalHttpClient(session, settings.timeout)
        self._http_cache = PerUserHttpCache(MAX_TRACKED_USERS)
        self._cache: TokenCache = cache if cache is not None else InMemoryTokenCache()
        self._windows = UserWindows(clock, windows, MAX_TRACKED_USERS)
        self._clock = clock
        self._apps: dict[str, Any] = {}
        self._apps_lock = threading.Lock()
        # Tenants whose application could not be built: (retry no earlier than, the error), so that neither requests
        # nor readiness probes fetch the OpenID configuration again while Entra is failing.
        self._failed_builds: dict[str, tuple[float, ApiError]] = {}
        self._flights = SingleFlight()

    def dataverse_token(self, principal: Principal, environment_url: str, *, force_refresh: bool = False) -> str:
        """Return a Dataverse access token for `principal` in `environment_url`; raise ApiError on failure."""
        environment_url = self._environment(principal.tenant_id, environment_url)
        key = self._key(principal, environment_url)
        # One exchange at a time per user and environment: the pane opens with several requests at once, and a cold
        # user would otherwise cost one token request each; the others wait and then read the cached token.
        with self._flights.hold(key):
            return self._token(principal, f"{environment_url}/{DATAVERSE_SCOPE}", key, force_refresh)

    def graph_token(self, principal: Principal, *, force_refresh: bool = False) -> str:
        """Return a delegated Microsoft Graph token (`GRAPH_SCOPE`) for `principal`, cached like Dataverse's."""
        key = self._key(principal, GRAPH_RESOURCE)
        with self._flights.hold(key):
            return self._token(principal, GRAPH_SCOPE, key, force_refresh)

    def forget_graph(self, principal: Principal) -> None:
        """Drop the cached Graph token of this user (Graph rejected it)."""
        self._cache.delete(self._key(principal, GRAPH_RESOURCE))

    def _token(self, principal: Principal, scope: str, key: str, force_refresh: bool) -> str:
        if not force_refresh:
            cached = self._cache.get(key)
            if cached is not None:
                return cached

        window = ("identity", *principal.key)
        left = self._windows.remaining(window)
        if left > 0:
            # Entra told this user to come back later: send nothing until then (other users are not affected).
            logger.info("obo_held_back", extra={"tid": principal.tenant_id, "user": _user(principal)})
            raise IdentityUnavailable(retry_after=max(1, math.ceil(left)))
        result = self._exchange(principal, [scope])

        token = result.get("access_token")
        if not isinstance(token, str) or not token:
            error = map_msal_error(result, status=self._http.status, retry_after=self._http.retry_after)
            logger.warning(
                "obo_failed",
                extra={
                    "tid": principal.tenant_id,
                    "error": result.get("error"),
                    "error_codes": result.get("error_codes"),
                    "mapped": error.code,
                    "trace_id": result.get("trace_id"),
                    "correlation_id": result.get("correlation_id"),
                },
            )
            self._hold_back_if_throttled(window, error)
            raise error
        mismatch = not_issued_to(principal, token, result)
        if mismatch is not None:
            # Never hand a user a token the identity provider issued to someone else, nor keep it.
            logger.error(
                "obo_token_for_another_principal",
                extra={"tid": principal.tenant_id, "user": _user(principal), "named_by": mismatch},
            )
            raise IdentityUnavailable(
                "The identity provider's answer was not for the signed-in user", retry_after=DEFAULT_RETRY_AFTER
            )
        expires_in = result.get("expires_in")
        if isinstance(expires_in, int) and not isinstance(expires_in, bool):
            self._cache.set(key, token, expires_in - EXPIRY_MARGIN_SECONDS)
        return token

    def _exchange(self, principal: Principal, scopes: list[str]) -> dict[str, Any]:
        """Call MSAL's OBO with the caller's partition of MSAL's http cache; the result dict, or raise."""
        app = self._app(principal.tenant_id)
        self._http.begin()
        try:
            with self._http_cache.for_user(principal.key):
                result = app.acquire_token_on_behalf_of(principal.assertion, scopes=scopes)
        except requests.RequestException as exc:  # timeouts, refused connections, TLS failures
            raise self._unavailable(principal, type(exc).__name__) from None
        except MsalError:  # MSAL raises on 5xx from the token endpoint
            error = self._unavailable(principal, f"http_{self._http.status}")
            self._hold_back_if_throttled(("identity", *principal.key), error)
            raise error from None
        except ValueError:  # a body that is not JSON
            raise self._unavailable(principal, "not_json") from None
        return result if isinstance(result, dict) else {}

    def _hold_back_if_throttled(self, window: Hashable, error: ApiError) -> None:
        """After a 429 or 5xx answered to this user, open their Retry-After window."""
        status = self._http.status
        if isinstance(error, IdentityUnavailable) and status is not None and (status == 429 or status >= 500):
            self._windows.block(window, error.retry_after or DEFAULT_RETRY_AFTER)

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

    def _key(self, principal: Principal, resource: str) -> str:
        # Per tenant, user and resource: one user's token is never served to another.
        return "|".join(("obo", self._settings.client_id, principal.tenant_id, principal.object_id, resource))

    def _app(self, tenant_id: str) -> Any:
        app = self._apps.get(tenant_id)
        if app is not None:
            return app
        if tenant_id not in self._settings.tenants:
            raise TenantNotAllowed()
        with self._apps_lock:
            app = self._apps.get(tenant_id)
            if app is None:
                self._raise_if_backing_off(tenant_id)
                try:
                    app = self._build_app(tenant_id)
                except ApiError as exc:
                    wait = exc.retry_after if isinstance(exc, IdentityUnavailable) else None
                    self._failed_builds[tenant_id] = (self._clock() + (wait or DEFAULT_RETRY_AFTER), exc)
                    raise
                self._failed_builds.pop(tenant_id, None)
                self._apps[tenant_id] = app
        return app

    def _raise_if_backing_off(self, tenant_id: str) -> None:
        """Inside the window after a failed build, fail the same way again without asking Entra."""
        failed = self._failed_builds.get(tenant_id)
        if failed is None:
            return
        until, error = failed
        left = until - self._clock()
        if left <= 0:
            return
        if isinstance(error, IdentityUnavailable):
            raise IdentityUnavailable(error.detail, retry_after=max(1, math.ceil(left)))
        raise type(error)(error.detail)

    def _build_app(self, tenant_id: str) -> Any:
        settings = self._settings
        self._http.begin()
        try:
            return confidential_app(
                settings,
                tenant_id,
                self._http,
                self._credential(),
                http_cache=self._http_cache,  # per user: see the module docstring
                token_cache=DiscardingTokenCache(),
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
        try:
            return client_credential(self._settings)
        except OSError:
            logger.error("obo_certificate_unreadable")
            raise ConfigurationError() from None
        except ValueError:
            raise ConfigurationError() from None

    def _unavailable(self, principal: Principal | None, reason: str, tenant_id: str | None = None) -> ApiError:
        tid = principal.tenant_id if principal is not None else tenant_id
        logger.warning("obo_unavailable", extra={"tid": tid, "reason": reason})
        return IdentityUnavailable(retry_after=self._http.retry_after or DEFAULT_RETRY_AFTER)


def _user(principal: Principal) -> str:
    return hashed_user(principal.tenant_id, principal.object_id)
