"""Graph messages: list, drafts, update, move, delete, send, sendMail and file attachments.

https://learn.microsoft.com/en-us/graph/api/resources/message
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, Response, request

from addin_api.devstack.graph.access import MAIL_READ, MAIL_SEND, MAIL_WRITE
from addin_api.devstack.graph.emulator import current_graph
from addin_api.devstack.graph.errors import GraphError, invalid_request, not_found
from addin_api.devstack.graph.mail import file_attachment, message_data, send_from
from addin_api.devstack.graph.serialize import attachment_json
from addin_api.devstack.graph.store import Folder, Item, Mailbox
from addin_api.devstack.graph.web import (
    box_for,
    context_url,
    filtered,
    folder_or_404,
    item_out,
    json_body,
    mailbox_router,
    message_or_404,
    paged,
    param,
    render_item,
    reply,
    set_properties,
)

bp = Blueprint("messages", __name__)
mailbox_route = mailbox_router(bp)

# What PATCH may change on a message (others are read-only or not emulated).
# https://learn.microsoft.com/en-us/graph/api/message-update
MESSAGE_WRITABLE = frozenset(
    {
        "categories",
        "isRead",
        "importance",
        "flag",
        "subject",
        "body",
        "toRecipients",
        "ccRecipients",
        "bccRecipients",
        "replyTo",
        "from",
        "sender",
        "inferenceClassification",
        "internetMessageId",
        "isDeliveryReceiptRequested",
        "isReadReceiptRequested",
        "singleValueExtendedProperties",
    }
)
DRAFT_ONLY = frozenset({"subject", "body", "toRecipients", "ccRecipients", "bccRecipients", "internetMessageId"})


@mailbox_route("/messages", ["GET"])
def list_messages(uid: str | None = None) -> Response:
    """Messages of every folder, newest first."""
    box = box_for(uid, MAIL_READ)
    items = filtered(current_graph().store.items_in(box, None))
    return paged(items, render_item, f"users('{box.user.oid}')/messages")


@mailbox_route("/mailFolders/<fid>/messages", ["GET"])
def list_folder_messages(fid: str, uid: str | None = None) -> Response:
    """Messages of one folder, newest first."""
    box = box_for(uid, MAIL_READ)
    folder = folder_or_404(box, fid)
    items = filtered(current_graph().store.items_in(box, folder.id))
    return paged(items, render_item, f"users('{box.user.oid}')/mailFolders('{folder.id}')/messages")


@mailbox_route("/messages", ["POST"])
def create_draft(uid: str | None = None) -> Response:
    """Create a draft in Drafts. https://learn.microsoft.com/en-us/graph/api/user-post-messages"""
    box = box_for(uid, MAIL_WRITE)
    return _create_message(box, folder_or_404(box, "drafts"))


@mailbox_route("/mailFolders/<fid>/messages", ["POST"])
def create_folder_message(fid: str, uid: str | None = None) -> Response:
    """Create a draft in a folder."""
    box = box_for(uid, MAIL_WRITE)
    return _create_message(box, folder_or_404(box, fid))


def _create_message(box: Mailbox, folder: Folder) -> Response:
    body = json_body()
    data = message_data(body, is_draft=True)
    data["from"] = data["from"] or {"emailAddress": {"name": box.user.name, "address": box.address}}
    data["sender"] = data["from"]
    store = current_graph().store
    item = store.add_item(box, folder.id, data)
    set_properties(item, body.get("singleValueExtendedProperties"))
    for raw in body.get("attachments") or []:
        item.attachments.append(_attachment_from(raw))
    return reply(item_out(item), 201)


@mailbox_route("/messages/<mid>", ["GET"])
@mailbox_route("/mailFolders/<fid>/messages/<mid>", ["GET"])
def get_message(mid: str, uid: str | None = None, fid: str | None = None) -> Response:
    """A message, with `$select` and `$expand=singleValueExtendedProperties(...)` or `$expand=attachments`."""
    box = box_for(uid, MAIL_READ)
    item = message_or_404(box, mid)
    if (request.args.get("$expand") or "").strip().casefold() != "attachments":
        return reply(render_item(item))
    out = item_out(item)
    with current_graph().store.lock:
        out["attachments"] = [attachment_json(a) for a in item.attachments]
    return reply(out)


@mailbox_route("/messages/<mid>", ["PATCH"])
@mailbox_route("/mailFolders/<fid>/messages/<mid>", ["PATCH"])
def update_message(mid: str, uid: str | None = None, fid: str | None = None) -> Response:
    """Update a message: categories (the whole list), read state, flag, extended properties; drafts more."""
    box = box_for(uid, MAIL_WRITE)
    item = message_or_404(box, mid)
    body = json_body()
    unknown = set(body) - MESSAGE_WRITABLE
    if unknown:
        raise GraphError(400, "ErrorInvalidPropertyRequest", f"The property '{sorted(unknown)[0]}' cannot be set.")
    store = current_graph().store
    with store.lock:
        for name, value in body.items():
            if name == "singleValueExtendedProperties":
                continue
            if name in DRAFT_ONLY and not item.data.get("isDraft"):
                # https://learn.microsoft.com/en-us/graph/api/message-update ("updatable only if isDraft = true")
                raise GraphError(
                    400, "ErrorInvalidPropertyUpdateSentMessage", f"'{name}' can only be updated on drafts."
                )
            if name == "categories" and (not isinstance(value, list) or not all(isinstance(c, str) for c in value)):
                raise invalid_request("'categories' must be a collection of strings.")
            item.data[name] = value
        set_properties(item, body.get("singleValueExtendedProperties"))
    store.touch(box, item)
    return reply(item_out(item))


