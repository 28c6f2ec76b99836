"""Folder-tracking rules in a pass: mail moved into a rule's folder is tracked regarding the rule's record.

As Dynamics 365 does it (https://learn.microsoft.com/en-us/power-platform/admin/configure-outlook-exchange-folder-level-tracking):
- the rule is keyed by the folder's Exchange id, so a renamed folder keeps tracking (the rule's folder name is kept up
  to date for the user); only folders under the Inbox are tracked, and a rule whose folder left the Inbox (moved,
  deleted) is disabled, which the user sees on the rule;
- every message in the folder is tracked, whatever its category, regarding the rule's record; one tracked before
  (from the pane, by category, by another rule) is set regarding the rule's record; and the rule's record wins over a
  regarding the user set by hand afterwards, at the next catch-up pass;
- removing a rule changes nothing that it linked; a message moved out of the folder keeps its regarding.

Each rule folder has its own delta cursor; the mail already in a folder when its rule is made is tracked by its first
round, after which the rule is marked onboarded. The rules are read from Dataverse (with the organization's switch) at
most every `RULES_SECONDS` per mailbox, or again as soon as the service says the owner changed them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

from addin_api.dataverse import folder_rules as dvrules
from addin_api.dataverse import odata
from addin_api.dataverse.activities import EMAIL
from addin_api.dataverse.batch import BatchRequest
from addin_api.dataverse.regarding import set_regarding
from addin_api.dataverse.tables import REGARDING_TABLES
from addin_api.errors import ApiError
from addin_api.model import RegardingRef
from addin_api.sync.folders import folder_under, skipped_list
from addin_api.sync.graph import DeltaPage, MailFolder
from addin_api.sync.graph_errors import GraphNotFound, SyncStateLost
from addin_api.sync.pass_items import PassRun, Source, Stopped, track_item, transient
from addin_api.sync.store import ItemState, SyncStore

__all__ = [
    "RULES_KEY",
    "RULES_SECONDS",
    "Rule",
    "enforce_rules",
    "kept_rule_folders",
    "mailbox_rules",
    "rules_changed",
    "sync_rule",
]

logger = logging.getLogger(__name__)

RULES_KEY = "folder_rules"
RULES_SECONDS = 300.0
# The messages a rule folder's map remembers (Graph id → activity id), to apply the rule again at catch-up.
MAX_RULE_ITEMS = 2000
# Activities checked per request when the rule is applied again (an `In` filter of this many ids).
ENFORCE_CHUNK = 100
# How long a folder found under the Inbox is trusted to be there before mail moved into it is tracked again: a folder
# moved out of the Inbox may still have its mail tracked this long (Dynamics 365 takes its sync cycle, ~15 minutes).
FOLDER_CHECK_SECONDS = 60.0


@dataclass(frozen=True)
class Rule:
    """A rule as a pass uses it."""

    id: str
    folder_id: str
    folder_name: str
    table: str
    record_id: str
    onboarded: bool = False
    # When the folder was last found under the Inbox (epoch seconds; 0: not yet).
    checked_at: float = 0.0

    @property
    def regarding(self) -> RegardingRef:
        """The record what the rule tracks is regarding."""
        return RegardingRef(self.table, self.record_id)

    @property
    def mark(self) -> str:
        """The rule's record as an item's state keeps it."""
        return f"{self.table}:{self.record_id.lower()}"

    @property
    def feed(self) -> str:
        """The name of the rule folder's delta cursor (and of its subscription)."""
        return f"rule:{self.folder_id}"


def rules_changed(store: SyncStore, scope: str) -> None:
    """Forget the rules kept for a mailbox: the next pass reads them again."""
    store.put(scope, RULES_KEY, None)


def mailbox_rules(run: PassRun, *, fresh: bool = False) -> list[Rule]:
    """The owner's active rules (none when the organization does not use folder-level tracking), kept a while;
    when read again, each rule's folder is checked to be under the Inbox (disabled if not) and its name refreshed."""
    kept = None if fresh else _kept(run.stored(RULES_KEY))
    if kept is not None:
        return kept
    caller = run.caller()
    found, _mailbox = dvrules.read_rules(run.dataverse, caller.user_id, caller.organization_id)
    rules = [
        Rule(r.id, r.folder_id, r.folder_name, str(r.regarding.table), r.regarding.id, r.onboarded)
        for r in found.rules
        if r.active and r.regarding.table in REGARDING_TABLES
    ]
    if not found.enabled:
        rules = []
    now = time.time()
    rules = [replace(rule, checked_at=now) for rule in rules if _still_in_inbox(run, rule)]
    run.store(RULES_KEY, json.dumps({"at": now, "rules": [asdict(r) for r in rules]}))
    return rules


