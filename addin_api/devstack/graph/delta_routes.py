"""Graph delta queries: per-folder message delta and calendarView delta, paged and resumed by tokens.

https://learn.microsoft.com/en-us/graph/delta-query-overview
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from addin_api.devstack.graph.access import CALENDAR_READ, MAIL_READ
from addin_api.devstack.graph.emulator import current_graph
from addin_api.devstack.graph.errors import GraphError
from addin_api.devstack.graph.query import parse_filter, parse_select
from addin_api.devstack.graph.serialize import item_json, item_view
from addin_api.devstack.graph.store import CALENDAR, DeltaRound, Item, Mailbox
from addin_api.devstack.graph.web import (
    box_for,
    context_url,
    folder_or_404,
    immutable_ids,
    mailbox_router,
    page_size,
    reply,
)

bp = Blueprint("delta", __name__)
mailbox_route = mailbox_router(bp)


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
    key, state, offset = _round(box, collection, params, keep)
    page, position = _entries(box, collection, state, offset)
    body: dict[str, Any] = {"@odata.context": context_url(context), "value": page}
    if position < len(state.entries):
        body["@odata.nextLink"] = f"{request.base_url}?{urlencode({'$skiptoken': f'{key}.{position}'})}"
    else:
        cursor = _token(
            {"g": store.generation, "m": box.user.oid, "c": collection, "s": state.until, "p": state.params}
        )
        body["@odata.deltaLink"] = f"{request.base_url}?{urlencode({'$deltatoken': cursor})}"
    return reply(body)


def _round(
    box: Mailbox, collection: str, params: dict[str, str], keep: Callable[[Item], bool]
) -> tuple[str, DeltaRound, int]:
    """The round a `$skiptoken` continues (key, round, offset), or a new one from a `$deltatoken` or the start."""
    store = current_graph().store
    skiptoken = request.args.get("$skiptoken")
    if skiptoken:
        key, _, offset_text = skiptoken.rpartition(".")
        state = store.round(key)
        if state is None or state.mailbox != box.user.oid or state.collection != collection:
            raise sync_state_gone()
        return key, state, int(offset_text) if offset_text.isdigit() else 0
    since = 0
    deltatoken = request.args.get("$deltatoken")
    if deltatoken:
        token = _untoken(deltatoken)
        if token.get("g") != store.generation or token.get("m") != box.user.oid or token.get("c") != collection:
            raise sync_state_gone()
        since = int(token.get("s", 0))
        params = dict(token.get("p") or {})
    key = store.start_round(box, collection, since, params, keep, params.get("changeType"))
    state = store.round(key)
    assert state is not None
    return key, state, 0


def _entries(box: Mailbox, collection: str, state: DeltaRound, offset: int) -> tuple[list[dict[str, Any]], int]:
    """One page of the round's entries from `offset` (items, then removals), and the position after it."""
    select = parse_select(state.params.get("$select"))
    immutable = immutable_ids()
    size = page_size()
    page: list[dict[str, Any]] = []
    position = offset
    with current_graph().store.lock:
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
            page.append(_removal(collection, immutable_id if immutable else removed_rest_id))
            if immutable:
                listed.add(immutable_id)
    return page, position


def _removal(collection: str, item_id: str) -> dict[str, Any]:
    """The entry of a delta page for an item that left the collection."""
    kind = "event" if collection == CALENDAR else "message"
    return {"@odata.type": f"#microsoft.graph.{kind}", "id": item_id, "@removed": {"reason": "deleted"}}


@mailbox_route("/mailFolders/<fid>/messages/delta", ["GET"])
@mailbox_route("/mailFolders/<fid>/messages/delta()", ["GET"])
def messages_delta(fid: str, uid: str | None = None) -> Response:
    """Per-folder message delta, paged with `$skiptoken`, resumed with `$deltatoken`."""
    box = box_for(uid, MAIL_READ)
    folder = folder_or_404(box, fid)
    params = {k: v for k, v in request.args.items() if k in ("$select", "changeType")}
    if params.get("changeType") not in (None, "created", "updated", "deleted"):
        raise GraphError(400, "ErrorInvalidParameter", "changeType must be created, updated or deleted.")
    if request.args.get("$filter"):
        # Delta on messages filters only on receivedDateTime. https://learn.microsoft.com/en-us/graph/api/message-delta
        raw = request.args["$filter"]
        if not re.fullmatch(r"\s*receivedDateTime\s+(ge|gt)\s+\S+\s*", raw):
            raise GraphError(400, "ErrorInvalidUrlQueryFilter", "Delta on messages filters only on receivedDateTime.")
    test = parse_filter(request.args["$filter"]) if request.args.get("$filter") else None
    immutable = immutable_ids()

    def keep(item: Item) -> bool:
        return test is None or test(item_view(item, immutable))

    return _delta(box, folder.id, params, keep, "Collection(message)")


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
    box = box_for(uid, CALENDAR_READ)
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
