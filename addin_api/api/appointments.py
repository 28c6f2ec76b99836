"""`/api/v1/appointments`: track, status, regarding, untrack."""

from __future__ import annotations

from typing import Any

from addin_api.api.activities import activity_blueprint, address, attachments, regarding_ref
from addin_api.schemas import AppointmentStatusArgs, TrackAppointmentSchema
from addin_api.services.model import TrackAppointment


def appointment_item(data: dict[str, Any]) -> TrackAppointment:
    """A validated `POST /appointments` body as the command to track it."""
    return TrackAppointment(
        global_object_id=data["globalObjectId"],
        subject=data["subject"],
        start=data["start"],
        end=data["end"],
        is_all_day=data["isAllDay"],
        location=data["location"],
        organizer=address(data["organizer"]) if data["organizer"] else None,
        required_attendees=tuple(address(p) for p in data["requiredAttendees"]),
        optional_attendees=tuple(address(p) for p in data["optionalAttendees"]),
        body=str(data.get("body") or ""),
        body_type=data.get("bodyType") or "html",
        regarding=regarding_ref(data["regarding"]),
        attachments=attachments(data),
        create_missing=data["createMissing"],
    )


bp = activity_blueprint(
    "appointments", "appointment", TrackAppointmentSchema(), AppointmentStatusArgs(), "globalObjectId", appointment_item
)
