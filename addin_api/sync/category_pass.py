"""One pass of tracking by category over one mailbox: Inbox and Sent Items, from their stored delta cursors.

For each folder, the pass reads the messages that changed since its cursor; each carrying the tracking category
is fetched with its attachments and tracked as the mailbox owner, through the pane's own `services.tracking.track`
(the Dataverse client impersonates the owner, so their roles decide, and the deterministic activity id makes a
second track of the same message, from the pane or from here, find the first). A page's cursor is stored only once
every message of the page is done; when one fails, the folder stops there and the next pass replays the page
(the messages already tracked are then found, not tracked twice).
https://learn.microsoft.com/en-us/graph/delta-query-messages
https://learn.microsoft.com/en-us/dynamics365/outlook-app/user/track-outlook-email

What the pass knows of each item is kept in the store, by Internet message id, where the pane reads it:
- a message tracked (or found tracked) is `tracked`, and later changes to it cost nothing;
- a failure that is the message's own (refused by Dataverse, invalid) makes it `pending` and is retried with the
  job's backoff; at the fifth attempt its category becomes "Tracked to Dynamics 365 (Undeliverable)", it is
  `undeliverable` with the reason, and the folder's cursor moves on. Throttling and outages stop the pass instead
  (nothing is counted against the message); giving the category again starts over;
- a tracked message whose category was taken away is `untracked`: the activity stays in Dataverse, as Dynamics 365
  leaves it. https://learn.microsoft.com/en-us/dynamics365/outlook-app/user/track-outlook-email
The tracking category is found by its master category's id; when the user deleted it, it is made again.

Each tracked message's Graph requests and Dataverse round trips are measured at the ports and returned.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError

from addin_api.dataverse import mailbox as dvmailbox
from addin_api.dataverse import odata
from addin_api.dataverse.port import Dataverse
from addin_api.dataverse.whoami import read_me
from addin_api.errors import ApiError
from addin_api.model import (
    INCOMING_DISABLED,
    NO_MAILBOX,
    NOT_APPROVED,
    TEST_FAILED,
    TEST_NOT_RUN,
    Direction,
    MeInfo,
    TrackPolicy,
)
from addin_api.services.tracking import track
from addin_api.sync.counting import CountingDataverse, CountingGraph, MailboxGraph
from addin_api.sync.graph import MasterCategory, WellKnownFolder
from addin_api.sync.graph_errors import GraphError, GraphNotFound, SyncStateLost
from addin_api.sync.items import TRACKED_CATEGORY, UNDELIVERABLE_CATEGORY, carries, track_command, tracking_category
from addin_api.sync.store import LAST_SYNC, ItemState, SyncStore, mailbox_scope

__all__ = [
    "FOLDERS",
    "ItemCost",
    "ItemFailure",
    "MailboxGraph",
    "Owner",
    "PassResult",
    "run_pass",
    "synchronized_owners",
]

logger = logging.getLogger(__name__)

# The folders tracked by category, and the direction of the emails each holds.
FOLDERS: tuple[tuple[WellKnownFolder, Direction], ...] = (("inbox", "incoming"), ("sentitems", "outgoing"))
_MAILBOX_COLUMNS = ("mailboxid", "emailrouteraccessapproval", "incomingemaildeliverymethod", "incomingemailstatus")
CATEGORY_KEY = "category"
SEEN_CATEGORY_KEY = "category_seen"
# How long a pass trusts the tracking category as an earlier pass read it.
CATEGORY_SECONDS = 60.0
LAST_SYNC_KEY = LAST_SYNC
OWNER_CANNOT_TRACK = "owner_cannot_track"
# Attempts at tracking one message before it is given the Undeliverable category.
MAX_ATTEMPTS = 5
# Outlook's "Dark Green" preset for a tracking category made again.
CATEGORY_COLOR = "preset19"


@dataclass(frozen=True)
class Owner:
    """A mailbox's owner: sign-in name and Entra object id (Graph's user, Dataverse's impersonated caller)."""

    upn: str
    object_id: str


@dataclass(frozen=True)
class ItemCost:
    """What tracking one categorized message took, beyond the folder's delta pages."""

    graph_requests: int
    dataverse_round_trips: int
    already_tracked: bool


