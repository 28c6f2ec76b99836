"""The caller's folder-tracking rules, as Dynamics 365's Configure Folder Tracking Rules shows them, and the folders
under their Inbox to choose from (read through Microsoft Graph as the user).

A rule maps a folder under the Inbox to a record; the mailbox sync tracks what is moved into the folder regarding
it. Up to the organization's limit per user (25 by default), only where the organization uses folder-level tracking.
https://learn.microsoft.com/en-us/power-platform/admin/configure-outlook-exchange-folder-level-tracking
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from addin_api.dataverse import folder_rules as dvrules
from addin_api.dataverse.port import Dataverse
from addin_api.errors import (
    FolderNotInInbox,
    FolderRuleLimit,
    FolderTrackingDisabled,
    IdentityUnavailable,
    MailboxForbidden,
    MailboxUnavailable,
    NoMailbox,
    NotFound,
)
from addin_api.model import MeInfo
from addin_api.model_mailbox import AddFolderRule, FolderRule, FolderRules, InboxFolder, InboxFolders
from addin_api.sync.folders import folder_under
from addin_api.sync.graph import MailFolder, WellKnownFolder
from addin_api.sync.graph_errors import (
    GraphAccessDenied,
    GraphAuthenticationFailed,
    GraphError,
    GraphNotFound,
)

__all__ = ["MAX_FOLDERS", "MailFolders", "add_folder_rule", "folder_rules", "inbox_folders", "remove_folder_rule"]

# The folders listed for the picker (breadth first).
MAX_FOLDERS = 500
DEFAULT_RETRY_AFTER = 5


class MailFolders(Protocol):
    """What the rules need of the user's mailbox (`sync.graph.GraphClient` with the user's delegated token)."""

    def mail_folder(self, user: str, name: WellKnownFolder) -> MailFolder:
        """A folder by well-known name."""
        ...

    def folder(self, user: str, folder_id: str) -> MailFolder:
        """A folder by id, with the folder it is in."""
        ...

    def child_folders(self, user: str, parent_id: str | None = None) -> list[MailFolder]:
        """The folders directly under a folder."""
        ...


def folder_rules(dv: Dataverse, caller: MeInfo) -> FolderRules:
    """The caller's rules and the organization's switch and limit (one round trip)."""
    return dvrules.read_rules(dv, caller.user_id, caller.organization_id)[0]


def add_folder_rule(
    dv: Dataverse, graph: MailFolders, user: str, caller: MeInfo, command: AddFolderRule
) -> tuple[FolderRule, bool]:
    """Track what is moved into the folder regarding the record; (the rule, whether it is new).

    A folder that has a rule already gets the new record (and is enabled again if its rule was disabled), so one
    folder never has two rules. Two Dataverse round trips and, for a folder `depth` levels under the Inbox,
    `depth + 1` Graph requests.
    """
    found, mailbox_id = dvrules.read_rules(dv, caller.user_id, caller.organization_id)
    if not found.enabled:
        raise FolderTrackingDisabled()
    if mailbox_id is None:
        raise NoMailbox()
    existing = next((r for r in found.rules if r.folder_id == command.folder_id), None)
    if existing is None and len(found.rules) >= found.limit:
        raise FolderRuleLimit(found.limit)
    folder = _in_inbox(graph, user, command.folder_id)
    table, record_id = command.regarding.table, command.regarding.id
    if existing is not None:
        return dvrules.update_rule(dv, existing.id, folder.display_name, table, record_id), False
    return dvrules.create_rule(dv, mailbox_id, folder.id, folder.display_name, table, record_id), True


def remove_folder_rule(dv: Dataverse, caller: MeInfo, rule_id: str) -> None:
    """Remove one of the caller's rules (what it linked stays linked); 404 for a rule that is not theirs."""
    found = folder_rules(dv, caller)
    if not any(r.id.lower() == rule_id.lower() for r in found.rules):
        raise NotFound("The folder rule does not exist")
    dvrules.delete_rule(dv, rule_id)


def inbox_folders(graph: MailFolders, user: str) -> InboxFolders:
    """The folders under the caller's Inbox, breadth first, with their paths (at most `MAX_FOLDERS`; a request per
    folder that holds folders, and one for the Inbox)."""
    with _graph_errors():
        inbox = graph.mail_folder(user, "inbox")
        found: list[InboxFolder] = []
        parents = [(inbox.id, inbox.display_name or "Inbox")]
        truncated = False
        while parents:
            parent_id, path = parents.pop(0)
            for child in graph.child_folders(user, parent_id):
                if len(found) >= MAX_FOLDERS:
                    truncated = True
                    break
                child_path = f"{path}/{child.display_name}"
                found.append(InboxFolder(child.id, child.display_name, child_path))
                if child.child_folder_count:
                    parents.append((child.id, child_path))
            if truncated:
                break
    return InboxFolders(tuple(found), truncated)


def _in_inbox(graph: MailFolders, user: str, folder_id: str) -> MailFolder:
    """The folder, if it is under the caller's Inbox (at any depth); else FolderNotInInbox."""
    with _graph_errors():
        found = folder_under(graph, user, graph.mail_folder(user, "inbox").id, folder_id)
    if found is None:
        raise FolderNotInInbox()
    return found


@contextmanager
def _graph_errors() -> Iterator[None]:
    """Graph's failures as the API's errors (Graph's text, which may quote the mailbox, is never shown)."""
    try:
        yield
    except GraphAuthenticationFailed:
        raise IdentityUnavailable(retry_after=DEFAULT_RETRY_AFTER) from None
    except GraphAccessDenied:
        raise MailboxForbidden() from None
    except GraphNotFound:
        raise MailboxUnavailable("Your mailbox was not found", retry_after=DEFAULT_RETRY_AFTER) from None
    except GraphError as exc:
        raise MailboxUnavailable(retry_after=exc.retry_after or DEFAULT_RETRY_AFTER) from None
