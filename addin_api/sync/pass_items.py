"""What a pass does with each changed item of a delta feed (a folder's messages, the calendar's events).

A feed's cursor is stored only once every item of the page is done; when one fails, the feed stops there and the
next pass replays the page (what was tracked is then found, not tracked twice: the store says so, and the
deterministic activity id would). https://learn.microsoft.com/en-us/graph/delta-query-overview

What the pass knows of each item is kept in the store, by its key (Internet message id, or an event's iCalUId):
- an item tracked (or found tracked) is `tracked`, and later changes to it cost nothing;
- a failure that is the item's own (refused by Dataverse, invalid) makes it `pending`, retried with the job's
  backoff; at the fifth attempt its category becomes "Tracked to Dynamics 365 (Undeliverable)", it is
  `undeliverable` with the reason, and the feed's cursor moves on. Throttling and outages stop the pass instead
  (nothing is counted against the item); giving the category again starts over;
- a tracked item whose category was taken away is `untracked`: its activity stays in Dataverse, as Dynamics 365
  leaves it. https://learn.microsoft.com/en-us/dynamics365/outlook-app/user/track-outlook-email

The tracking category is recognised by its master category's id, read at most once a minute per mailbox and again
as soon as an item names a category the pass did not know; when the user deleted it, it is made again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from marshmallow import ValidationError

from addin_api.dataverse import options as dvoptions
from addin_api.dataverse.whoami import read_me
from addin_api.errors import ApiError
from addin_api.model import MeInfo, RegardingRef, TrackCommand, TrackEmail, TrackPolicy
from addin_api.services.tracking import track
from addin_api.sync.autotrack import FILTERED, accepts, accepts_sent, received_since, replied_regarding, replied_to
from addin_api.sync.counting import CountingDataverse, CountingGraph
from addin_api.sync.graph import DeltaPage, MasterCategory
from addin_api.sync.graph_errors import GraphError, GraphNotFound, SyncStateLost
from addin_api.sync.items import TRACKED_CATEGORY, UNDELIVERABLE_CATEGORY, tracking_category
from addin_api.sync.store import ItemState, SyncStore, mailbox_scope

__all__ = [
    "CATEGORY_KEY",
    "MAX_ATTEMPTS",
    "OWNER_CANNOT_TRACK",
    "ItemCost",
    "ItemFailure",
    "Owner",
    "PassRun",
    "Source",
    "Stopped",
    "find_category",
    "sync_source",
    "track_item",
    "transient",
]

logger = logging.getLogger(__name__)

CATEGORY_KEY = "category"
SEEN_CATEGORY_KEY = "category_seen"
# How long a pass trusts the tracking category as an earlier pass read it.
CATEGORY_SECONDS = 60.0
OWNER_CANNOT_TRACK = "owner_cannot_track"
# Attempts at tracking one item before it is given the Undeliverable category.
MAX_ATTEMPTS = 5
# Outlook's "Dark Green" preset for a tracking category made again, "Red" for the Undeliverable one.
CATEGORY_COLOR = "preset19"
UNDELIVERABLE_COLOR = "preset0"


@dataclass(frozen=True)
class Owner:
    """A mailbox's owner: sign-in name and Entra object id (Graph's user, Dataverse's impersonated caller)."""

    upn: str
    object_id: str


@dataclass(frozen=True)
class ItemCost:
    """What tracking one categorized item took, beyond its feed's delta pages."""

    graph_requests: int
    dataverse_round_trips: int
    already_tracked: bool


@dataclass(frozen=True)
class ItemFailure:
    """A categorized item that could not be tracked, and why (a stable code)."""

    folder: str
    message_id: str
    reason: str


@dataclass(frozen=True)
class Source:
    """One delta feed of a pass and how its items are read, recognised, tracked and marked.

    `pages(link)` yields the pages of a round from a stored link (None: a new round); `command(item)` is the
    pane's track command for an item (it may fetch more of it through the run's Graph); `recategorize(id, names)`
    replaces an item's categories.
    """

    name: str
    key_field: str
    pages: Callable[[str | None], Iterator[DeltaPage]]
    carries: Callable[[dict[str, Any], MasterCategory], bool]
    command: Callable[[dict[str, Any]], TrackCommand]
    recategorize: Callable[[str, list[str]], None]
    # Whether new items the user did not mark are put to the personal options (the Inbox only).
    auto: bool = False