@dataclass(frozen=True)
class ItemFailure:
    """A categorized message that could not be tracked, and why (a stable code)."""

    folder: str
    message_id: str
    reason: str


@dataclass(frozen=True)
class PassResult:
    """What one pass over a mailbox did; `problem` says why it stopped before its folders were done."""

    owner: Owner
    costs: tuple[ItemCost, ...]
    failures: tuple[ItemFailure, ...]
    graph_requests: int
    dataverse_round_trips: int
    problem: str | None = None
    # The problem is passing (throttling, an outage): the job is to be tried again.
    transient: bool = False
    untracked: int = 0
    undeliverable: int = 0
    # The owner as Dataverse knows them, when the pass read it (a later pass may be handed it).
    caller: MeInfo | None = None

    @property
    def tracked(self) -> int:
        """Messages this pass tracked (created their activity)."""
        return sum(not c.already_tracked for c in self.costs)

    @property
    def already_tracked(self) -> int:
        """Categorized messages whose activity existed already."""
        return sum(c.already_tracked for c in self.costs)

    @property
    def ok(self) -> bool:
        """Whether every folder was read and every categorized message tracked."""
        return self.problem is None and not self.failures


def run_pass(
    graph: MailboxGraph,
    owner_dataverse: Dataverse,
    owner: Owner,
    store: SyncStore,
    *,
    environment_url: str,
    policy: TrackPolicy,
    caller: MeInfo | None = None,
) -> PassResult:
    """One pass of tracking by category over the owner's Inbox and Sent Items (`owner_dataverse` acts as them).

    `caller` is the owner as an earlier pass read them (`PassResult.caller`); without it, the first message to
    track reads it (one Dataverse round trip).
    """
    run = _Run(CountingGraph(graph), CountingDataverse(owner_dataverse), owner, store, environment_url, policy)
    run._caller = caller
    problem: str | None = None
    transient = False
    try:
        _category(run)
        for folder, direction in FOLDERS:
            _folder(run, folder, direction)
    except _Stopped as stop:
        problem, transient = stop.code, stop.transient
    except (ApiError, GraphError) as exc:
        problem, transient = exc.code, _transient(exc)
    if problem is None:
        run.store(LAST_SYNC_KEY, datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))
    else:
        logger.warning("sync_pass_stopped", extra={"oid": owner.object_id, "code": problem})
    return PassResult(
        owner,
        tuple(run.costs),
        tuple(run.failures),
        run.graph.requests,
        run.dataverse.round_trips,
        problem,
        transient,
        run.untracked,
        run.undeliverable,
        run._caller,
    )


def _category(run: _Run, *, fresh: bool = False) -> None:
    """The mailbox's tracking category (`run.category`), made again when the user deleted it.

    The master categories are read at most once a `CATEGORY_SECONDS` per mailbox (a pass a notification started
    then costs only its folders' delta pages and the messages it tracks), and again as soon as a message carries a
    category name they did not hold (a renamed or new category).
    """
    seen = None if fresh else _seen_category(run.stored(SEEN_CATEGORY_KEY))
    if seen is not None and 0 <= time.time() - seen[2] < CATEGORY_SECONDS:
        run.category, run.known, run.cached = seen[0], seen[1], True
        return
    run.master = run.graph.master_categories(run.owner.object_id)
    category = tracking_category(run.master, run.stored(CATEGORY_KEY))
    if category is None:
        category = run.graph.create_master_category(run.owner.object_id, TRACKED_CATEGORY, CATEGORY_COLOR)
        run.master.append(category)
        logger.info("sync_category_created", extra={"oid": run.owner.object_id})
    run.category, run.known, run.cached = category, frozenset(c.display_name for c in run.master), False
    run.store(CATEGORY_KEY, category.id)
    value = {"id": category.id, "name": category.display_name, "color": category.color}
    run.store(SEEN_CATEGORY_KEY, json.dumps({**value, "names": sorted(run.known), "at": time.time()}))


def _seen_category(text: str | None) -> tuple[MasterCategory, frozenset[str], float] | None:
    try:
        raw = json.loads(text) if text else None
        if not raw:
            return None
        category = MasterCategory(str(raw["id"]), str(raw["name"]), str(raw["color"]))
        return category, frozenset(str(n) for n in raw["names"]), float(raw["at"])
    except (ValueError, TypeError, KeyError):
        return None


