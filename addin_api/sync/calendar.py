"""Calendar items as the pane's appointment tracks: which carry the tracking category, and the `TrackAppointment`
each is.

- The feed is the primary calendar's `calendarView/delta` over a window around today (`WINDOW_PAST` before,
  `WINDOW_AHEAD` after); its round starts again, over the window moved on, once a week.
  https://learn.microsoft.com/en-us/graph/api/event-delta
- An event is keyed by its `iCalUId` — for an Exchange meeting, the hex form of its GlobalObjectId, which is what
  Dataverse's appointment `globalobjectid` holds — and becomes the body the pane sends to track an appointment,
  loaded by the same schema. Times come in UTC (`Prefer: outlook.timezone="UTC"`).
  https://learn.microsoft.com/en-us/graph/api/resources/event
- Cancelled events are not tracked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from addin_api.model import TrackAppointment
from addin_api.schemas import MAX_APPOINTMENT_SUBJECT_LENGTH, TrackAppointmentSchema
from addin_api.sync.counting import MailboxGraph
from addin_api.sync.graph import DeltaPage, MasterCategory
from addin_api.sync.items import address, addresses

__all__ = ["CALENDAR", "WINDOW_AHEAD", "WINDOW_PAST", "appointment_command", "carries_event", "calendar_pages"]

CALENDAR = "calendar"
WINDOW_PAST = timedelta(days=30)
WINDOW_AHEAD = timedelta(days=365)
# A round over the window is started again after this long (the window moves with today).
WINDOW_SECONDS = 7 * 24 * 3600.0
WINDOW_KEY = "calendar_window"

_SCHEMA = TrackAppointmentSchema()


def carries_event(event: dict[str, Any], category: MasterCategory) -> bool:
    """Whether an event carries the category and can be tracked (keyed, not cancelled)."""
    names = event.get("categories")
    return (
        isinstance(names, list)
        and category.display_name in names
        and not event.get("isCancelled")
        and isinstance(event.get("iCalUId"), str)
        and bool(event["iCalUId"])
    )


def appointment_command(event: dict[str, Any]) -> TrackAppointment:
    """The pane's appointment track of an event; marshmallow's ValidationError when the pane's schema refuses it."""
    attendees = [a for a in event.get("attendees") or [] if isinstance(a, dict)]
    body = event.get("body") if isinstance(event.get("body"), dict) else {}
    assert isinstance(body, dict)
    content_type = str(body.get("contentType") or "html").lower()
    location = event.get("location")
    raw = {
        "globalObjectId": event.get("iCalUId"),
        "subject": str(event.get("subject") or "")[:MAX_APPOINTMENT_SUBJECT_LENGTH],
        "start": _utc(event.get("start")),
        "end": _utc(event.get("end")),
        "isAllDay": bool(event.get("isAllDay")),
        "location": (location.get("displayName") or None) if isinstance(location, dict) else None,
        "organizer": address(event.get("organizer")),
        "requiredAttendees": addresses([a for a in attendees if a.get("type", "required") == "required"]),
        "optionalAttendees": addresses([a for a in attendees if a.get("type") == "optional"]),
        "body": str(body.get("content") or ""),
        "bodyType": content_type if content_type in ("html", "text") else "html",
    }
    command = _SCHEMA.load(raw)
    assert isinstance(command, TrackAppointment)
    return command


def _utc(value: Any) -> str | None:
    """A Graph dateTimeTimeZone asked for in UTC, as an ISO 8601 instant; None when it is not in UTC."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        return None
    if str(value.get("timeZone") or "UTC").upper() not in ("UTC", "ETC/UTC"):
        return None
    return str(value["dateTime"]).split(".")[0] + "Z"


def calendar_pages(
    graph: MailboxGraph,
    user: str,
    link: str | None,
    *,
    stored: Callable[[str], str | None],
    store: Callable[[str, str], None],
) -> Iterator[DeltaPage]:
    """The calendar feed's pages from `link`, or a new round over the window around now (remembered in the store).

    A link older than a week is dropped, so the next round covers the window as it is today.
    """
    started = _window_started(stored(WINDOW_KEY))
    if link is not None and started is not None and time.time() - started < WINDOW_SECONDS:
        return graph.calendar_delta(user, "", "", delta_link=link)
    now = datetime.now(UTC).replace(microsecond=0)
    store(WINDOW_KEY, json.dumps({"at": time.time()}))
    start, end = (now - WINDOW_PAST).isoformat(), (now + WINDOW_AHEAD).isoformat()
    return graph.calendar_delta(user, start.replace("+00:00", "Z"), end.replace("+00:00", "Z"))


def _window_started(text: str | None) -> float | None:
    try:
        return float(json.loads(text)["at"]) if text else None
    except (ValueError, TypeError, KeyError):
        return None
