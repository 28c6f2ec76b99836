"""Track an email or appointment, idempotently, in two Dataverse round trips; read its tracking status.

1. One `$batch`: is the item already tracked? who owns each address? does the regarding exist? (`look_up`)
2. One deep insert with a deterministic `activityid` (parties, regarding, attachments, state). A concurrent twin
   gets 412 / 0x80040237 and answers with the record that won — but only when that record holds the same item:
   a record someone else created at the id is never adopted, and the item is tracked at an id only the
   deployment can compute (`_create`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from addin_api.dataverse.activities import (
    KINDS,
    ActivityKind,
    Draft,
    activity_body,
    read_tracked,
    tracked_result,
)
from addin_api.dataverse.appointment import appointment_draft
from addin_api.dataverse.client import DuplicateRecord
from addin_api.dataverse.email import email_draft
from addin_api.dataverse.parties import Resolved, party_results, party_rows, resolve, sender_match
from addin_api.dataverse.port import Dataverse
from addin_api.dataverse.records import NewRecord, sender_record
from addin_api.dataverse.track import Lookup, activity_at, create_activity, find, look_up
from addin_api.model import (
    Attachment,
    AttachmentsResult,
    MeInfo,
    NotTracked,
    RecordRef,
    SkippedAttachment,
    TrackCommand,
    Tracked,
    TrackEmail,
    TrackingStatus,
    TrackingStatusQuery,
    TrackPolicy,
)

# Ids tried after the deterministic one that only the deployment can compute (`_candidate_ids`), and the most
# creates one track makes before it gives up with 409.
FALLBACK_IDS = 3
MAX_CREATES = 8

logger = logging.getLogger(__name__)


def status(dv: Dataverse, environment_url: str, query: TrackingStatusQuery) -> TrackingStatus:
    """Whether an item is tracked, and if so the tracked activity (one round trip)."""
    kind = KINDS[query.activity]
    record = find(dv, kind, query.key)
    return NotTracked() if record is None else read_tracked(kind, environment_url, record)


def track(dv: Dataverse, environment_url: str, caller: MeInfo, command: TrackCommand, policy: TrackPolicy) -> Tracked:
    """Track the item as the caller; `already_tracked` says whether it was tracked before this call."""
    draft = email_draft(command, caller.email) if isinstance(command, TrackEmail) else appointment_draft(command)
    found = look_up(dv, draft)
    if found.existing is not None:
        return read_tracked(draft.kind, environment_url, found.existing)
    resolved = resolve(draft.parties, found.matches, caller.user_id, draft.kind.single_match_masks)
    saved = tuple(a for a in draft.attachments if a.size <= policy.max_attachment_bytes)
    plan = _Plan(draft, resolved, saved, create_missing=_creates_sender(draft, found, caller))
    outcome = _create(dv, environment_url, plan, policy.activity_id_key)
    if isinstance(outcome, Tracked):
        return outcome
    return _tracked_now(environment_url, plan, found, outcome, policy.max_attachment_bytes)


@dataclass(frozen=True)
class _Plan:
    """What every create attempt of one track writes: the item, its resolved parties, the attachments kept, and
    whether the unresolved sender gets a new record."""

    draft: Draft
    resolved: Sequence[Resolved]
    saved: tuple[Attachment, ...]
    create_missing: bool

    def attempt(self, activity_id: str) -> tuple[dict[str, object], NewRecord | None]:
        """The body of one create at `activity_id`, and the sender's new record (a fresh id each attempt)."""
        draft = self.draft
        new = None
        if self.create_missing and draft.sender is not None and draft.create_missing is not None:
            new = sender_record(draft.create_missing, draft.sender.address, draft.sender.name, draft.subject)
        new_sender = (draft.sender, new.table, new.id) if new is not None and draft.sender is not None else None
        rows = party_rows(self.resolved, new_sender)
        body = activity_body(draft, activity_id, rows, self.saved, (new.table, new.id) if new else None)
        return body, new


@dataclass(frozen=True)
class _Created:
    """What one successful create wrote: the activity's id and ETag, and the sender's new record if any."""

    activity_id: str
    etag: str | None
    record: RecordRef | None


def _creates_sender(draft: Draft, found: Lookup, caller: MeInfo) -> bool:
    """Whether to create a record for the sender: asked for (`createMissing`) and the sender resolved to none."""
    if draft.create_missing is None or draft.sender is None:
        return False
    return sender_match(found.matches.get(draft.sender.address, []), caller.user_id) is None


def _tracked_now(environment_url: str, plan: _Plan, found: Lookup, created: _Created, limit: int) -> Tracked:
    """The result of the track that created the activity."""
    draft = plan.draft
    regarding = created.record
    if draft.regarding is not None:
        regarding = RecordRef(draft.regarding.table, draft.regarding.id, found.regarding_name)
    new_sender = (draft.sender, created.record) if created.record is not None and draft.sender else None
    skipped = tuple(SkippedAttachment(a.name) for a in draft.attachments if a.size > limit)
    return tracked_result(
        draft.kind,
        environment_url,
        created.activity_id,
        subject=draft.columns.get("subject"),
        etag=created.etag,
        regarding=regarding,
        parties=party_results(plan.resolved, new_sender),
        already_tracked=False,
        attachments=AttachmentsResult(len(plan.saved), skipped),
        created=created.record,
    )


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


def _create(dv: Dataverse, environment_url: str, plan: _Plan, id_key: bytes) -> _Created | Tracked:
    """Create the activity at the first candidate id that is free; or the item's activity found there.

    A create that answers 412 `0x80040237` is told apart by reading the activity at its id:
    - it holds this item (same key) → a concurrent twin won: the item is already tracked;
    - it holds another item (someone else created a record at that id first) → never adopted: next candidate id;
    - there is none we can read → the duplicate was elsewhere (the sender's new record), the activity was deleted
      in between (an untrack racing the track), or the id is held by a record the caller cannot see: once more at
      the same id (with a fresh id for the new record), then the next candidate. Retrying first keeps a track
      that raced an untrack at the id every later track will also try.
    """
    kind, key = plan.draft.kind, plan.draft.key
    candidates = _candidate_ids(kind, id_key, environment_url, key)
    activity_id = next(candidates)
    retried_here = False
    for _ in range(MAX_CREATES):
        body, new = plan.attempt(activity_id)
        try:
            etag = create_activity(dv, kind, body, new)
            return _Created(activity_id, etag, new.ref if new is not None else None)
        except DuplicateRecord:
            pass
        holder = activity_at(dv, kind, activity_id)
        if holder is not None and kind.same_item(holder, key):
            return read_tracked(kind, environment_url, holder)
        if holder is None and not retried_here:
            retried_here = True
            continue
        logger.warning("activity_id_taken", extra={"table": kind.logical_name, "readable": holder is not None})
        activity_id = next(candidates)
        retried_here = False
    raise DuplicateRecord()
