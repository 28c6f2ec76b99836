"""One pass of tracking by category over one mailbox: Inbox, Sent Items and the calendar, from their stored delta
cursors.

For each feed, the pass reads what changed since its cursor (`pass_items.sync_source`); each message carrying the
tracking category is fetched with its attachments, each such event taken as it is, and tracked as the mailbox owner
through the pane's own `services.tracking.track` (the Dataverse client impersonates the owner, so their roles
decide, and the deterministic activity id makes a second track of the same item, from the pane or from here, find
the first). https://learn.microsoft.com/en-us/graph/delta-query-messages
https://learn.microsoft.com/en-us/dynamics365/outlook-app/user/track-outlook-email

Each tracked item's Graph requests and Dataverse round trips are measured at the ports and returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from addin_api.dataverse import mailbox as dvmailbox
from addin_api.dataverse import odata
from addin_api.dataverse.port import Dataverse
from addin_api.errors import ApiError
from addin_api.model import (
    INCOMING_DISABLED,
    NO_MAILBOX,
    NOT_APPROVED,
    TEST_FAILED,
    TEST_NOT_RUN,
    Direction,
    MeInfo,
    TrackEmail,
    TrackPolicy,
)
from addin_api.sync import compose
from addin_api.sync.autotrack import AUTO_SINCE_KEY
from addin_api.sync.calendar import CALENDAR, appointment_command, calendar_pages, carries_event
from addin_api.sync.counting import CountingDataverse, CountingGraph, MailboxGraph
from addin_api.sync.folder_rules import Rule, enforce_rules, mailbox_rules, sync_rule
from addin_api.sync.folders import OTHER_FOLDERS_SECONDS, other_folders
from addin_api.sync.graph import DeltaPage, WellKnownFolder
from addin_api.sync.graph_errors import GraphError
from addin_api.sync.items import carries, track_command
from addin_api.sync.organization import organization_settings
from addin_api.sync.pass_items import (
    CATEGORY_KEY,
    MAX_ATTEMPTS,
    OWNER_CANNOT_TRACK,
    ItemCost,
    ItemFailure,
    Owner,
    PassRun,
    Source,
    Stopped,
    find_category,
    sync_source,
    transient,
)
from addin_api.sync.store import LAST_SYNC, SyncStore
from addin_api.sync.subscriptions import RULES_FEED

__all__ = [
    "CATEGORY_KEY",
    "FOLDERS",
    "LAST_SYNC_KEY",
    "MAX_ATTEMPTS",
    "OWNER_CANNOT_TRACK",
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
LAST_SYNC_KEY = LAST_SYNC


@dataclass(frozen=True)
class PassResult:
    """What one pass over a mailbox did; `problem` says why it stopped before its feeds were done."""

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
    auto_tracked: int = 0
    # The owner as Dataverse knows them, and their "create records" option, when the pass read them (a later pass
    # may be handed them).
    caller: MeInfo | None = None
    auto_create: bool | None = None

    @property
    def tracked(self) -> int:
        """Items this pass tracked (created their activity)."""
        return sum(not c.already_tracked for c in self.costs)

    @property
    def already_tracked(self) -> int:
        """Categorized items whose activity existed already."""
        return sum(c.already_tracked for c in self.costs)

    @property
    def ok(self) -> bool:
        """Whether every feed was read and every categorized item tracked."""
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
    auto_create: bool | None = None,
    feeds: str = "all",
    folders_seconds: float = OTHER_FOLDERS_SECONDS,
) -> PassResult:
    """One pass of tracking by category over the owner's Inbox and Sent Items (`feeds` "mail", or one of them:
    "inbox", "sentitems"), calendar ("calendar"), the folders of their folder-tracking rules ("rules"), or all of
    them ("all": and each rule is applied again to what it tracked); `owner_dataverse` acts as them.

    `caller` is the owner as an earlier pass read them (`PassResult.caller`); without it, the first item to track
    reads it (one Dataverse round trip).
    """
    run = PassRun(CountingGraph(graph), CountingDataverse(owner_dataverse), owner, store, environment_url, policy)
    run.known_caller, run.known_auto_create = caller, auto_create
    run.auto_since = _auto_since(run)
    problem: str | None = None
    passing = False
    try:
        find_category(run)
        rules = mailbox_rules(run) if feeds in ("all", RULES_FEED) else []
        for source in _sources(run, feeds, folders_seconds, {r.folder_id for r in rules}):
            sync_source(run, source)
        for rule in rules:
            sync_rule(run, rule, _rule_source(run, rule))
        if feeds == "all":
            enforce_rules(run, rules)
    except Stopped as stop:
        problem, passing = stop.code, stop.transient
    except (ApiError, GraphError) as exc:
        problem, passing = exc.code, transient(exc)
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
        passing,
        run.untracked,
        run.undeliverable,
        run.auto_tracked,
        run.known_caller,
        run.known_auto_create,
    )


def _auto_since(run: PassRun) -> str:
    """When automatic tracking starts for this mailbox: its first pass (mail already there is not evaluated)."""
    since = run.stored(AUTO_SINCE_KEY)
    if since is None:
        since = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        run.store(AUTO_SINCE_KEY, since)
    return since


def _sources(run: PassRun, feeds: str, folders_seconds: float, rule_folders: set[str]) -> list[Source]:
    """The pass's feeds: Inbox and Sent Items, the other folders when their round is due ("all" only; a rule's
    folder is read by its rule), then the calendar."""
    user, graph = run.owner.object_id, run.graph
    folders: list[tuple[str, Callable[[], str], Direction | None]] = []
    folders += [
        (name, partial(_well_known_id, run, name), direction)
        for name, direction in FOLDERS
        if feeds in ("all", "mail", name)
    ]
    if feeds == "all":
        others = other_folders(graph, user, run.stored, run.store, folders_seconds) or []
        folders += [(f"folder:{f.id}", partial(str, f.id), None) for f in others if f.id not in rule_folders]
    sent_too = any(name == "sentitems" for name, _, _ in folders) and _auto_track_sent(run)
    found = [
        Source(
            name,
            "internetMessageId",
            partial(_folder_pages, run, folder_id),
            carries,
            partial(_message_command, run, direction),
            partial(graph.set_categories, user),
            auto=name == "inbox" or (name == "sentitems" and sent_too),
        )
        for name, folder_id, direction in folders
    ]
    if feeds in ("all", "calendar"):
        pages = partial(calendar_pages, graph, user, stored=run.stored, store=run.store)
        found.append(
            Source(
                CALENDAR,
                "iCalUId",
                pages,
                carries_event,
                appointment_command,
                partial(graph.set_event_categories, user),
            )
        )
    return found


def _auto_track_sent(run: PassRun) -> bool:
    """Whether the organization has Sent Items tracked by the personal options too (AutoTrackSentFolderItems)."""
    return organization_settings(run.dataverse, run.state, run.environment_url).auto_track_sent


def _rule_source(run: PassRun, rule: Rule) -> Source:
    """How a rule folder's messages are tracked: every one, as the pane would (its direction from its sender)."""
    user = run.owner.object_id
    return Source(
        rule.feed,
        "internetMessageId",
        partial(_folder_pages, run, partial(str, rule.folder_id)),
        carries,
        partial(_message_command, run, None),
        partial(run.graph.set_categories, user),
    )


