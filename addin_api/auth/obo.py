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

Users never share an identity-provider answer:
- MSAL wraps every `http_client` in its `ThrottledHttpClient` (msal/application.py, `ClientApplication.__init__`),
  which replays a 429/5xx/Retry-After answer for Retry-After seconds under the key
  "POST <url> client_id=… scope=… hash=<refresh_token | code | username | user_id>" (msal/throttled_http_client.py).
  An OBO request carries none of those four fields (its user is in `assertion`), so the key is the same for every
  user of the tenant: one user's 429 would be replayed to all of them, and a success that carried Retry-After
  would hand one user's token to another. MSAL's documented `http_cache` option ("accepts any dict-like object",
  https://learn.microsoft.com/en-us/python/api/msal/msal.application.clientapplication) is where those replays
  live, so we give it `_PerUserHttpCache`: one partition per caller, chosen around each exchange. MSAL's throttling
  and its 60 s replay of a 400 for the same assertion then hold per user, as they should.
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

import base64
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import msal
import requests
from msal.exceptions import MsalError

from addin_api.auth.cache import InMemoryTokenCache, TokenCache
from addin_api.auth.retry_after import identity_retry_after
from addin_api.auth.tokens import Principal
from addin_api.dataverse.limits import ThrottleWindows
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
from addin_api.logs import hashed_user
from addin_api.settings import Settings

logger = logging.getLogger(__name__)

DATAVERSE_SCOPE = "user_impersonation"
# Reuse a cached Dataverse token until this long before it expires.
EXPIRY_MARGIN_SECONDS = 300
# When Entra says to come back later without saying when (MSAL's own default throttle is 5 s).
DEFAULT_RETRY_AFTER = 5
# Users whose MSAL http-cache partition and Retry-After window are kept (least recently used go first).
MAX_TRACKED_USERS = 10_000

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
        self._seen.retry_after = identity_retry_after(response.headers.get("Retry-After"))
        return response


class _PerUserHttpCache(MutableMapping[str, Any]):
    """MSAL's `http_cache`, partitioned by caller: what MSAL stores while serving one user only that user reads.

    MSAL reads and writes the mapping from the thread that makes the request (msal/individual_cache.py), so the
    partition is chosen per thread with `for_user`. Requests made outside `for_user` (the OpenID configuration
    fetched when an application is built, the same for everyone) use a shared partition. The number of user
    partitions is bounded (least recently used go first); losing one only forgets that user's replays.
    """

    _SHARED: tuple[str, ...] = ()

    def __init__(self, max_users: int = MAX_TRACKED_USERS) -> None:
        self._max_users = max_users
        self._lock = threading.Lock()
        self._partitions: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
        self._current = threading.local()

    @contextmanager
    def for_user(self, user_key: Hashable) -> Iterator[None]:
        """Make MSAL's reads and writes on this thread use `user_key`'s partition for the block."""
        previous = getattr(self._current, "key", self._SHARED)
        self._current.key = user_key
        try:
            yield
        finally:
            self._current.key = previous

    def _partition(self) -> dict[str, Any]:
        key = getattr(self._current, "key", self._SHARED)
        with self._lock:
            partition = self._partitions.get(key)
            if partition is None:
                partition = self._partitions[key] = {}
                while len(self._partitions) > self._max_users + 1:  # + the shared partition
                    oldest = next(k for k in self._partitions if k != self._SHARED)
                    del self._partitions[oldest]
            self._partitions.move_to_end(key)
            return partition

    def __getitem__(self, key: str) -> Any:
        return self._partition()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._partition()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._partition()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._partition()))

    def __len__(self) -> int:
        return len(self._partition())


class _UserWindows:
    """When each user may next be sent to the token endpoint, after Entra answered them 429 or 5xx."""

    def __init__(self, clock: Callable[[], float], shared: ThrottleWindows | None, max_users: int) -> None:
        self._clock = clock
        self._shared = shared
        self._max_users = max_users
        self._lock = threading.Lock()
        self._until: dict[Hashable, float] = {}

    def remaining(self, user_key: Hashable) -> float:
        """Seconds left in the user's window here or, if none, in the shared store."""
        with self._lock:
            left = self._until.get(user_key, 0.0) - self._clock()
            if left <= 0:
                self._until.pop(user_key, None)
        if left <= 0 and self._shared is not None:
            left = self._shared.remaining(user_key)
        return max(left, 0.0)

    def block(self, user_key: Hashable, seconds: float) -> None:
        """Send nothing for the user for `seconds` (a longer window already open wins)."""
        now = self._clock()
        with self._lock:
            for key in [k for k, until in self._until.items() if until <= now]:
                del self._until[key]
            if len(self._until) >= self._max_users and user_key not in self._until:
                del self._until[min(self._until, key=self._until.__getitem__)]
            self._until[user_key] = max(now + seconds, self._until.get(user_key, 0.0))
        if self._shared is not None:
            self._shared.block(user_key, seconds)


