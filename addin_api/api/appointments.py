"""`/api/v1/appointments`: track, status, regarding, untrack."""

from __future__ import annotations

from addin_api.api.activities import activity_blueprint
from addin_api.schemas import AppointmentStatusArgs, TrackAppointmentSchema

bp = activity_blueprint(
    "appointments", "appointment", TrackAppointmentSchema(), AppointmentStatusArgs(), "globalObjectId"
)