def _well_known_id(run: PassRun, folder: WellKnownFolder) -> str:
    return run.graph.mail_folder(run.owner.object_id, folder).id


def _folder_pages(run: PassRun, folder_id: Callable[[], str], link: str | None) -> Iterator[DeltaPage]:
    """A folder's delta pages from `link`, or a new round (the folder's id found first)."""
    return run.graph.messages_delta(run.owner.object_id, "" if link else folder_id(), delta_link=link)


def _message_command(run: PassRun, direction: Direction | None, message: dict[str, Any]) -> TrackEmail:
    """The pane's track of a message, fetched with its attachments; in a folder of no direction, the owner's own
    messages are outgoing."""
    full = run.graph.message(run.owner.object_id, str(message.get("id", "")))
    if direction is None:
        sender = (full.get("from") or {}).get("emailAddress") or {}
        own = str(sender.get("address") or "").lower() == run.owner.upn.lower()
        direction = "outgoing" if own else "incoming"
    command = track_command(full, direction, run.policy.max_attachment_bytes)
    if direction == "outgoing" and compose.pending(run.state, run.scope):
        # Marked in the pane while it was written: tracked regarding what the user chose then.
        headers = run.graph.message_headers(run.owner.object_id, str(message.get("id", "")))
        token = compose.token_in(headers)
        known, regarding = compose.lookup(run.state, run.scope, token) if token else (False, None)
        if known and regarding is not None:
            return replace(command, regarding=regarding)
    if direction == "incoming" and run.auto_create():
        # The unresolved sender becomes a contact owned by the owner, and the email is set regarding it.
        return replace(command, create_missing="contact")
    return command


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