def _transient(exc: ApiError | GraphError) -> bool:
    """Throttling or an outage: not the message's fault."""
    status = exc.status
    return status == 429 or status >= 500 or status == 0


def synchronized_owners(app: Dataverse, upn: str | None = None) -> tuple[list[Owner], list[tuple[str, str]]]:
    """The owners whose mailbox synchronizes incoming email here (approved, delivered by server-side sync, Test &
    Enable succeeded), read as the application user; and (sign-in name, reason) of the others looked at.

    With `upn`, only that user is looked at (NotFound-free: an unknown name is reported as `no_user`).
    """
    params = {
        "$select": "systemuserid,azureactivedirectoryobjectid,domainname",
        "$expand": f"defaultmailbox($select={','.join(_MAILBOX_COLUMNS)})",
    }
    if upn is not None:
        params["$filter"] = f"domainname eq {odata.literal(upn, max_length=320)}"
    rows: list[dict[str, Any]] = []
    page = app.get("systemusers", params)
    while True:
        rows += [r for r in page.get("value", []) if isinstance(r, dict)]
        next_link = page.get("@odata.nextLink")
        if not isinstance(next_link, str):
            break
        page = app.get(next_link)
    owners: list[Owner] = []
    others: list[tuple[str, str]] = [] if rows or upn is None else [(upn, "no_user")]
    for row in rows:
        name, object_id = str(row.get("domainname") or ""), row.get("azureactivedirectoryobjectid")
        reason = _not_synchronized(row.get("defaultmailbox"))
        if reason is None and isinstance(object_id, str) and object_id:
            owners.append(Owner(name, object_id))
        elif upn is not None or reason != NO_MAILBOX:
            others.append((name, reason or "no_object_id"))
    return owners, others


def _not_synchronized(box: Any) -> str | None:
    """Why a mailbox row does not synchronize incoming email here (the pane's reason codes), None when it does."""
    if not isinstance(box, dict):
        return NO_MAILBOX
    if box.get("emailrouteraccessapproval") != dvmailbox.APPROVED:
        return NOT_APPROVED
    if box.get("incomingemaildeliverymethod") != dvmailbox.EMAIL_SERVER_SIDE_SYNC:
        return INCOMING_DISABLED
    if box.get("incomingemailstatus") != dvmailbox.SUCCESS:
        return TEST_FAILED if box.get("incomingemailstatus") == dvmailbox.FAILURE else TEST_NOT_RUN
    return None


