"""Microsoft Graph's error answers as exceptions, mapped on the HTTP status and Graph's error code only.

Graph answers errors as `{"error": {"code", "message", "innerError"}}` (https://learn.microsoft.com/en-us/graph/errors).
The message may quote mailbox contents or addresses, so it is never read: exceptions and logs carry the status and
the code, and the code only when it looks like one.

    GraphError (status, code)
    ├── GraphAuthenticationFailed   no app token, or Graph refused it (401)
    ├── GraphAccessDenied           403: permission or application access policy
    ├── GraphNotFound               404
    │   └── MailboxNotFound         the user or their mailbox does not exist
    ├── GraphConflict               409
    ├── SyncStateLost               410 / SyncStateNotFound: the delta cursor is gone, sync the folder in full
    ├── GraphThrottled              429 after the retries we allow (`retry_after` seconds when Graph said)
    └── GraphUnavailable            5xx, or no answer at all (status 0)
"""

from __future__ import annotations

import math
import re
from typing import Any

# A Graph error code is an identifier (ErrorItemNotFound, ApplicationThrottled, Request_ResourceNotFound).
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,63}")
UNKNOWN_CODE = "unknown"
# The codes of a user that does not exist or has no Exchange Online mailbox Graph can reach (the 404s Graph answers
# for `/users/{id}/...` mail requests). https://learn.microsoft.com/en-us/graph/errors
MAILBOX_MISSING_CODES = frozenset(
    {"ErrorInvalidUser", "MailboxNotEnabledForRESTAPI", "ResourceNotFound", "Request_ResourceNotFound"}
)
# https://learn.microsoft.com/en-us/graph/delta-query-overview#synchronization-reset
SYNC_STATE_CODES = frozenset({"SyncStateNotFound", "SyncStateInvalid", "resyncRequired", "fullSyncRequired"})


class GraphError(Exception):
    """Graph answered an error (or did not answer): the HTTP status (0: none) and Graph's error code."""

    def __init__(self, status: int, code: str, *, retry_after: int | None = None) -> None:
        super().__init__(f"Microsoft Graph answered {status} {code}")
        self.status = status
        self.code = code
        self.retry_after = retry_after


class GraphAuthenticationFailed(GraphError):
    """No app token could be obtained, or Graph refused the one sent."""


class GraphAccessDenied(GraphError):
    """The app may not open this mailbox (missing permission, or outside its application access policy)."""


class GraphNotFound(GraphError):
    """The item, folder or category does not exist."""


class MailboxNotFound(GraphNotFound):
    """The user does not exist, or has no mailbox Graph can reach."""


class GraphConflict(GraphError):
    """The change conflicts with what is there (a category name already in use)."""


class SyncStateLost(GraphError):
    """The delta cursor is no longer valid: the folder must be synchronized from the start."""


class GraphThrottled(GraphError):
    """Graph kept answering 429 beyond the retries we allow."""


class GraphUnavailable(GraphError):
    """Graph answered 5xx, or the request got no answer (status 0, the exception's type as the code)."""


def error_code(body: Any) -> str:
    """Graph's error code from a decoded error body, or "unknown" when there is none that looks like a code."""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and _CODE.fullmatch(code) else UNKNOWN_CODE


def graph_error(status: int, body: Any, retry_after: float | None = None) -> GraphError:
    """The exception for an error answer: its status, its decoded body (any JSON, or None) and Retry-After seconds."""
    code = error_code(body)
    wait = math.ceil(retry_after) if retry_after is not None else None
    if status == 410 or code in SYNC_STATE_CODES:
        return SyncStateLost(status, code)
    if status == 429:
        return GraphThrottled(status, code, retry_after=wait)
    if status >= 500:
        return GraphUnavailable(status, code, retry_after=wait)
    kind: type[GraphError] = {
        401: GraphAuthenticationFailed,
        403: GraphAccessDenied,
        404: MailboxNotFound if code in MAILBOX_MISSING_CODES else GraphNotFound,
        409: GraphConflict,
    }.get(status, GraphError)
    return kind(status, code)
