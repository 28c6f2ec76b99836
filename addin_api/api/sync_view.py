"""What the mailbox sync workers recorded, as the caller's views show it: an item's state, the mailbox's last sync.

Read from the store the workers write (Redis, or SQLite in the shared state directory). The store being unreachable
never fails a view: the answer then leaves these members out.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import TYPE_CHECKING

from flask import current_app

from addin_api.api.principal import current_principal
from addin_api.model import SYNC_STATES
from addin_api.sync.folder_rules import rules_changed as rules_forgotten
from addin_api.sync.store import LAST_SYNC, OPTIONS_CHANGED, ItemState, mailbox_scope
from addin_api.wiring import collaborators

if TYPE_CHECKING:
    from addin_api.sync.jobs import Jobs

__all__ = ["JOBS_EXTENSION", "item_state", "last_sync", "options_changed", "rules_changed", "store_errors"]

# Where the app keeps the sync job queue (`api.webhooks.init_app`).
JOBS_EXTENSION = "addin_api_sync_jobs"

log = logging.getLogger(__name__)


def item_state(environment_url: str, key: str) -> ItemState | None:
    """The worker's state of the caller's item with this key (an Internet message id), or None."""
    store = collaborators().sync_store
    if store is None:
        return None
    try:
        found = store.item(mailbox_scope(environment_url, current_principal().object_id), key)
    except store_errors() as exc:
        log.warning("sync_store_unavailable", extra={"error": type(exc).__name__})
        return None
    # Only the states the API documents: an incoming message the options declined is simply not tracked.
    return found if found is not None and found.state in SYNC_STATES else None


def last_sync(environment_url: str) -> str | None:
    """When the worker last completed a pass over the caller's mailbox, or None."""
    store = collaborators().sync_store
    if store is None:
        return None
    try:
        return store.get(mailbox_scope(environment_url, current_principal().object_id), LAST_SYNC)
    except store_errors() as exc:
        log.warning("sync_store_unavailable", extra={"error": type(exc).__name__})
        return None


def options_changed(environment_url: str) -> None:
    """Tell the sync workers the caller's options changed (they read them again at their next pass)."""
    store = collaborators().sync_store
    if store is None:
        return
    try:
        store.put(mailbox_scope(environment_url, current_principal().object_id), OPTIONS_CHANGED, str(time.time()))
    except store_errors() as exc:
        log.warning("sync_store_unavailable", extra={"error": type(exc).__name__})


def rules_changed(environment_url: str) -> None:
    """Tell the sync workers the caller's folder rules changed, and ask for a pass over the rule folders now (the
    mail already in a new rule's folder is tracked within seconds, not at the next catch-up)."""
    store = collaborators().sync_store
    principal = current_principal()
    if store is not None:
        try:
            rules_forgotten(store, mailbox_scope(environment_url, principal.object_id))
        except store_errors() as exc:
            log.warning("sync_store_unavailable", extra={"error": type(exc).__name__})
    jobs: Jobs | None = current_app.extensions.get(JOBS_EXTENSION)
    if jobs is not None:
        from addin_api.sync.jobs import MailboxJob

        job = MailboxJob(
            principal.tenant_id,
            environment_url.rstrip("/"),
            principal.object_id,
            principal.username or "",
            feeds="rules",
        )
        try:
            jobs.send(job)
        except Exception as exc:  # the queue being down must not fail the change: catch-up reads the rules
            log.warning("sync_jobs_unavailable", extra={"error": type(exc).__name__})


def store_errors() -> tuple[type[Exception], ...]:
    """What an unreachable or unreadable store raises (evaluated only once something was raised)."""
    if collaborators().settings.redis_url is None:
        return sqlite3.Error, ValueError
    import redis

    return redis.RedisError, sqlite3.Error, ValueError
