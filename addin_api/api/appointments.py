"""`/api/v1/appointments`: track, status, regarding, untrack."""

from __future__ import annotations

from typing import Any

from addin_api.api.activities import activity_blueprint, attachments, description, regarding_ref
from addin_api.dataverse.activities import APPOINTMENT
from addin_api.dataverse.parties import OPTIONAL, ORGANIZER, REQUIRED, Party
from addin_api.schemas import AppointmentStatusArgs, TrackAppointmentSchema
from addin_api.services.tracking import TrackItem, utc


def appointment_item(data: dict[str, Any]) -> TrackItem:
    """A validated `POST /appointments` body as an item to track."""
    organizer = (
        Party(ORGANIZER, data["organizer"]["address"].lower(), data["organizer"].get("name"))
        if data["organizer"]
        else None
    )
    parties = [organizer] if organizer else []
    for mask, key in ((REQUIRED, "requiredAttendees"), (OPTIONAL, "optionalAttendees")):
        parties += [Party(mask, p["address"].lower(), p.get("name")) for p in data[key]]
    columns: dict[str, Any] = {
        "subject": data["subject"],
        "description": description(data),
        "globalobjectid": data["globalObjectId"],
        "scheduledstart": utc(data["start"]),
        "scheduledend": utc(data["end"]),
        "isalldayevent": data["isAllDay"],
    }
    if data["location"]:
        columns["location"] = data["location"]
    return TrackItem(
        kind=APPOINTMENT,
        key=data["globalObjectId"],
        columns=columns,
        parties=parties,
        sender=organizer,
        regarding=regarding_ref(data["regarding"]),
        attachments=attachments(data),
        create_missing=data["createMissing"],
    )


bp = activity_blueprint(
    "appointments", APPOINTMENT, TrackAppointmentSchema(), AppointmentStatusArgs(), "globalObjectId", appointment_item
)
