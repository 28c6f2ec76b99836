"""Track an email or appointment, idempotently, in two Dataverse round trips; read its tracking status.

1. One `$batch`: is the item already tracked (by us or by server-side synchronization, same `messageid` /
   `globalobjectid`)? which systemusers, contacts, accounts and leads own each address? does the regarding exist?
2. One deep insert with a deterministic `activityid` (parties, regarding, attachments, state). A concurrent twin
   gets 412 / 0x80040237 and answers with the record that won — but only when that record holds the same item:
   a record someone else created at the id is never adopted, and the item is tracked at an id only the
   deployment can compute (`_create`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from addin_api.dataverse.activities import EMAIL, INCLUDE_ANNOTATIONS, ActivityKind, tracked_view
from addin_api.dataverse.batch import BatchRequest, ChangeSet
from addin_api.dataverse.client import DuplicateRecord
from addin_api.dataverse.parties import Party, collect_matches, party_rows, resolution_queries, sender_match
from addin_api.dataverse.tables import CONTACT, LEAD, Table
from addin_api.errors import DataverseError, DataverseForbidden, NotFound
from addin_api.services.me import MeInfo
from addin_api.services.ports import Dataverse

# Email state on create: received = Completed/Received, sent = Completed/Sent.
# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/email
REPRESENTATION = "return=representation"
RECEIVED = {"directioncode": False, "statecode": 1, "statuscode": 4}
SENT = {"directioncode": True, "statecode": 1, "statuscode": 3}
# Ids tried after the deterministic one that only the deployment can compute (`_candidate_ids`), and the most
# creates one track makes before it gives up with 409.
FALLBACK_IDS = 3
MAX_CREATES = 8

logger = logging.getLogger(__name__)


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


def status(dv: Dataverse, environment_url: str, kind: ActivityKind, key: str) -> dict[str, Any]:
    """Whether an item is tracked, and if so the tracked view (one round trip)."""
    found = dv.get(kind.lookup_query(key), annotations=True)
    rows = found.get("value") or []
    if not rows:
        return {"tracked": False}
    return tracked_view(kind, environment_url, rows[0])


def _missing_record(item: TrackItem) -> tuple[Table, dict[str, Any]] | None:
    """The contact or lead to create for an unresolved sender (`createMissing`), with a fresh random id.

    Its id need not be deterministic: it is created in one change set with the activity, whose id is, so a twin's
    change set fails on the activity and rolls its record back. Being random, nobody can pre-claim it.
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api#change-sets
    """
    if item.create_missing is None or item.sender is None:
        return None
    table = CONTACT if item.create_missing == "contact" else LEAD
    record_id = str(uuid.uuid4())
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
    dv: Dataverse,
    environment_url: str,
    me: MeInfo,
    item: TrackItem,
    max_attachment_bytes: int,
    id_key: bytes,
) -> tuple[dict[str, Any], bool]:
    """Track `item` as the caller; return (view, created) — created is False when it was already tracked.

    `id_key` is the deployment's activity-id key (see `ActivityKind.fallback_id`).
    """
    kind = item.kind
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
    body: dict[str, Any] = {**item.columns, kind.parties_property: rows}
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

    sender_resolved = item.sender is not None and sender_match(matches.get(item.sender.address, []), me.user_id)
    outcome = _create(dv, environment_url, item, body, id_key, create_missing=not sender_resolved)
    if not isinstance(outcome, _Created):
        return outcome, False

    activity_id, created_record = outcome.activity_id, outcome.record
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
        "etag": outcome.etag,
        "regarding": regarding_view,
        "url": kind.record_url(environment_url, activity_id),
        "parties": party_views,
        "attachments": {"saved": len(saved), "skipped": skipped},
    }
    if created_record is not None:
        view["created"] = created_record
    return view, True


@dataclass(frozen=True)
class _Created:
    """What one successful create wrote: the activity's id and ETag, and the sender's new record if any."""

    activity_id: str
    etag: str | None
    record: dict[str, Any] | None


def _candidate_ids(kind: ActivityKind, id_key: bytes, environment_url: str, item_key: str) -> Iterator[str]:
    """The activityids a track tries, in order: the public deterministic id, then ids only we can compute.

    Why an HMAC and not a random id: every process and host of the deployment (and the mailbox-sync worker) must
    pick the same next id for the same item, so that concurrent tracks after a squat still meet at one id and all
    but one get 412 — a random id would let each of them create its own activity. Why a key: the deterministic
    id is computable by every recipient of the message, so a colleague can create a record there first; these
    are not. Someone who tracks the item through the service learns the id it landed at and could, after
    untracking, claim it too — so a few such ids are tried, and past them a random one: tracking is never denied,
    and only an item attacked that persistently loses the at-most-one guarantee under concurrency.
    """
    yield kind.activity_id(environment_url, item_key)
    for attempt in range(1, FALLBACK_IDS + 1):
        yield kind.fallback_id(id_key, environment_url, item_key, attempt)
    while True:
        yield str(uuid.uuid4())


def _create(
    dv: Dataverse,
    environment_url: str,
    item: TrackItem,
    body: dict[str, Any],
    id_key: bytes,
    *,
    create_missing: bool,
) -> _Created | dict[str, Any]:
    """Create the activity at the first candidate id that is free; or the view of the item's activity found there.

    A create that answers 412 `0x80040237` is told apart by reading the activity at its id:
    - it holds this item (same key) → a concurrent twin won: the item is already tracked;
    - it holds another item (someone else created a record at that id first) → never adopted: next candidate id;
    - there is none we can read → the duplicate was elsewhere (the sender's new record), the activity was deleted
      in between (an untrack racing the track), or the id is held by a record the caller cannot see: once more at
      the same id (with a fresh id for the new record), then the next candidate. Retrying first keeps a track
      that raced an untrack at the id every later track will also try.
    """
    kind = item.kind
    candidates = _candidate_ids(kind, id_key, environment_url, item.key)
    activity_id = next(candidates)
    retried_here = False
    for _ in range(MAX_CREATES):
        missing = _missing_record(item) if create_missing else None
        try:
            return _create_once(dv, item, body, activity_id, missing)
        except DuplicateRecord:
            pass
        holder = _activity_at(dv, kind, activity_id)
        if holder is not None and kind.same_item(holder, item.key):
            return tracked_view(kind, environment_url, holder)
        if holder is None and not retried_here:
            retried_here = True
            continue
        logger.warning("activity_id_taken", extra={"table": kind.logical_name, "readable": holder is not None})
        activity_id = next(candidates)
        retried_here = False
    raise DuplicateRecord()


def _activity_at(dv: Dataverse, kind: ActivityKind, activity_id: str) -> dict[str, Any] | None:
    """The activity at `activity_id` as the caller reads it, or None when there is none they can see."""
    try:
        return dv.get(kind.by_id_query(activity_id), annotations=True)
    except (NotFound, DataverseForbidden):
        return None


def _create_once(
    dv: Dataverse,
    item: TrackItem,
    base: dict[str, Any],
    activity_id: str,
    missing: tuple[Table, dict[str, Any]] | None,
) -> _Created:
    """One create of the activity at `activity_id` (in one change set with the sender's new record, if any)."""
    kind = item.kind
    body = {**base, "activityid": activity_id, kind.parties_property: [dict(r) for r in base[kind.parties_property]]}
    if missing is None:
        etag = dv.create(kind.entity_set, body, select=["activityid"], idempotent=True).get("@odata.etag")
        return _Created(activity_id, etag, None)
    table, record = missing
    record_id = str(record[table.primary_id])
    _bind_sender(body, kind, item, table, record_id)
    if item.regarding is None:
        body[kind.regarding_property(table) + "@odata.bind"] = table.bind(record_id)
    change_set = ChangeSet(
        [
            BatchRequest("POST", table.entity_set, body=record),
            BatchRequest(
                "POST", f"{kind.entity_set}?$select=activityid", body=body, headers={"Prefer": REPRESENTATION}
            ),
        ]
    )
    etag = None
    for response in dv.batch([change_set], idempotent=True):
        dv.raise_for(response)
        if isinstance(response.body, dict) and "@odata.etag" in response.body:
            etag = response.body["@odata.etag"]
    return _Created(activity_id, etag, {"table": table.logical_name, "id": record_id, "name": _full_name(record)})


def _bind_sender(body: dict[str, Any], kind: ActivityKind, item: TrackItem, table: Table, record_id: str) -> None:
    """Point the sender's (unresolved) party row at the record created for it."""
    assert item.sender is not None
    for row in body[kind.parties_property]:
        if row["participationtypemask"] == item.sender.mask and row.get("addressused") == item.sender.address:
            row[f"partyid_{table.logical_name}@odata.bind"] = table.bind(record_id)
            break


def _full_name(record: dict[str, Any]) -> str:
    return " ".join(str(record[k]) for k in ("firstname", "lastname") if record.get(k))
