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
only in the Inbox itself ("only items directly in the Inbox are evaluated"); Sent Items are not auto-tracked
(the organization's AutoTrackSentFolderItems is off by default).
"""

from __future__ import annotations

from typing import Any, Final

from addin_api.dataverse import odata
from addin_api.dataverse.port import Dataverse
from addin_api.model import REGARDING_TABLE_NAMES, RegardingRef

__all__ = ["AUTO_SINCE_KEY", "FILTERED", "accepts", "received_since", "replied_regarding", "replied_to"]

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
