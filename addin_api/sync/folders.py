"""The mail folders besides Inbox and Sent Items that a pass reads: a message given the category in any folder is
tracked, as in Dynamics 365 ("in any folder").

Graph's message delta is per folder, and the worker's subscriptions watch Inbox and Sent Items, so the other
folders are read by the catch-up round's passes, at most once every `OTHER_FOLDERS_SECONDS` per mailbox
(`ADDIN_API_SYNC_FOLDERS_SECONDS`): every
folder under the mailbox's root (child folders too) but Inbox and Sent Items (their own feeds), Drafts (drafts are
not tracked), Deleted Items, Junk Email and Outbox, each with its own delta cursor.
https://learn.microsoft.com/en-us/graph/api/mailfolder-delta
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Protocol

from addin_api.sync.counting import MailboxGraph
from addin_api.sync.graph import MailFolder, WellKnownFolder
from addin_api.sync.graph_errors import GraphNotFound

__all__ = ["MAX_FOLDERS", "OTHER_FOLDERS_SECONDS", "folder_under", "other_folders"]

OTHER_FOLDERS_SECONDS = 300.0
# A mailbox with more folders than this has the first ones read (the list is walked breadth first).
MAX_FOLDERS = 500
SKIPPED: tuple[WellKnownFolder, ...] = ("inbox", "sentitems", "drafts", "deleteditems", "junkemail", "outbox")
SKIPPED_KEY = "skipped_folders"
ROUND_KEY = "other_folders_at"


def other_folders(
    graph: MailboxGraph,
    user: str,
    stored: Callable[[str], str | None],
    store: Callable[[str, str | None], None],
    interval: float = OTHER_FOLDERS_SECONDS,
) -> list[MailFolder] | None:
    """The folders to read this pass, or None when their round (every `interval` seconds) is not due yet."""
    last = stored(ROUND_KEY)
    if last is not None and 0 <= time.time() - _number(last) < interval:
        return None
    skipped = _skipped_ids(graph, user, stored, store)
    # Folders under Inbox and Sent Items are read; nothing under Drafts, Deleted Items, Junk Email or Outbox.
    closed = skipped - set(skipped_list(stored)[:2])
    found: list[MailFolder] = []
    parents: list[str | None] = [None]
    while parents and len(found) < MAX_FOLDERS:
        for folder in graph.child_folders(user, parents.pop(0)):
            if folder.id not in skipped:
                found.append(folder)
            if folder.child_folder_count and folder.id not in closed:
                parents.append(folder.id)
    store(ROUND_KEY, str(time.time()))
    return found[:MAX_FOLDERS]


# How far up a folder is looked for the Inbox.
MAX_DEPTH = 10


class FolderReader(Protocol):
    """One folder by id, with the folder it is in (`GraphClient.folder`)."""

    def folder(self, user: str, folder_id: str) -> MailFolder:
        """A folder."""
        ...


def folder_under(graph: FolderReader, user: str, ancestor_id: str, folder_id: str) -> MailFolder | None:
    """The folder, when it lies under `ancestor_id` (at any depth up to `MAX_DEPTH`); None when it is that folder
    itself, lies elsewhere or does not exist. A request per level."""
    try:
        folder = current = graph.folder(user, folder_id)
        for _depth in range(MAX_DEPTH):
            if current.id == ancestor_id or not current.parent_id:
                return None  # the folder itself, or the top of the mailbox
            if current.parent_id == ancestor_id:
                return folder
            current = graph.folder(user, current.parent_id)
    except GraphNotFound:
        return None
    return None


def _skipped_ids(
    graph: MailboxGraph, user: str, stored: Callable[[str], str | None], store: Callable[[str, str | None], None]
) -> frozenset[str]:
    """The ids of the folders never read here (well-known folders keep their ids: read once, then kept)."""
    try:
        return frozenset(json.loads(stored(SKIPPED_KEY) or "null"))
    except (TypeError, ValueError):
        pass
    ids = [graph.mail_folder(user, name).id for name in SKIPPED]
    store(SKIPPED_KEY, json.dumps(ids))
    return frozenset(ids)


def skipped_list(stored: Callable[[str], str | None]) -> list[str]:
    """The skipped folders' ids in the order of `SKIPPED` (Inbox, Sent Items first)."""
    try:
        found = json.loads(stored(SKIPPED_KEY) or "[]")
    except ValueError:
        return []
    return [str(i) for i in found] if isinstance(found, list) else []


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0
