"""An Outlook meeting as a Dataverse `appointment`: its columns and its parties' participation types.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/appointment
"""

from __future__ import annotations

from typing import Any

from addin_api.dataverse.activities import APPOINTMENT, Draft, html_description, utc
from addin_api.dataverse.parties import OPTIONAL, ORGANIZER, REQUIRED, Party
from addin_api.model import TrackAppointment


def appointment_draft(command: TrackAppointment) -> Draft:
    """The appointment to create for `command`: organizer first, then required and optional attendees."""
    organizer = command.organizer
    sender = Party(ORGANIZER, organizer.address.lower(), organizer.name) if organizer else None
    parties = [sender] if sender else []
    for mask, group in ((REQUIRED, command.required_attendees), (OPTIONAL, command.optional_attendees)):
        parties += [Party(mask, a.address.lower(), a.name) for a in group]
    columns: dict[str, Any] = {
        "subject": command.subject,
        "description": html_description(command.body, command.body_type),
        "globalobjectid": command.global_object_id,
        "scheduledstart": utc(command.start),
        "scheduledend": utc(command.end),
        "isalldayevent": command.is_all_day,
    }
    if command.location:
        columns["location"] = command.location
    return Draft(
        kind=APPOINTMENT,
        key=command.global_object_id,
        columns=columns,
        parties=tuple(parties),
        sender=sender,
        regarding=command.regarding,
        attachments=command.attachments,
        create_missing=command.create_missing,
    )
