"""Test & Enable's mailbox probe: can the app read the user's Inbox and Sent Items, and is the tracking category there.

Dataverse's Test & Enable "tests the incoming and outgoing email configuration" of a mailbox
(https://learn.microsoft.com/en-us/power-platform/admin/connect-exchange-online); ours asks Graph three things, one
request each, and stops at the first refusal, naming it in a machine-readable reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from addin_api.sync.graph import GraphClient
from addin_api.sync.graph_errors import (
    GraphAccessDenied,
    GraphAuthenticationFailed,
    GraphError,
    GraphNotFound,
    GraphThrottled,
    GraphUnavailable,
    MailboxNotFound,
)

__all__ = ["TRACKED_CATEGORY", "MailboxProbe", "ProbeFailure", "probe_mailbox"]

# The category Dynamics 365 App for Outlook applies to tracked items.
# https://learn.microsoft.com/en-us/dynamics365/outlook-app/user/track-outlook-email
TRACKED_CATEGORY = "Tracked to Dynamics 365"

ProbeFailure = Literal[
    "access_denied",  # the app may not open the mailbox (permission or application access policy)
    "mailbox_not_found",  # no such user, or no mailbox Graph can reach
    "folder_not_found",  # the Inbox or Sent Items is missing
    "throttled",  # Graph kept answering 429
    "unavailable",  # Graph answered 5xx or did not answer
    "authentication_failed",  # no app token, or Graph refused it
    "error",  # any other Graph error
]


@dataclass(frozen=True)
class MailboxProbe:
    """What the probe found; `failure` names why it stopped (None: every request was answered)."""

    can_read_inbox: bool
    can_read_sent_items: bool
    has_tracking_category: bool
    failure: ProbeFailure | None = None

    @property
    def ok(self) -> bool:
        """Whether the mailbox can be synchronized: both folders read (the category can be created later)."""
        return self.failure is None and self.can_read_inbox and self.can_read_sent_items


def probe_mailbox(graph: GraphClient, user: str) -> MailboxProbe:
    """Probe `user`'s mailbox (object id or user principal name) with at most 3 Graph requests."""
    inbox = sent_items = False
    try:
        graph.mail_folder(user, "inbox")
        inbox = True
        graph.mail_folder(user, "sentitems")
        sent_items = True
        wanted = TRACKED_CATEGORY.casefold()
        # Matched ignoring case: the category may have been recreated by hand in another case.
        category = any(c.display_name.casefold() == wanted for c in graph.master_categories(user))
    except GraphError as exc:
        return MailboxProbe(inbox, sent_items, False, failure_reason(exc))
    return MailboxProbe(inbox, sent_items, category)


def failure_reason(error: GraphError) -> ProbeFailure:
    """The probe's reason for a Graph error."""
    reasons: tuple[tuple[type[GraphError], ProbeFailure], ...] = (
        (GraphAccessDenied, "access_denied"),
        (MailboxNotFound, "mailbox_not_found"),
        (GraphNotFound, "folder_not_found"),
        (GraphThrottled, "throttled"),
        (GraphUnavailable, "unavailable"),
        (GraphAuthenticationFailed, "authentication_failed"),
    )
    return next((reason for kind, reason in reasons if isinstance(error, kind)), "error")
