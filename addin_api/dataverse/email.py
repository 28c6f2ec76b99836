"""An Outlook message as a Dataverse `email`: its columns, its parties' participation types, its state.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/email
"""

from __future__ import annotations

from typing import Any

from addin_api.dataverse.activities import EMAIL, Draft, html_description, utc
from addin_api.dataverse.parties import BCC, CC, SENDER, TO, Party
from addin_api.model import Address, TrackEmail

# Email state on create: received = Completed/Received, sent = Completed/Sent.
RECEIVED = {"directioncode": False, "statecode": 1, "statuscode": 4}
SENT = {"directioncode": True, "statecode": 1, "statuscode": 3}
# Column lengths: email.sender holds 250 characters, email.torecipients 500.
SENDER_LENGTH = 250
TO_RECIPIENTS_LENGTH = 500


def _party(mask: int, address: Address) -> Party:
    return Party(mask, address.address.lower(), address.name)


def email_draft(command: TrackEmail, caller_email: str | None) -> Draft:
    """The email to create for `command`: sent when the caller sent it (or says it is outgoing), else received."""
    sender = _party(SENDER, command.sender)
    parties = [sender]
    for mask, group in ((TO, command.to), (CC, command.cc), (BCC, command.bcc)):
        parties += [_party(mask, address) for address in group]
    outgoing = command.direction == "outgoing" or (command.direction is None and sender.address == caller_email)
    columns: dict[str, Any] = {
        "subject": command.subject,
        "description": html_description(command.body, command.body_type),
        "messageid": command.internet_message_id,
        "actualend": utc(command.sent_at),
        "sender": sender.address[:SENDER_LENGTH],
        "torecipients": ";".join(p.address for p in parties if p.mask == TO)[:TO_RECIPIENTS_LENGTH],
        **(SENT if outgoing else RECEIVED),
    }
    return Draft(
        kind=EMAIL,
        key=command.internet_message_id,
        columns=columns,
        parties=tuple(parties),
        sender=sender,
        regarding=command.regarding,
        attachments=command.attachments,
        create_missing=command.create_missing,
    )
