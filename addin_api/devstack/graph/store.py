"""The emulated Exchange Online mailboxes behind the Graph emulator: folders, messages, events, master categories.

In memory, one lock, no Flask. Every change bumps a mailbox-wide sequence number; an item keeps the number of its
last change, and an item leaving a folder (moved out or deleted) leaves a tombstone there, which is what per-folder
delta reads (`changes`). Listeners hear of every change (the subscriptions module turns them into notifications).

Ids: a message has an immutable id that survives moves and a regular id that changes when it moves to another
folder, as Exchange does; both are accepted wherever an id is expected.
https://learn.microsoft.com/en-us/graph/outlook-immutable-id
"""

from __future__ import annotations

import base64
import copy
import itertools
import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from addin_api.devstack.config import DevUser

# Well-known folder names and their display names.
# https://learn.microsoft.com/en-us/graph/api/resources/mailfolder#well-known-folder-names
WELL_KNOWN_FOLDERS = {
    "inbox": "Inbox",
    "drafts": "Drafts",
    "sentitems": "Sent Items",
    "deleteditems": "Deleted Items",
    "archive": "Archive",
    "outbox": "Outbox",
    "junkemail": "Junk Email",
}
ROOT = "msgfolderroot"
CALENDAR = "calendar"  # the delta collection of the primary calendar
MAX_DELTA_ROUNDS = 10_000  # paged delta rounds kept at once; the oldest are forgotten (their links then answer 410)


def now_iso() -> str:
    """The current time as Graph writes it (UTC, seconds, `Z`)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _exchange_id(prefix: bytes) -> str:
    # Exchange ids are long URL-safe base64 strings; only their opacity matters to clients.
    raw = prefix + uuid.uuid4().bytes + secrets.token_bytes(24)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def new_item_id() -> str:
    """A fresh regular item id."""
    return _exchange_id(b"\x00\x00\x00\x00\x01\x02")


def new_immutable_id() -> str:
    """A fresh immutable item id."""
    return _exchange_id(b"\x00\x00\x00\x00\x01\x07")


def new_change_key() -> str:
    """A fresh change key (also the item's etag)."""
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


@dataclass
class Folder:
    """A mail folder; its id is stable across renames and moves."""

    id: str
    display_name: str
    parent_id: str
    well_known: str | None = None


@dataclass
class Item:
    """A message or an event: its Graph fields (`data`) and what the store keeps beside them."""

    immutable_id: str
    rest_id: str
    collection: str  # folder id, or CALENDAR for events
    data: dict[str, Any]
    seq: int
    change_key: str = field(default_factory=new_change_key)
    # extended properties by lower-cased id: (id as written, value)
    properties: dict[str, tuple[str, str]] = field(default_factory=dict)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    arrived: int = 0  # the change number at which it was created in, or moved into, its collection


@dataclass
class Tombstone:
    """An item that left a collection (moved out or deleted), as delta reports it afterwards."""

    seq: int
    collection: str
    rest_id: str
    immutable_id: str


@dataclass
class Category:
    """A master category: the display name is fixed once created; the color may change."""

    id: str
    display_name: str
    color: str


@dataclass
class Mailbox:
    """One user's mailbox."""

    user: DevUser
    address: str
    folders: dict[str, Folder] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)  # by immutable id
    rest_index: dict[str, str] = field(default_factory=dict)  # regular id -> immutable id
    tombstones: list[Tombstone] = field(default_factory=list)
    categories: dict[str, Category] = field(default_factory=dict)
    root_id: str = ""

    def folder(self, ref: str) -> Folder | None:
        """A folder by id or well-known name (case-insensitive)."""
        found = self.folders.get(ref)
        if found is not None:
            return found
        wanted = ref.lower()
        if wanted == ROOT:
            return self.folders.get(self.root_id)
        return next((f for f in self.folders.values() if f.well_known == wanted), None)

    def item(self, ref: str) -> Item | None:
        """An item by regular or immutable id."""
        found = self.items.get(ref)
        if found is not None:
            return found
        immutable = self.rest_index.get(ref)
        return self.items.get(immutable) if immutable is not None else None


@dataclass(frozen=True)
class Change:
    """What happened to one item, for notifications: created, updated or deleted in a collection."""

    user: DevUser
    change_type: str
    collection: str
    kind: str  # "message" | "event"
    rest_id: str
    immutable_id: str
    change_key: str


@dataclass
class DeltaRound:
    """A delta round being paged: what it will return, where it is, and the sequence number it ends at."""

    mailbox: str
    collection: str
    entries: list[tuple[str, str | None]]  # (immutable id, None) for an item, (immutable id, rest id) for a removal
    until: int
    generation: int
    params: dict[str, str]