@mailbox_route("/messages/<mid>", ["DELETE"])
def delete_message(mid: str, uid: str | None = None) -> Response:
    """Delete a message: it leaves every folder view (a soft delete into Recoverable Items, not Deleted Items).

    https://learn.microsoft.com/en-us/graph/api/message-delete
    """
    box = box_for(uid, MAIL_WRITE)
    current_graph().store.delete_item(box, message_or_404(box, mid))
    return Response(status=204)


@mailbox_route("/messages/<mid>/move", ["POST"])
def move_message(mid: str, uid: str | None = None) -> Response:
    """Move a message: 201 with the message in its new folder, under a new id unless immutable ids were asked for.

    https://learn.microsoft.com/en-us/graph/api/message-move
    """
    box = box_for(uid, MAIL_WRITE)
    item = message_or_404(box, mid)
    destination = folder_or_404(box, str(param(json_body(), "destinationId") or ""))
    moved = current_graph().store.move_item(box, item, destination)
    return reply(item_out(moved), 201)


@mailbox_route("/messages/<mid>/send", ["POST"])
def send_draft(mid: str, uid: str | None = None) -> Response:
    """Send a draft: 202, the draft moves to Sent Items. https://learn.microsoft.com/en-us/graph/api/message-send"""
    box = box_for(uid, MAIL_SEND)
    item = message_or_404(box, mid)
    if not item.data.get("isDraft"):
        raise GraphError(400, "ErrorInvalidOperation", "Only drafts can be sent.")
    send_from(current_graph().store, box, item, dict(item.data), save=True)
    return Response(status=202)


@mailbox_route("/sendMail", ["POST"])
def send_mail(uid: str | None = None) -> Response:
    """Send a message in one call: 202 with an empty body. https://learn.microsoft.com/en-us/graph/api/user-sendmail"""
    box = box_for(uid, MAIL_SEND)
    body = json_body()
    message = param(body, "message")
    if not isinstance(message, dict):
        raise GraphError(400, "ErrorInvalidRequest", "The 'message' parameter is required.")
    data = message_data(message, is_draft=False)
    save = param(body, "saveToSentItems") is not False
    attachments = [_attachment_from(a) for a in message.get("attachments") or []]
    store = current_graph().store
    if attachments:
        drafts = folder_or_404(box, "drafts")
        draft = store.add_item(box, drafts.id, {**data, "isDraft": True})
        draft.attachments = attachments
        send_from(store, box, draft, data, save)
    else:
        send_from(store, box, None, data, save)
    return Response(status=202)


# ---------------------------------------------------------------------------------------------------- attachments


def _attachment_from(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("@odata.type", "").lower() != "#microsoft.graph.fileattachment":
        raise invalid_request("Only #microsoft.graph.fileAttachment attachments are supported.")
    try:
        content = base64.b64decode(str(raw.get("contentBytes") or ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid_request("contentBytes must be base64.") from exc
    return file_attachment(
        str(raw.get("name") or "attachment"),
        str(raw.get("contentType") or "application/octet-stream"),
        content,
        bool(raw.get("isInline")),
    )


@mailbox_route("/messages/<mid>/attachments", ["GET"])
def list_attachments(mid: str, uid: str | None = None) -> Response:
    """A message's attachments with their content."""
    box = box_for(uid, MAIL_READ)
    item = message_or_404(box, mid)
    return reply(
        {"@odata.context": context_url("attachments"), "value": [attachment_json(a) for a in item.attachments]}
    )


@mailbox_route("/messages/<mid>/attachments", ["POST"])
def add_attachment(mid: str, uid: str | None = None) -> Response:
    """Attach a file to a draft."""
    box = box_for(uid, MAIL_WRITE)
    item = message_or_404(box, mid)
    attachment = _attachment_from(json_body(annotations=True))
    item.attachments.append(attachment)
    current_graph().store.touch(box, item)
    return reply(attachment_json(attachment), 201)


def _attachment(item: Item, aid: str) -> dict[str, Any]:
    found = next((a for a in item.attachments if a["id"] == aid), None)
    if found is None:
        raise not_found()
    return found


@mailbox_route("/messages/<mid>/attachments/<aid>", ["GET"])
def get_attachment(mid: str, aid: str, uid: str | None = None) -> Response:
    """One attachment."""
    box = box_for(uid, MAIL_READ)
    return reply(attachment_json(_attachment(message_or_404(box, mid), aid)))


@mailbox_route("/messages/<mid>/attachments/<aid>/$value", ["GET"])
def get_attachment_value(mid: str, aid: str, uid: str | None = None) -> Response:
    """The raw bytes of an attachment. https://learn.microsoft.com/en-us/graph/api/attachment-get"""
    box = box_for(uid, MAIL_READ)
    attachment = _attachment(message_or_404(box, mid), aid)
    return Response(base64.b64decode(attachment["contentBytes"]), mimetype=attachment["contentType"])
