"""App-only tokens (the client-credentials grant) for the app registration itself: `<resource>/.default`.

https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow

The mailbox-sync worker and the admin CLI act as the app (a Dataverse application user, Graph application
permissions), not as a signed-in user. MSAL is built as for on-behalf-of (`msal_http.confidential_app`), through the
app's `requests.Session`; unlike OBO the answer is the same for every caller, so MSAL's own token cache keeps it
(`acquire_token_for_client` reads that cache first) and its default http cache is fine.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import msal
import requests
from msal.exceptions import MsalError

from addin_api.auth.msal_errors import DEFAULT_RETRY_AFTER, map_msal_error
from addin_api.auth.msal_http import MsalHttpClient, client_credential, confidential_app
from addin_api.errors import ConfigurationError, IdentityUnavailable
from addin_api.settings import Settings

__all__ = ["AppTokenProvider"]

logger = logging.getLogger(__name__)


class AppTokenProvider:
    """Client-credentials access tokens for one tenant, per resource, cached by MSAL until they expire."""

    def __init__(self, settings: Settings, session: requests.Session, tenant_id: str) -> None:
        if tenant_id not in settings.tenants:
            raise ConfigurationError("The tenant is not configured")
        self._settings = settings
        self._tenant_id = tenant_id
        self._http = MsalHttpClient(session, settings.timeout)
        self._cache = msal.TokenCache()
        self._app: Any = None
        self._lock = threading.Lock()

    def token(self, resource: str, *, force_refresh: bool = False) -> str:
        """An app-only access token for `resource` (e.g. a Dataverse environment URL); raise ApiError on failure."""
        scopes = [f"{resource.rstrip('/')}/.default"]
        app = self._application()
        if force_refresh:
            # The resource rejected the cached token: forget it so that MSAL asks the token endpoint again.
            for cached in list(self._cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=scopes)):
                self._cache.remove_at(cached)
        self._http.begin()
        try:
            result = app.acquire_token_for_client(scopes=scopes)
        except (requests.RequestException, MsalError, ValueError) as exc:
            raise self._unavailable(type(exc).__name__) from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if isinstance(token, str) and token:
            return token
        error = map_msal_error(
            result if isinstance(result, dict) else {}, status=self._http.status, retry_after=self._http.retry_after
        )
        logger.warning(
            "app_token_failed",
            extra={"tid": self._tenant_id, "error": result.get("error"), "mapped": error.code},
        )
        raise error

    def _application(self) -> Any:
        with self._lock:
            if self._app is None:
                try:
                    credential = client_credential(self._settings)
                except (OSError, ValueError):
                    logger.error("app_token_credential_unreadable", extra={"tid": self._tenant_id})
                    raise ConfigurationError() from None
                self._http.begin()
                try:
                    self._app = confidential_app(
                        self._settings, self._tenant_id, self._http, credential, token_cache=self._cache
                    )
                except (requests.RequestException, MsalError) as exc:
                    raise self._unavailable(type(exc).__name__) from None
                except (ValueError, KeyError):
                    logger.error("app_token_authority_invalid", extra={"tid": self._tenant_id})
                    raise ConfigurationError() from None
            return self._app

    def _unavailable(self, reason: str) -> IdentityUnavailable:
        logger.warning("app_token_unavailable", extra={"tid": self._tenant_id, "reason": reason})
        return IdentityUnavailable(retry_after=self._http.retry_after or DEFAULT_RETRY_AFTER)
