"""Graph events of the primary calendar: list, create (idempotent by transactionId), update, delete.

https://learn.microsoft.com/en-us/graph/api/resources/event
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from addin_api.devstack.graph.access import CALENDAR_READ, CALENDAR_WRITE
from addin_api.devstack.graph.emulator import current_graph
from addin_api.devstack.graph.errors import GraphError, invalid_request
from addin_api.devstack.graph.store import CALENDAR, Mailbox, new_change_key
from addin_api.devstack.graph.web import (
    box_for,
    event_or_404,
    filtered,
    item_out,
    json_body,
    mailbox_router,
    paged,
    render_item,
    reply,
    set_properties,
)

bp = Blueprint("events", __name__)
mailbox_route = mailbox_router(bp)

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


@mailbox_route("/events", ["GET"])
@mailbox_route("/calendar/events", ["GET"])
def list_events(uid: str | None = None) -> Response:
    """Events of the primary calendar."""
    box = box_for(uid, CALENDAR_READ)
    items = filtered(current_graph().store.items_in(box, CALENDAR, "event"))
    return paged(items, render_item, f"users('{box.user.oid}')/events")


@mailbox_route("/events", ["POST"])
@mailbox_route("/calendar/events", ["POST"])
def create_event(uid: str | None = None) -> Response:
    """Create an event; `transactionId` makes a retried create return the first one.

    https://learn.microsoft.com/en-us/graph/api/user-post-events
    """
    box = box_for(uid, CALENDAR_WRITE)
    body = json_body()
    store = current_graph().store
    transaction = body.get("transactionId")
    if transaction:
        existing = next(
            (i for i in store.items_in(box, CALENDAR, "event") if i.data.get("transactionId") == transaction), None
        )
        if existing is not None:
            return reply(item_out(existing), 201)
    data = _event_data(box, body)
    item = store.add_item(box, CALENDAR, data, kind="event")
    return reply(item_out(item), 201)


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
    box = box_for(uid, CALENDAR_READ)
    return reply(render_item(event_or_404(box, eid)))


@mailbox_route("/events/<eid>", ["PATCH"])
@mailbox_route("/calendar/events/<eid>", ["PATCH"])
def update_event(eid: str, uid: str | None = None) -> Response:
    """Update an event (categories, subject, times...)."""
    box = box_for(uid, CALENDAR_WRITE)
    item = event_or_404(box, eid)
    body = json_body()
    unknown = set(body) - EVENT_FIELDS - {"singleValueExtendedProperties"}
    if unknown:
        raise GraphError(400, "ErrorInvalidPropertyRequest", f"The property '{sorted(unknown)[0]}' cannot be set.")
    store = current_graph().store
    with store.lock:
        item.data.update({k: v for k, v in body.items() if k != "singleValueExtendedProperties"})
        set_properties(item, body.get("singleValueExtendedProperties"))
    store.touch(box, item)
    return reply(item_out(item))


@mailbox_route("/events/<eid>", ["DELETE"])
@mailbox_route("/calendar/events/<eid>", ["DELETE"])
def delete_event(eid: str, uid: str | None = None) -> Response:
    """Delete an event."""
    box = box_for(uid, CALENDAR_WRITE)
    current_graph().store.delete_item(box, event_or_404(box, eid))
    return Response(status=204)
