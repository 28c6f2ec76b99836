"""Tracking while composing: the pane marks a message being written, and once it is sent the sync tracks it from
Sent Items with the regarding the user chose ("pending until sent", as Dynamics 365 App for Outlook shows it:
https://learn.microsoft.com/en-us/dynamics365/outlook-app/user/track-outlook-email).

The pane asks the service for a token, writes it into the message as the Internet header `x-addin-api-track`
(Office.js `item.internetHeaders.setAsync`, compose mode:
https://learn.microsoft.com/en-us/office/dev/add-ins/outlook/internet-headers) and gives the message the tracking
category. The token is random and says nothing itself (the header travels with the message to its recipients); what
it stands for — the regarding — is kept here, per mailbox, for `PENDING_SECONDS`. While a mailbox has marked messages
pending, the sync reads the headers of each categorized message in Sent Items (one Graph request) to find its token;
otherwise Sent Items cost nothing more.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from addin_api.model import RegardingRef
from addin_api.sync.store import SyncStore

__all__ = ["HEADER", "MAX_MARKS", "PENDING_SECONDS", "lookup", "mark", "pending", "token_in"]

HEADER = "x-addin-api-track"
# How long a marked message waits to be sent (a draft can sit a while).
PENDING_SECONDS = 14 * 24 * 3600.0
PENDING_UNTIL = "compose_pending_until"
_PREFIX = "compose:"
# The marks a mailbox keeps at most: a new one past it forgets the oldest (a user cannot fill the store).
MAX_MARKS = 200
_MARKS = "compose_marks"


def mark(store: SyncStore, scope: str, regarding: RegardingRef | None, now: float | None = None) -> tuple[str, float]:
    """Keep a new token for a message being composed in the mailbox; (the token, when it expires)."""
    at = time.time() if now is None else now
    token = secrets.token_urlsafe(18)
    value = {"at": at, "table": regarding.table if regarding else None, "id": regarding.id if regarding else None}
    store.put(scope, _PREFIX + token, json.dumps(value))
    _keep_bounded(store, scope, token)
    until = at + PENDING_SECONDS
    store.put(scope, PENDING_UNTIL, str(max(until, _seconds(store.get(scope, PENDING_UNTIL)))))
    return token, until


def _keep_bounded(store: SyncStore, scope: str, token: str) -> None:
    """Remember the mailbox's newest marks, forgetting those past `MAX_MARKS`."""
    try:
        kept = json.loads(store.get(scope, _MARKS) or "[]")
    except ValueError:
        kept = []
    tokens = [str(t) for t in kept if isinstance(t, str)] if isinstance(kept, list) else []
    tokens.append(token)
    for old in tokens[:-MAX_MARKS]:
        store.put(scope, _PREFIX + old, None)
    store.put(scope, _MARKS, json.dumps(tokens[-MAX_MARKS:]))


def pending(store: SyncStore, scope: str, now: float | None = None) -> bool:
    """Whether the mailbox may have marked messages waiting to be sent."""
    return (time.time() if now is None else now) < _seconds(store.get(scope, PENDING_UNTIL))


def token_in(headers: Iterable[Mapping[str, Any]]) -> str | None:
    """The token of a message's `x-addin-api-track` header, if it has one."""
    for header in headers:
        if str(header.get("name") or "").lower() == HEADER:
            value = str(header.get("value") or "").strip()
            return value if 0 < len(value) <= 64 else None
    return None


def lookup(store: SyncStore, scope: str, token: str, now: float | None = None) -> tuple[bool, RegardingRef | None]:
    """(whether the token is this mailbox's and still pending, the regarding it stands for).

    It is not used up: a track that fails and is tried again finds it again (and once the message is tracked, the
    sync does not look at it any more).
    """
    found = store.get(scope, _PREFIX + token)
    if found is None:
        return False, None
    try:
        raw = json.loads(found)
        if (time.time() if now is None else now) - float(raw["at"]) > PENDING_SECONDS:
            return False, None
        table, record = raw.get("table"), raw.get("id")
    except (ValueError, TypeError, KeyError):
        return False, None
    return True, RegardingRef(str(table), str(record)) if table and record else None


def _seconds(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0
