"""What the services take and return: frozen commands and results, in snake_case, with no Dataverse vocabulary.

The HTTP edge loads requests into the commands and dumps the results (addin_api/schemas/); the services turn
commands into Dataverse requests through addin_api/dataverse/ and read its rows back into results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from addin_api.errors import AddInNotAllowed

# Logical names of the tables a tracked item may be regarding, in the order search results are shown (the
# dataverse/tables.py allowlist holds the same names; a unit test keeps them equal).
REGARDING_TABLE_NAMES = ("account", "contact", "lead", "opportunity", "incident")
# The API's names of the parties' roles.
ROLES = ("from", "to", "cc", "bcc", "required", "optional", "organizer")
# Which incoming email is tracked automatically (personal options), by Dataverse's `incomingemailfilteringmethod`.
TRACK_INCOMING = ("all", "replies", "fromRecords", "fromEmailEnabled", "none")
# What the sync creates for an unresolved sender (Dataverse's option is on or off; "lead" is not offered: the
# column's other values are not documented).
AUTO_CREATE = ("none", "contact")
# What the mailbox sync worker records of an item.
SYNC_STATES = ("tracked", "pending", "undeliverable", "untracked")

Activity = Literal["email", "appointment"]
BodyType = Literal["html", "text"]
CreateMissing = Literal["contact", "lead"]
Direction = Literal["incoming", "outgoing"]


# Dynamics 365 App for Outlook's own words for a user without prvUseOfficeApps.
# https://learn.microsoft.com/en-us/troubleshoot/power-platform/dataverse/d365-app-outlook/experience-without-server-side-synchronization
ADD_IN_NOT_ALLOWED_MESSAGE = (
    "Track and Set Regarding are currently disabled. To use these features, please contact your admin. You can "
    "still view and interact with your Dynamics 365 data."
)


@dataclass(frozen=True)
class MeInfo:
    """The caller as Dataverse knows them (the `caller` every service acting for them takes)."""

    user_id: str
    business_unit_id: str
    organization_id: str
    name: str | None
    email: str | None
    can_use_add_in: bool
    can_create_activities: bool = True

    @property
    def can_track(self) -> bool:
        """Whether tracking can succeed: the add-in is allowed and the user's roles let them create activities."""
        return self.can_use_add_in and self.can_create_activities

    def require_add_in(self) -> None:
        """Refuse writes for users without `prvUseOfficeApps`, as Dynamics 365 App for Outlook does."""
        if not self.can_use_add_in:
            raise AddInNotAllowed(ADD_IN_NOT_ALLOWED_MESSAGE)


# -- commands -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    """An email address on an item (lower-cased by the edge) with its optional display name."""

    address: str
    name: str | None = None


@dataclass(frozen=True)
class Attachment:
    """An attachment as the client sent it: name, type and base64 content (never decoded here)."""

    name: str
    content_type: str
    content_base64: str

    @property
    def size(self) -> int:
        """The decoded size in bytes, from the base64 length alone."""
        return len(self.content_base64) * 3 // 4 - self.content_base64[-2:].count("=")


@dataclass(frozen=True)
class RegardingRef:
    """A record chosen as an activity's regarding: a table of `REGARDING_TABLE_NAMES` and the record's GUID."""

    table: str
    id: str


@dataclass(frozen=True)
class TrackEmail:
    """Track an email the caller received or sent."""

    internet_message_id: str
    subject: str
    sender: Address
    sent_at: datetime
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    body: str = ""
    body_type: BodyType = "html"
    regarding: RegardingRef | None = None
    attachments: tuple[Attachment, ...] = ()
    create_missing: CreateMissing | None = None
    direction: Direction | None = None

    @property
    def key(self) -> str:
        """The item's stable key in Dataverse (`messageid`)."""
        return self.internet_message_id


@dataclass(frozen=True)
class TrackAppointment:
    """Track an appointment of the caller's calendar."""

    global_object_id: str
    subject: str
    start: datetime
    end: datetime
    is_all_day: bool = False
    location: str | None = None
    organizer: Address | None = None
    required_attendees: tuple[Address, ...] = ()
    optional_attendees: tuple[Address, ...] = ()
    body: str = ""
    body_type: BodyType = "html"
    regarding: RegardingRef | None = None
    attachments: tuple[Attachment, ...] = ()
    create_missing: CreateMissing | None = None

    @property
    def key(self) -> str:
        """The item's stable key in Dataverse (`globalobjectid`)."""
        return self.global_object_id


TrackCommand = TrackEmail | TrackAppointment


@dataclass(frozen=True)
class TrackingStatusQuery:
    """Is the item with this key tracked as this activity?"""

    activity: Activity
    key: str


@dataclass(frozen=True)
class SetRegarding:
    """Point a tracked activity at a record; `if_match` is the ETag the client last saw (or `*`)."""

    activity: Activity
    activity_id: str
    regarding: RegardingRef
    if_match: str = "*"


@dataclass(frozen=True)
class ClearRegarding:
    """Remove a tracked activity's regarding."""

    activity: Activity
    activity_id: str


@dataclass(frozen=True)
class Untrack:
    """Delete a tracked activity."""

    activity: Activity
    activity_id: str


@dataclass(frozen=True)
class SearchRegarding:
    """Regarding candidates: records of `tables` matching `search`, or the account `account` and its open work."""

    tables: tuple[str, ...]
    top: int = 10
    search: str | None = None
    account: str | None = None


