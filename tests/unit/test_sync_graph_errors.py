"""Graph's error answers as the sync worker's exceptions: on status and code only, never the message."""

from __future__ import annotations

from typing import Any

import pytest

from addin_api.sync.graph_errors import (
    GraphAccessDenied,
    GraphAuthenticationFailed,
    GraphConflict,
    GraphError,
    GraphNotFound,
    GraphThrottled,
    GraphUnavailable,
    MailboxNotFound,
    SyncStateLost,
    error_code,
    graph_error,
)


def body(code: Any, message: str = "Mailbox alice@contoso.example: Subject 'Secret merger'") -> dict[str, Any]:
    """A Graph error body whose message quotes things that must never surface."""
    return {"error": {"code": code, "message": message, "innerError": {"request-id": "r"}}}


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, "InvalidAuthenticationToken", GraphAuthenticationFailed),
        (403, "ErrorAccessDenied", GraphAccessDenied),
        (404, "ErrorInvalidUser", MailboxNotFound),
        (404, "MailboxNotEnabledForRESTAPI", MailboxNotFound),
        (404, "ErrorItemNotFound", GraphNotFound),
        (409, "ErrorDuplicateCategory", GraphConflict),
        (410, "SyncStateNotFound", SyncStateLost),
        (400, "SyncStateNotFound", SyncStateLost),
        (429, "ApplicationThrottled", GraphThrottled),
        (503, "ServiceUnavailable", GraphUnavailable),
        (504, "GatewayTimeout", GraphUnavailable),
        (400, "ErrorInvalidRequest", GraphError),
    ],
)
def test_each_answer_maps_to_its_exception(status: int, code: str, kind: type[GraphError]) -> None:
    """The exception's class follows the status (and, for 404 and sync state, the code); status and code are kept."""
    error = graph_error(status, body(code))

    assert (kind, status, code) == (type(error), error.status, error.code)


def test_a_plain_404_is_not_a_missing_mailbox() -> None:
    """An item that is gone is GraphNotFound, not MailboxNotFound (the worker handles them differently)."""
    assert not isinstance(graph_error(404, body("ErrorItemNotFound")), MailboxNotFound)


def test_the_message_never_reaches_the_exception() -> None:
    """Neither the address nor the subject Graph's message quotes appear in the exception's text."""
    text = str(graph_error(403, body("ErrorAccessDenied")))

    assert ("Microsoft Graph answered 403 ErrorAccessDenied", False, False) == (
        text,
        "alice@" in text,
        "merger" in text,
    )


@pytest.mark.parametrize(
    "raw",
    [None, "not json", [], {"error": "x"}, {"error": {"code": 7}}, body("has spaces: alice@contoso.example"), body("")],
)
def test_a_missing_or_odd_code_is_unknown(raw: Any) -> None:
    """Only something that looks like a Graph code is kept; anything else (which could be text) is "unknown"."""
    assert "unknown" == error_code(raw)


def test_retry_after_is_kept_in_whole_seconds_rounded_up() -> None:
    """A 429 with 1.2 s of Retry-After says 2; without one, None."""
    assert (2, None) == (
        graph_error(429, body("ApplicationThrottled"), 1.2).retry_after,
        graph_error(429, body("ApplicationThrottled")).retry_after,
    )
