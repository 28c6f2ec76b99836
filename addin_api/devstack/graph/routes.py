"""The emulated Microsoft Graph v1.0 routes: users, mail folders, messages, delta, events, categories, sendMail.

Each mailbox route exists as `/me/…` (delegated tokens) and `/users/{id | userPrincipalName}/…`. Ids are answered
in the regular form unless the request says `Prefer: IdType="ImmutableId"`; collections page with `$top` or
`Prefer: odata.maxpagesize=N` and `@odata.nextLink`.
https://learn.microsoft.com/en-us/graph/api/resources/mail-api-overview
https://learn.microsoft.com/en-us/graph/paging
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, jsonify, request

from addin_api.devstack.graph.access import (
    CALENDAR_READ,
    CALENDAR_WRITE,
    MAIL_READ,
    MAIL_SEND,
    MAIL_WRITE,
    SETTINGS_READ,
    SETTINGS_WRITE,
    Caller,
)
from addin_api.devstack.graph.emulator import current_graph
from addin_api.devstack.graph.errors import GraphError, graph_error, invalid_request, not_found
from addin_api.devstack.graph.mail import file_attachment, message_data, send_from
from addin_api.devstack.graph.query import parse_expand_properties, parse_filter, parse_select
from addin_api.devstack.graph.serialize import (
    attachment_json,
    category_json,
    folder_json,
    item_json,
    item_view,
    user_json,
)
from addin_api.devstack.graph.store import CALENDAR, Category, Folder, Item, Mailbox, new_change_key

bp = Blueprint("devstack_graph", __name__, url_prefix="/v1.0")

DEFAULT_PAGE = 10
MAX_PAGE = 1000
# The preset colors of master categories. https://learn.microsoft.com/en-us/graph/api/resources/outlookcategory
COLORS = frozenset({"none", *(f"preset{n}" for n in range(25))})
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
EVENT_FIELDS = frozenset(
    {
        "subject",
        "body",
        "start",
        "end",
        "location",
        "attendees",
        "categories",
        "isAllDay",
        "showAs",
        "importance",
        "sensitivity",
        "isReminderOn",
        "transactionId",
        "organizer",
        "isCancelled",
    }
)


@bp.errorhandler(GraphError)
def _graph_error(exc: GraphError) -> Response:
    return graph_error(exc.status, exc.code, exc.message, exc.retry_after)


def mailbox_route(rule: str, methods: list[str]) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Register a view under `/me{rule}` and `/users/<uid>{rule}`."""

    def register(view: Callable[..., Response]) -> Callable[..., Response]:
        bp.add_url_rule("/me" + rule, f"{view.__name__}_me", view, methods=methods)
        bp.add_url_rule("/users/<uid>" + rule, view.__name__, view, methods=methods)
        return view

    return register


# ---------------------------------------------------------------------------------------------------- helpers


def _caller() -> Caller:
    caller = g.get("graph_caller")
    assert isinstance(caller, Caller)
    return caller


def _box(uid: str | None, allowed: frozenset[str] | None = None) -> Mailbox:
    caller = _caller()
    if uid is None:
        if caller.user is None:
            raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        uid = caller.user.oid
    box = current_graph().store.mailbox(uid)
    if box is None:
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{uid}' is invalid.")
    caller.reach(box.user)
    policy = current_graph().app_mailboxes
    if caller.user is None and policy is not None and box.user.oid not in policy:
        # What an application access policy answers for a mailbox outside its scope.
        # https://learn.microsoft.com/en-us/graph/auth-limit-mailbox-access
        raise GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")
    if allowed is not None:
        caller.require(allowed)
    return box


def _immutable() -> bool:
    # https://learn.microsoft.com/en-us/graph/outlook-immutable-id
    return re.search(r'IdType\s*=\s*"?ImmutableId"?', request.headers.get("Prefer", ""), re.I) is not None


def _page_size() -> int:
    top = request.args.get("$top")
    match = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", request.headers.get("Prefer", ""), re.I)
    try:
        size = int(top) if top is not None else int(match.group(1)) if match else DEFAULT_PAGE
    except ValueError as exc:
        raise invalid_request(f"Invalid $top value '{top}'.") from exc
    if size < 1:
        raise invalid_request("$top must be positive.")
    return min(size, MAX_PAGE)


