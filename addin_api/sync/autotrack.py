"""Automatic tracking of incoming email by the owner's personal options, as server-side synchronization does it.

A new message directly in the Inbox that the user did not mark is put to Dataverse's own filter,
`CheckIncomingEmail(MessageId, Subject, From, To, Cc, Bcc)`, as its owner: it answers whether to deliver it, by the
organization's settings (internal email ignored, tracking-token correlation) and the recipient's
`incomingemailfilteringmethod` (all; replies to Dynamics 365 email; from contacts, accounts and leads; from
email-enabled records; none). A message it accepts is tracked through the same path as a categorized one —
regarding the record of the tracked email it replies to (In-Reply-To, References), as correlation does — and is
given the category, as Dynamics tags what it tracks; the others are remembered as filtered, so later changes to
them are not asked about again.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/checkincomingemail
https://learn.microsoft.com/en-us/power-platform/admin/email-message-filtering-correlation

Only messages received after the mailbox's first pass are evaluated (Dynamics' `processemailreceivedafter`), and
only in the Inbox itself ("only items directly in the Inbox are evaluated"). Sent Items are evaluated only when the
organization's AutoTrackSentFolderItems is on (off by default); `CheckIncomingEmail` judges mail by its receiving
user, so a sent message is judged here by the owner's option on its recipients: all; a reply to a tracked email
(In-Reply-To, References); sent to a contact, account or lead; sent to any of those or another user; none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from addin_api.dataverse import odata
from addin_api.dataverse.batch import BatchRequest
from addin_api.dataverse.port import Dataverse
from addin_api.model import REGARDING_TABLE_NAMES, RegardingRef

__all__ = [
    "AUTO_SINCE_KEY",
    "FILTERED",
    "accepts",
    "accepts_sent",
    "received_since",
    "replied_regarding",
    "replied_to",
]

AUTO_SINCE_KEY = "auto_since"
# The store's state of an incoming message the options declined (not shown by the service).
FILTERED: Final = "filtered"
_FUNCTION = "CheckIncomingEmail(MessageId=@m,Subject=@s,From=@f,To=@t,Cc=@c,Bcc=@b)"


def accepts(dv: Dataverse, message: dict[str, Any]) -> bool:
    """Whether Dataverse would deliver this incoming message, asked as its owner (one round trip)."""
    params = {
        "@m": odata.literal(str(message.get("internetMessageId") or ""), max_length=320),
        "@s": odata.literal(str(message.get("subject") or "")[:400]),
        "@f": odata.literal(_address(message.get("from")) or _address(message.get("sender")) or ""),
        "@t": odata.literal(_joined(message.get("toRecipients"))),
        "@c": odata.literal(_joined(message.get("ccRecipients"))),
        "@b": odata.literal(_joined(message.get("bccRecipients"))),
    }
    answer = dv.get(_FUNCTION, params)
    return answer.get("ShouldDeliver") is True


# incomingemailfilteringmethod
ALL, REPLIES, FROM_RECORDS, FROM_EMAIL_ENABLED, NONE = 0, 1, 2, 3, 4
# The tables a recipient is looked for in ("from contacts, accounts and leads"), and the column holding the address.
_RECORD_TABLES = (("contacts", "emailaddress1"), ("accounts", "emailaddress1"), ("leads", "emailaddress1"))
_USERS = ("systemusers", "internalemailaddress")
MAX_RECIPIENTS = 50


def accepts_sent(
    dv: Dataverse, method: int, message: dict[str, Any], headers: Callable[[], list[dict[str, Any]]], owner: str
) -> bool:
    """Whether the owner's option `method` tracks this message they sent (at most one round trip)."""
    if method == ALL:
        return True
    if method == REPLIES:
        return _replies_to_tracked(dv, replied_to(headers()))
    if method not in (FROM_RECORDS, FROM_EMAIL_ENABLED):
        return False
    found = [
        a
        for r in ("toRecipients", "ccRecipients", "bccRecipients")
        for a in (_address(x) for x in message.get(r) or [] if isinstance(message.get(r), list))
        if a and a.lower() != owner.lower()
    ]
    recipients = list(dict.fromkeys(a.lower() for a in found))[:MAX_RECIPIENTS]
    if not recipients:
        return False
    tables = _RECORD_TABLES + ((_USERS,) if method == FROM_EMAIL_ENABLED else ())
    parts = dv.batch([BatchRequest("GET", _match_query(t, c, recipients)) for t, c in tables])
    for part in parts:
        dv.raise_for(part)
    return any(isinstance(p.body, dict) and p.body.get("value") for p in parts)


def _match_query(entity_set: str, column: str, addresses: list[str]) -> str:
    where = " or ".join(f"{column} eq {odata.literal(a, max_length=320)}" for a in addresses)
    return f"{entity_set}?{odata.query_string({'$select': column, '$filter': where, '$top': '1'})}"


def _replies_to_tracked(dv: Dataverse, message_ids: list[str]) -> bool:
    """Whether one of these Internet message ids is a tracked email (one round trip)."""
    if not message_ids:
        return False
    where = " or ".join(f"messageid eq {odata.literal(i, max_length=320)}" for i in message_ids)
    found = dv.get("emails", {"$select": "activityid", "$filter": where, "$top": "1"})
    return bool(found.get("value"))


def replied_to(headers: list[dict[str, Any]]) -> list[str]:
    """The Internet message ids a message answers: its In-Reply-To, then its References (newest first), at most 10."""
    found: list[str] = []
    for name in ("In-Reply-To", "References"):
        for header in headers:
            if str(header.get("name", "")).lower() == name.lower():
                found += [i for i in str(header.get("value") or "").split() if i.startswith("<") and i.endswith(">")]
    unique = list(dict.fromkeys(found[:1] + found[1:][::-1]))
    return unique[:10]


def replied_regarding(dv: Dataverse, message_ids: list[str]) -> RegardingRef | None:
    """The regarding record of the tracked email a reply answers, if any (one round trip): a reply to a Dynamics 365
    email is tracked regarding the same record."""
    if not message_ids:
        return None
    where = " or ".join(f"messageid eq {odata.literal(i, max_length=320)}" for i in message_ids)
    found = dv.get("emails", {"$select": "_regardingobjectid_value", "$filter": where, "$top": "10"}, annotations=True)
    for row in found.get("value", []):
        table = row.get(f"_regardingobjectid_value{odata.LOGICAL_NAME}")
        record = row.get("_regardingobjectid_value")
        if table in REGARDING_TABLE_NAMES and isinstance(record, str):
            return RegardingRef(str(table), record)
    return None


def received_since(message: dict[str, Any], since: str | None) -> bool:
    """Whether the message arrived after `since`, to the second (ISO 8601 instants in one format compare as text; a
    message of the very second the mailbox's first pass ran counts as already there)."""
    received = message.get("receivedDateTime")
    return since is not None and isinstance(received, str) and received[:19] > since[:19]


def _address(recipient: Any) -> str | None:
    email = recipient.get("emailAddress") if isinstance(recipient, dict) else None
    address = email.get("address") if isinstance(email, dict) else None
    return address if isinstance(address, str) and address else None


def _joined(recipients: Any) -> str:
    found = (_address(r) for r in recipients) if isinstance(recipients, list) else ()
    return ";".join(a for a in found if a)[:4000]
