"""Mail flow inside the emulated tenant: building message fields, delivering to Inboxes, sending, outbound mail.

A message sent from a mailbox (`sendMail`, a draft's `send`) gets an `internetMessageId`, a copy in the sender's
Sent Items (unless `saveToSentItems` is false) and one copy in the Inbox of each recipient in the tenant; mail to
other domains is recorded as outbound. Custom headers must be `x-` headers, as Graph requires.
https://learn.microsoft.com/en-us/graph/api/user-sendmail
https://learn.microsoft.com/en-us/graph/api/message-send
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

from addin_api.devstack.graph.errors import GraphError, invalid_request
from addin_api.devstack.graph.store import GraphStore, Item, Mailbox, new_change_key, now_iso

MAX_HEADERS = 5  # internetMessageHeaders: "you can add up to 5 custom headers" (sendMail documentation)


def recipient(address: str, name: str | None = None) -> dict[str, Any]:
    """A Graph recipient."""
    return {"emailAddress": {"name": name or address, "address": address}}


def _recipients(raw: Any, field: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_request(f"'{field}' must be a collection of recipients.")
    out = []
    for entry in raw:
        address = (entry or {}).get("emailAddress", {}).get("address") if isinstance(entry, dict) else None
        if not isinstance(address, str) or "@" not in address:
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
        out.append(recipient(address, entry["emailAddress"].get("name")))
    return out


def custom_headers(raw: Any) -> list[dict[str, str]]:
    """Validate `internetMessageHeaders` on a message being created: at most 5, each an `x-` header."""
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_HEADERS:
        raise invalid_request("internetMessageHeaders must be a collection of at most 5 headers.")
    out = []
    for header in raw:
        name = header.get("name") if isinstance(header, dict) else None
        value = header.get("value") if isinstance(header, dict) else None
        if not isinstance(name, str) or not name.lower().startswith("x-") or not isinstance(value, str):
            raise GraphError(
                400,
                "InvalidInternetMessageHeader",
                f"The internet message header name '{name}' should start with 'x-' or 'X-'.",
            )
        out.append({"name": name, "value": value})
    return out


def new_internet_message_id(domain: str) -> str:
    """An RFC 5322 Message-ID as Exchange Online writes them."""
    return f"<{uuid.uuid4().hex.upper()}@{domain}>"


def conversation_id(seed: str) -> str:
    """A stable conversation id for a thread key."""
    return base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()[:30]).decode().rstrip("=")


def message_data(fields: dict[str, Any], is_draft: bool) -> dict[str, Any]:
    """The stored Graph fields of a message from a request body (create or send)."""
    if not isinstance(fields, dict):
        raise invalid_request("The message must be an object.")
    body = fields.get("body") or {}
    if not isinstance(body, dict):
        raise invalid_request("'body' must be an itemBody.")
    content = str(body.get("content") or "")
    categories = fields.get("categories") or []
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise invalid_request("'categories' must be a collection of strings.")
    return {
        "receivedDateTime": now_iso(),
        "sentDateTime": None if is_draft else now_iso(),
        "internetMessageId": fields.get("internetMessageId"),
        "subject": str(fields.get("subject") or ""),
        "bodyPreview": content[:255],
        "importance": str(fields.get("importance") or "normal"),
        "conversationId": None,
        "conversationIndex": base64.b64encode(uuid.uuid4().bytes).decode(),
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "isRead": is_draft,
        "isDraft": is_draft,
        "webLink": "",
        "inferenceClassification": "focused",
        "body": {"contentType": str(body.get("contentType") or "text").lower(), "content": content},
        "sender": None,
        "from": fields.get("from"),
        "toRecipients": _recipients(fields.get("toRecipients"), "toRecipients"),
        "ccRecipients": _recipients(fields.get("ccRecipients"), "ccRecipients"),
        "bccRecipients": _recipients(fields.get("bccRecipients"), "bccRecipients"),
        "replyTo": _recipients(fields.get("replyTo"), "replyTo"),
        "categories": list(categories),
        "flag": {"flagStatus": "notFlagged"},
        "internetMessageHeaders": custom_headers(fields.get("internetMessageHeaders")),
        "uniqueBody": {"contentType": str(body.get("contentType") or "text").lower(), "content": content},
    }


def _standard_headers(data: dict[str, Any], in_reply_to: str | None) -> list[dict[str, str]]:
    sender = (data.get("from") or {}).get("emailAddress", {})
    headers = [
        {"name": "Message-ID", "value": str(data["internetMessageId"])},
        {"name": "From", "value": f"{sender.get('name', '')} <{sender.get('address', '')}>"},
        {"name": "To", "value": ", ".join(r["emailAddress"]["address"] for r in data["toRecipients"])},
        {"name": "Subject", "value": str(data.get("subject") or "")},
        {"name": "Date", "value": str(data.get("sentDateTime") or now_iso())},
    ]
    if in_reply_to:
        headers += [{"name": "In-Reply-To", "value": in_reply_to}, {"name": "References", "value": in_reply_to}]
    return headers


def deliver(
    store: GraphStore,
    data: dict[str, Any],
    attachments: list[dict[str, Any]],
    sender_box: Mailbox | None,
    in_reply_to: str | None = None,
    record_outbound: bool = True,
) -> list[tuple[Mailbox, Item]]:
    """Put a sent message in each in-tenant recipient's Inbox and record the rest as outbound; return deliveries."""
    recipients = [*data["toRecipients"], *data["ccRecipients"], *data["bccRecipients"]]
    domain = sender_box.address.split("@", 1)[1] if sender_box else "contoso.example"
    data["internetMessageId"] = data.get("internetMessageId") or new_internet_message_id(domain)
    data["conversationId"] = data.get("conversationId") or conversation_id(in_reply_to or data["internetMessageId"])
    data["sentDateTime"] = data.get("sentDateTime") or now_iso()
    received = dict(data)
    received["bccRecipients"] = []
    received["internetMessageHeaders"] = [
        *_standard_headers(data, in_reply_to),
        *[h for h in data.get("internetMessageHeaders") or [] if h["name"].lower().startswith("x-")],
    ]
    received.update({"isRead": False, "isDraft": False, "receivedDateTime": now_iso()})
    deliveries: list[tuple[Mailbox, Item]] = []
    outbound: list[str] = []
    seen: set[str] = set()
    for entry in recipients:
        address = entry["emailAddress"]["address"].lower()
        if address in seen:
            continue
        seen.add(address)
        box = store.mailbox_for_address(address)
        if box is None:
            outbound.append(address)
            continue
        inbox = box.folder("inbox")
        assert inbox is not None
        item = store.add_item(box, inbox.id, received)
        item.attachments = [dict(a, id=_attachment_id()) for a in attachments]
        deliveries.append((box, item))
    if outbound and record_outbound:
        with store.lock:
            store.outbound.append(
                {
                    "internetMessageId": data["internetMessageId"],
                    "from": (data.get("from") or {}).get("emailAddress", {}).get("address"),
                    "to": outbound,
                    "subject": data.get("subject"),
                    "sentDateTime": data["sentDateTime"],
                    "internetMessageHeaders": received["internetMessageHeaders"],
                    "attachments": [a.get("name") for a in attachments],
                }
            )
    return deliveries


