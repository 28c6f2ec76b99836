"""The request helpers the Graph route modules share: the caller's mailbox, ids, paging, bodies, lookups.

Ids are answered in the regular form unless the request says `Prefer: IdType="ImmutableId"`; collections page
with `$top` or `Prefer: odata.maxpagesize=N` and `@odata.nextLink`.
https://learn.microsoft.com/en-us/graph/paging
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, jsonify, request

from addin_api.devstack.graph.access import Caller
from addin_api.devstack.graph.emulator import current_graph
from addin_api.devstack.graph.errors import GraphError, invalid_request, not_found
from addin_api.devstack.graph.query import parse_expand_properties, parse_filter, parse_select
from addin_api.devstack.graph.serialize import attachment_json, folder_json, item_json, item_view
from addin_api.devstack.graph.store import CALENDAR, Folder, Item, Mailbox

DEFAULT_PAGE = 10
MAX_PAGE = 1000


def mailbox_router(
    bp: Blueprint,
) -> Callable[[str, list[str]], Callable[[Callable[..., Response]], Callable[..., Response]]]:
    """A decorator factory registering a view of `bp` under `/me{rule}` and `/users/<uid>{rule}`."""

    def mailbox_route(rule: str, methods: list[str]) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
        def register(view: Callable[..., Response]) -> Callable[..., Response]:
            bp.add_url_rule("/me" + rule, f"{view.__name__}_me", view, methods=methods)
            bp.add_url_rule("/users/<uid>" + rule, view.__name__, view, methods=methods)
            return view

        return register

    return mailbox_route


def current_caller() -> Caller:
    """The verified caller of this request (`graph.access`)."""
    caller = g.get("graph_caller")
    assert isinstance(caller, Caller)
    return caller


def box_for(uid: str | None, allowed: frozenset[str] | None = None) -> Mailbox:
    """The mailbox addressed (`None`: the signed-in user's), after reach, access-policy and permission checks."""
    caller = current_caller()
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


def immutable_ids() -> bool:
    """Whether the request asks for immutable ids."""
    # https://learn.microsoft.com/en-us/graph/outlook-immutable-id
    return re.search(r'IdType\s*=\s*"?ImmutableId"?', request.headers.get("Prefer", ""), re.I) is not None


def page_size() -> int:
    """The page size asked for with `$top` or `Prefer: odata.maxpagesize`, at most MAX_PAGE."""
    top = request.args.get("$top")
    match = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", request.headers.get("Prefer", ""), re.I)
    try:
        size = int(top) if top is not None else int(match.group(1)) if match else DEFAULT_PAGE
    except ValueError as exc:
        raise invalid_request(f"Invalid $top value '{top}'.") from exc
    if size < 1:
        raise invalid_request("$top must be positive.")
    return min(size, MAX_PAGE)


def reply(body: Any, status: int = 200) -> Response:
    """A JSON response, with `Preference-Applied` naming the preferences honoured."""
    response = jsonify(body)
    response.status_code = status
    applied = []
    if immutable_ids():
        applied.append('IdType="ImmutableId"')
    if "odata.maxpagesize" in request.headers.get("Prefer", "") and "$top" not in request.args:
        applied.append(f"odata.maxpagesize={page_size()}")
    if applied:
        response.headers["Preference-Applied"] = ", ".join(applied)
    return response


def json_body(annotations: bool = False) -> dict[str, Any]:
    """The JSON object sent; instance annotations (`@odata.type`...) are dropped unless asked for."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.")
    return body if annotations else {k: v for k, v in body.items() if not k.startswith("@odata.")}


def param(body: dict[str, Any], name: str) -> Any:
    """An action parameter by name, ignoring case (the SDK writes `DestinationId`, `Message`, `SaveToSentItems`)."""
    wanted = name.casefold()
    return next((v for k, v in body.items() if k.casefold() == wanted), None)


def context_url(path: str) -> str:
    """The `@odata.context` URL of a path of the Graph metadata."""
    return f"{request.url_root}v1.0/$metadata#{path}"


def paged(items: list[Any], render: Callable[[Any], dict[str, Any]], context: str) -> Response:
    """One page of a collection, with `@odata.nextLink` carrying `$skip` when more remain."""
    size = page_size()
    try:
        skip = int(request.args.get("$skip", "0"))
    except ValueError as exc:
        raise invalid_request("Invalid $skip value.") from exc
    body: dict[str, Any] = {
        "@odata.context": context_url(context),
        "value": [render(i) for i in items[skip : skip + size]],
    }
    if skip + size < len(items):
        args = {k: v for k, v in request.args.items() if k != "$skip"}
        args["$skip"] = str(skip + size)
        if "$top" not in args:
            args["$top"] = str(size)
        body["@odata.nextLink"] = f"{request.base_url}?{urlencode(args)}"
    return reply(body)


def folder_or_404(box: Mailbox, ref: str) -> Folder:
    """A folder by id or well-known name, else 404."""
    folder = box.folder(ref)
    if folder is None:
        raise not_found()
    return folder


def message_or_404(box: Mailbox, ref: str) -> Item:
    """A message (not an event) by id, else 404."""
    item = box.item(ref)
    if item is None or item.collection == CALENDAR:
        raise not_found()
    return item


def event_or_404(box: Mailbox, ref: str) -> Item:
    """An event by id, else 404."""
    item = box.item(ref)
    if item is None or item.collection != CALENDAR:
        raise not_found()
    return item


def render_item(item: Item) -> dict[str, Any]:
    """An item's JSON with the request's `$select` and `$expand` (`attachments`, `singleValueExtendedProperties`).

    `$expand=attachments` brings each file attachment with its `contentBytes` in the same answer:
    https://learn.microsoft.com/en-us/graph/api/message-get#example-4-get-a-message-including-its-attachments
    """
    select = parse_select(request.args.get("$select"))
    with_attachments, rest = _expand_attachments(request.args.get("$expand"))
    found = item_out(item, select, parse_expand_properties(rest))
    if with_attachments:
        with current_graph().store.lock:
            found["attachments"] = [attachment_json(a) for a in item.attachments]
    return found


def _expand_attachments(text: str | None) -> tuple[bool, str | None]:
    """Whether `$expand` names `attachments`, and the other expansions (split on commas outside parentheses)."""
    if not text:
        return False, text
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    others = [p for p in parts if p.strip().lower() != "attachments"]
    return len(others) < len(parts), ",".join(others) or None


def item_out(
    item: Item, select: list[str] | None = None, expand: Callable[[dict[str, Any]], bool] | None = None
) -> dict[str, Any]:
    """An item's JSON, read under the store's lock (other requests change items in place)."""
    with current_graph().store.lock:
        return item_json(item, immutable_ids(), select, expand)


def folder_out(box: Mailbox, folder: Folder) -> dict[str, Any]:
    """A folder's JSON, read under the store's lock."""
    with current_graph().store.lock:
        return folder_json(box, folder)


def filtered(items: list[Item]) -> list[Item]:
    """Items kept by the request's `$filter`, sorted by its `$orderby`."""
    text = request.args.get("$filter")
    if text:
        keep = parse_filter(text)
        immutable = immutable_ids()
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


def set_properties(item: Item, raw: Any) -> None:
    """Set or (value null) remove single-value extended properties of an item."""
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
