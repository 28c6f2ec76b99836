"""What the mailbox-sync services take and return — the mailbox's state, personal options, folder-tracking rules,
marks of messages being composed: frozen commands and results, in snake_case, with no Dataverse or Graph vocabulary
(beside `model`, which holds the tracking ones)."""

from __future__ import annotations

from dataclasses import dataclass

from addin_api.model import RecordRef, RegardingRef

__all__ = [
    "FOLDER_MOVED",
    "MAX_FOLDER_ID",
    "AddFolderRule",
    "FolderRule",
    "FolderRules",
    "InboxFolder",
    "InboxFolders",
    "MailboxEnvironment",
    "MailboxState",
    "MarkCompose",
    "PendingTrack",
    "PersonalOptions",
]

# Why a rule is disabled: its folder is no longer under the Inbox (moved, or deleted).
FOLDER_MOVED = "folder_not_in_inbox"
# The longest folder id a rule can hold (`mailboxtrackingfolder.exchangefolderid`; Exchange's are 120 characters).
MAX_FOLDER_ID = 120


@dataclass(frozen=True)
class FolderRule:
    """A folder-tracking rule: mail moved into the folder is tracked regarding the record."""

    id: str
    folder_id: str
    folder_name: str
    regarding: RecordRef
    active: bool = True
    onboarded: bool = False

    @property
    def reason(self) -> str | None:
        """Why the rule tracks nothing now (a stable code), None while it is active."""
        return None if self.active else FOLDER_MOVED


@dataclass(frozen=True)
class FolderRules:
    """A user's rules, whether the organization uses folder-level tracking, and how many rules a user may have."""

    rules: tuple[FolderRule, ...]
    enabled: bool
    limit: int


@dataclass(frozen=True)
class AddFolderRule:
    """Track what is moved into a folder under the Inbox regarding a record."""

    folder_id: str
    regarding: RegardingRef


@dataclass(frozen=True)
class InboxFolder:
    """A folder under the Inbox: its id, its name, and its path from the Inbox ("Inbox/Clients/Fabrikam")."""

    id: str
    name: str
    path: str


@dataclass(frozen=True)
class InboxFolders:
    """The caller's folders under the Inbox (breadth first), and whether there were more than were listed."""

    folders: tuple[InboxFolder, ...]
    truncated: bool = False


@dataclass(frozen=True)
class MarkCompose:
    """Track a message being written once it is sent, regarding a record (or none)."""

    regarding: RegardingRef | None = None


@dataclass(frozen=True)
class PendingTrack:
    """A message marked while composing: the header the pane writes into it, and what it will be regarding."""

    token: str
    header: str
    expires_at: str
    regarding: RecordRef | None


@dataclass(frozen=True)
class PersonalOptions:
    """The caller's personal options for synchronization: which incoming email is tracked automatically, and
    whether the unresolved sender of an email tracked by the sync becomes a contact ("contact") or not ("none")."""

    track_incoming: str
    auto_create: str = "none"


@dataclass(frozen=True)
class MailboxEnvironment:
    """The environment the mailbox state was read in."""

    url: str
    organization_id: str
    name: str | None


@dataclass(frozen=True)
class MailboxState:
    """The caller's mailbox: approval, each direction's synchronization, and what stops tracking."""

    approved: bool
    incoming: str
    outgoing: str
    appointments: str
    reasons: tuple[str, ...]
    environment: MailboxEnvironment
    last_sync: str | None

    @property
    def tracking_enabled(self) -> bool:
        """Tracking works only when nothing stands in its way."""
        return not self.reasons