class _DiscardingTokenCache(msal.TokenCache):  # type: ignore[misc]
    """An MSAL token cache that keeps nothing.

    Our own `TokenCache` holds the Dataverse tokens; MSAL's default in-memory cache would also keep every user's
    access, ID and account entries for the life of the process, without bound.
    """

    def add(self, event: Any, now: Any = None) -> None:
        """Drop the tokens MSAL obtained (they are returned to the caller and cached by OboProvider)."""


class _SingleFlight:
    """A lock per key, created while someone holds or waits for it and dropped after the last one leaves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[threading.Lock, list[int]]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold `key`'s lock for the block (other keys are never waited for)."""
        with self._lock:
            lock, users = self._held.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._lock:
                users[0] -= 1
                if users[0] == 0:
                    del self._held[key]


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
        self._http = _MsalHttpClient(session, settings.timeout)
        self._http_cache = _PerUserHttpCache()
        self._cache: TokenCache = cache if cache is not None else InMemoryTokenCache()
        self._windows = _UserWindows(clock, windows, MAX_TRACKED_USERS)
        self._clock = clock
        self._apps: dict[str, Any] = {}
        self._apps_lock = threading.Lock()
        # Tenants whose application could not be built: (retry no earlier than, the error), so that neither requests
        # nor readiness probes fetch the OpenID configuration again while Entra is failing.
        self._failed_builds: dict[str, tuple[float, ApiError]] = {}
        self._flights = _SingleFlight()

    def dataverse_token(self, principal: Principal, environment_url: str, *, force_refresh: bool = False) -> str:
        """Return a Dataverse access token for `principal` in `environment_url`; raise ApiError on failure."""
        environment_url = self._environment(principal.tenant_id, environment_url)
        key = self._key(principal, environment_url)
        # One exchange at a time per user and environment: the pane opens with several requests at once, and a cold
        # user would otherwise cost one token request each; the others wait and then read the cached token.
        with self._flights.hold(key):
            return self._token(principal, environment_url, key, force_refresh)

    def _token(self, principal: Principal, environment_url: str, key: str, force_refresh: bool) -> str:
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
        result = self._exchange(principal, [f"{environment_url}/{DATAVERSE_SCOPE}"])

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
        mismatch = _not_issued_to(principal, token, result)
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
            # Construction fetches `<authority>/v2.0/.well-known/openid-configuration`. Instance discovery is only
            # meaningful against Microsoft's clouds; the devstack (or any other host) is trusted as configured.
            # https://learn.microsoft.com/en-us/python/api/msal/msal.application.confidentialclientapplication
            return msal.ConfidentialClientApplication(
                settings.client_id,
                client_credential=self._credential(),
                authority=settings.authority(tenant_id),
                http_client=self._http,
                http_cache=self._http_cache,  # per user: see the module docstring
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


def _user(principal: Principal) -> str:
    return hashed_user(principal.tenant_id, principal.object_id)


def _not_issued_to(principal: Principal, token: str, result: Mapping[str, Any]) -> str | None:
    """None when the answer names the caller (tenant and object id) and nobody else (module docstring); else which
    part of the answer names someone else ("id_token", "client_info", "access_token"), or "nothing"."""
    named: list[tuple[str, object, object]] = []
    id_claims = result.get("id_token_claims")
    if isinstance(id_claims, dict):
        named.append(("id_token", id_claims.get("tid"), id_claims.get("oid")))
    client_info = _json_segment(result.get("client_info"))
    if client_info is not None:
        named.append(("client_info", client_info.get("utid"), client_info.get("uid")))
    access = _json_segment(token.split(".")[1]) if token.count(".") == 2 else None  # a JWS; a JWE has five parts
    if access is not None and ("tid" in access or "oid" in access):
        named.append(("access_token", access.get("tid"), access.get("oid")))
    if not named:
        return "nothing"
    expected = (principal.tenant_id, principal.object_id)
    for source, tid, oid in named:
        if not (isinstance(tid, str) and isinstance(oid, str) and (tid.lower(), oid.lower()) == expected):
            return source
    return None


def _json_segment(segment: object) -> dict[str, Any] | None:
    """A base64url-encoded JSON object (a JWT payload, MSAL's client_info), or None when it is not one."""
    if not isinstance(segment, str) or not segment:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):  # binascii.Error and JSONDecodeError are ValueErrors
        return None
    return value if isinstance(value, dict) else None
