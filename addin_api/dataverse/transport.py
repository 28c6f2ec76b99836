"""Sending one Dataverse request: the user's concurrency slot, the environment's circuit, timeouts, counts and logs.

`PoolTransmitter` puts the bytes on the wire; `Sender` decides whether they may go and records what came back.
Retries are not decided here (`retry.py`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from addin_api.dataverse.breaker import CircuitBreaker
from addin_api.dataverse.errors import DEFAULT_RETRY_AFTER_SECONDS, UNAVAILABLE_RETRY_AFTER_SECONDS
from addin_api.dataverse.limits import UserGate
from addin_api.dataverse.retry import Budget, parse_retry_after
from addin_api.dataverse.streaming import JsonPayload, PayloadReader
from addin_api.errors import DataverseError, DataverseUnavailable

# Its events keep the logger name they have always had (the "logger" field of our JSON logs).
log = logging.getLogger("addin_api.dataverse.client")

# Observes each Dataverse answer: (HTTP status, seconds until it arrived, x-ms-service-request-id).
Observer = Callable[[int, float, str | None], None]


class Reply:
    """One Dataverse answer: status, headers (case-insensitive) and the whole body."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not)."""
        return json.loads(self.content)


# Puts one request on the wire: (method, absolute URL, body, headers, timeout) -> the answer.
Transmit = Callable[[str, str, bytes | JsonPayload | None, dict[str, str], urllib3.Timeout], Reply]


class WindowOpenedWhileQueued(Exception):
    """A Retry-After window opened for the user while a call waited for a concurrency slot."""


class PoolTransmitter:
    """Send one request through the connection pool of the session's adapter for `url`, never redirecting.

    `Session.request` prepares every call from scratch (merging settings, cookies, proxies, hooks and redirect
    bookkeeping): measured at about a quarter of a worker's CPU under load (docs/performance.md). Dataverse calls
    need none of it, so they use the adapter's pool directly: the same connections, TLS context and CA trust.
    """

    def __init__(self, session: requests.Session, api_base: str) -> None:
        self._session = session
        self._api_base = api_base
        self._own_pool: urllib3.HTTPConnectionPool | None = None

    def __call__(
        self, method: str, url: str, data: bytes | JsonPayload | None, headers: dict[str, str], timeout: urllib3.Timeout
    ) -> Reply:
        """Send and read the whole answer."""
        if data is None:
            body: bytes | PayloadReader | None = None
            if method in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = "0"
        else:
            body = data.reader() if isinstance(data, JsonPayload) else data
            headers["Content-Length"] = str(len(body))
        raw = self._pool(url).urlopen(
            method,
            request_target(url),
            body=body,
            headers=headers,
            # Never follow a redirect with the user's token; retries are the client's policy, not urllib3's.
            redirect=False,
            retries=False,
            assert_same_host=False,
            timeout=timeout,
            preload_content=True,
            decode_content=True,
        )
        return Reply(raw.status, raw.headers, raw.data)

    def _pool(self, url: str) -> urllib3.HTTPConnectionPool:
        own = url.startswith(self._api_base)
        if own and self._own_pool is not None:
            return self._own_pool
        adapter = self._session.get_adapter(url)
        if not isinstance(adapter, HTTPAdapter):
            raise DataverseError()
        target = requests.PreparedRequest()
        target.url = url  # all the adapter reads to pick the pool
        verify = self._session.verify
        pool = adapter.get_connection_with_tls_context(target, verify, None, self._session.cert)
        if not isinstance(pool, urllib3.HTTPConnectionPool):
            raise DataverseError()
        adapter.cert_verify(pool, url, verify, self._session.cert)  # type: ignore[no-untyped-call]
        if own:
            self._own_pool = pool  # the environment's pool, for this client's (this request's) later calls
        return pool


def request_target(url: str) -> str:
    """The origin-form request target of an absolute URL: its path and query."""
    _, _, rest = url.partition("://")
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