def _attachment_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")


def file_attachment(name: str, content_type: str, raw: bytes, is_inline: bool = False) -> dict[str, Any]:
    """A fileAttachment with its content. https://learn.microsoft.com/en-us/graph/api/resources/fileattachment"""
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "id": _attachment_id(),
        "lastModifiedDateTime": now_iso(),
        "name": name,
        "contentType": content_type,
        "size": len(raw),
        "isInline": is_inline,
        "contentId": None,
        "contentLocation": None,
        "contentBytes": base64.b64encode(raw).decode("ascii"),
    }


def send_from(store: GraphStore, box: Mailbox, item: Item | None, data: dict[str, Any], save: bool) -> None:
    """Send a message from a mailbox: its Sent Items copy (moving the draft there) and the deliveries."""
    data["from"] = data.get("from") or {"emailAddress": {"name": box.user.name, "address": box.address}}
    data["sender"] = data["from"]
    if not data["toRecipients"] and not data["ccRecipients"] and not data["bccRecipients"]:
        raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
    attachments = list(item.attachments) if item is not None else []
    deliver(store, data, attachments, box)
    sent = box.folder("sentitems")
    assert sent is not None
    data.update({"isDraft": False, "isRead": True})
    if item is not None:
        with store.lock:
            item.data.update(data)
            item.change_key = new_change_key()
        if save:
            store.move_item(box, item, sent)
        else:
            store.delete_item(box, item)
    elif save:
        store.add_item(box, sent.id, data)