class Stopped(Exception):
    """The pass cannot go on (the owner cannot track, or Dataverse or Graph is throttling or down)."""

    def __init__(self, code: str, transient: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.transient = transient


def transient(exc: ApiError | GraphError) -> bool:
    """Throttling or an outage: not the item's fault."""
    status = exc.status
    return status == 429 or status >= 500 or status == 0


@dataclass
class PassRun:
    """One pass's ports, counters and findings."""

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
    known_caller: MeInfo | None = None
    # Whether an unresolved sender of a tracked incoming email becomes a contact (the owner's option; None: unread).
    known_auto_create: bool | None = None
    # Messages received from then on are evaluated for automatic tracking (None: not at all).
    auto_since: str | None = None
    auto_tracked: int = 0
    # The owner's automatic tracking option (None: unread), for what they sent.
    known_method: int | None = None

    @property
    def scope(self) -> str:
        """The store's key of this mailbox in this environment."""
        return mailbox_scope(self.environment_url, self.owner.object_id)

    def stored(self, name: str) -> str | None:
        """A cursor of this mailbox."""
        return self.state.get(self.scope, name)

    def store(self, name: str, value: str | None) -> None:
        """Store a cursor of this mailbox."""
        self.state.put(self.scope, name, value)

    def caller(self) -> MeInfo:
        """The owner as Dataverse knows them, read once, when the first item is to be tracked."""
        if self.known_caller is None:
            me = read_me(self.dataverse)
            if not me.can_track:
                raise Stopped(OWNER_CANNOT_TRACK)
            self.known_caller = me
        return self.known_caller

    def auto_create(self) -> bool:
        """The owner's "Automatically create records" option, read once (one round trip)."""
        if self.known_auto_create is None:
            self.known_auto_create = dvoptions.read_auto_create(self.dataverse, self.caller().user_id)
        return self.known_auto_create

    def tracking_method(self) -> int:
        """The owner's option for which email is tracked automatically, read once a pass (one round trip)."""
        if self.known_method is None:
            self.known_method, self.known_auto_create = dvoptions.read_options(self.dataverse, self.caller().user_id)
        return self.known_method


def find_category(run: PassRun, *, fresh: bool = False) -> None:
    """The mailbox's tracking category (`run.category`), made again when the user deleted it."""
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


def sync_source(run: PassRun, source: Source) -> None:
    """Read one feed's delta from its cursor, handle each changed item, store the cursor page by page."""
    key = f"delta:{source.name}"
    link = run.stored(key)
    try:
        for page in source.pages(link):
            done = [_changed(run, source, item) for item in page.items]
            if not all(done):
                return
            run.store(key, page.next_link or page.delta_link)
    except SyncStateLost:
        if link is None:
            raise
        # The cursor expired: start the feed's round again from nothing (replays are harmless).
        run.store(key, None)
        sync_source(run, source)


def _changed(run: PassRun, source: Source, item: dict[str, Any]) -> bool:
    """One changed item of a delta page; False when it is to be tried again (the feed stops there)."""
    key = item.get(source.key_field)
    if "@removed" in item or not isinstance(key, str) or not key:
        return True  # deleted or moved out of the feed: its state stays as it was
    names = item.get("categories")
    if run.cached and isinstance(names, list) and not run.known.issuperset(n for n in names if isinstance(n, str)):
        find_category(run, fresh=True)
    state = run.state.item(run.scope, key)
    if source.carries(item, run.category):
        if state is not None and state.state == "tracked":
            run.costs.append(ItemCost(0, 0, True))
            return True
        return track_item(run, source, item, key, state)
    if state is not None and state.state in ("tracked", "pending"):
        # The category was taken away: the item is untracked, its activity stays in Dataverse.
        run.state.set_item(run.scope, key, ItemState("untracked", activity_id=state.activity_id))
        run.untracked += 1
    elif state is None and source.auto and received_since(item, run.auto_since) and not item.get("isDraft"):
        return _auto(run, source, item, key)
    return True


def _auto(run: PassRun, source: Source, item: dict[str, Any], key: str) -> bool:
    """An incoming message the user did not mark: tracked, and given the category, if the options accept it."""
    try:
        if source.name == "sentitems":
            read_headers = partial(run.graph.message_headers, run.owner.object_id, str(item.get("id", "")))
            accepted = accepts_sent(run.dataverse, run.tracking_method(), item, read_headers, run.owner.upn)
        else:
            accepted = accepts(run.dataverse, item)
    except (ApiError, GraphError) as exc:
        if transient(exc):
            raise Stopped(exc.code, transient=True) from None
        logger.warning("sync_auto_check_failed", extra={"oid": run.owner.object_id, "code": exc.code})
        return True
    if not accepted:
        run.state.set_item(run.scope, key, ItemState(FILTERED))
        return True
    try:
        headers = run.graph.message_headers(run.owner.object_id, str(item.get("id", "")))
        regarding = replied_regarding(run.dataverse, replied_to(headers))
    except (ApiError, GraphError) as exc:
        if transient(exc):
            raise Stopped(exc.code, transient=True) from None
        regarding = None
    done = track_item(run, source, item, key, None, regarding)
    found = run.state.item(run.scope, key)
    if done and found is not None and found.state == "tracked":
        run.auto_tracked += 1
        names = [c for c in item.get("categories") or [] if isinstance(c, str)]
        try:
            source.recategorize(str(item.get("id", "")), [*names, run.category.display_name])
        except GraphError as exc:
            logger.warning("sync_category_not_given", extra={"oid": run.owner.object_id, "code": exc.code})
    return done


def track_item(
    run: PassRun,
    source: Source,
    item: dict[str, Any],
    key: str,
    state: ItemState | None,
    regarding: RegardingRef | None = None,
) -> bool:
    """Track one categorized item as the owner (regarding `regarding`); False when it failed, to be tried again."""
    caller = run.caller()
    graph_before, dataverse_before = run.graph.requests, run.dataverse.round_trips
    try:
        command = source.command(item)
        if regarding is not None and isinstance(command, TrackEmail):
            command = replace(command, regarding=regarding)
        tracked = track(run.dataverse, run.environment_url, caller, command, run.policy)
    except GraphNotFound:
        return True  # deleted since the delta page was read: nothing left to track
    except (ApiError, GraphError) as exc:
        if transient(exc):
            raise Stopped(exc.code, transient=True) from None
        return _failed(run, source, item, key, state, exc.code)
    except ValidationError:
        return _failed(run, source, item, key, state, "invalid_item")
    run.state.set_item(run.scope, key, ItemState("tracked", activity_id=tracked.activity_id))
    run.costs.append(
        ItemCost(
            run.graph.requests - graph_before, run.dataverse.round_trips - dataverse_before, tracked.already_tracked
        )
    )
    return True


def _failed(run: PassRun, source: Source, item: dict[str, Any], key: str, state: ItemState | None, reason: str) -> bool:
    """Count a failed attempt; at the last, give the item the Undeliverable category and move on (True)."""
    item_id = str(item.get("id", ""))
    attempts = (state.attempts if state is not None and state.state == "pending" else 0) + 1
    logger.warning(
        "sync_item_failed",
        extra={"oid": run.owner.object_id, "folder": source.name, "code": reason, "attempt": attempts},
    )
    if attempts < MAX_ATTEMPTS:
        run.state.set_item(run.scope, key, ItemState("pending", attempts, reason))
        run.failures.append(ItemFailure(source.name, item_id, reason))
        return False
    run.state.set_item(run.scope, key, ItemState("undeliverable", attempts, reason))
    run.undeliverable += 1
    names = [c for c in item.get("categories") or [] if isinstance(c, str) and c != run.category.display_name]
    try:
        run.master = run.master or run.graph.master_categories(run.owner.object_id)
        if not any(c.display_name == UNDELIVERABLE_CATEGORY for c in run.master):
            user = run.owner.object_id
            run.master.append(run.graph.create_master_category(user, UNDELIVERABLE_CATEGORY, UNDELIVERABLE_COLOR))
        source.recategorize(item_id, [*names, UNDELIVERABLE_CATEGORY])
    except GraphError as exc:
        logger.warning("sync_undeliverable_not_marked", extra={"oid": run.owner.object_id, "code": exc.code})
    return True
