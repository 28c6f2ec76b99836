"""The two activity tables the add-in tracks into — email and appointment — how each is keyed, written and read.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/email
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/appointment
"""

from __future__ import annotations

import hashlib
import hmac
import html
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from addin_api.dataverse import odata
from addin_api.dataverse.parties import BCC, CC, OPTIONAL, ORGANIZER, REQUIRED, ROLE_NAMES, SENDER, TO, Party
from addin_api.dataverse.tables import REGARDING_TABLES, Table, regarding_property
from addin_api.model import (
    Attachment,
    AttachmentsResult,
    PartyResult,
    RecordRef,
    RegardingRef,
    Tracked,
)

# Deterministic activity ids: the same Outlook item in the same environment always maps to the same record, so a
# retry, a double click or a second worker can never create a duplicate (the create answers 412 0x80040237).
# Anyone who knows the item's key (every recipient knows a Message-ID) can compute this id, so it is only the first
# candidate: when someone else's record sits at it, `fallback_id` gives ids only the deployment can compute.
ACTIVITY_NAMESPACE = uuid.UUID("0f5e8b8e-5c3a-4d55-9a44-2d6f0e3c9a71")
# Ask for formatted values and lookup table names on every record read for a result.
ANNOTATED = {"Prefer": odata.INCLUDE_ANNOTATIONS}


@dataclass(frozen=True)
class ActivityKind:
    """How one activity table is keyed, partied and attached to."""

    logical_name: str
    entity_set: str
    key_column: str  # the Outlook item's stable id: messageid / globalobjectid
    key_max_length: int
    parties_property: str
    attachments_property: str
    single_match_masks: frozenset[int]

    def activity_id(self, environment_url: str, item_key: str) -> str:
        """The activityid a tracked item gets in this environment."""
        return str(uuid.uuid5(ACTIVITY_NAMESPACE, f"{environment_url}|{self.logical_name}|{item_key}"))

    def fallback_id(self, key: bytes, environment_url: str, item_key: str, attempt: int) -> str:
        """The `attempt`-th (1, 2, …) activityid to try when the deterministic one is held by another record.

        An HMAC under the deployment's activity-id key: every process and host of the deployment (web workers, the
        mailbox-sync worker) derives the same sequence, so concurrent tracks of one item still meet at one id and
        the loser's create answers 412, while a colleague who knows the item's key cannot compute it to pre-claim.
        """
        message = f"{environment_url}|{self.logical_name}|{item_key}|{attempt}".encode()
        digest = hmac.new(key, message, hashlib.sha256).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def same_item(self, record: Mapping[str, Any], item_key: str) -> bool:
        """Whether `record` holds this item: its key column equals `item_key`.

        Compared case-insensitively, as the `$filter` eq of the tracking lookup compares strings in Dataverse, so a
        record this test accepts is exactly one the status lookup also reports.
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows
        """
        value = record.get(self.key_column)
        return isinstance(value, str) and value.casefold() == item_key.casefold()

    def regarding_property(self, table: Table) -> str:
        """`regardingobjectid_<table>_<activity>`."""
        return regarding_property(table, self.logical_name)

    def record_url(self, environment_url: str, activity_id: str) -> str:
        """Where the user opens the activity in Dynamics 365."""
        return f"{environment_url}/main.aspx?etn={self.logical_name}&pagetype=entityrecord&id={activity_id}"

    def _view_params(self) -> dict[str, str]:
        """What a tracked result reads: the activity's key columns, its parties and its regarding."""
        return {
            "$select": f"activityid,{self.key_column},subject,_regardingobjectid_value,statecode,createdon",
            "$expand": f"{self.parties_property}($select=participationtypemask,addressused,_partyid_value)",
        }

    def lookup_query(self, item_key: str) -> str:
        """The GET (relative URL) that finds this item's activity, with its parties and regarding."""
        params = {
            **self._view_params(),
            "$filter": f"{self.key_column} eq {odata.literal(item_key, max_length=self.key_max_length)}",
            "$top": "1",
        }
        return f"{self.entity_set}?{odata.query_string(params)}"

    def by_id_query(self, activity_id: str) -> str:
        """The GET (relative URL) of one activity by id, with its parties and regarding."""
        return f"{self.entity_set}({odata.guid(activity_id)})?{odata.query_string(self._view_params())}"


EMAIL = ActivityKind(
    logical_name="email",
    entity_set="emails",
    key_column="messageid",
    key_max_length=320,
    parties_property="email_activity_parties",
    attachments_property="email_activity_mime_attachment",
    single_match_masks=frozenset({SENDER}),
)
APPOINTMENT = ActivityKind(
    logical_name="appointment",
    entity_set="appointments",
    key_column="globalobjectid",
    key_max_length=300,
    parties_property="appointment_activity_parties",
    attachments_property="appointment_activity_mime_attachment",
    single_match_masks=frozenset({ORGANIZER}),
)
KINDS: dict[str, ActivityKind] = {kind.logical_name: kind for kind in (EMAIL, APPOINTMENT)}
# How parties are listed: sender or organizer first, then recipients or attendees.
ROLE_ORDER = {SENDER: 0, ORGANIZER: 0, TO: 1, REQUIRED: 1, CC: 2, OPTIONAL: 2, BCC: 3}


