"""Dataverse's error answers mapped to our exceptions: on the HTTP status and the hex `code`, never the message
(except the one privilege name `app_only_error` looks for).

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/web-service-error-codes
"""

from __future__ import annotations

import math
from typing import Any

from addin_api.errors import (
    ApiError,
    ApplicationUserMissing,
    Conflict,
    DataverseError,
    DataverseForbidden,
    DataverseUnavailable,
    ImpersonationNotAllowed,
    NotFound,
    PayloadTooLarge,
    Throttled,
    ValidationFailed,
)

# Dataverse error codes we act on (the `code` may be empty: then the HTTP status decides).
DUPLICATE_RECORD = "0x80040237"
NOT_FOUND = "0x80040217"
NOT_A_MEMBER = "0x80072560"
PRIVILEGE_DENIED = frozenset({"0x80040220", "0x80040231"})
SERVICE_PROTECTION = frozenset({"0x80072322", "0x80072321", "0x80072326"})

ACT_ON_BEHALF_PRIVILEGE = "prvActOnBehalfOfAnotherUser"

# When Dataverse omits or garbles Retry-After we still must not hammer it.
DEFAULT_RETRY_AFTER_SECONDS = 5
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
REJECTED_VALUE = "Dynamics 365 rejected a value"


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
        return Throttled(retry_after=whole_seconds(retry_after, DEFAULT_RETRY_AFTER_SECONDS))
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
        return DataverseUnavailable(retry_after=whole_seconds(retry_after, UNAVAILABLE_RETRY_AFTER_SECONDS))
    return DataverseError()


def app_only_error(code: str, message: str, *, impersonating: bool) -> ApiError | None:
    """The error of an app-only call that says the app itself is not set up, or None to map as usual.

    - 403 `0x80072560` "The user is not a member of the organization": the environment has no application user for
      the app (or, when impersonating, the user named by `CallerObjectId` is not in it).
    - `0x80040220` naming prvActOnBehalfOfAnotherUser: the application user may not impersonate. Dataverse gives the
      privilege only in its message ("Principal user (Id=…) is missing prvActOnBehalfOfAnotherUser privilege …"),
      so here, and only for this privilege's name, the message is read.
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/impersonate-another-user-web-api
    """
    code = code.strip().lower()
    if code == NOT_A_MEMBER:
        return ApplicationUserMissing(
            "The app, or the user it acts for, is not a member of this Dynamics 365 environment"
            if impersonating
            else None
        )
    if impersonating and code in PRIVILEGE_DENIED and f"missing {ACT_ON_BEHALF_PRIVILEGE} privilege" in message:
        return ImpersonationNotAllowed()
    return None


def error_code(body: Any) -> str:
    """The hex code of a Dataverse error body `{"error": {"code": "0x…", "message": …}}`, or ""."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return str(error["code"])
    return ""


def error_message(body: Any) -> str:
    """The message of a Dataverse error body, or "" (read only by `app_only_error`, never shown)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return ""


def whole_seconds(value: float | None, default: int) -> int:
    """`value` rounded up to whole seconds, at least 1; `default` when there is none."""
    return max(1, math.ceil(value)) if value is not None else default
