"""What MSAL is given to talk to Entra: the app's session with our timeout, an http cache per user, no token cache.

Why the http cache is partitioned per user: MSAL wraps every `http_client` in its `ThrottledHttpClient`, whose
replays of 429/5xx/Retry-After answers are keyed without the OBO assertion, so they would be shared by every user
of a tenant (see obo.py's module docstring).
https://learn.microsoft.com/en-us/python/api/msal/msal.application.clientapplication
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import msal
import requests

from addin_api.auth.retry_after import identity_retry_after
from addin_api.settings import Settings


class MsalHttpClient:
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


def client_credential(settings: Settings) -> str | dict[str, str]:
    """The app's credential as MSAL takes it: the client secret, or the certificate's private key and thumbprint.

    Raises OSError when the certificate cannot be read, ValueError when no credential is configured.
    https://learn.microsoft.com/en-us/python/api/msal/msal.application.confidentialclientapplication
    """
    if settings.client_secret:
        return settings.client_secret
    if settings.client_cert_path is not None and settings.client_cert_thumbprint:
        private_key = settings.client_cert_path.read_text()
        return {"private_key": private_key, "thumbprint": settings.client_cert_thumbprint}
    raise ValueError("no client credential configured")


class PerUserHttpCache(MutableMapping[str, Any]):
    """MSAL's `http_cache`, partitioned by caller: what MSAL stores while serving one user only that user reads.

    MSAL reads and writes the mapping from the thread that makes the request (msal/individual_cache.py), so the
    partition is chosen per thread with `for_user`. Requests made outside `for_user` (the OpenID configuration
    fetched when an application is built, the same for everyone) use a shared partition. The number of user
    partitions is bounded (least recently used go first); losing one only forgets that user's replays.
    """

    _SHARED: tuple[str, ...] = ()

    def __init__(self, max_users: int) -> None:
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


class DiscardingTokenCache(msal.TokenCache):  # type: ignore[misc]
    """An MSAL token cache that keeps nothing.

    Our own `TokenCache` holds the Dataverse tokens; MSAL's default in-memory cache would also keep every user's
    access, ID and account entries for the life of the process, without bound.
    """

    def add(self, event: Any, now: Any = None) -> None:
        """Drop the tokens MSAL obtained (they are returned to the caller and cached by OboProvider)."""


def confidential_app(
    settings: Settings,
    tenant_id: str,
    http: MsalHttpClient,
    credential: str | dict[str, str],
    *,
    http_cache: MutableMapping[str, Any] | None = None,
    token_cache: msal.TokenCache | None = None,
) -> Any:
    """The app registration's MSAL `ConfidentialClientApplication` for `tenant_id`, talking through `http`.

    Construction fetches `<authority>/v2.0/.well-known/openid-configuration` (it raises what requests or MSAL raise).
    Instance discovery is only meaningful against Microsoft's clouds; the devstack (or any other host) is trusted as
    configured. https://learn.microsoft.com/en-us/python/api/msal/msal.application.confidentialclientapplication
    """
    return msal.ConfidentialClientApplication(
        settings.client_id,
        client_credential=credential,
        authority=settings.authority(tenant_id),
        http_client=http,
        http_cache=http_cache,
        instance_discovery=None if settings.is_public_cloud else False,
        token_cache=token_cache,
        # Refresh tokens are never redeemed: every OBO request brings a fresh assertion, app-only needs none.
        exclude_scopes=["offline_access"],
        enable_pii_log=False,
    )
