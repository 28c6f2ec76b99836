"""The caller's `mailbox` row and their environment's `organization` row, read in one `$batch`.

Column names and option values follow the mailbox table reference:
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/mailbox
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from addin_api.dataverse.batch import BatchRequest
from addin_api.dataverse.port import Dataverse

# incomingemaildeliverymethod / outgoingemaildeliverymethod: 0 None, 1 Microsoft Dynamics 365 for Outlook,
# 2 Server-Side Synchronization or Email Router (incoming also has 3 Forward Mailbox).
EMAIL_SERVER_SIDE_SYNC = 2
# actdeliverymethod (appointments, contacts and tasks) numbers its options differently:
# 0 Microsoft Dynamics 365 for Outlook, 1 Server-Side Synchronization, 2 None.
ACT_SERVER_SIDE_SYNC = 1
# emailrouteraccessapproval: 0 Empty, 1 Approved, 2 Pending Approval, 3 Rejected.
APPROVED = 1
# incomingemailstatus / outgoingemailstatus / actstatus: 0 Not Run, 1 Success, 2 Failure.
NOT_RUN, SUCCESS, FAILURE = 0, 1, 2

MAILBOX_COLUMNS = (
    "mailboxid",
    "emailrouteraccessapproval",
    "incomingemaildeliverymethod",
    "outgoingemaildeliverymethod",
    "actdeliverymethod",
    "incomingemailstatus",
    "outgoingemailstatus",
    "actstatus",
    "orgmarkedasprimaryforexchangesync",
    "testmailboxaccesscompletedon",
    "lastsuccessfulsynccompletedon",
)


@dataclass(frozen=True)
class MailboxRow:
    """The mailbox columns the add-in reads (None where Dataverse returned no value)."""

    mailbox_id: str
    approval: int | None
    incoming_method: int | None
    outgoing_method: int | None
    act_method: int | None
    incoming_status: int | None
    outgoing_status: int | None
    act_status: int | None
    marked_primary_here: bool
    tested_on: str | None
    last_sync: str | None


@dataclass(frozen=True)
class Environment:
    """The organization row of the environment the caller works in."""

    organization_id: str
    name: str | None


def read_mailbox(dv: Dataverse, user_id: str, organization_id: str) -> tuple[MailboxRow | None, Environment]:
    """The user's default mailbox (None when they have none) and the organization, in one round trip."""
    user, organization = dv.batch(
        [
            BatchRequest(
                "GET",
                f"systemusers({user_id})?$select=systemuserid"
                f"&$expand=defaultmailbox($select={','.join(MAILBOX_COLUMNS)})",
            ),
            BatchRequest("GET", f"organizations({organization_id})?$select=organizationid,name"),
        ]
    )
    dv.raise_for(user)
    dv.raise_for(organization)
    org: dict[str, Any] = organization.body if isinstance(organization.body, dict) else {}
    environment = Environment(str(org.get("organizationid") or organization_id), _text(org.get("name")))
    body: dict[str, Any] = user.body if isinstance(user.body, dict) else {}
    box = body.get("defaultmailbox")
    if not isinstance(box, dict) or not box.get("mailboxid"):
        return None, environment
    return (
        MailboxRow(
            mailbox_id=str(box["mailboxid"]),
            approval=_int(box.get("emailrouteraccessapproval")),
            incoming_method=_int(box.get("incomingemaildeliverymethod")),
            outgoing_method=_int(box.get("outgoingemaildeliverymethod")),
            act_method=_int(box.get("actdeliverymethod")),
            incoming_status=_int(box.get("incomingemailstatus")),
            outgoing_status=_int(box.get("outgoingemailstatus")),
            act_status=_int(box.get("actstatus")),
            marked_primary_here=box.get("orgmarkedasprimaryforexchangesync") is True,
            tested_on=_text(box.get("testmailboxaccesscompletedon")),
            last_sync=_text(box.get("lastsuccessfulsynccompletedon")),
        ),
        environment,
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