@dataclass
class _Moments:
    """Wall-clock times of one call, for the debug log."""

    checked_at: float  # the last look at the user's window before sending
    sent_at: float = 0.0
    answered_at: float = 0.0
    window_opened_at: float | None = None  # for a 429: when every worker could see the window


class Sender:
    """Send one user's requests, one concurrency slot each; count them and collect Dataverse's request ids."""

    def __init__(
        self,
        transmit: Transmit,
        *,
        gate: UserGate,
        user_key: Hashable,
        budget: Budget,
        timeout: tuple[float, float],
        base_headers: Mapping[str, str],
        observe: Observer | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.round_trips = 0
        self.service_request_ids: list[str] = []
        self._transmit = transmit
        self._gate = gate
        self._user_key = user_key
        self._budget = budget
        self._timeout = timeout
        self._base_headers = dict(base_headers)
        self._observe = observe
        self._breaker = breaker
        self._lock = threading.Lock()

    def send(
        self, method: str, url: str, data: bytes | JsonPayload | None, headers: Mapping[str, str], token: str
    ) -> Reply:
        """Send one request inside one of the user's slots, with `token`; raise if it may not go now."""
        remaining = self._budget.remaining()
        if remaining <= 0:
            raise DataverseUnavailable(retry_after=UNAVAILABLE_RETRY_AFTER_SECONDS)
        with self._gate.slot(self._user_key, remaining):
            moments = _Moments(checked_at=time.time())
            if self._gate.blocked_for(self._user_key) > 0:
                # Another call got a 429 for this user while we queued for the slot: back to the window check.
                raise WindowOpenedWhileQueued()
            started = self._budget.clock()
            response = self._through_breaker(
                method, url, data, {**headers, "Authorization": f"Bearer {token}"}, moments
            )
            moments.answered_at = time.time()
            if response.status_code == 429:
                # Open the window while still holding the slot, so no queued call slips in before it.
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                self._gate.block(self._user_key, DEFAULT_RETRY_AFTER_SECONDS if retry_after is None else retry_after)
                moments.window_opened_at = time.time()
        self._record(method, response, self._budget.clock() - started, moments)
        return response

    def _through_breaker(
        self, method: str, url: str, data: bytes | JsonPayload | None, headers: Mapping[str, str], moments: _Moments
    ) -> Reply:
        """Transmit unless the environment's circuit is open (DataverseUnavailable with the seconds left)."""
        probe = self._breaker.before_call() if self._breaker is not None else False
        answered = False
        try:
            # The read timeout never outlives the request budget, so gunicorn never kills a worker mid-call.
            remaining = max(self._budget.remaining(), 0.05)
            connect, read = self._timeout
            with self._lock:
                self.round_trips += 1
            moments.sent_at = time.time()
            response = self._transmit(
                method,
                url,
                data,
                {**self._base_headers, **headers},
                urllib3.Timeout(connect=min(connect, remaining), read=min(read, remaining)),
            )
            answered = response.status_code < 500
        finally:
            if self._breaker is not None:
                self._breaker.record(answered, probe)
        return response

    def _record(self, method: str, response: Reply, seconds: float, moments: _Moments) -> None:
        """Keep Dataverse's request id, tell the observer, and log the call at DEBUG."""
        request_id = response.headers.get("x-ms-service-request-id")
        if request_id:
            with self._lock:
                self.service_request_ids.append(request_id)
        if self._observe is not None:
            self._observe(response.status_code, seconds, request_id)
        if not log.isEnabledFor(logging.DEBUG):
            return
        log.debug(
            "dataverse.call",
            extra={
                "event": "dataverse.call",
                "method": method,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
                "service_request_id": request_id,
                # With Dataverse's request id these show whether anything was sent for a user on a decision taken
                # inside a window we knew of (tests/perf/bench.py checks exactly that).
                "checked_at": round(moments.checked_at, 6),
                "sent_at": round(moments.sent_at, 6),
                "answered_at": round(moments.answered_at, 6),
                "window_opened_at": None if moments.window_opened_at is None else round(moments.window_opened_at, 6),
            },
        )
