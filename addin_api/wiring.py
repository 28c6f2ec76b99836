"""Composition root: one requests.Session, the token validator, the OBO provider and Dataverse clients per request.

Everything the views need hangs off `app.extensions["addin_api"]` as one `Collaborators` object; nothing is global.
The mailbox-sync worker and the admin CLI act as the app itself: `AppAccess` (built by `build_app_access`).
"""

from __future__ import annotations

import functools
import ssl
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import certifi
import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter

from addin_api import logs, metrics
from addin_api.auth.app_tokens import AppTokenProvider
from addin_api.auth.cache import InMemoryTokenCache, TokenCache
from addin_api.auth.obo import OboProvider
from addin_api.auth.tokens import Principal, TokenValidator
from addin_api.dataverse.breaker import Breakers
from addin_api.dataverse.client import DataverseClient
from addin_api.dataverse.limits import SqliteThrottleWindows, ThrottleWindows, UserGate
from addin_api.dataverse.transport import Observer
from addin_api.errors import ConfigurationError
from addin_api.services.me import MeCache
from addin_api.settings import Settings, SettingsError

if TYPE_CHECKING:
    from addin_api.sync.graph import GraphClient
    from addin_api.sync.store import SyncStore


@dataclass
class Collaborators:
    """The app's long-lived collaborators, built once by `init_app`."""

    settings: Settings
    session: requests.Session
    validator: TokenValidator
    obo: OboProvider
    gate: UserGate
    me_cache: MeCache
    observe_dataverse: Observer
    breakers: Breakers

    @functools.cached_property
    def activity_id_key(self) -> bytes:
        """The key of the activity ids only this deployment can compute (`Settings.activity_id_key`)."""
        try:
            return self.settings.activity_id_key()
        except (OSError, ValueError) as exc:
            raise ConfigurationError("No readable secret to key activity ids with") from exc

    @functools.cached_property
    def sync_store(self) -> SyncStore | None:
        """What the mailbox sync workers record (Redis, or SQLite in the shared state directory); None when this
        deployment shares neither with them."""
        if self.settings.redis_url is None and self.settings.shared_state_dir is None:
            return None
        from addin_api.sync.store import open_store

        return open_store(self.settings.redis_url, self.settings.shared_state_dir)

    def environment_url(self, principal: Principal) -> str:
        """The Dataverse environment of the caller's tenant (from settings, never from the request)."""
        return self.settings.dataverse_urls[principal.tenant_id]

    def dataverse(self, principal: Principal) -> DataverseClient:
        """A Dataverse client acting as `principal` in their tenant's environment."""
        environment = self.environment_url(principal)

        def token(force_refresh: bool) -> str:
            if force_refresh:
                self.obo.forget(principal, environment)
            return self.obo.dataverse_token(principal, environment, force_refresh=force_refresh)

        return DataverseClient(
            self.session,
            environment,
            token,
            self.settings,
            self.gate,
            principal.key,
            observe=self.observe_dataverse,
            breaker=self.breakers.for_environment(environment),
        )

    def graph(self, principal: Principal) -> GraphClient:
        """A Microsoft Graph client acting as `principal` (delegated, on-behalf-of them), for their own mailbox.

        It retries a throttled request once, within two seconds: a pane is waiting.
        """
        from addin_api.sync.graph import GraphClient
        from addin_api.sync.graph_limits import RetryPolicy

        def token(force_refresh: bool) -> str:
            if force_refresh:
                self.obo.forget_graph(principal)
            return self.obo.graph_token(principal, force_refresh=force_refresh)

        return GraphClient(
            self.session,
            self.settings.graph_url,
            token,
            timeout=self.settings.timeout,
            tenant_id=principal.tenant_id,
            policy=RetryPolicy(max_attempts=2, max_total_wait=2.0),
        )


@dataclass
class AppAccess:
    """The app registration acting as itself (client credentials): its Dataverse application user, and through it,
    by impersonation, any user of the environment."""

    settings: Settings
    session: requests.Session
    gate: UserGate
    breakers: Breakers = field(default_factory=Breakers)
    _tokens: dict[str, AppTokenProvider] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def environment(self, requested: str | None = None) -> tuple[str, str]:
        """(tenant, environment URL) of a configured environment: `requested`, or the only one; else LookupError."""
        configured = {url.rstrip("/"): tenant for tenant, url in self.settings.dataverse_urls.items()}
        if requested is None:
            if len(configured) != 1:
                raise LookupError("several Dataverse environments are configured: choose one with --environment")
            requested = next(iter(configured))
        url = requested.rstrip("/")
        if url not in configured:
            raise LookupError(f"{url} is not one of the configured Dataverse environments (ADDIN_API_DATAVERSE_URLS)")
        return configured[url], url

    def tokens(self, tenant_id: str) -> AppTokenProvider:
        """The app-only token provider of a configured tenant."""
        with self._lock:
            provider = self._tokens.get(tenant_id)
            if provider is None:
                provider = self._tokens[tenant_id] = AppTokenProvider(self.settings, self.session, tenant_id)
            return provider

    def dataverse(self, environment_url: str, acting_as: str | None = None) -> DataverseClient:
        """A Dataverse client for a configured environment as the application user, or acting as the user with Entra
        object id `acting_as` (impersonation: that user's roles decide, within the application user's)."""
        tenant_id, environment = self.environment(environment_url)
        provider = self.tokens(tenant_id)

        def token(force_refresh: bool) -> str:
            return provider.token(environment, force_refresh=force_refresh)

        return DataverseClient(
            self.session,
            environment,
            token,
            self.settings,
            self.gate,
            ("app", tenant_id, self.settings.client_id),
            breaker=self.breakers.for_environment(environment),
            app_only=True,
            acting_as=acting_as,
        )