class GraphStore:
    """Every emulated mailbox of the devstack, behind one lock."""

    def __init__(self, users: tuple[DevUser, ...], seed: Callable[[GraphStore], None] | None = None) -> None:
        self.lock = threading.RLock()
        self._users = users
        self._seed = seed
        self._seq = itertools.count(1)
        self.generation = 0
        self.mailboxes: dict[str, Mailbox] = {}
        self.outbound: list[dict[str, Any]] = []
        self.rounds: OrderedDict[str, DeltaRound] = OrderedDict()
        self.listeners: list[Callable[[list[Change]], None]] = []
        self.reset()

    # ------------------------------------------------------------------------------------------------ lifecycle

    def reset(self) -> None:
        """Empty every mailbox and seed it again; delta tokens from before answer 410 afterwards."""
        with self.lock:
            self.generation += 1
            self.mailboxes = {}
            self.outbound = []
            self.rounds.clear()
            for user in self._users:
                self._create_mailbox(user)
            if self._seed is not None:
                self._seed(self)

    def _create_mailbox(self, user: DevUser) -> Mailbox:
        box = Mailbox(user=user, address=user.upn.lower())
        root = Folder(new_item_id(), "Top of Information Store", "", ROOT)
        box.root_id = root.id
        box.folders[root.id] = root
        for name, display in WELL_KNOWN_FOLDERS.items():
            folder = Folder(new_item_id(), display, root.id, name)
            box.folders[folder.id] = folder
        self.mailboxes[user.oid] = box
        return box

    def next_seq(self) -> int:
        """The next change number."""
        return next(self._seq)

    def mailbox(self, ref: str) -> Mailbox | None:
        """A mailbox by its owner's object id or user principal name (case-insensitive)."""
        with self.lock:
            found = self.mailboxes.get(ref.lower())
            if found is not None:
                return found
            wanted = ref.casefold()
            return next((b for b in self.mailboxes.values() if b.address == wanted), None)

    def mailbox_for_address(self, address: str) -> Mailbox | None:
        """The mailbox that receives mail for an SMTP address, if it is in the tenant."""
        return self.mailbox(address) if "@" in address else None

    def _notify(self, changes: list[Change]) -> None:
        for listener in list(self.listeners):
            listener(changes)

    # ------------------------------------------------------------------------------------------------ folders

    def create_folder(self, box: Mailbox, parent: Folder, name: str) -> Folder:
        """Create a folder under `parent`; ValueError if a sibling has that name."""
        with self.lock:
            self._check_unique(box, parent.id, name)
            folder = Folder(new_item_id(), name, parent.id)
            box.folders[folder.id] = folder
            return folder

    def _check_unique(self, box: Mailbox, parent_id: str, name: str, skip: str | None = None) -> None:
        if any(
            f.parent_id == parent_id and f.display_name.casefold() == name.casefold() and f.id != skip
            for f in box.folders.values()
        ):
            raise ValueError("A folder with the specified name already exists.")

    def rename_folder(self, box: Mailbox, folder: Folder, name: str) -> None:
        """Rename a folder (its id stays)."""
        with self.lock:
            self._check_unique(box, folder.parent_id, name, skip=folder.id)
            folder.display_name = name

    def move_folder(self, box: Mailbox, folder: Folder, destination: Folder) -> None:
        """Move a folder under another (not under itself or a descendant)."""
        with self.lock:
            probe: Folder | None = destination
            while probe is not None:
                if probe.id == folder.id:
                    raise ValueError("Cannot move a folder under itself.")
                probe = box.folders.get(probe.parent_id)
            self._check_unique(box, destination.id, folder.display_name, skip=folder.id)
            folder.parent_id = destination.id

    def delete_folder(self, box: Mailbox, folder: Folder) -> None:
        """Delete a folder, its subfolders and their messages."""
        with self.lock:
            doomed = {folder.id}
            grew = True
            while grew:
                more = {f.id for f in box.folders.values() if f.parent_id in doomed} - doomed
                grew = bool(more)
                doomed |= more
            changes = [self._remove_item(box, i) for i in list(box.items.values()) if i.collection in doomed]
            for fid in doomed:
                box.folders.pop(fid, None)
        self._notify(changes)

    def child_folders(self, box: Mailbox, parent_id: str) -> list[Folder]:
        """The folders directly under a folder (the root's children are the top-level folders)."""
        with self.lock:
            return [f for f in box.folders.values() if f.parent_id == parent_id]

    # ------------------------------------------------------------------------------------------------ items

    def add_item(self, box: Mailbox, collection: str, data: dict[str, Any], kind: str = "message") -> Item:
        """Store a new message (in a folder) or event (in CALENDAR) and announce it as created."""
        with self.lock:
            immutable = new_immutable_id()
            item = Item(immutable, new_item_id(), collection, copy.deepcopy(data), self.next_seq())
            item.arrived = item.seq
            stamp = now_iso()
            item.data.setdefault("createdDateTime", stamp)
            item.data["lastModifiedDateTime"] = stamp
            if kind == "event":
                item.rest_id = immutable  # event ids do not change; there is nowhere to move an event to
            box.items[immutable] = item
            box.rest_index[item.rest_id] = immutable
            change = self._change(box, item, "created", kind)
        self._notify([change])
        return item

    def _change(self, box: Mailbox, item: Item, change_type: str, kind: str | None = None) -> Change:
        kind = kind or ("event" if item.collection == CALENDAR else "message")
        return Change(box.user, change_type, item.collection, kind, item.rest_id, item.immutable_id, item.change_key)

    def touch(self, box: Mailbox, item: Item) -> None:
        """Record that an item changed (after its fields were edited in place) and announce it as updated."""
        with self.lock:
            item.seq = self.next_seq()
            item.change_key = new_change_key()
            item.data["lastModifiedDateTime"] = now_iso()
            change = self._change(box, item, "updated")
        self._notify([change])

    def move_item(self, box: Mailbox, item: Item, destination: Folder) -> Item:
        """Move a message to another folder: a new regular id, a tombstone in the folder it left."""
        with self.lock:
            if item.collection == destination.id:
                return item
            left = self._remove_item(box, item, keep=True)
            item.rest_id = new_item_id()
            item.collection = destination.id
            item.seq = item.arrived = self.next_seq()
            item.change_key = new_change_key()
            item.data["lastModifiedDateTime"] = now_iso()
            box.rest_index[item.rest_id] = item.immutable_id
            arrived = self._change(box, item, "created")
        self._notify([left, arrived])
        return item

    def delete_item(self, box: Mailbox, item: Item) -> None:
        """Delete an item (gone from every folder view)."""
        with self.lock:
            change = self._remove_item(box, item)
        self._notify([change])

    def _remove_item(self, box: Mailbox, item: Item, keep: bool = False) -> Change:
        box.tombstones.append(Tombstone(self.next_seq(), item.collection, item.rest_id, item.immutable_id))
        change = self._change(box, item, "deleted")
        box.rest_index.pop(item.rest_id, None)
        if not keep:
            box.items.pop(item.immutable_id, None)
        return change

    def items_in(self, box: Mailbox, collection: str | None, kind: str = "message") -> list[Item]:
        """Items of one folder (or every folder with None, or the calendar), newest first."""
        with self.lock:
            if kind == "event":
                found = [i for i in box.items.values() if i.collection == CALENDAR]
                return sorted(found, key=lambda i: str(i.data.get("start", {}).get("dateTime", "")))
            found = [
                i
                for i in box.items.values()
                if i.collection != CALENDAR and (collection is None or i.collection == collection)
            ]
            return sorted(found, key=lambda i: str(i.data.get("receivedDateTime", "")), reverse=True)

    # ------------------------------------------------------------------------------------------------ delta

    def start_round(
        self,
        box: Mailbox,
        collection: str,
        since: int,
        params: dict[str, str],
        keep: Callable[[Item], bool],
        change_type: str | None = None,
    ) -> str:
        """Collect the changes of a collection after `since` into a new delta round; return its key.

        An initial round (`since == 0`) lists what the collection holds; a later one the items changed since and
        the tombstones of items that left it since — or, with `change_type`, only the items that arrived
        ("created"), only those changed in place ("updated"), or only the removals ("deleted").
        https://learn.microsoft.com/en-us/graph/delta-query-messages
        """
        with self.lock:
            until = next(self._seq)
            present = [i for i in self.items_in(box, collection, "event" if collection == CALENDAR else "message")]

            def wanted(item: Item) -> bool:
                if not since or change_type is None:
                    return True
                if change_type == "created":
                    return item.arrived > since
                return change_type == "updated" and item.arrived <= since

            entries: list[tuple[str, str | None]] = [
                (i.immutable_id, None) for i in present if i.seq > since and i.seq <= until and keep(i) and wanted(i)
            ]
            if since and change_type in (None, "deleted"):
                # Removals name the id the client was given; whether one is still due when the item is back in the
                # collection depends on the id form the round is read in (see the routes).
                entries += [
                    (t.immutable_id, t.rest_id)
                    for t in box.tombstones
                    if t.collection == collection and since < t.seq <= until
                ]
            key = secrets.token_urlsafe(24)
            self.rounds[key] = DeltaRound(box.user.oid, collection, entries, until, self.generation, params)
            while len(self.rounds) > MAX_DELTA_ROUNDS:
                self.rounds.popitem(last=False)
            return key

    def round(self, key: str) -> DeltaRound | None:
        """A delta round still being paged, or None if it is unknown or from before a reset."""
        with self.lock:
            found = self.rounds.get(key)
            if found is None or found.generation != self.generation:
                return None
            return found
