"""What one devstack's Graph emulator holds: the mailboxes, the subscriptions and the per-mailbox limits."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from addin_api.devstack.graph.access import MailboxConcurrency
from addin_api.devstack.graph.store import GraphStore
from addin_api.devstack.graph.subscriptions import Subscriptions

EXTENSION_KEY = "devstack_graph"
RETRY_AFTER_SECONDS = 1  # what the emulator asks a throttled caller to wait


@dataclass
class GraphEmulator:
    """The emulated Graph of one devstack app."""

    store: GraphStore
    subscriptions: Subscriptions
    concurrency: MailboxConcurrency
    # An application access policy: the mailboxes (owners' object ids) app-only tokens may open; None: all of them.
    # https://learn.microsoft.com/en-us/graph/auth-limit-mailbox-access
    app_mailboxes: frozenset[str] | None = None

    def reset(self) -> None:
        """Back to the seed: mailboxes, subscriptions, notification log, paused flag, limits, access policy."""
        self.subscriptions.reset()
        self.store.reset()
        self.concurrency.limit = 4
        self.app_mailboxes = None


def current_graph() -> GraphEmulator:
    """The Graph emulator of the devstack app handling this request."""
    emulator = current_app.extensions[EXTENSION_KEY]
    assert isinstance(emulator, GraphEmulator)
    return emulator
