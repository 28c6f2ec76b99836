"""Send from Dynamics 365: the emails Dataverse queued with `SendEmail` (`IssueSend: true`, Pending Send) leave from
their owner's mailbox through Graph, and become Sent with the real Internet message id, or Failed.

- Dataverse waits for server-side synchronization to send a Pending Send email (statuscode 6) when the sender's
  outgoing email is delivered by it; the worker looks for them every few seconds (one query per environment), and
  sends each owner's under that mailbox's lease.
  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/sendemail
- Each email is sent as a draft given the Internet message id `<activity id@sender's domain>`, then `send`: Sent
  Items is searched for that id first, so an email whose send went out but whose Dataverse update did not (a worker
  killed in between) is not sent twice. The draft carries the subject (with the tracking token, as Dynamics sends
  it), the HTML body, the To / Cc / Bcc parties' addresses and the file attachments.
  https://learn.microsoft.com/en-us/graph/api/user-post-messages
- Then the email is Sent (statuscode 3, statecode Completed) with `messageid`. A refusal by Graph is
  retried by the next rounds; at the fifth the email is Failed (statuscode 8, back to Open), as Dynamics leaves an
  email it could not send. https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/email
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from addin_api.dataverse import mailbox as dvmailbox
from addin_api.dataverse import odata
from addin_api.dataverse.port import Dataverse
from addin_api.errors import ApiError
from addin_api.sync.graph_errors import GraphError
from addin_api.sync.pass_items import Owner, transient
from addin_api.sync.store import ItemState, SyncStore

__all__ = ["FAILED", "PENDING_SEND", "SENT", "SendResult", "pending_owners", "send_pending", "sender"]

logger = logging.getLogger(__name__)

PENDING_SEND, SENT, FAILED = 6, 3, 8
MAX_SEND_ATTEMPTS = 5
RECIPIENTS = {2: "toRecipients", 3: "ccRecipients", 4: "bccRecipients"}
# Graph takes attachments inline in a draft up to 3 MB in all; larger ones need an upload session.
# https://learn.microsoft.com/en-us/graph/outlook-large-attachments
INLINE_ATTACHMENT_BYTES = 3 * 1024 * 1024
_OUTGOING = "emailrouteraccessapproval,outgoingemaildeliverymethod,outgoingemailstatus"


class SendingGraph(Protocol):
    """What sending asks of Graph (`sync.graph.GraphClient`)."""

    def sent_message_id(self, user: str, internet_message_id: str) -> str | None:
        """The Sent Items message with this Internet message id."""
        ...

    def send_message(self, user: str, message: dict[str, Any]) -> None:
        """Send a message from the user's mailbox."""
        ...


@dataclass
class SendResult:
    """What one round of sending for a mailbox did."""

    sent: int = 0
    failed: int = 0
    retrying: list[str] = field(default_factory=list)
    transient: bool = False


def pending_owners(app: Dataverse) -> set[str]:
    """The systemuser ids owning emails that wait for their mailbox to send them (read as the application user)."""
    params = {"$select": "activityid,_ownerid_value", "$filter": f"statuscode eq {PENDING_SEND}"}
    page, owners = app.get("emails", params), set()
    while True:
        owners |= {str(r["_ownerid_value"]) for r in page.get("value", []) if r.get("_ownerid_value")}
        next_link = page.get("@odata.nextLink")
        if not isinstance(next_link, str):
            return owners
        page = app.get(next_link)


def sender(app: Dataverse, upn: str) -> tuple[Owner, str] | None:
    """The owner and their systemuser id, when their mailbox sends their email here (approved, outgoing by
    server-side sync, tested); None otherwise. One round trip."""
    found = app.get(
        "systemusers",
        {
            "$select": "systemuserid,azureactivedirectoryobjectid,domainname",
            "$filter": f"domainname eq {odata.literal(upn, max_length=320)}",
            "$expand": f"defaultmailbox($select={_OUTGOING})",
            "$top": "2",
        },
    )
    rows = [r for r in found.get("value", []) if isinstance(r, dict)]
    box = rows[0].get("defaultmailbox") if len(rows) == 1 else None
    if not isinstance(box, dict) or not rows[0].get("azureactivedirectoryobjectid"):
        return None
    enabled = (
        box.get("emailrouteraccessapproval") == dvmailbox.APPROVED
        and box.get("outgoingemaildeliverymethod") == dvmailbox.EMAIL_SERVER_SIDE_SYNC
        and box.get("outgoingemailstatus") == dvmailbox.SUCCESS
    )
    row = rows[0]
    owner = Owner(str(row.get("domainname") or upn), str(row["azureactivedirectoryobjectid"]))
    return (owner, str(row["systemuserid"])) if enabled else None


