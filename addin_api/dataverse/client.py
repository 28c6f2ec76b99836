"""The one Dataverse Web API client: HTTP, OData headers, retries, throttling and error mapping live only here.

Retry policy (ours, for an interactive add-in with a 20 s budget; docs/dataverse.md):
- Only idempotent operations are retried: GET, PATCH with If-Match / If-None-Match, DELETE, creates whose body
  carries a client-generated key (`idempotent=True`) and `$batch` of GETs only (or `idempotent=True`).
- 429: Dataverse's `Retry-After` is recorded for the user in the shared `UserGate`. An idempotent call retries
  (at most twice) when the wait is ≤ `settings.max_retry_after_wait` and fits the budget; otherwise `Throttled`
  with the same seconds. Until the window ends no call for that user is sent: a short remaining window is waited
  out, a long one raises `Throttled(remaining, rounded up)` at once. Other users are unaffected.
- 502/503/504, connection errors and timeouts: ≤ 2 retries with full-jitter exponential backoff (0.5 s base, 4 s
  cap) inside the budget, then `DataverseUnavailable(retry_after=…)`. Non-idempotent calls are never retried.
- 401: the Dataverse token is refreshed once (`token(True)`) and the call repeated; a second 401 is a
  `DataverseError` (502) — the caller's own token was valid, so asking the pane to sign in again would loop.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/api-limits#how-to-re-try
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as transport

from addin_api.dataverse import odata
from addin_api.dataverse.batch import BatchRequest, BatchResponse, ChangeSet, decode_batch, encode_batch
from addin_api.dataverse.breaker import CircuitBreaker
from addin_api.dataverse.limits import UserGate
from addin_api.errors import (
    ApiError,
    Conflict,
    DataverseError,
    DataverseForbidden,
    DataverseUnavailable,
    NotFound,
    PayloadTooLarge,
    Throttled,
    ValidationFailed,
)
from addin_api.settings import Settings

__all__ = [
    "BatchRequest",
    "BatchResponse",
    "ChangeSet",
    "DataverseClient",
    "DuplicateRecord",
    "Observer",
    "Reply",
    "UserGate",
    "error_for",
]

log = logging.getLogger(__name__)

API_PATH = "/api/data/v9.2/"
# Dataverse error codes we act on (the `code` may be empty: then the HTTP status decides).
# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/web-service-error-codes
DUPLICATE_RECORD = "0x80040237"
NOT_FOUND = "0x80040217"
PRIVILEGE_DENIED = frozenset({"0x80040220", "0x80040231"})
SERVICE_PROTECTION = frozenset({"0x80072322", "0x80072321", "0x80072326"})

RETRYABLE_STATUS = frozenset({502, 503, 504})
MAX_TRANSIENT_RETRIES = 2
MAX_THROTTLE_RETRIES = 2
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 4.0
# When Dataverse omits or garbles Retry-After we still must not hammer it.
DEFAULT_RETRY_AFTER_SECONDS = 5
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
REJECTED_VALUE = "Dynamics 365 rejected a value"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENTITY_ID = re.compile(r"\(([0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})\)\s*$")


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


class _WindowOpenedWhileQueued(Exception):
    """A Retry-After window opened for the user while a call waited for a concurrency slot."""


class DuplicateRecord(Conflict):
    """A create hit an existing primary key (412 `0x80040237`), or an If-None-Match upsert found the record.

    Callers creating with a deterministic id catch it to mean "already exists"; uncaught it is a 409.
    """

    title = "The record already exists"


def error_for(
    status: int,
    code: str = "",
    *,
    retry_after: float | None = None,
    precondition_means_duplicate: bool = False,
) -> ApiError:
    """Map a Dataverse error (HTTP status + hex code) to our exception; Dataverse's message is never used."""
    code = code.strip().lower()
    if status == 429 or code in SERVICE_PROTECTION:
        return Throttled(retry_after=_whole_seconds(retry_after, DEFAULT_RETRY_AFTER_SECONDS))
    if code == DUPLICATE_RECORD:
        return DuplicateRecord()
    if status == 403 or code in PRIVILEGE_DENIED:
        return DataverseForbidden()
    if status == 404 or code == NOT_FOUND:
        return NotFound()
    if status == 412:
        # With If-None-Match: * a 412 means "a record with matching key values already exists"; otherwise it is
        # an ETag (RowVersion) mismatch: someone changed the record first.
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api
        return DuplicateRecord() if precondition_means_duplicate else Conflict()
    if status == 409:
        return Conflict()
    if status == 413:
        return PayloadTooLarge()
    if status == 400:
        return ValidationFailed({"dataverse": [REJECTED_VALUE]})
    if status >= 500:
        return DataverseUnavailable(retry_after=_whole_seconds(retry_after, UNAVAILABLE_RETRY_AFTER_SECONDS))
    return DataverseError()