class _Stopped(Exception):
    def __init__(self, code: str, transient: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.transient = transient


@dataclass
class _Run:
    graph: CountingGraph
    dataverse: CountingDataverse
    owner: Owner
    state: SyncStore
    environment_url: str
    policy: TrackPolicy
    costs: list[ItemCost] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    master: list[MasterCategory] = field(default_factory=list)
    category: MasterCategory = MasterCategory("", TRACKED_CATEGORY, "none")
    # The master categories' names, and whether they came from an earlier pass (not read by this one).
    known: frozenset[str] = frozenset()
    cached: bool = False
    untracked: int = 0
    undeliverable: int = 0
    _caller: MeInfo | None = None

    @property
    def scope(self) -> str:
        """The cursors' key of this mailbox in this environment."""
        return mailbox_scope(self.environment_url, self.owner.object_id)

    def stored(self, name: str) -> str | None:
        return self.state.get(self.scope, name)

    def store(self, name: str, value: str | None) -> None:
        self.state.put(self.scope, name, value)

    def caller(self) -> MeInfo:
        """The owner as Dataverse knows them, read once, when the first message is to be tracked."""
        if self._caller is None:
            me = read_me(self.dataverse)
            if not me.can_track:
                raise _Stopped(OWNER_CANNOT_TRACK)
            self._caller = me
        return self._caller


def _folder(run: _Run, folder: WellKnownFolder, direction: Direction) -> None:
    """Read one folder's delta from its cursor, track what carries the category, store the cursor page by page."""
    key = f"delta:{folder}"
    link = run.stored(key)
    user = run.owner.object_id
    try:
        folder_id = "" if link else run.graph.mail_folder(user, folder).id
        for page in run.graph.messages_delta(user, folder_id, delta_link=link):
            done = [_message(run, folder, direction, m) for m in page.items]
            if not all(done):
                return
            run.store(key, page.next_link or page.delta_link)
    except SyncStateLost:
        if link is None:
            raise
        # The cursor expired: start the folder's round again from nothing (replays are harmless).
        run.store(key, None)
        _folder(run, folder, direction)


def _message(run: _Run, folder: str, direction: Direction, message: dict[str, Any]) -> bool:
    """One changed message of a delta page; False when it is to be tried again (the folder stops there)."""
    key = message.get("internetMessageId")
    if "@removed" in message or not isinstance(key, str) or not key:
        return True  # deleted or moved out of the folder: its state stays as it was
    names = message.get("categories")
    if run.cached and isinstance(names, list) and not run.known.issuperset(n for n in names if isinstance(n, str)):
        _category(run, fresh=True)
    state = run.state.item(run.scope, key)
    if carries(message, run.category):
        if state is not None and state.state == "tracked":
            run.costs.append(ItemCost(0, 0, True))
            return True
        return _item(run, folder, direction, message, state)
    if state is not None and state.state in ("tracked", "pending"):
        # The category was taken away: the item is untracked, its activity stays in Dataverse.
        run.state.set_item(run.scope, key, ItemState("untracked", activity_id=state.activity_id))
        run.untracked += 1
    return True


def _item(run: _Run, folder: str, direction: Direction, message: dict[str, Any], state: ItemState | None) -> bool:
    """Fetch one categorized message with its attachments and track it as the owner; False when it failed."""
    caller = run.caller()
    message_id, key = str(message.get("id", "")), str(message["internetMessageId"])
    graph_before, dataverse_before = run.graph.requests, run.dataverse.round_trips
    try:
        full = run.graph.message(run.owner.object_id, message_id)
        command = track_command(full, direction, run.policy.max_attachment_bytes)
        tracked = track(run.dataverse, run.environment_url, caller, command, run.policy)
    except GraphNotFound:
        return True  # deleted since the delta page was read: nothing left to track
    except (ApiError, GraphError) as exc:
        if _transient(exc):
            raise _Stopped(exc.code, transient=True) from None
        return _failed(run, folder, message, state, exc.code)
    except ValidationError:
        return _failed(run, folder, message, state, "invalid_item")
    run.state.set_item(run.scope, key, ItemState("tracked", activity_id=tracked.activity_id))
    run.costs.append(
        ItemCost(
            run.graph.requests - graph_before,
            run.dataverse.round_trips - dataverse_before,
            tracked.already_tracked,
        )
    )
    return True


def _failed(run: _Run, folder: str, message: dict[str, Any], state: ItemState | None, reason: str) -> bool:
    """Count a failed attempt; at the last, give the message the Undeliverable category and move on (True)."""
    key, message_id = str(message["internetMessageId"]), str(message.get("id", ""))
    attempts = (state.attempts if state is not None and state.state == "pending" else 0) + 1
    logger.warning(
        "sync_item_failed", extra={"oid": run.owner.object_id, "folder": folder, "code": reason, "attempt": attempts}
    )
    if attempts < MAX_ATTEMPTS:
        run.state.set_item(run.scope, key, ItemState("pending", attempts, reason))
        run.failures.append(ItemFailure(folder, message_id, reason))
        return False
    run.state.set_item(run.scope, key, ItemState("undeliverable", attempts, reason))
    run.undeliverable += 1
    names = [c for c in message.get("categories") or [] if isinstance(c, str) and c != TRACKED_CATEGORY]
    try:
        run.master = run.master or run.graph.master_categories(run.owner.object_id)
        if not any(c.display_name == UNDELIVERABLE_CATEGORY for c in run.master):
            run.master.append(run.graph.create_master_category(run.owner.object_id, UNDELIVERABLE_CATEGORY, "preset0"))
        run.graph.set_categories(run.owner.object_id, message_id, [*names, UNDELIVERABLE_CATEGORY])
    except GraphError as exc:
        logger.warning("sync_undeliverable_not_marked", extra={"oid": run.owner.object_id, "code": exc.code})
    return True
