"""`/api/v1/emails`: track, status, regarding, untrack."""

from __future__ import annotations

from addin_api.api.activities import activity_blueprint
from addin_api.schemas import EmailStatusArgs, TrackEmailSchema

bp = activity_blueprint("emails", "email", TrackEmailSchema(), EmailStatusArgs(), "internetMessageId")