@dataclass(frozen=True)
class CreateRecord:
    """Create a record of a regarding table from the client's fields (checked against the table's allowlist)."""

    table: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class LookupPerson:
    """Who an email address is in Dataverse (lower-cased by the edge)."""

    email: str


@dataclass(frozen=True)
class TrackPolicy:
    """The deployment's rules for a track: the largest attachment saved, and the activity-id key."""

    max_attachment_bytes: int
    activity_id_key: bytes


# -- results ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordRef:
    """A Dataverse record: logical table name, id and primary name."""

    table: str | None
    id: str
    name: str | None


@dataclass(frozen=True)
class PartyResult:
    """A sender, recipient, organizer or attendee and the records their address resolved to."""

    role: str
    address: str
    resolved: tuple[RecordRef, ...] = ()


@dataclass(frozen=True)
class SkippedAttachment:
    """An attachment that was not saved, and why."""

    name: str
    reason: str = "too_large"


@dataclass(frozen=True)
class AttachmentsResult:
    """How many attachments were saved, and which were skipped."""

    saved: int
    skipped: tuple[SkippedAttachment, ...] = ()


@dataclass(frozen=True)
class Tracked:
    """A tracked email or appointment; `attachments` and `created` only when this track created it."""

    activity_id: str
    kind: str
    subject: str | None
    etag: str | None
    regarding: RecordRef | None
    url: str
    parties: tuple[PartyResult, ...]
    already_tracked: bool = True
    attachments: AttachmentsResult | None = None
    created: RecordRef | None = None
    # What the mailbox sync worker knows of the item (its status query only): its state and last failure's code.
    sync_state: str | None = None
    reason: str | None = None
    tracked: bool = field(default=True, init=False)

    @property
    def created_now(self) -> bool:
        """Whether this track created the activity (201) rather than found it (200)."""
        return not self.already_tracked


@dataclass(frozen=True)
class NotTracked:
    """The item is not tracked (the sync worker may be trying: `sync_state` "pending" or "undeliverable")."""

    sync_state: str | None = None
    reason: str | None = None
    tracked: bool = field(default=False, init=False)


TrackingStatus = Tracked | NotTracked


@dataclass(frozen=True)
class RegardingSet:
    """The activity after its regarding was set or changed, with its new ETag."""

    activity_id: str
    regarding: RecordRef
    url: str
    etag: str | None
    tracked: bool = field(default=True, init=False)


@dataclass(frozen=True)
class RegardingCleared:
    """The activity after its regarding was cleared."""

    activity_id: str
    url: str
    regarding: None = None
    tracked: bool = field(default=True, init=False)


@dataclass(frozen=True)
class Candidate:
    """A regarding candidate with a second line saying where or who it is."""

    table: str
    id: str
    name: str | None
    detail: str | None


@dataclass(frozen=True)
class SearchResults:
    """Regarding candidates across the requested tables."""

    results: tuple[Candidate, ...]


@dataclass(frozen=True)
class CreatedRecord:
    """A record created as the caller, and its form in Dynamics 365."""

    table: str
    id: str
    name: str | None
    url: str


@dataclass(frozen=True)
class PersonMatch:
    """A record whose email address is the one asked about, as the sender card shows it."""

    table: str
    id: str
    name: str | None
    email: str
    detail: str | None
    company: str | None
    company_id: str | None
    job_title: str | None
    url: str


@dataclass(frozen=True)
class RecentActivity:
    """A recent activity the address took part in."""

    type: str | None
    id: str | None
    subject: str | None
    when: str | None
    when_text: str | None


@dataclass(frozen=True)
class LatestActivity:
    """An email or appointment among the latest the dev harness's live view lists."""

    type: str
    id: str | None
    subject: str | None
    key: str | None  # the Outlook item's Message-ID or global object id
    created_on: str | None
    regarding: str | None  # the regarding record's display name


@dataclass(frozen=True)
class Person:
    """The sender card: the records owning an address and the latest activities with it."""

    matches: tuple[PersonMatch, ...]
    recent_activities: tuple[RecentActivity, ...]


@dataclass(frozen=True)
class Features:
    """What the pane may offer the caller."""

    track: bool
    set_regarding: bool


@dataclass(frozen=True)
class Me:
    """The caller in Dataverse, their environment and what they may do."""

    user_id: str
    name: str | None
    email: str | None
    tenant_id: str
    business_unit_id: str
    organization_id: str
    environment_url: str
    can_use_add_in: bool
    features: Features


# Mailbox directions and the reasons tracking is impossible, as the pane shows them.
SUCCESS, FAILURE, NOT_RUN, DISABLED = "success", "failure", "notRun", "disabled"
NOT_APPROVED = "not_approved"
INCOMING_DISABLED = "incoming_disabled"
TEST_FAILED = "test_failed"
TEST_NOT_RUN = "test_not_run"
OTHER_ENVIRONMENT = "other_environment"
ADD_IN_NOT_ALLOWED = "add_in_not_allowed"
NO_MAILBOX = "no_mailbox"
# The order the pane lists them in: what an administrator must fix first comes first.
REASONS = (
    NO_MAILBOX,
    NOT_APPROVED,
    INCOMING_DISABLED,
    TEST_FAILED,
    TEST_NOT_RUN,
    OTHER_ENVIRONMENT,
    ADD_IN_NOT_ALLOWED,
)