def kept_rule_folders(store: SyncStore, scope: str) -> list[str] | None:
    """The folders of the rules a pass last read (however long ago), None when none was read since the last
    change."""
    try:
        raw = json.loads(store.get(scope, RULES_KEY) or "null")
        return [str(r["folder_id"]) for r in raw["rules"]] if isinstance(raw, dict) else None
    except (ValueError, TypeError, KeyError):
        return None


def _kept(text: str | None) -> list[Rule] | None:
    try:
        raw = json.loads(text) if text else None
        if not isinstance(raw, dict) or not 0 <= time.time() - float(raw["at"]) < RULES_SECONDS:
            return None
        return [Rule(**r) for r in raw["rules"]]
    except (ValueError, TypeError, KeyError):
        return None


def _still_in_inbox(run: PassRun, rule: Rule) -> bool:
    """Whether the rule's folder is still under the Inbox; if not, the rule is disabled (the user sees why)."""
    folder = folder_in_inbox(run, rule.folder_id)
    if folder is None:
        dvrules.disable_rule(run.dataverse, rule.id)
        logger.info("sync_folder_rule_disabled", extra={"oid": run.owner.object_id})
        return False
    if folder.display_name and folder.display_name != rule.folder_name:
        dvrules.rename_rule(run.dataverse, rule.id, folder.display_name)
    return True


def folder_in_inbox(run: PassRun, folder_id: str) -> MailFolder | None:
    """The folder, when it is under the owner's Inbox (at any depth); None when it is elsewhere or gone."""
    user = run.owner.object_id
    known = skipped_list(run.stored)  # the well-known folders' ids, Inbox first, when a pass listed them
    inbox = known[0] if known else run.graph.mail_folder(user, "inbox").id
    return folder_under(run.graph, user, inbox, folder_id)


def sync_rule(run: PassRun, rule: Rule, source: Source) -> None:
    """Read a rule folder's delta from its cursor and track each message in it regarding the rule's record."""
    key = f"delta:{rule.feed}"
    link = run.stored(key)
    items = _items(run, rule)
    for page in _pages(run, rule, link, key):
        if time.time() - rule.checked_at >= FOLDER_CHECK_SECONDS and any(_trackable(i) for i in page.items):
            if not _still_in_inbox(run, rule):
                rules_changed(run.state, run.scope)
                return  # its folder left the Inbox: the rule is disabled, what moved there is not tracked
            rule = _checked(run, rule)
        for item in page.items:
            if not _in_rule_folder(run, rule, source, item, items):
                _keep_items(run, rule, items)
                return
        _keep_items(run, rule, items)
        run.store(key, page.next_link or page.delta_link)
        if page.delta_link and not rule.onboarded:
            dvrules.rename_rule(run.dataverse, rule.id, onboarded=True)
            rules_changed(run.state, run.scope)


def _pages(run: PassRun, rule: Rule, link: str | None, key: str) -> Iterator[DeltaPage]:
    try:
        yield from run.graph.messages_delta(run.owner.object_id, "" if link else rule.folder_id, delta_link=link)
    except SyncStateLost:
        if link is None:
            raise
        run.store(key, None)
        yield from run.graph.messages_delta(run.owner.object_id, rule.folder_id)
    except GraphNotFound:
        # The folder was deleted since the rules were read: the next reading disables the rule.
        rules_changed(run.state, run.scope)


def _checked(run: PassRun, rule: Rule) -> Rule:
    """The rule found under the Inbox now, as kept for the next passes."""
    now = time.time()
    try:
        kept = json.loads(run.stored(RULES_KEY) or "null")
        rules = kept["rules"]
        for raw in rules:
            if raw.get("id") == rule.id:
                raw["checked_at"] = now
        run.store(RULES_KEY, json.dumps(kept))
    except (ValueError, TypeError, KeyError, AttributeError):
        pass  # nothing kept (changed since): the next pass reads the rules again
    return replace(rule, checked_at=now)