def build_app_access(settings: Settings) -> AppAccess:
    """App-only access for `settings` (a process of its own: the worker or the admin CLI)."""
    logs.register_secret(settings.client_secret)
    return AppAccess(settings, build_session(settings), UserGate(settings.per_user_concurrency))


@dataclass
class Unconfigured:
    """What the app holds when the environment is invalid: /readyz reports the problems, the API answers 503."""

    problems: list[str]


class _TrustAdapter(HTTPAdapter):
    """An adapter that verifies every HTTPS connection with one prebuilt SSL context.

    Given a CA file path, requests has urllib3 load the file into a new context for each new connection (about
    14 ms of CPU with the public CAs); one context loaded at start-up costs that once.
    """

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self._context = context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Pools default to our context."""
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> Any:
        """Use our context for verified connections instead of a CA file per connection."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if verify is not False:
            kwargs: dict[str, Any] = pool_kwargs  # type: ignore[assignment]
            kwargs.pop("ca_certs", None)
            kwargs.pop("ca_cert_dir", None)
            kwargs["ssl_context"] = self._context
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        """Keep requests from pointing the connection at a CA file the context already holds."""
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        if verify is not False:
            conn.ca_certs = None
            conn.ca_cert_dir = None


def build_session(settings: Settings) -> requests.Session:
    """One HTTP session for every outbound call, trusting the public CAs plus `ADDIN_API_CA_BUNDLE`."""
    session = requests.Session()
    # REQUESTS_CA_BUNDLE and proxies from the environment must not override the CA we were configured with.
    session.trust_env = False
    context = ssl.create_default_context(cafile=certifi.where())
    if settings.ca_bundle is not None:
        context.load_verify_locations(cafile=str(settings.ca_bundle))
    session.mount("https://", _TrustAdapter(context, pool_connections=16, pool_maxsize=64, max_retries=0))
    session.headers["User-Agent"] = "addin-api/0.1"
    return session


def build(app: Flask, settings: Settings) -> Collaborators:
    """The collaborators for `settings`; with `redis_url`, tokens and Retry-After windows are shared through Redis."""
    session = build_session(settings)
    observed = metrics.metrics_of(app)
    session.hooks["response"].append(observed.outbound_hook(tuple(settings.dataverse_urls.values())))
    cache: TokenCache = InMemoryTokenCache()
    shared: ThrottleWindows | None = None
    if settings.redis_url:
        # Imported here, not for a cycle (redis_support imports nothing of ours): loading redis-py takes a few hundred
        # milliseconds, which a process with no Redis configured need not pay at start.
        from addin_api import redis_support

        client = redis_support.connect(settings.redis_url)
        cache = redis_support.RedisTokenCache(client)
        shared = redis_support.RedisThrottleWindows(client)
    elif settings.shared_state_dir is not None:
        # gunicorn's workers on this host share users' Retry-After windows (and keep them across recycling).
        shared = SqliteThrottleWindows(settings.shared_state_dir / "throttle-windows.sqlite3")
    logs.register_secret(settings.client_secret)
    logs.register_secret(settings.activity_id_secret)
    return Collaborators(
        settings=settings,
        session=session,
        validator=TokenValidator(settings, session),
        obo=OboProvider(settings, session, metrics.CountingTokenCache(cache, observed), windows=shared),
        gate=UserGate(settings.per_user_concurrency, shared=shared),
        me_cache=MeCache(settings.me_cache_seconds),
        observe_dataverse=observed.dataverse_observer(),
        breakers=Breakers(),
    )


def init_app(app: Flask, settings: Settings | None) -> None:
    """Parse settings (unless given) and build the collaborators."""
    if settings is None:
        try:
            settings = Settings.from_env()
        except SettingsError as exc:
            app.extensions["addin_api"] = Unconfigured(exc.problems)
            return
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.extensions["addin_api"] = build(app, settings)


def reconfigure(app: Flask) -> Collaborators | Unconfigured:
    """Re-read the environment of an app that started unconfigured (a secret mounted late); return what it holds."""
    found = app.extensions["addin_api"]
    if not isinstance(found, Unconfigured):
        assert isinstance(found, Collaborators)
        return found
    with _reconfigure_lock:
        found = app.extensions["addin_api"]
        if isinstance(found, Unconfigured):
            try:
                settings = Settings.from_env()
            except SettingsError as exc:
                found = Unconfigured(exc.problems)
            else:
                app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
                found = build(app, settings)
            app.extensions["addin_api"] = found
        assert isinstance(found, Collaborators | Unconfigured)
        return found


_reconfigure_lock = threading.Lock()


def collaborators() -> Collaborators:
    """The current app's collaborators (raises ConfigurationError when the settings are invalid)."""
    found = current_app.extensions["addin_api"]
    if isinstance(found, Collaborators):
        return found
    raise ConfigurationError("The service's settings are invalid; see /readyz")
