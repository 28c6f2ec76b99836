"""`/api/v1/emails`: track, status, regarding, untrack."""

from __future__ import annotations

from typing import Any

from addin_api.api.activities import activity_blueprint, attachments, description, regarding_ref
from addin_api.dataverse.activities import EMAIL
from addin_api.dataverse.parties import BCC, CC, SENDER, TO, Party
from addin_api.schemas import EmailStatusArgs, TrackEmailSchema
from addin_api.services.tracking import TrackItem, utc


def _party(mask: int, item: dict[str, Any]) -> Party:
    return Party(mask, item["address"].lower(), item.get("name"))


def email_item(data: dict[str, Any]) -> TrackItem:
    """A validated `POST /emails` body as an item to track."""
    sender = _party(SENDER, data["sender"])
    parties = [sender]
    for mask, key in ((TO, "to"), (CC, "cc"), (BCC, "bcc")):
        parties += [_party(mask, p) for p in data[key]]
    columns = {
        "subject": data["subject"],
        "description": description(data),
        "messageid": data["internetMessageId"],
        "actualend": utc(data["sentAt"]),
        "sender": sender.address[:250],
        "torecipients": ";".join(p.address for p in parties if p.mask == TO)[:500],
    }
    return TrackItem(
        kind=EMAIL,
        key=data["internetMessageId"],
        columns=columns,
        parties=parties,
        sender=sender,
        regarding=regarding_ref(data["regarding"]),
        attachments=attachments(data),
        create_missing=data["createMissing"],
        direction=data["direction"],
    )


bp = activity_blueprint("emails", EMAIL, TrackEmailSchema(), EmailStatusArgs(), "internetMessageId", email_item)
