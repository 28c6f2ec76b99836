"""Track an email or appointment, idempotently, in two Dataverse round trips; read its tracking status.

1. One `$batch`: is the item already tracked (by us or by server-side synchronization, same `messageid` /
   `globalobjectid`)? which systemusers, contacts, accounts and leads own each address? does the regarding exist?
2. One deep insert with a deterministic `activityid` (parties, regarding, attachments, state). A concurrent twin
   gets 412 / 0x80040237 and answers with the record that won.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from addin_api.dataverse.activities import EMAIL, INCLUDE_ANNOTATIONS, ActivityKind, tracked_view
from addin_api.dataverse.batch import BatchRequest, ChangeSet
from addin_api.dataverse.client import DataverseClient, DuplicateRecord
from addin_api.dataverse.parties import Party, collect_matches, party_rows, resolution_queries, sender_match
from addin_api.dataverse.tables import CONTACT, LEAD, Table
from addin_api.errors import DataverseError
from addin_api.services.me import MeInfo

# Email state on create: received = Completed/Received, sent = Completed/Sent.
# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/email
REPRESENTATION = "return=representation"
RECEIVED = {"directioncode": False, "statecode": 1, "statuscode": 4}
SENT = {"directioncode": True, "statecode": 1, "statuscode": 3}


def utc(value: datetime) -> str:
    """A Dataverse date-time value: UTC, seconds, `Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RegardingRef:
    """A record chosen as the regarding of an activity."""

    table: Table
    id: str


@dataclass(frozen=True)
class Attachment:
    """An attachment as the client sent it (base64), with its decoded size."""

    name: str
    content_type: str
    content_base64: str
    size: int


@dataclass
class TrackItem:
    """An Outlook item to track, already validated."""

    kind: ActivityKind
    key: str
    columns: dict[str, Any]
    parties: list[Party]
    sender: Party | None = None
    regarding: RegardingRef | None = None
    attachments: list[Attachment] = field(default_factory=list)
    create_missing: str | None = None
    direction: str | None = None


def status(dv: DataverseClient, environment_url: str, kind: ActivityKind, key: str) -> dict[str, Any]:
    """Whether an item is tracked, and if so the tracked view (one round trip)."""
    found = dv.get(kind.lookup_query(key), annotations=True)
    rows = found.get("value") or []
    if not rows:
        return {"tracked": False}
    return tracked_view(kind, environment_url, rows[0])


def _existing(dv: DataverseClient, environment_url: str, kind: ActivityKind, activity_id: str) -> dict[str, Any]:
    return tracked_view(kind, environment_url, dv.get(kind.by_id_query(activity_id), annotations=True))


def _missing_record(item: TrackItem, activity_id: str) -> tuple[Table, dict[str, Any]] | None:
    """The contact or lead to create for an unresolved sender (`createMissing`)."""
    if item.create_missing is None or item.sender is None:
        return None
    table = CONTACT if item.create_missing == "contact" else LEAD
    record_id = str(uuid.uuid5(uuid.UUID(activity_id), table.logical_name))
    display = (item.sender.name or "").strip()
    first, _, last = display.rpartition(" ")
    if not last:
        last = item.sender.address.split("@", 1)[0]
    body: dict[str, Any] = {table.primary_id: record_id, "lastname": last[:50], "emailaddress1": item.sender.address}
    if first:
        body["firstname"] = first[:50]
    if table is LEAD:
        body["subject"] = (str(item.columns.get("subject") or "") or f"Email from {item.sender.address}")[:300]
    return table, body


def track(
    dv: DataverseClient, environment_url: str, me: MeInfo, item: TrackItem, max_attachment_bytes: int
) -> tuple[dict[str, Any], bool]:
    """Track `item` as the caller; return (view, created) — created is False when it was already tracked."""
    kind = item.kind
    activity_id = kind.activity_id(environment_url, item.key)
    addresses = list(dict.fromkeys(p.address for p in item.parties))
    queries = resolution_queries(addresses)
    requests: list[BatchRequest | ChangeSet] = [
        BatchRequest("GET", kind.lookup_query(item.key), headers=dict(INCLUDE_ANNOTATIONS))
    ]
    requests += [query for _, query in queries]
    if item.regarding is not None:
        ref = item.regarding
        requests.append(BatchRequest("GET", f"{ref.table.entity_set}({ref.id})?$select={ref.table.primary_name}"))
    responses = dv.batch(requests, continue_on_error=True)
    if len(responses) != len(requests):
        raise DataverseError()

    dv.raise_for(responses[0])
    existing = (responses[0].body or {}).get("value") or []
    if existing:
        return tracked_view(kind, environment_url, existing[0]), False
    for response in responses[1:]:
        dv.raise_for(response)
    matches = collect_matches(queries, responses[1 : 1 + len(queries)])
    regarding_view: dict[str, Any] | None = None
    if item.regarding is not None:
        name = (responses[-1].body or {}).get(item.regarding.table.primary_name)
        regarding_view = {"table": item.regarding.table.logical_name, "id": item.regarding.id, "name": name}

    rows, party_views = party_rows(item.parties, matches, me.user_id, set(kind.single_match_masks))
    body: dict[str, Any] = {"activityid": activity_id, **item.columns, kind.parties_property: rows}
    if kind is EMAIL:
        outgoing = item.direction == "outgoing" or (
            item.direction is None and item.sender is not None and item.sender.address == me.email
        )
        body.update(SENT if outgoing else RECEIVED)
    if item.regarding is not None:
        body[kind.regarding_property(item.regarding.table) + "@odata.bind"] = item.regarding.table.bind(
            item.regarding.id
        )

    saved = [a for a in item.attachments if a.size <= max_attachment_bytes]
    skipped = [{"name": a.name, "reason": "too_large"} for a in item.attachments if a.size > max_attachment_bytes]
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

    created_record: dict[str, Any] | None = None
    etag: str | None = None
    sender_resolved = item.sender is not None and sender_match(matches.get(item.sender.address, []), me.user_id)
    missing = None if sender_resolved else _missing_record(item, activity_id)
    try:
        if missing is None:
            etag = dv.create(kind.entity_set, body, select=["activityid"], idempotent=True).get("@odata.etag")
        else:
            table, record = missing
            record_id = str(record[table.primary_id])
            _bind_sender(body, kind, item, table, record_id)
            if item.regarding is None:
                body[kind.regarding_property(table) + "@odata.bind"] = table.bind(record_id)
            created_record = {"table": table.logical_name, "id": record_id, "name": _full_name(record)}
            change_set = ChangeSet(
                [
                    BatchRequest("POST", table.entity_set, body=record),
                    BatchRequest(
                        "POST", f"{kind.entity_set}?$select=activityid", body=body, headers={"Prefer": REPRESENTATION}
                    ),
                ]
            )
            for response in dv.batch([change_set], idempotent=True):
                dv.raise_for(response)
                if isinstance(response.body, dict) and "@odata.etag" in response.body:
                    etag = response.body["@odata.etag"]
    except DuplicateRecord:
        # A concurrent request (another click, worker or host) created it first.
        return _existing(dv, environment_url, kind, activity_id), False

    if created_record is not None:
        regarding_view = regarding_view or created_record
        assert item.sender is not None
        for party_view in party_views:
            if party_view["address"] == item.sender.address and party_view["role"] == item.sender.role:
                party_view["resolved"] = [created_record]
    view: dict[str, Any] = {
        "activityId": activity_id,
        "tracked": True,
        "alreadyTracked": False,
        "subject": item.columns.get("subject"),
        "etag": etag,
        "regarding": regarding_view,
        "url": kind.record_url(environment_url, activity_id),
        "parties": party_views,
        "attachments": {"saved": len(saved), "skipped": skipped},
    }
    if created_record is not None:
        view["created"] = created_record
    return view, True


def _bind_sender(body: dict[str, Any], kind: ActivityKind, item: TrackItem, table: Table, record_id: str) -> None:
    """Point the sender's (unresolved) party row at the record created for it."""
    assert item.sender is not None
    for row in body[kind.parties_property]:
        if row["participationtypemask"] == item.sender.mask and row.get("addressused") == item.sender.address:
            row[f"partyid_{table.logical_name}@odata.bind"] = table.bind(record_id)
            break


def _full_name(record: dict[str, Any]) -> str:
    return " ".join(str(record[k]) for k in ("firstname", "lastname") if record.get(k))