def send_pending(
    app: Dataverse, graph: SendingGraph, owner: Owner, systemuser_id: str, store: SyncStore, scope: str
) -> SendResult:
    """Send the owner's Pending Send emails from their mailbox."""
    result = SendResult()
    found = app.get(
        "emails",
        {
            "$select": "activityid,subject,description,trackingtoken",
            "$filter": f"statuscode eq {PENDING_SEND} and _ownerid_value eq {odata.guid(systemuser_id)}",
            "$expand": "email_activity_parties($select=participationtypemask,addressused),"
            "email_activity_mime_attachment($select=filename,mimetype,body,filesize)",
        },
    )
    for email in found.get("value", []):
        try:
            _send_one(app, graph, owner, email)
            result.sent += 1
            store.set_item(scope, f"send:{email['activityid']}", None)
        except (GraphError, ApiError) as exc:
            if transient(exc):
                result.transient = True
                return result
            _count_failure(app, store, scope, str(email["activityid"]), exc.code, result)
    return result


def _send_one(app: Dataverse, graph: SendingGraph, owner: Owner, email: dict[str, Any]) -> None:
    email_id = str(email["activityid"])
    domain = owner.upn.rpartition("@")[2] or "dynamics.invalid"
    internet_id = f"<{email_id}@{domain}>"
    if graph.sent_message_id(owner.object_id, internet_id) is None:
        graph.send_message(owner.object_id, graph_message(email, internet_id))
    # `senton` is the platform's to set (not valid for update).
    app.update("emails", email_id, {"statuscode": SENT, "messageid": internet_id})
    logger.info("sync_email_sent", extra={"oid": owner.object_id})


def graph_message(email: dict[str, Any], internet_id: str) -> dict[str, Any]:
    """The Graph draft of a Dataverse email."""
    subject = str(email.get("subject") or "")
    token = email.get("trackingtoken")
    message: dict[str, Any] = {
        "subject": f"{subject} {token}".strip() if isinstance(token, str) and token else subject,
        "body": {"contentType": "html", "content": str(email.get("description") or "")},
        "internetMessageId": internet_id,
        "toRecipients": [],
        "ccRecipients": [],
        "bccRecipients": [],
    }
    for party in email.get("email_activity_parties") or []:
        field_name = RECIPIENTS.get(party.get("participationtypemask"))
        address = party.get("addressused")
        if field_name and isinstance(address, str) and address:
            message[field_name].append({"emailAddress": {"address": address}})
    attachments = [
        {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": str(a.get("filename") or "attachment"),
            "contentType": str(a.get("mimetype") or "application/octet-stream"),
            "contentBytes": a["body"],
        }
        for a in email.get("email_activity_mime_attachment") or []
        if isinstance(a.get("body"), str)
    ]
    if sum(len(a["contentBytes"]) * 3 // 4 for a in attachments) > INLINE_ATTACHMENT_BYTES:
        raise GraphError(413, "attachments_too_large")
    if attachments:
        message["attachments"] = attachments
    return message


def _count_failure(
    app: Dataverse, store: SyncStore, scope: str, email_id: str, reason: str, result: SendResult
) -> None:
    key = f"send:{email_id}"
    before = store.item(scope, key)
    attempts = (before.attempts if before is not None else 0) + 1
    logger.warning("sync_send_failed", extra={"code": reason, "attempt": attempts})
    if attempts < MAX_SEND_ATTEMPTS:
        store.set_item(scope, key, ItemState("pending", attempts, reason))
        result.retrying.append(email_id)
        return
    store.set_item(scope, key, ItemState("undeliverable", attempts, reason))
    app.update("emails", email_id, {"statuscode": FAILED})
    result.failed += 1