class DataverseClient:
    """One user's view of one environment for one API request.

    The request budget (`settings.request_budget_seconds`) starts when the client is built: build one per
    inbound request. `round_trips` counts HTTP requests sent (retries included); `service_request_ids` collects
    Dataverse's `x-ms-service-request-id` headers for logs.
    """

    def __init__(
        self,
        session: requests.Session,
        environment_url: str,
        token: Callable[[bool], str],
        settings: Settings,
        gate: UserGate,
        user_key: Hashable,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        observe: Observer | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.environment_url = environment_url.rstrip("/")
        self.api_base = f"{self.environment_url}{API_PATH}"
        self.round_trips = 0
        # Dataverse's request ids, for our structured logs and for support tickets with Microsoft.
        self.service_request_ids: list[str] = []
        self._session = session
        self._token_source = token
        self._token: str | None = None
        self._refreshed = False
        self._settings = settings
        self._gate = gate
        self._user_key = user_key
        self._sleep = sleep
        self._clock = clock
        self._deadline = clock() + settings.request_budget_seconds
        self._lock = threading.Lock()
        self._observe = observe
        self._breaker = breaker
        self._pool: urllib3.HTTPConnectionPool | None = None
        # The session's own headers (User-Agent, Accept-Encoding, keep-alive) go on every call, as requests would.
        self._base_headers = {
            name: value if isinstance(value, str) else value.decode("latin-1")
            for name, value in session.headers.items()
        }

    # -- operations -----------------------------------------------------------------------------------------------

    def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        annotations: bool = False,
        max_page_size: int | None = None,
    ) -> dict[str, Any]:
        """GET `path` (relative to the API base, or an `@odata.nextLink`) and return the JSON object."""
        prefer = _prefer(annotations=annotations, max_page_size=max_page_size)
        headers = {"Prefer": prefer} if prefer else {}
        response = self._call("GET", self._url(path, params), headers=headers, idempotent=True)
        return _json_object(response)

    def get_all(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        limit: int,
        max_page_size: int = 5000,
        annotations: bool = False,
    ) -> list[dict[str, Any]]:
        """GET a collection and follow `@odata.nextLink` until `limit` records (one round trip per page)."""
        records: list[dict[str, Any]] = []
        next_path: str | None = path
        next_params = params
        while next_path is not None and len(records) < limit:
            page = self.get(next_path, next_params, annotations=annotations, max_page_size=max_page_size)
            value = page.get("value")
            if not isinstance(value, list):
                raise DataverseError()
            records.extend(v for v in value if isinstance(v, dict))
            link = page.get("@odata.nextLink")
            next_path, next_params = (link, None) if isinstance(link, str) else (None, None)
        return records[:limit]

    def create(
        self,
        entity_set: str,
        body: Mapping[str, Any],
        *,
        select: Sequence[str] | None = None,
        idempotent: bool = False,
        annotations: bool = False,
    ) -> dict[str, Any]:
        """POST a record; return it (with `select`) or `{"id": …}` from `OData-EntityId`.

        `idempotent=True` says the body carries a client-generated primary key, so repeating the POST after a
        lost answer cannot create a second record (the repeat fails with `DuplicateRecord` instead).
        """
        url = self.api_base + _entity_set(entity_set)
        headers: dict[str, str] = {}
        if select:
            url += "?" + odata.query_string({"$select": ",".join(_column(c) for c in select)})
            headers["Prefer"] = _prefer(representation=True, annotations=annotations)
        response = self._call("POST", url, body=body, headers=headers, idempotent=idempotent)
        if select and response.status_code == 201:
            return _json_object(response)
        return {"id": _entity_id(response)}

    def update(
        self,
        entity_set: str,
        record_id: str,
        body: Mapping[str, Any],
        *,
        if_match: str | None = "*",
        if_none_match: str | None = None,
        select: Sequence[str] | None = None,
        annotations: bool = False,
    ) -> dict[str, Any] | None:
        """PATCH a record; `If-Match: *` by default so an update never creates (upserts) a record.

        `if_match=None, if_none_match="*"` turns the PATCH into a create-only upsert: an existing record answers
        412, raised as `DuplicateRecord`. Returns the record with `select`, else None.
        """
        url = self._record_url(entity_set, record_id)
        headers: dict[str, str] = {}
        if if_match is not None:
            headers["If-Match"] = if_match
        if if_none_match is not None:
            headers["If-None-Match"] = if_none_match
        if select:
            url += "?" + odata.query_string({"$select": ",".join(_column(c) for c in select)})
            headers["Prefer"] = _prefer(representation=True, annotations=annotations)
        response = self._call(
            "PATCH",
            url,
            body=body,
            headers=headers,
            idempotent=if_match is not None or if_none_match is not None,
            precondition_means_duplicate=if_none_match is not None,
        )
        if select and response.status_code == 200:
            return _json_object(response)
        return None

    def delete(self, entity_set: str, record_id: str) -> None:
        """DELETE a record (a repeat after a lost answer may raise NotFound: the record is gone either way)."""
        self._call("DELETE", self._record_url(entity_set, record_id), idempotent=True)

    def delete_ref(self, entity_set: str, record_id: str, navigation_property: str) -> None:
        """Clear a single-valued navigation property: `DELETE {set}({id})/{property}/$ref`."""
        url = f"{self._record_url(entity_set, record_id)}/{_column(navigation_property)}/$ref"
        self._call("DELETE", url, idempotent=True)

    def batch(
        self,
        items: Sequence[BatchRequest | ChangeSet],
        *,
        continue_on_error: bool = False,
        idempotent: bool | None = None,
    ) -> list[BatchResponse]:
        """Send one `$batch` and return its parts' responses, change sets flattened, in order.

        Failed parts are returned, not raised: call `raise_for` on those that matter. When a change set fails,
        Dataverse answers it with the one failing response, so the list can be shorter than the requests.
        `idempotent` defaults to "GETs only"; pass True for change sets of idempotent creates.
        """
        content_type, payload = encode_batch(items, self.api_base)
        if idempotent is None:
            idempotent = all(isinstance(i, BatchRequest) and i.method.upper() == "GET" for i in items)
        headers = {"Content-Type": content_type}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        response = self._call(
            "POST", self.api_base + "$batch", data=payload, headers=headers, idempotent=idempotent, multipart_ok=True
        )
        try:
            return decode_batch(response.headers.get("Content-Type", ""), response.content)
        except ValueError:
            raise DataverseError() from None

    def raise_for(self, response: BatchResponse, *, precondition_means_duplicate: bool = False) -> None:
        """Raise our exception for a failed batch part, as for a top-level response; do nothing on 2xx."""
        if response.ok:
            return
        retry_after = _parse_retry_after(response.headers.get("retry-after"))
        error = error_for(
            response.status,
            _error_code(response.body),
            retry_after=retry_after,
            precondition_means_duplicate=precondition_means_duplicate,
        )
        if isinstance(error, Throttled):
            self._gate.block(self._user_key, float(error.retry_after or DEFAULT_RETRY_AFTER_SECONDS))
        raise error

    # -- HTTP -----------------------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        url: str,
        *,
        body: Mapping[str, Any] | None = None,
        data: bytes | JsonPayload | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
        precondition_means_duplicate: bool = False,
        multipart_ok: bool = False,
    ) -> Reply:
        """Send with the retry policy of the module docstring; return a 2xx response or raise our exception."""
        request_headers = {
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            **(headers or {}),
        }
        if body is not None:
            data = json_payload(body)
            request_headers["Content-Type"] = "application/json; charset=utf-8"
        transient_retries = 0
        throttle_retries = 0
        while True:
            self._wait_out_throttle()
            try:
                response = self._send(method, url, data, request_headers)
            except _WindowOpenedWhileQueued:
                continue
            except (transport.TimeoutError, transport.ProtocolError, transport.SSLError) as exc:
                # Refused or dropped connections and timeouts may pass; a certificate we do not trust will not.
                transient = not isinstance(exc, transport.SSLError)
                log.warning(
                    "dataverse.unreachable",
                    extra={"event": "dataverse.unreachable", "method": method, "error": type(exc).__name__},
                )
                if transient and idempotent and transient_retries < MAX_TRANSIENT_RETRIES:
                    if self._back_off(transient_retries, None):
                        transient_retries += 1
                        continue
                raise DataverseUnavailable(retry_after=UNAVAILABLE_RETRY_AFTER_SECONDS) from None
            except (transport.HTTPError, requests.RequestException):
                raise DataverseError() from None

            status = response.status_code
            if 200 <= status < 300:
                return response
            retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            if status == 401 and not self._refreshed:
                # The cached OBO token may have been revoked or expired early: get a fresh one, once.
                self._refreshed = True
                self._token = self._token_source(True)
                continue
            if status == 429:
                wait = retry_after if retry_after is not None else float(DEFAULT_RETRY_AFTER_SECONDS)
                self._gate.block(self._user_key, wait)
                if (
                    idempotent
                    and throttle_retries < MAX_THROTTLE_RETRIES
                    and wait <= self._settings.max_retry_after_wait
                    and wait < self._remaining()
                ):
                    throttle_retries += 1
                    continue  # `_wait_out_throttle` sleeps until the window ends, then we resend.
                raise Throttled(retry_after=_whole_seconds(wait, DEFAULT_RETRY_AFTER_SECONDS))
            if status in RETRYABLE_STATUS and idempotent and transient_retries < MAX_TRANSIENT_RETRIES:
                if retry_after is None or retry_after <= self._settings.max_retry_after_wait:
                    if self._back_off(transient_retries, retry_after):
                        transient_retries += 1
                        continue
            if multipart_ok and response.headers.get("Content-Type", "").lower().startswith("multipart/mixed"):
                # A $batch whose part failed (without continue-on-error) answers with the parts so far.
                return response
            code = _error_code(_safe_json(response))
            log.info(
                "dataverse.error",
                extra={"event": "dataverse.error", "method": method, "status": status, "code": code},
            )
            raise error_for(
                status, code, retry_after=retry_after, precondition_means_duplicate=precondition_means_duplicate
            )

    def _send(self, method: str, url: str, data: bytes | JsonPayload | None, headers: Mapping[str, str]) -> Reply:
        """Send one HTTP request inside one of the user's concurrency slots."""
        if self._token is None:
            self._token = self._token_source(False)
        remaining = self._remaining()
        if remaining <= 0:
            raise DataverseUnavailable(retry_after=UNAVAILABLE_RETRY_AFTER_SECONDS)
        with self._gate.slot(self._user_key, remaining):
            checked_at = time.time()  # when we last looked at the user's window before sending
            if self._gate.blocked_for(self._user_key) > 0:
                # Another call got a 429 for this user while we queued for the slot: back to the window check.
                raise _WindowOpenedWhileQueued()
            # Refused at once while the environment's circuit is open (DataverseUnavailable with the seconds left).
            probe = self._breaker.before_call() if self._breaker is not None else False
            answered = False
            try:
                # The read timeout never outlives the request budget, so gunicorn never kills a worker mid-call.
                remaining = max(self._remaining(), 0.05)
                connect, read = self._settings.timeout
                started = self._clock()
                with self._lock:
                    self.round_trips += 1
                sent_at = time.time()
                response = self._transmit(
                    method,
                    url,
                    data,
                    {**self._base_headers, **headers, "Authorization": f"Bearer {self._token}"},
                    urllib3.Timeout(connect=min(connect, remaining), read=min(read, remaining)),
                )
                answered = response.status_code < 500
            finally:
                if self._breaker is not None:
                    self._breaker.record(answered, probe)
            answered_at = time.time()
            window_opened_at: float | None = None
            if response.status_code == 429:
                # Open the window while still holding the slot, so no queued call slips in before it.
                retry_after = _parse_retry_after(response.headers.get("Retry-After"))
                self._gate.block(self._user_key, DEFAULT_RETRY_AFTER_SECONDS if retry_after is None else retry_after)
                window_opened_at = time.time()
        seconds = self._clock() - started
        request_id = response.headers.get("x-ms-service-request-id")
        if request_id:
            with self._lock:
                self.service_request_ids.append(request_id)
        if self._observe is not None:
            self._observe(response.status_code, seconds, request_id)
        if not log.isEnabledFor(logging.DEBUG):
            return response
        log.debug(
            "dataverse.call",
            extra={
                "event": "dataverse.call",
                "method": method,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
                "service_request_id": request_id,
                # Wall-clock times (the last window check, sent, answered, and for a 429 when every worker could
                # see the window): with Dataverse's request id they show whether anything was sent for a user on a
                # decision taken inside a window we knew of (tests/perf/bench.py checks exactly that).
                "checked_at": round(checked_at, 6),
                "sent_at": round(sent_at, 6),
                "answered_at": round(answered_at, 6),
                "window_opened_at": None if window_opened_at is None else round(window_opened_at, 6),
            },
        )
        return response

    def _transmit(
        self,
        method: str,
        url: str,
        data: bytes | JsonPayload | None,
        headers: dict[str, str],
        timeout: urllib3.Timeout,
    ) -> Reply:
        """Send one request through the connection pool of the session's adapter for `url`, never redirecting.

        `Session.request` prepares every call from scratch (merging settings, cookies, proxies, hooks and redirect
        bookkeeping): measured at about a quarter of a worker's CPU under load (docs/performance.md). Dataverse calls
        need none of it, so they use the adapter's pool directly: the same connections, TLS context and CA trust.
        """
        own = url.startswith(self.api_base)
        pool = self._pool if own else None
        if pool is None:
            adapter = self._session.get_adapter(url)
            if not isinstance(adapter, HTTPAdapter):
                raise DataverseError()
            target = requests.PreparedRequest()
            target.url = url  # all the adapter reads to pick the pool
            verify = self._session.verify
            found = adapter.get_connection_with_tls_context(target, verify, None, self._session.cert)
            if not isinstance(found, urllib3.HTTPConnectionPool):
                raise DataverseError()
            pool = found
            adapter.cert_verify(pool, url, verify, self._session.cert)  # type: ignore[no-untyped-call]
            if own:
                self._pool = pool  # the environment's pool, for this client's (this request's) later calls
        if data is None:
            body: bytes | PayloadReader | None = None
            if method in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = "0"
        else:
            body = data.reader() if isinstance(data, JsonPayload) else data
            headers["Content-Length"] = str(len(body))
        raw = pool.urlopen(
            method,
            _request_target(url),
            body=body,
            headers=headers,
            # Never follow a redirect with the user's token; retries are this client's policy, not urllib3's.
            redirect=False,
            retries=False,
            assert_same_host=False,
            timeout=timeout,
            preload_content=True,
            decode_content=True,
        )
        return Reply(raw.status, raw.headers, raw.data)

    def _wait_out_throttle(self) -> None:
        """Send nothing inside the user's Retry-After window: wait out a short one, refuse a long one."""
        left = self._gate.blocked_for(self._user_key)
        while left > 0:
            if left > self._settings.max_retry_after_wait or left >= self._remaining():
                raise Throttled(retry_after=max(1, math.ceil(left)))
            self._sleep(left)
            left = self._gate.blocked_for(self._user_key)

    def _back_off(self, attempt: int, retry_after: float | None) -> bool:
        """Sleep before retry `attempt` (full jitter), unless that would overrun the budget; tell if it slept."""
        delay = random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))
        if retry_after is not None:
            delay = max(delay, retry_after)
        if delay >= self._remaining():
            return False
        self._sleep(delay)
        return True

    def _remaining(self) -> float:
        return self._deadline - self._clock()

    # -- URLs -----------------------------------------------------------------------------------------------------

    def _url(self, path: str, params: Mapping[str, str] | None) -> str:
        if path.startswith(self.api_base):
            url = path  # an @odata.nextLink: follow it unchanged
        elif path.startswith(("http:", "https:", "/")) or any(c in path for c in " \r\n#"):
            raise ValueError("a Dataverse path is relative to the API base")
        else:
            url = self.api_base + path
        if params:
            url += ("&" if "?" in url else "?") + odata.query_string(params)
        return url

    def _record_url(self, entity_set: str, record_id: str) -> str:
        return f"{self.api_base}{_entity_set(entity_set)}({odata.guid(record_id)})"


