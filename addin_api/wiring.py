"""Composition root: one requests.Session, the token validator, the OBO provider and Dataverse clients per request.

Everything the views need hangs off `app.extensions["addin_api"]` as one `Collaborators` object; nothing is global.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import certifi
import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter

from addin_api import logs, metrics
from addin_api.auth.cache import InMemoryTokenCache, TokenCache
from addin_api.auth.obo import OboProvider
from addin_api.auth.tokens import Principal, TokenValidator
from addin_api.dataverse.client import DataverseClient, UserGate
from addin_api.dataverse.limits import ThrottleWindows
from addin_api.services.me import MeCache
from addin_api.settings import Settings, SettingsError


@dataclass
class Collaborators:
    """The app's long-lived collaborators, built once by `init_app`."""

    settings: Settings
    session: requests.Session
    validator: TokenValidator
    obo: OboProvider
    gate: UserGate
    me_cache: MeCache
    ca_file: Path | None = field(default=None)

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

        return DataverseClient(self.session, environment, token, self.settings, self.gate, principal.key)


@dataclass
class Unconfigured:
    """What the app holds when the environment is invalid: /readyz reports the problems, the API answers 503."""

    problems: list[str]


def build_session(settings: Settings) -> tuple[requests.Session, Path | None]:
    """One HTTP session for every outbound call, trusting the public CAs plus `ADDIN_API_CA_BUNDLE`."""
    session = requests.Session()
    # REQUESTS_CA_BUNDLE and proxies from the environment must not override the CA we were configured with.
    session.trust_env = False
    ca_file: Path | None = None
    if settings.ca_bundle is not None:
        # The public CAs plus the extra one, written once per distinct content.
        content = Path(certifi.where()).read_bytes() + b"\n" + settings.ca_bundle.read_bytes()
        ca_file = Path(tempfile.gettempdir()) / f"addin-api-ca-{hashlib.sha256(content).hexdigest()[:16]}.pem"
        if not ca_file.exists():
            partial = ca_file.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(content)
            partial.replace(ca_file)
        session.verify = str(ca_file)
    adapter = HTTPAdapter(pool_connections=16, pool_maxsize=64, max_retries=0)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "addin-api/0.1"
    return session, ca_file


def build(app: Flask, settings: Settings) -> Collaborators:
    """The collaborators for `settings`; with `redis_url`, tokens and Retry-After windows are shared through Redis."""
    session, ca_file = build_session(settings)
    observed = metrics.metrics_of(app)
    session.hooks["response"].append(observed.outbound_hook(tuple(settings.dataverse_urls.values())))
    cache: TokenCache = InMemoryTokenCache()
    shared: ThrottleWindows | None = None
    if settings.redis_url:
        from addin_api import redis_support

        client = redis_support.connect(settings.redis_url)
        cache = redis_support.RedisTokenCache(client)
        shared = redis_support.RedisThrottleWindows(client)
    logs.register_secret(settings.client_secret)
    return Collaborators(
        settings=settings,
        session=session,
        validator=TokenValidator(settings, session),
        obo=OboProvider(settings, session, metrics.CountingTokenCache(cache, observed)),
        gate=UserGate(settings.per_user_concurrency, shared=shared),
        me_cache=MeCache(settings.me_cache_seconds),
        ca_file=ca_file,
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
    from addin_api.errors import ConfigurationError

    found = current_app.extensions["addin_api"]
    if isinstance(found, Collaborators):
        return found
    raise ConfigurationError("The service's settings are invalid; see /readyz")