def _trackable(item: dict[str, Any]) -> bool:
    """A message the rule would track (not removed, not a draft, with an Internet message id)."""
    key = item.get("internetMessageId")
    return "@removed" not in item and isinstance(key, str) and bool(key) and not item.get("isDraft")


def _in_rule_folder(run: PassRun, rule: Rule, source: Source, item: dict[str, Any], items: dict[str, str]) -> bool:
    """One changed message of a rule folder; False when it is to be tried again (the folder stops there)."""
    item_id = str(item.get("id", ""))
    key = item.get("internetMessageId")
    if "@removed" in item:
        items.pop(item_id, None)  # moved out: it keeps its regarding
        return True
    if not _trackable(item) or not isinstance(key, str):
        return True
    state = run.state.item(run.scope, key)
    if state is not None and state.state == "tracked" and state.activity_id:
        if state.regarding != rule.mark:
            _regard(run, rule, key, state)
        items[item_id] = state.activity_id
        return True
    before = len(run.costs)
    if not track_item(run, source, item, key, state, rule.regarding):
        return False
    found = run.state.item(run.scope, key)
    if found is None or found.state != "tracked" or not found.activity_id:
        return True  # undeliverable, or gone since the page was read
    if len(run.costs) > before and run.costs[-1].already_tracked:
        _regard(run, rule, key, found)  # tracked before, maybe regarding something else
    else:
        run.state.set_item(run.scope, key, replace(found, regarding=rule.mark))
    items[item_id] = found.activity_id
    return True


def _regard(run: PassRun, rule: Rule, key: str, state: ItemState) -> None:
    """Set a tracked email regarding the rule's record."""
    assert state.activity_id is not None
    try:
        set_regarding(run.dataverse, run.environment_url, EMAIL, state.activity_id, rule.regarding, "*")
    except ApiError as exc:
        if transient(exc):
            raise Stopped(exc.code, transient=True) from None
        # Gone from Dataverse, or the owner may not change it: the rule cannot apply, the item keeps its state.
        logger.warning("sync_folder_rule_not_applied", extra={"oid": run.owner.object_id, "code": exc.code})
        return
    run.state.set_item(run.scope, key, replace(state, regarding=rule.mark))


def _items(run: PassRun, rule: Rule) -> dict[str, str]:
    try:
        raw = json.loads(run.stored(f"items:{rule.feed}") or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _keep_items(run: PassRun, rule: Rule, items: dict[str, str]) -> None:
    kept = dict(list(items.items())[-MAX_RULE_ITEMS:])
    run.store(f"items:{rule.feed}", json.dumps(kept, separators=(",", ":")))


def enforce_rules(run: PassRun, rules: list[Rule]) -> int:
    """Set each email a rule tracked back regarding the rule's record when someone changed it since (one `$batch`
    for every rule, and a round trip per email changed); the number changed."""
    asks: list[tuple[Rule, list[str]]] = []
    for rule in rules:
        ids = list(_items(run, rule).values())
        asks += [(rule, ids[i : i + ENFORCE_CHUNK]) for i in range(0, len(ids), ENFORCE_CHUNK)]
    if not asks:
        return 0
    answers = run.dataverse.batch([BatchRequest("GET", _strays_query(rule, ids)) for rule, ids in asks])
    changed = 0
    for (rule, _ids), answer in zip(asks, answers, strict=True):
        run.dataverse.raise_for(answer)
        rows = answer.body.get("value", []) if isinstance(answer.body, dict) else []
        for row in rows:
            activity_id = row.get("activityid") if isinstance(row, dict) else None
            if isinstance(activity_id, str):
                set_regarding(run.dataverse, run.environment_url, EMAIL, activity_id, rule.regarding, "*")
                changed += 1
    if changed:
        logger.info("sync_folder_rule_applied_again", extra={"oid": run.owner.object_id, "changed": changed})
    return changed


def _strays_query(rule: Rule, activity_ids: list[str]) -> str:
    """The emails among `activity_ids` that are not regarding the rule's record."""
    values = ",".join(f"'{odata.guid(a)}'" for a in activity_ids)
    record = odata.guid(rule.record_id)
    among = f"Microsoft.Dynamics.CRM.In(PropertyName='activityid',PropertyValues=[{values}])"
    elsewhere = f"(_regardingobjectid_value eq null or _regardingobjectid_value ne {record})"
    params = {"$select": "activityid", "$filter": f"{among} and {elsewhere}"}
    return f"{EMAIL.entity_set}?{odata.query_string(params)}"