# A JSON body holding a string this long (a base64 attachment) is sent from the caller's objects in slices rather
# than serialised into one buffer: `json.dumps(body).encode()` would hold two more copies of every attachment.
STREAM_STRINGS_FROM = 256 * 1024
_READ_SIZE = 64 * 1024


class JsonPayload:
    """A JSON body as pieces: serialised bytes around long plain-ASCII strings kept as they are (reusable)."""

    def __init__(self, pieces: Sequence[bytes | str]) -> None:
        self.pieces = tuple(pieces)
        # The strings are ASCII: one byte per character.
        self.length = sum(len(piece) for piece in self.pieces)

    def reader(self) -> PayloadReader:
        """A fresh file-like reader over the body (one per attempt)."""
        return PayloadReader(self.pieces, self.length)


class PayloadReader:
    """`read(n)` and `len()` for requests and urllib3: Content-Length is set and the body is sent in slices."""

    def __init__(self, pieces: Sequence[bytes | str], length: int) -> None:
        self._pieces = pieces
        self._length = length
        self._index = 0
        self._offset = 0

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(_READ_SIZE):
            yield chunk

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left when negative); b"" at the end."""
        want = self._length if size is None or size < 0 else size
        out: list[bytes] = []
        while want > 0 and self._index < len(self._pieces):
            piece = self._pieces[self._index]
            part = piece[self._offset : self._offset + want]
            out.append(part.encode("ascii") if isinstance(part, str) else part)
            self._offset += len(part)
            want -= len(part)
            if self._offset >= len(piece):
                self._index, self._offset = self._index + 1, 0
        return b"".join(out)


def json_payload(body: Mapping[str, Any]) -> bytes | JsonPayload:
    """The body as compact UTF-8 JSON: bytes, or a `JsonPayload` when it holds long strings (attachments)."""
    long_strings: list[str] = []
    tag = f"addin-api-long-string-{uuid.uuid4().hex}-"

    def swap(value: Any) -> Any:
        if isinstance(value, str) and len(value) >= STREAM_STRINGS_FROM and _plain_ascii(value):
            long_strings.append(value)
            return f"{tag}{len(long_strings) - 1}"
        if isinstance(value, Mapping):
            return {key: swap(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [swap(item) for item in value]
        return value

    text = json.dumps(swap(body), ensure_ascii=False, separators=(",", ":"))
    if not long_strings:
        return text.encode("utf-8")
    pieces: list[bytes | str] = []
    for index, part in enumerate(re.split(f"{re.escape(tag)}(\\d+)", text)):
        pieces.append(long_strings[int(part)] if index % 2 else part.encode("utf-8"))
    return JsonPayload(pieces)


def _plain_ascii(value: str) -> bool:
    """True when JSON writes the string unchanged (base64 is): printable ASCII without quote or backslash."""
    return value.isascii() and value.isprintable() and '"' not in value and "\\" not in value


def _prefer(*, representation: bool = False, annotations: bool = False, max_page_size: int | None = None) -> str:
    """The `Prefer` header value: return=representation, formatted values and other annotations, page size."""
    prefer: list[str] = []
    if representation:
        prefer.append("return=representation")
    if annotations:
        prefer.append(odata.INCLUDE_ANNOTATIONS)
    if max_page_size is not None:
        prefer.append(f"odata.maxpagesize={int(max_page_size)}")
    return ",".join(prefer)


def _entity_set(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError("not an entity set name")
    return value


def _column(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError("not a column or navigation property name")
    return value


def _request_target(url: str) -> str:
    """The origin-form request target of an absolute URL: its path and query."""
    _, _, rest = url.partition("://")
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def _entity_id(response: Reply) -> str:
    """The id of a created record, from `OData-EntityId` (Dataverse answers 204 without a body)."""
    header = response.headers.get("OData-EntityId") or response.headers.get("Location") or ""
    match = _ENTITY_ID.search(header)
    if match is None:
        raise DataverseError()
    return match.group(1).lower()


def _json_object(response: Reply) -> dict[str, Any]:
    value = _safe_json(response)
    if not isinstance(value, dict):
        raise DataverseError()
    return value


def _safe_json(response: Reply) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_code(body: Any) -> str:
    """The hex code of a Dataverse error body `{"error": {"code": "0x…", "message": …}}`, or ""."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return str(error["code"])
    return ""


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(seconds, 0.0)


def _whole_seconds(value: float | None, default: int) -> int:
    return max(1, math.ceil(value)) if value is not None else default