def utc(value: datetime) -> str:
    """A Dataverse date-time value: UTC, seconds, `Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def html_description(body: str, body_type: str) -> str:
    """The activity's HTML `description` from an item body (plain text is escaped, its line breaks kept)."""
    if body_type == "text":
        return html.escape(body).replace("\r\n", "\n").replace("\n", "<br>\n")
    return body


@dataclass(frozen=True)
class Draft:
    """An Outlook item ready to be written as an activity: its table, key, columns and parties."""

    kind: ActivityKind
    key: str
    columns: Mapping[str, Any]
    parties: tuple[Party, ...]
    sender: Party | None
    regarding: RegardingRef | None
    attachments: tuple[Attachment, ...]
    create_missing: str | None

    @property
    def subject(self) -> str:
        """The item's subject."""
        return str(self.columns.get("subject") or "")


def activity_body(
    draft: Draft,
    activity_id: str,
    party_rows: Sequence[Mapping[str, Any]],
    saved: Sequence[Attachment],
    new_record: tuple[Table, str] | None = None,
) -> dict[str, Any]:
    """The deep insert of the activity: its columns, parties, regarding (or the new record) and attachments."""
    kind = draft.kind
    body: dict[str, Any] = {**draft.columns, kind.parties_property: [dict(row) for row in party_rows]}
    if draft.regarding is not None:
        table = REGARDING_TABLES[draft.regarding.table]
        body[kind.regarding_property(table) + "@odata.bind"] = table.bind(draft.regarding.id)
    elif new_record is not None:
        body[kind.regarding_property(new_record[0]) + "@odata.bind"] = new_record[0].bind(new_record[1])
    if saved:
        body[kind.attachments_property] = [
            {
                "filename": a.name,
                "mimetype": a.content_type,
                "body": a.content_base64,
                "objecttypecode": kind.logical_name,
            }
            for a in saved
        ]
    body["activityid"] = activity_id
    return body


def read_regarding(record: Mapping[str, Any]) -> RecordRef | None:
    """The regarding of a record read with annotations, or None when not set."""
    regarding_id = record.get("_regardingobjectid_value")
    if not regarding_id:
        return None
    return RecordRef(
        table=record.get("_regardingobjectid_value" + odata.LOGICAL_NAME),
        id=regarding_id,
        name=record.get("_regardingobjectid_value" + odata.FORMATTED),
    )


def read_parties(kind: ActivityKind, record: Mapping[str, Any]) -> tuple[PartyResult, ...]:
    """The parties of an activity read with annotations, grouped by role and address, sender first."""
    parties: dict[tuple[int, str], list[RecordRef]] = {}
    for row in record.get(kind.parties_property) or []:
        mask = int(row.get("participationtypemask") or 0)
        if mask not in ROLE_NAMES:
            continue
        resolved = parties.setdefault((mask, str(row.get("addressused") or "").lower()), [])
        party_id = row.get("_partyid_value")
        table = row.get("_partyid_value" + odata.LOGICAL_NAME)
        if party_id and (table in REGARDING_TABLES or table == "systemuser"):
            resolved.append(RecordRef(table, party_id, row.get("_partyid_value" + odata.FORMATTED)))
    ordered = sorted(parties.items(), key=lambda item: ROLE_ORDER[item[0][0]])
    return tuple(PartyResult(ROLE_NAMES[mask], address, tuple(refs)) for (mask, address), refs in ordered)


def tracked_result(
    kind: ActivityKind,
    environment_url: str,
    activity_id: str,
    *,
    subject: str | None,
    etag: str | None,
    regarding: RecordRef | None,
    parties: tuple[PartyResult, ...],
    already_tracked: bool = True,
    attachments: AttachmentsResult | None = None,
    created: RecordRef | None = None,
) -> Tracked:
    """The one builder of a tracked activity's result (`attachments` and `created` only from the track that
    created it)."""
    return Tracked(
        activity_id=activity_id,
        kind=kind.logical_name,
        subject=subject,
        etag=etag,
        regarding=regarding,
        url=kind.record_url(environment_url, activity_id),
        parties=parties,
        already_tracked=already_tracked,
        attachments=attachments,
        created=created,
    )


def read_tracked(kind: ActivityKind, environment_url: str, record: Mapping[str, Any]) -> Tracked:
    """A tracked activity read back from Dataverse (with annotations)."""
    return tracked_result(
        kind,
        environment_url,
        str(record["activityid"]),
        subject=record.get("subject"),
        etag=record.get("@odata.etag"),
        regarding=read_regarding(record),
        parties=read_parties(kind, record),
    )