def _json(body: Any, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    applied = []
    if _immutable():
        applied.append('IdType="ImmutableId"')
    if "odata.maxpagesize" in request.headers.get("Prefer", "") and "$top" not in request.args:
        applied.append(f"odata.maxpagesize={_page_size()}")
    if applied:
        response.headers["Preference-Applied"] = ", ".join(applied)
    return response


def _body(annotations: bool = False) -> dict[str, Any]:
    """The JSON object sent; instance annotations (`@odata.type`...) are dropped unless asked for."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.")
    return body if annotations else {k: v for k, v in body.items() if not k.startswith("@odata.")}


def _param(body: dict[str, Any], name: str) -> Any:
    """An action parameter by name, ignoring case (the SDK writes `DestinationId`, `Message`, `SaveToSentItems`)."""
    wanted = name.casefold()
    return next((v for k, v in body.items() if k.casefold() == wanted), None)


def _context(path: str) -> str:
    return f"{request.url_root}v1.0/$metadata#{path}"


def _page(items: list[Any], render: Callable[[Any], dict[str, Any]], context: str) -> Response:
    """One page of a collection, with `@odata.nextLink` carrying `$skip` when more remain."""
    size = _page_size()
    try:
        skip = int(request.args.get("$skip", "0"))
    except ValueError as exc:
        raise invalid_request("Invalid $skip value.") from exc
    body: dict[str, Any] = {
        "@odata.context": _context(context),
        "value": [render(i) for i in items[skip : skip + size]],
    }
    if skip + size < len(items):
        args = {k: v for k, v in request.args.items() if k != "$skip"}
        args["$skip"] = str(skip + size)
        if "$top" not in args:
            args["$top"] = str(size)
        body["@odata.nextLink"] = f"{request.base_url}?{urlencode(args)}"
    return _json(body)


def _folder(box: Mailbox, ref: str) -> Folder:
    folder = box.folder(ref)
    if folder is None:
        raise not_found()
    return folder


def _message(box: Mailbox, ref: str) -> Item:
    item = box.item(ref)
    if item is None or item.collection == CALENDAR:
        raise not_found()
    return item


def _event(box: Mailbox, ref: str) -> Item:
    item = box.item(ref)
    if item is None or item.collection != CALENDAR:
        raise not_found()
    return item


def _render_item(item: Item) -> dict[str, Any]:
    select = parse_select(request.args.get("$select"))
    expand = parse_expand_properties(request.args.get("$expand"))
    return _item_out(item, select, expand)


# Other requests change items and folders in place: read them under the store's lock.
def _item_out(
    item: Item, select: list[str] | None = None, expand: Callable[[dict[str, Any]], bool] | None = None
) -> dict[str, Any]:
    with current_graph().store.lock:
        return item_json(item, _immutable(), select, expand)


def _folder_out(box: Mailbox, folder: Folder) -> dict[str, Any]:
    with current_graph().store.lock:
        return folder_json(box, folder)


def _filtered(items: list[Item]) -> list[Item]:
    text = request.args.get("$filter")
    if text:
        keep = parse_filter(text)
        immutable = _immutable()
        with current_graph().store.lock:
            items = [i for i in items if keep(item_view(i, immutable))]
    orderby = request.args.get("$orderby")
    if orderby:
        match = re.fullmatch(
            r"\s*(receivedDateTime|lastModifiedDateTime|createdDateTime)(?:\s+(asc|desc))?\s*", orderby
        )
        if match is None:
            raise GraphError(400, "ErrorInvalidProperty", f"The $orderby '{orderby}' is not supported.")
        field, direction = match.group(1), match.group(2) or "asc"
        items = sorted(items, key=lambda i: str(i.data.get(field, "")), reverse=direction == "desc")
    return items


# ---------------------------------------------------------------------------------------------------- users


@bp.get("/me")
def me() -> Response:
    """The signed-in user."""
    box = _box(None)
    return _json({"@odata.context": _context("users/$entity"), **user_json(box.user)})


@bp.get("/users/<uid>")
def get_user(uid: str) -> Response:
    """A user of the tenant by id or user principal name."""
    box = _box(uid)
    return _json({"@odata.context": _context("users/$entity"), **user_json(box.user)})


# ---------------------------------------------------------------------------------------------------- folders


@mailbox_route("/mailFolders", ["GET"])
def list_folders(uid: str | None = None) -> Response:
    """The top-level mail folders."""
    box = _box(uid, MAIL_READ)
    folders = current_graph().store.child_folders(box, box.root_id)
    return _page(folders, lambda f: _folder_out(box, f), f"users('{box.user.oid}')/mailFolders")


@mailbox_route("/mailFolders", ["POST"])
def create_top_folder(uid: str | None = None) -> Response:
    """Create a top-level mail folder."""
    box = _box(uid, MAIL_WRITE)
    return _create_folder(box, _folder(box, box.root_id))


@mailbox_route("/mailFolders/<fid>", ["GET"])
def get_folder(fid: str, uid: str | None = None) -> Response:
    """A mail folder by id or well-known name."""
    box = _box(uid, MAIL_READ)
    return _json(_folder_out(box, _folder(box, fid)))


@mailbox_route("/mailFolders/<fid>", ["PATCH"])
def rename_folder(fid: str, uid: str | None = None) -> Response:
    """Rename a mail folder (its id stays)."""
    box = _box(uid, MAIL_WRITE)
    folder = _folder(box, fid)
    name = _body().get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise invalid_request("displayName is required.")
    try:
        current_graph().store.rename_folder(box, folder, name.strip())
    except ValueError as exc:
        raise GraphError(409, "ErrorFolderExists", str(exc)) from exc
    return _json(_folder_out(box, folder))


@mailbox_route("/mailFolders/<fid>", ["DELETE"])
def delete_folder(fid: str, uid: str | None = None) -> Response:
    """Delete a mail folder (not a well-known one)."""
    box = _box(uid, MAIL_WRITE)
    folder = _folder(box, fid)
    if folder.well_known is not None:
        raise GraphError(403, "ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
    current_graph().store.delete_folder(box, folder)
    return Response(status=204)


@mailbox_route("/mailFolders/<fid>/childFolders", ["GET"])
def list_child_folders(fid: str, uid: str | None = None) -> Response:
    """The folders directly under a folder."""
    box = _box(uid, MAIL_READ)
    folder = _folder(box, fid)
    children = current_graph().store.child_folders(box, folder.id)
    return _page(
        children, lambda f: _folder_out(box, f), f"users('{box.user.oid}')/mailFolders('{folder.id}')/childFolders"
    )


@mailbox_route("/mailFolders/<fid>/childFolders", ["POST"])
def create_child_folder(fid: str, uid: str | None = None) -> Response:
    """Create a folder under a folder."""
    box = _box(uid, MAIL_WRITE)
    return _create_folder(box, _folder(box, fid))


def _create_folder(box: Mailbox, parent: Folder) -> Response:
    name = _body().get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise invalid_request("displayName is required.")
    try:
        folder = current_graph().store.create_folder(box, parent, name.strip())
    except ValueError as exc:
        # https://learn.microsoft.com/en-us/graph/api/mailfolder-post-childfolders
        raise GraphError(409, "ErrorFolderExists", str(exc)) from exc
    return _json(_folder_out(box, folder), 201)


@mailbox_route("/mailFolders/<fid>/move", ["POST"])
def move_folder(fid: str, uid: str | None = None) -> Response:
    """Move a folder under another (`destinationId`: an id or well-known name)."""
    box = _box(uid, MAIL_WRITE)
    folder = _folder(box, fid)
    destination = _folder(box, str(_param(_body(), "destinationId") or ""))
    if folder.well_known is not None:
        raise GraphError(403, "ErrorMoveDistinguishedFolder", "Distinguished folders cannot be moved.")
    try:
        current_graph().store.move_folder(box, folder, destination)
    except ValueError as exc:
        raise GraphError(409, "ErrorFolderExists", str(exc)) from exc
    return _json(_folder_out(box, folder), 201)


# ---------------------------------------------------------------------------------------------------- messages


@mailbox_route("/messages", ["GET"])
def list_messages(uid: str | None = None) -> Response:
    """Messages of every folder, newest first."""
    box = _box(uid, MAIL_READ)
    items = _filtered(current_graph().store.items_in(box, None))
    return _page(items, _render_item, f"users('{box.user.oid}')/messages")


@mailbox_route("/mailFolders/<fid>/messages", ["GET"])
def list_folder_messages(fid: str, uid: str | None = None) -> Response:
    """Messages of one folder, newest first."""
    box = _box(uid, MAIL_READ)
    folder = _folder(box, fid)
    items = _filtered(current_graph().store.items_in(box, folder.id))
    return _page(items, _render_item, f"users('{box.user.oid}')/mailFolders('{folder.id}')/messages")


@mailbox_route("/messages", ["POST"])
def create_draft(uid: str | None = None) -> Response:
    """Create a draft in Drafts. https://learn.microsoft.com/en-us/graph/api/user-post-messages"""
    box = _box(uid, MAIL_WRITE)
    return _create_message(box, _folder(box, "drafts"))


@mailbox_route("/mailFolders/<fid>/messages", ["POST"])
def create_folder_message(fid: str, uid: str | None = None) -> Response:
    """Create a draft in a folder."""
    box = _box(uid, MAIL_WRITE)
    return _create_message(box, _folder(box, fid))


def _create_message(box: Mailbox, folder: Folder) -> Response:
    body = _body()
    data = message_data(body, is_draft=True)
    data["from"] = data["from"] or {"emailAddress": {"name": box.user.name, "address": box.address}}
    data["sender"] = data["from"]
    store = current_graph().store
    item = store.add_item(box, folder.id, data)
    _set_properties(item, body.get("singleValueExtendedProperties"))
    for raw in body.get("attachments") or []:
        item.attachments.append(_attachment_from(raw))
    return _json(_item_out(item), 201)


@mailbox_route("/messages/<mid>", ["GET"])
@mailbox_route("/mailFolders/<fid>/messages/<mid>", ["GET"])
def get_message(mid: str, uid: str | None = None, fid: str | None = None) -> Response:
    """A message, with `$select` and `$expand=singleValueExtendedProperties(...)`."""
    box = _box(uid, MAIL_READ)
    return _json(_render_item(_message(box, mid)))


@mailbox_route("/messages/<mid>", ["PATCH"])
@mailbox_route("/mailFolders/<fid>/messages/<mid>", ["PATCH"])
def update_message(mid: str, uid: str | None = None, fid: str | None = None) -> Response:
    """Update a message: categories (the whole list), read state, flag, extended properties; drafts more."""
    box = _box(uid, MAIL_WRITE)
    item = _message(box, mid)
    body = _body()
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
        _set_properties(item, body.get("singleValueExtendedProperties"))
    store.touch(box, item)
    return _json(_item_out(item))


def _set_properties(item: Item, raw: Any) -> None:
    if raw is None:
        return
    if not isinstance(raw, list):
        raise invalid_request("singleValueExtendedProperties must be a collection.")
    for prop in raw:
        pid = prop.get("id") if isinstance(prop, dict) else None
        value = prop.get("value") if isinstance(prop, dict) else None
        if not isinstance(pid, str) or not re.match(
            r"^\w+\s+(\{[0-9a-fA-F-]{36}\}\s+(Name|Id)\s+\S.*|0x[0-9a-fA-F]{4})$", pid
        ):
            raise GraphError(400, "ErrorInvalidProperty", f"The extended property id '{pid}' is not valid.")
        if value is None:
            item.properties.pop(pid.casefold(), None)
        else:
            item.properties[pid.casefold()] = (pid, str(value))


@mailbox_route("/messages/<mid>", ["DELETE"])
def delete_message(mid: str, uid: str | None = None) -> Response:
    """Delete a message: it leaves every folder view (a soft delete into Recoverable Items, not Deleted Items).

    https://learn.microsoft.com/en-us/graph/api/message-delete
    """
    box = _box(uid, MAIL_WRITE)
    current_graph().store.delete_item(box, _message(box, mid))
    return Response(status=204)


@mailbox_route("/messages/<mid>/move", ["POST"])
def move_message(mid: str, uid: str | None = None) -> Response:
    """Move a message: 201 with the message in its new folder, under a new id unless immutable ids were asked for.

    https://learn.microsoft.com/en-us/graph/api/message-move
    """
    box = _box(uid, MAIL_WRITE)
    item = _message(box, mid)
    destination = _folder(box, str(_param(_body(), "destinationId") or ""))
    moved = current_graph().store.move_item(box, item, destination)
    return _json(_item_out(moved), 201)


@mailbox_route("/messages/<mid>/send", ["POST"])
def send_draft(mid: str, uid: str | None = None) -> Response:
    """Send a draft: 202, the draft moves to Sent Items. https://learn.microsoft.com/en-us/graph/api/message-send"""
    box = _box(uid, MAIL_SEND)
    item = _message(box, mid)
    if not item.data.get("isDraft"):
        raise GraphError(400, "ErrorInvalidOperation", "Only drafts can be sent.")
    send_from(current_graph().store, box, item, dict(item.data), save=True)
    return Response(status=202)


@mailbox_route("/sendMail", ["POST"])
def send_mail(uid: str | None = None) -> Response:
    """Send a message in one call: 202 with an empty body. https://learn.microsoft.com/en-us/graph/api/user-sendmail"""
    box = _box(uid, MAIL_SEND)
    body = _body()
    message = _param(body, "message")
    if not isinstance(message, dict):
        raise GraphError(400, "ErrorInvalidRequest", "The 'message' parameter is required.")
    data = message_data(message, is_draft=False)
    save = _param(body, "saveToSentItems") is not False
    attachments = [_attachment_from(a) for a in message.get("attachments") or []]
    store = current_graph().store
    if attachments:
        drafts = _folder(box, "drafts")
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
    box = _box(uid, MAIL_READ)
    item = _message(box, mid)
    return _json({"@odata.context": _context("attachments"), "value": [attachment_json(a) for a in item.attachments]})


@mailbox_route("/messages/<mid>/attachments", ["POST"])
def add_attachment(mid: str, uid: str | None = None) -> Response:
    """Attach a file to a draft."""
    box = _box(uid, MAIL_WRITE)
    item = _message(box, mid)
    attachment = _attachment_from(_body(annotations=True))
    item.attachments.append(attachment)
    current_graph().store.touch(box, item)
    return _json(attachment_json(attachment), 201)


def _attachment(item: Item, aid: str) -> dict[str, Any]:
    found = next((a for a in item.attachments if a["id"] == aid), None)
    if found is None:
        raise not_found()
    return found


@mailbox_route("/messages/<mid>/attachments/<aid>", ["GET"])
def get_attachment(mid: str, aid: str, uid: str | None = None) -> Response:
    """One attachment."""
    box = _box(uid, MAIL_READ)
    return _json(attachment_json(_attachment(_message(box, mid), aid)))


@mailbox_route("/messages/<mid>/attachments/<aid>/$value", ["GET"])
def get_attachment_value(mid: str, aid: str, uid: str | None = None) -> Response:
    """The raw bytes of an attachment. https://learn.microsoft.com/en-us/graph/api/attachment-get"""
    box = _box(uid, MAIL_READ)
    attachment = _attachment(_message(box, mid), aid)
    return Response(base64.b64decode(attachment["contentBytes"]), mimetype=attachment["contentType"])


# ---------------------------------------------------------------------------------------------------- delta


def _token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _untoken(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise GraphError(
            400, "ErrorInvalidSyncStateData", "The sync state data is corrupt or otherwise invalid."
        ) from exc
    if not isinstance(value, dict):
        raise GraphError(400, "ErrorInvalidSyncStateData", "The sync state data is corrupt or otherwise invalid.")
    return value


def sync_state_gone() -> GraphError:
    """A delta token the mailbox no longer knows: start over. https://learn.microsoft.com/en-us/graph/delta-query-overview"""
    return GraphError(410, "SyncStateNotFound", "The sync state generation is not found. A full resync is required.")


def _delta(
    box: Mailbox, collection: str, params: dict[str, str], keep: Callable[[Item], bool], context: str
) -> Response:
    """One page of a delta round: items changed (and removals) since the token; the last page has the deltaLink.

    https://learn.microsoft.com/en-us/graph/delta-query-messages
    """
    store = current_graph().store
    skiptoken = request.args.get("$skiptoken")
    deltatoken = request.args.get("$deltatoken")
    if skiptoken:
        key, _, offset_text = skiptoken.rpartition(".")
        state = store.round(key)
        if state is None or state.mailbox != box.user.oid or state.collection != collection:
            raise sync_state_gone()
        offset = int(offset_text) if offset_text.isdigit() else 0
    else:
        since = 0
        if deltatoken:
            token = _untoken(deltatoken)
            if token.get("g") != store.generation or token.get("m") != box.user.oid or token.get("c") != collection:
                raise sync_state_gone()
            since = int(token.get("s", 0))
            params = dict(token.get("p") or {})
        key = store.start_round(box, collection, since, params, keep, params.get("changeType"))
        state = store.round(key)
        assert state is not None
        offset = 0
    params = state.params
    select = parse_select(params.get("$select"))
    immutable = _immutable()
    size = _page_size()
    page: list[dict[str, Any]] = []
    position = offset
    with store.lock:
        present = {i.immutable_id for i in box.items.values() if i.collection == collection}
        listed = {e[0] for e in state.entries if e[1] is None}
        while position < len(state.entries) and len(page) < size:
            immutable_id, removed_rest_id = state.entries[position]
            position += 1
            if removed_rest_id is None:
                item = box.items.get(immutable_id)
                if item is not None and item.collection == collection:
                    page.append(item_json(item, immutable, select))
                continue
            if immutable and (immutable_id in present or immutable_id in listed):
                continue  # back in the folder under the same immutable id: nothing was removed for this client
            kind = "event" if collection == CALENDAR else "message"
            page.append(
                {
                    "@odata.type": f"#microsoft.graph.{kind}",
                    "id": immutable_id if immutable else removed_rest_id,
                    "@removed": {"reason": "deleted"},
                }
            )
            if immutable:
                listed.add(immutable_id)
    body: dict[str, Any] = {"@odata.context": _context(context), "value": page}
    if position < len(state.entries):
        body["@odata.nextLink"] = f"{request.base_url}?{urlencode({'$skiptoken': f'{key}.{position}'})}"
    else:
        cursor = _token({"g": store.generation, "m": box.user.oid, "c": collection, "s": state.until, "p": params})
        body["@odata.deltaLink"] = f"{request.base_url}?{urlencode({'$deltatoken': cursor})}"
    return _json(body)


@mailbox_route("/mailFolders/<fid>/messages/delta", ["GET"])
@mailbox_route("/mailFolders/<fid>/messages/delta()", ["GET"])
def messages_delta(fid: str, uid: str | None = None) -> Response:
    """Per-folder message delta, paged with `$skiptoken`, resumed with `$deltatoken`."""
    box = _box(uid, MAIL_READ)
    folder = _folder(box, fid)
    params = {k: v for k, v in request.args.items() if k in ("$select", "changeType")}
    if params.get("changeType") not in (None, "created", "updated", "deleted"):
        raise GraphError(400, "ErrorInvalidParameter", "changeType must be created, updated or deleted.")
    if request.args.get("$filter"):
        # Delta on messages filters only on receivedDateTime. https://learn.microsoft.com/en-us/graph/api/message-delta
        raw = request.args["$filter"]
        if not re.fullmatch(r"\s*receivedDateTime\s+(ge|gt)\s+\S+\s*", raw):
            raise GraphError(400, "ErrorInvalidUrlQueryFilter", "Delta on messages filters only on receivedDateTime.")
    test = parse_filter(request.args["$filter"]) if request.args.get("$filter") else None
    immutable = _immutable()

    def keep(item: Item) -> bool:
        return test is None or test(item_view(item, immutable))

    return _delta(box, folder.id, params, keep, "Collection(message)")


# ---------------------------------------------------------------------------------------------------- events


@mailbox_route("/events", ["GET"])
@mailbox_route("/calendar/events", ["GET"])
def list_events(uid: str | None = None) -> Response:
    """Events of the primary calendar."""
    box = _box(uid, CALENDAR_READ)
    items = _filtered(current_graph().store.items_in(box, CALENDAR, "event"))
    return _page(items, _render_item, f"users('{box.user.oid}')/events")


@mailbox_route("/events", ["POST"])
@mailbox_route("/calendar/events", ["POST"])
def create_event(uid: str | None = None) -> Response:
    """Create an event; `transactionId` makes a retried create return the first one.

    https://learn.microsoft.com/en-us/graph/api/user-post-events
    """
    box = _box(uid, CALENDAR_WRITE)
    body = _body()
    store = current_graph().store
    transaction = body.get("transactionId")
    if transaction:
        existing = next(
            (i for i in store.items_in(box, CALENDAR, "event") if i.data.get("transactionId") == transaction), None
        )
        if existing is not None:
            return _json(_item_out(existing), 201)
    data = _event_data(box, body)
    item = store.add_item(box, CALENDAR, data, kind="event")
    return _json(_item_out(item), 201)


def _event_data(box: Mailbox, body: dict[str, Any]) -> dict[str, Any]:
    for name in ("start", "end"):
        value = body.get(name)
        if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
            raise invalid_request(f"'{name}' must be a dateTimeTimeZone.")
    unknown = set(body) - EVENT_FIELDS
    if unknown:
        raise GraphError(400, "ErrorInvalidPropertyRequest", f"The property '{sorted(unknown)[0]}' cannot be set.")
    ical = "040000008200E00074C5B7101A82E008" + new_change_key().encode().hex()[:48].upper()
    data: dict[str, Any] = {
        "iCalUId": ical,
        "uid": ical,
        "subject": "",
        "bodyPreview": "",
        "body": {"contentType": "html", "content": ""},
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": False,
        "isCancelled": False,
        "isOrganizer": True,
        "showAs": "busy",
        "type": "singleInstance",
        "seriesMasterId": None,
        "categories": [],
        "location": {"displayName": ""},
        "attendees": [],
        "organizer": {"emailAddress": {"name": box.user.name, "address": box.address}},
        "transactionId": None,
        "start": {},
        "end": {},
    }
    data.update(body)
    data["bodyPreview"] = str((data.get("body") or {}).get("content", ""))[:255]
    return data


@mailbox_route("/events/<eid>", ["GET"])
@mailbox_route("/calendar/events/<eid>", ["GET"])
def get_event(eid: str, uid: str | None = None) -> Response:
    """An event."""
    box = _box(uid, CALENDAR_READ)
    return _json(_render_item(_event(box, eid)))


@mailbox_route("/events/<eid>", ["PATCH"])
@mailbox_route("/calendar/events/<eid>", ["PATCH"])
def update_event(eid: str, uid: str | None = None) -> Response:
    """Update an event (categories, subject, times...)."""
    box = _box(uid, CALENDAR_WRITE)
    item = _event(box, eid)
    body = _body()
    unknown = set(body) - EVENT_FIELDS - {"singleValueExtendedProperties"}
    if unknown:
        raise GraphError(400, "ErrorInvalidPropertyRequest", f"The property '{sorted(unknown)[0]}' cannot be set.")
    store = current_graph().store
    with store.lock:
        item.data.update({k: v for k, v in body.items() if k != "singleValueExtendedProperties"})
        _set_properties(item, body.get("singleValueExtendedProperties"))
    store.touch(box, item)
    return _json(_item_out(item))


@mailbox_route("/events/<eid>", ["DELETE"])
@mailbox_route("/calendar/events/<eid>", ["DELETE"])
def delete_event(eid: str, uid: str | None = None) -> Response:
    """Delete an event."""
    box = _box(uid, CALENDAR_WRITE)
    current_graph().store.delete_item(box, _event(box, eid))
    return Response(status=204)


def _overlaps(start: str, end: str) -> Callable[[Item], bool]:
    def keep(item: Item) -> bool:
        item_start = str((item.data.get("start") or {}).get("dateTime", ""))
        item_end = str((item.data.get("end") or {}).get("dateTime", ""))
        return item_start[:19] < end[:19] and item_end[:19] > start[:19]

    return keep


@mailbox_route("/calendarView/delta", ["GET"])
@mailbox_route("/calendarView/delta()", ["GET"])
def calendar_view_delta(uid: str | None = None) -> Response:
    """Delta of the primary calendar's events in a time window. https://learn.microsoft.com/en-us/graph/api/event-delta"""
    box = _box(uid, CALENDAR_READ)
    params: dict[str, str] = {}
    if not request.args.get("$skiptoken") and not request.args.get("$deltatoken"):
        start, end = request.args.get("startDateTime"), request.args.get("endDateTime")
        if not start or not end:
            raise GraphError(
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string "
                "parameters StartDateTime and EndDateTime.",
            )
        params = {"startDateTime": start, "endDateTime": end}
    window = params or {}
    if request.args.get("$deltatoken"):
        window = dict(_untoken(request.args["$deltatoken"]).get("p") or {})
    elif request.args.get("$skiptoken"):
        key = request.args["$skiptoken"].rpartition(".")[0]
        found = current_graph().store.round(key)
        window = found.params if found is not None else {}
    keep = _overlaps(window.get("startDateTime", ""), window.get("endDateTime", "9999"))
    return _delta(box, CALENDAR, params, keep, "Collection(event)")


# ---------------------------------------------------------------------------------------------------- categories


@mailbox_route("/outlook/masterCategories", ["GET"])
def list_categories(uid: str | None = None) -> Response:
    """The master category list. https://learn.microsoft.com/en-us/graph/api/outlookuser-list-mastercategories"""
    box = _box(uid, SETTINGS_READ)
    return _json(
        {"@odata.context": _context("outlookCategory"), "value": [category_json(c) for c in box.categories.values()]}
    )


@mailbox_route("/outlook/masterCategories", ["POST"])
def create_category(uid: str | None = None) -> Response:
    """Create a master category; its display name is unique and fixed from now on.

    https://learn.microsoft.com/en-us/graph/api/outlookuser-post-mastercategories
    """
    box = _box(uid, SETTINGS_WRITE)
    body = _body()
    name = body.get("displayName")
    color = body.get("color", "none")
    if not isinstance(name, str) or not name.strip():
        raise invalid_request("displayName is required.")
    if color not in COLORS:
        raise invalid_request(f"'{color}' is not a valid categoryColor.")
    store = current_graph().store
    with store.lock:
        if any(c.display_name.casefold() == name.casefold() for c in box.categories.values()):
            # displayName is unique in the mailbox (outlookCategory); the code of the refusal is our choice.
            raise GraphError(409, "ErrorDuplicateCategory", "A category with this name already exists.")
        category = Category(new_id(), name, str(color))
        box.categories[category.id] = category
    return _json(category_json(category), 201)


def new_id() -> str:
    """A fresh GUID id (master categories are keyed by one)."""
    return str(uuid.uuid4())


def _category(box: Mailbox, cid: str) -> Category:
    category = box.categories.get(cid)
    if category is None:
        raise not_found()
    return category


@mailbox_route("/outlook/masterCategories/<cid>", ["GET"])
def get_category(cid: str, uid: str | None = None) -> Response:
    """A master category by id."""
    box = _box(uid, SETTINGS_READ)
    return _json(category_json(_category(box, cid)))


@mailbox_route("/outlook/masterCategories/<cid>", ["PATCH"])
def update_category(cid: str, uid: str | None = None) -> Response:
    """Change a category's color; the display name cannot be changed after creation.

    https://learn.microsoft.com/en-us/graph/api/outlookcategory-update
    """
    box = _box(uid, SETTINGS_WRITE)
    category = _category(box, cid)
    body = _body()
    if "displayName" in body and body["displayName"] != category.display_name:
        raise GraphError(400, "ErrorInvalidRequest", "The displayName of a category cannot be changed.")
    color = body.get("color", category.color)
    if color not in COLORS:
        raise invalid_request(f"'{color}' is not a valid categoryColor.")
    category.color = str(color)
    return _json(category_json(category))


@mailbox_route("/outlook/masterCategories/<cid>", ["DELETE"])
def delete_category(cid: str, uid: str | None = None) -> Response:
    """Delete a master category (items keep the name in their `categories`)."""
    box = _box(uid, SETTINGS_WRITE)
    _category(box, cid)
    box.categories.pop(cid, None)
    return Response(status=204)


# ---------------------------------------------------------------------------------------------------- subscriptions


def _subscription_target(resource: Any) -> tuple[Mailbox, str | None, str]:
    subs = current_graph().subscriptions
    user_ref, folder_ref, kind = subs.parse_resource(resource)
    box = _box(user_ref, MAIL_READ if kind == "message" else CALENDAR_READ)
    folder_id = _folder(box, folder_ref).id if folder_ref else None
    return box, folder_id, kind


@bp.post("/subscriptions")
def create_subscription() -> Response:
    """Create a subscription after the validation handshake. https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions"""
    body = _body()
    box, folder_id, kind = _subscription_target(body.get("resource"))
    caller = _caller()
    sub = current_graph().subscriptions.create(
        body, box, folder_id, kind, caller.app_id, caller.principal_id, _immutable()
    )
    return _json({"@odata.context": _context("subscriptions/$entity"), **sub.json()}, 201)


@bp.get("/subscriptions")
def list_subscriptions() -> Response:
    """The calling app's subscriptions."""
    subs = current_graph().subscriptions.live(_caller().app_id)
    return _json({"@odata.context": _context("subscriptions"), "value": [s.json() for s in subs]})


def _subscription(sid: str) -> Any:
    sub = current_graph().subscriptions.get(sid, _caller().app_id)
    if sub is None:
        raise GraphError(404, "ResourceNotFound", f"The object '{sid}' doesn't exist.")
    return sub


@bp.get("/subscriptions/<sid>")
def get_subscription(sid: str) -> Response:
    """One subscription."""
    return _json(_subscription(sid).json())


@bp.patch("/subscriptions/<sid>")
def renew_subscription(sid: str) -> Response:
    """Renew a subscription (a new expirationDateTime). https://learn.microsoft.com/en-us/graph/api/subscription-update"""
    sub = current_graph().subscriptions.renew(_subscription(sid), _body())
    return _json(sub.json())


@bp.post("/subscriptions/<sid>/reauthorize")
def reauthorize_subscription(sid: str) -> Response:
    """Reauthorize a subscription after `reauthorizationRequired`."""
    _subscription(sid)
    return Response(status=200)


@bp.delete("/subscriptions/<sid>")
def delete_subscription(sid: str) -> Response:
    """Delete a subscription."""
    _subscription(sid)
    current_graph().subscriptions.delete(sid)
    return Response(status=204)
