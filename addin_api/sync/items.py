"""Graph messages as the pane's tracking requests: which carry the tracking category, and the `TrackEmail` each is.

- The category is recognised by its master category's **id**: a message's `categories` hold display names, and the
  display name of a master category cannot change after creation, so a category renamed in Outlook is a new display
  name under the same id, read again on every pass.
  https://learn.microsoft.com/en-us/graph/api/resources/outlookcategory
- A message becomes the body the pane would send for it (`POST /api/v1/emails`) and is loaded by the same schema, so
  the limits and the checks of a track are the pane's: the subject cut to what Dataverse stores, the file
  attachments that are not inline and not over the size limit, lower-cased addresses.
  https://learn.microsoft.com/en-us/graph/api/resources/message
  https://learn.microsoft.com/en-us/graph/api/resources/fileattachment
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from addin_api.model import Direction, TrackEmail
from addin_api.schemas import MAX_SUBJECT_LENGTH, TrackEmailSchema
from addin_api.sync.graph import MasterCategory

__all__ = [
    "TRACKED_CATEGORY",
    "UNDELIVERABLE_CATEGORY",
    "address",
    "addresses",
    "carries",
    "tracking_category",
    "pane_body",
    "track_command",
]

# The category Dynamics 365 App for Outlook applies to tracked items.
# https://learn.microsoft.com/en-us/dynamics365/outlook-app/user/track-outlook-email
TRACKED_CATEGORY = "Tracked to Dynamics 365"
# The category a message is given when tracking it failed for good.
UNDELIVERABLE_CATEGORY = f"{TRACKED_CATEGORY} (Undeliverable)"
FILE_ATTACHMENT = "#microsoft.graph.fileAttachment"

_SCHEMA = TrackEmailSchema()


def tracking_category(
    categories: Iterable[MasterCategory], known_id: str | None, name: str = TRACKED_CATEGORY
) -> MasterCategory | None:
    """The mailbox's tracking category: the one with `known_id` (whatever it is called now), else the one named
    `name`; None when the mailbox has neither."""
    listed = list(categories)
    if known_id is not None:
        for category in listed:
            if category.id == known_id:
                return category
    return next((c for c in listed if c.display_name == name), None)


def carries(message: dict[str, Any], category: MasterCategory) -> bool:
    """Whether a message (as delta gives it) carries the category and can be tracked (a sent or received message
    with an Internet message id, not a draft)."""
    names = message.get("categories")
    return (
        isinstance(names, list)
        and category.display_name in names
        and not message.get("isDraft")
        and isinstance(message.get("internetMessageId"), str)
        and bool(message["internetMessageId"])
    )


def pane_body(message: dict[str, Any], direction: Direction, max_attachment_bytes: int) -> dict[str, Any]:
    """The body the pane sends to track this message (Graph's message with its attachments)."""
    found = message.get("body")
    body: dict[str, Any] = found if isinstance(found, dict) else {}
    content_type = str(body.get("contentType") or "html").lower()
    sender = address(message.get("from")) or address(message.get("sender"))
    return {
        "internetMessageId": message.get("internetMessageId"),
        "subject": str(message.get("subject") or "")[:MAX_SUBJECT_LENGTH],
        "body": str(body.get("content") or ""),
        "bodyType": content_type if content_type in ("html", "text") else "html",
        "from": sender,
        "to": addresses(message.get("toRecipients")),
        "cc": addresses(message.get("ccRecipients")),
        "bcc": addresses(message.get("bccRecipients")),
        "sentAt": message.get("sentDateTime") or message.get("receivedDateTime"),
        "direction": direction,
        "attachments": _attachments(message.get("attachments"), max_attachment_bytes),
    }


def track_command(message: dict[str, Any], direction: Direction, max_attachment_bytes: int) -> TrackEmail:
    """The pane's track command for a message; marshmallow's ValidationError when the pane's schema refuses it."""
    command = _SCHEMA.load(pane_body(message, direction, max_attachment_bytes))
    assert isinstance(command, TrackEmail)
    return command


def address(recipient: Any) -> dict[str, Any] | None:
    """A recipient (`{"emailAddress": {"name", "address"}}`) as the pane's address, None without an address."""
    email = recipient.get("emailAddress") if isinstance(recipient, dict) else None
    if not isinstance(email, dict):
        return None
    address = email.get("address")
    if not isinstance(address, str) or not address:
        return None
    name = email.get("name")
    return {"address": address, "name": name if isinstance(name, str) and name else None}


def addresses(recipients: Any) -> list[dict[str, Any]]:
    found = (address(r) for r in recipients) if isinstance(recipients, list) else ()
    return [a for a in found if a is not None]


def _attachments(attachments: Any, max_bytes: int) -> list[dict[str, str]]:
    """The file attachments the pane would send: not inline, within the size limit, with their content."""
    listed: Sequence[Any] = attachments if isinstance(attachments, list) else ()
    return [
        {
            "name": str(a.get("name") or "attachment"),
            "contentType": str(a.get("contentType") or "application/octet-stream"),
            "contentBase64": a["contentBytes"],
        }
        for a in listed
        if isinstance(a, dict)
        and a.get("@odata.type") == FILE_ATTACHMENT
        and not a.get("isInline")
        and isinstance(a.get("contentBytes"), str)
        and (not isinstance(a.get("size"), int) or a["size"] <= max_bytes)
    ]
