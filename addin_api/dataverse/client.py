"""The one Dataverse Web API client: operations, URLs and OData headers; what happens on the wire lives beside it.

Retry policy (ours, for an interactive add-in with a 20 s budget; docs/dataverse.md), decided in `retry.py`:
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

Errors are mapped in `errors.py`, requests are sent in `transport.py`, long JSON bodies streamed by `streaming.py`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import requests
import urllib3
from urllib3 import exceptions as urllib3_errors

from addin_api.dataverse import odata
from addin_api.dataverse.batch import BatchRequest, BatchResponse, ChangeSet, decode_batch, encode_batch
from addin_api.dataverse.breaker import CircuitBreaker
from addin_api.dataverse.errors import (
    DEFAULT_RETRY_AFTER_SECONDS,
    REJECTED_VALUE,
    UNAVAILABLE_RETRY_AFTER_SECONDS,
    DuplicateRecord,
    app_only_error,
    error_code,
    error_for,
    error_message,
    whole_seconds,
)
from addin_api.dataverse.limits import UserGate
from addin_api.dataverse.retry import Attempts, Budget, RetryPolicy, parse_retry_after
from addin_api.dataverse.streaming import JsonPayload, json_payload
from addin_api.dataverse.transport import Observer, PoolTransmitter, Reply, Sender, WindowOpenedWhileQueued
from addin_api.errors import ApiError, DataverseError, DataverseUnavailable, Throttled
from addin_api.settings import Settings

__all__ = [
    "REJECTED_VALUE",
    "BatchRequest",
    "BatchResponse",
    "ChangeSet",
    "DataverseClient",
    "DuplicateRecord",
    "JsonPayload",
    "Observer",
    "Reply",
    "UserGate",
    "error_for",
]

log = logging.getLogger(__name__)

API_PATH = "/api/data/v9.2/"
ODATA_HEADERS = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENTITY_ID = re.compile(r"\(([0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})\)\s*$")


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
        app_only: bool = False,
        acting_as: str | None = None,
    ) -> None:
        """`app_only`: the token is the app's own (client credentials); `acting_as`: impersonate the user with this
        Entra object id on every request (`CallerObjectId`, needs prvActOnBehalfOfAnotherUser).
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/impersonate-another-user-web-api
        """
        self.environment_url = environment_url.rstrip("/")
        self._app_only = app_only
        # A $batch carries it on the outer request: its operations run as the impersonated user too.
        self._impersonation = {"CallerObjectId": odata.guid(acting_as)} if acting_as is not None else {}
        self.api_base = f"{self.environment_url}{API_PATH}"
        self._token_source = token
        self._token: str | None = None
        self._gate = gate
        self._user_key = user_key
        budget = Budget(settings.request_budget_seconds, clock=clock, sleep=sleep)
        self._policy = RetryPolicy(budget, settings.max_retry_after_wait)
        self._wire = PoolTransmitter(session, self.api_base)
        self._sender = Sender(
            self._transmit,
            gate=gate,
            user_key=user_key,
            budget=budget,
            timeout=settings.timeout,
            # The session's own headers (User-Agent, Accept-Encoding, keep-alive) go on every call, as requests would.
            base_headers={
                name: value if isinstance(value, str) else value.decode("latin-1")
                for name, value in session.headers.items()
            },
            observe=observe,
            breaker=breaker,
        )

    @property
    def round_trips(self) -> int:
        """HTTP requests sent so far (retries included)."""
        return self._sender.round_trips

    @property
    def service_request_ids(self) -> list[str]:
        """Dataverse's request ids, for our structured logs and for support tickets with Microsoft."""
        return self._sender.service_request_ids

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
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        error = self._error(response.status, response.body, retry_after, precondition_means_duplicate)
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
        request_headers = {**ODATA_HEADERS, **(headers or {}), **self._impersonation}
        if body is not None:
            data = json_payload(body)
            request_headers["Content-Type"] = "application/json; charset=utf-8"
        attempts = Attempts(idempotent)
        while True:
            response = self._attempt(method, url, data, request_headers, attempts)
            if response is None:
                continue  # nothing was sent, or nothing came back, and the policy says to try again
            if 200 <= response.status_code < 300:
                return response
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if self._send_again(response.status_code, retry_after, attempts):
                continue
            if multipart_ok and response.headers.get("Content-Type", "").lower().startswith("multipart/mixed"):
                # A $batch whose part failed (without continue-on-error) answers with the parts so far.
                return response
            body = _safe_json(response)
            log.info(
                "dataverse.error",
                extra={
                    "event": "dataverse.error",
                    "method": method,
                    "status": response.status_code,
                    "code": error_code(body),
                },
            )
            raise self._error(response.status_code, body, retry_after, precondition_means_duplicate)

    def _error(self, status: int, body: Any, retry_after: float | None, precondition_means_duplicate: bool) -> ApiError:
        """Our exception for a Dataverse error answer; app-only calls first check that the app is set up."""
        code = error_code(body)
        if self._app_only or self._impersonation:
            found = app_only_error(code, error_message(body), impersonating=bool(self._impersonation))
            if found is not None:
                return found
        return error_for(
            status, code, retry_after=retry_after, precondition_means_duplicate=precondition_means_duplicate
        )

    def _attempt(
        self, method: str, url: str, data: bytes | JsonPayload | None, headers: Mapping[str, str], attempts: Attempts
    ) -> Reply | None:
        """Send once, outside the user's Retry-After window: the answer, or None to try again; raise to give up."""
        self._policy.wait_out_throttle(self._gate, self._user_key)
        if self._token is None:
            self._token = self._token_source(False)
        try:
            return self._sender.send(method, url, data, headers, self._token)
        except WindowOpenedWhileQueued:
            return None
        except (urllib3_errors.TimeoutError, urllib3_errors.ProtocolError, urllib3_errors.SSLError) as exc:
            log.warning(
                "dataverse.unreachable",
                extra={"event": "dataverse.unreachable", "method": method, "error": type(exc).__name__},
            )
            if self._policy.retry_unreachable(attempts, exc):
                return None
            raise DataverseUnavailable(retry_after=UNAVAILABLE_RETRY_AFTER_SECONDS) from None
        except (urllib3_errors.HTTPError, requests.RequestException):
            raise DataverseError() from None

    def _send_again(self, status: int, retry_after: float | None, attempts: Attempts) -> bool:
        """Whether a failed answer is worth another attempt (a fresh token, a short wait); a long 429 raises."""
        if self._policy.refresh_token(status):
            self._token = self._token_source(True)
            return True
        if status == 429:
            wait = retry_after if retry_after is not None else float(DEFAULT_RETRY_AFTER_SECONDS)
            self._gate.block(self._user_key, wait)
            if self._policy.retry_throttled(attempts, wait):
                return True  # `_attempt` waits until the window ends, then resends.
            raise Throttled(retry_after=whole_seconds(wait, DEFAULT_RETRY_AFTER_SECONDS))
        return self._policy.retry_unavailable(attempts, status, retry_after)

    def _transmit(
        self,
        method: str,
        url: str,
        data: bytes | JsonPayload | None,
        headers: dict[str, str],
        timeout: urllib3.Timeout,
    ) -> Reply:
        """Put one request on the wire (tests/perf/bench.py overrides it to record what the service sends)."""
        return self._wire(method, url, data, headers, timeout)

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
