"""`/api/v1/emails`: track, status, regarding, untrack."""

from __future__ import annotations

from typing import Any

from addin_api.api.activities import activity_blueprint, address, attachments, regarding_ref
from addin_api.schemas import EmailStatusArgs, TrackEmailSchema
from addin_api.services.model import TrackEmail


def email_item(data: dict[str, Any]) -> TrackEmail:
    """A validated `POST /emails` body as the command to track it."""
    return TrackEmail(
        internet_message_id=data["internetMessageId"],
        subject=data["subject"],
        sender=address(data["sender"]),
        sent_at=data["sentAt"],
        to=tuple(address(p) for p in data["to"]),
        cc=tuple(address(p) for p in data["cc"]),
        bcc=tuple(address(p) for p in data["bcc"]),
        body=str(data.get("body") or ""),
        body_type=data.get("bodyType") or "html",
        regarding=regarding_ref(data["regarding"]),
        attachments=attachments(data),
        create_missing=data["createMissing"],
        direction=data["direction"],
    )


bp = activity_blueprint("emails", "email", TrackEmailSchema(), EmailStatusArgs(), "internetMessageId", email_item)
