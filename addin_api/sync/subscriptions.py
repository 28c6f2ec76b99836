"""Change-notification subscriptions per synchronized mailbox: Inbox and Sent Items messages, events, and the
messages of each folder-tracking rule's folder (its notifications start a pass over the rule folders alone).

Each subscription sends notifications to the service's `/graph/notifications` and lifecycle events to
`/graph/lifecycle`, with a `clientState` only this deployment can compute (an HMAC of the mailbox owner's object id
under the deployment's key), which the webhook compares in constant time. A subscription is renewed once less than a
third of its lifetime is left, and created again when Graph removed it (a renewal answering 404, or a
`subscriptionRemoved` lifecycle event). Its id and expiry are kept in the SyncStore.
https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks
https://learn.microsoft.com/en-us/graph/api/resources/subscription#subscription-lifetime
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from addin_api.sync.graph_errors import GraphNotFound
from addin_api.sync.store import SyncStore

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

__all__ = [
    "RESOURCES",
    "RULES_FEED",
    "Endpoints",
    "client_state",
    "client_state_owner",
    "ensure_subscriptions",
    "subscription_feed",
    "verify_client_state",
]

log = logging.getLogger(__name__)

# Under every documented maximum for Outlook resources (4,230 minutes in earlier versions, 10,080 now).
LIFETIME = timedelta(minutes=4200)
RENEW_WHEN_LEFT = LIFETIME / 3
# The feed of a rule folder's notifications, and the cursor listing the rule folders subscribed to.
RULES_FEED = "rules"
RULE_FOLDERS_KEY = "subscription_rule_folders"
# (name, resource template): the folders tracked by category and the calendar.
RESOURCES: tuple[tuple[str, str], ...] = (
    ("inbox", "users/{oid}/mailFolders('inbox')/messages"),
    ("sentitems", "users/{oid}/mailFolders('sentitems')/messages"),
    ("events", "users/{oid}/events"),
)


class SubscriptionGraph(Protocol):
    """The Graph operations subscriptions need (`sync.graph.GraphClient`)."""

    def create_subscription(self, user: str, subscription: dict[str, Any]) -> dict[str, Any]:
        """Create a subscription."""
        ...

    def renew_subscription(self, user: str, subscription_id: str, expiration: str) -> dict[str, Any]:
        """Extend a subscription."""
        ...

    def delete_subscription(self, user: str, subscription_id: str) -> None:
        """Delete a subscription."""
        ...


@dataclass(frozen=True)
class Endpoints:
    """Where Graph sends notifications, and the key clientState is derived with."""

    notification_url: str
    lifecycle_url: str
    key: bytes

    @classmethod
    def for_service(cls, public_url: str, key: bytes) -> Endpoints:
        """The service's two webhook routes."""
        base = public_url.rstrip("/")
        return cls(f"{base}/graph/notifications", f"{base}/graph/lifecycle", key)


def client_state(key: bytes, owner_oid: str) -> str:
    """The clientState of an owner's subscriptions: `<owner oid>.<HMAC of it>` (101 characters; Graph allows 128).

    The owner is in the clear because lifecycle notifications carry no resource: the subscription's clientState is
    all that says whose mailbox it watches.
    https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events
    """
    owner = owner_oid.lower()
    return f"{owner}.{hmac.new(key, f'graph-subscription:{owner}'.encode(), hashlib.sha256).hexdigest()}"


def client_state_owner(key: bytes, presented: object) -> str | None:
    """The owner a notification's clientState was given for, if this deployment gave it; else None."""
    if not isinstance(presented, str) or len(presented) > 128:
        return None
    owner, _, _ = presented.partition(".")
    if not _GUID.fullmatch(owner):
        return None
    return owner if hmac.compare_digest(client_state(key, owner), presented) else None


def verify_client_state(key: bytes, owner_oid: str, presented: object) -> bool:
    """Whether a notification's clientState is the one this deployment gave that owner's subscriptions."""
    return client_state_owner(key, presented) == owner_oid.lower()


def ensure_subscriptions(
    graph: SubscriptionGraph,
    store: SyncStore,
    scope: str,
    owner_oid: str,
    endpoints: Endpoints,
    *,
    forget: bool = False,
    rule_folders: Sequence[str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Create or renew the owner's subscriptions as needed; `forget` drops the stored ones first (Graph removed
    them). `rule_folders` are the folders of the owner's folder rules (None: as they were); the subscriptions of
    folders no longer among them are deleted. Returns the Graph requests sent."""
    requests_sent = 0
    resources = list(RESOURCES)
    folders = _rule_folders(store, scope) if rule_folders is None else list(dict.fromkeys(rule_folders))
    if rule_folders is not None:
        requests_sent += _drop_rule_subscriptions(graph, store, scope, owner_oid, folders)
    resources += [(f"rule:{f}", "users/{oid}/mailFolders('" + f.replace("'", "''") + "')/messages") for f in folders]
    for name, template in resources:
        key = f"subscription:{name}"
        stored = None if forget else _load(store.get(scope, key))
        at = now()
        if stored is not None and stored[1] - at > RENEW_WHEN_LEFT:
            continue
        expiration = _iso(at + LIFETIME)
        requests_sent += 1
        if stored is not None:
            try:
                graph.renew_subscription(owner_oid, stored[0], expiration)
                store.put(scope, key, _dump(stored[0], expiration))
                continue
            except GraphNotFound:
                requests_sent += 1  # removed by Graph: create it again below
        created = graph.create_subscription(
            owner_oid,
            {
                "changeType": "created,updated,deleted",
                "notificationUrl": endpoints.notification_url,
                "lifecycleNotificationUrl": endpoints.lifecycle_url,
                "resource": template.format(oid=owner_oid),
                "expirationDateTime": expiration,
                "clientState": client_state(endpoints.key, owner_oid),
            },
        )
        store.put(scope, key, _dump(str(created["id"]), str(created.get("expirationDateTime") or expiration)))
        log.info("subscription_created", extra={"resource": name})
    return requests_sent


def subscription_feed(store: SyncStore, scope: str, subscription_id: object) -> str | None:
    """Which feed a notification's subscription watches ("inbox", "sentitems", "calendar"), from the mailbox's stored
    subscriptions; None when it is none of them (or the store does not know it yet)."""
    if not isinstance(subscription_id, str) or not subscription_id:
        return None
    for name, _template in RESOURCES:
        stored = _load(store.get(scope, f"subscription:{name}"))
        if stored is not None and stored[0] == subscription_id:
            return "calendar" if name == "events" else name
    for folder in _rule_folders(store, scope):
        stored = _load(store.get(scope, f"subscription:rule:{folder}"))
        if stored is not None and stored[0] == subscription_id:
            return RULES_FEED
    return None


def _rule_folders(store: SyncStore, scope: str) -> list[str]:
    """The rule folders the mailbox's subscriptions watch."""
    try:
        found = json.loads(store.get(scope, RULE_FOLDERS_KEY) or "[]")
    except ValueError:
        return []
    return [str(f) for f in found] if isinstance(found, list) else []


def _drop_rule_subscriptions(
    graph: SubscriptionGraph, store: SyncStore, scope: str, owner_oid: str, folders: list[str]
) -> int:
    """Delete the subscriptions of folders that are no longer rule folders; the Graph requests sent."""
    sent = 0
    before = _rule_folders(store, scope)
    if before == folders:
        return 0
    for folder in before:
        if folder in folders:
            continue
        stored = _load(store.get(scope, f"subscription:rule:{folder}"))
        if stored is not None:
            sent += 1
            try:
                graph.delete_subscription(owner_oid, stored[0])
            except GraphNotFound:
                pass  # gone already
        store.put(scope, f"subscription:rule:{folder}", None)
    store.put(scope, RULE_FOLDERS_KEY, json.dumps(folders))
    return sent


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _dump(subscription_id: str, expiration: str) -> str:
    return json.dumps({"id": subscription_id, "expires": expiration})


def _load(text: str | None) -> tuple[str, datetime] | None:
    if text is None:
        return None
    try:
        raw = json.loads(text)
        # Graph answers UTC times with up to seven fractional digits: the seconds are enough here.
        expires = datetime.strptime(str(raw["expires"])[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        return str(raw["id"]), expires
    except (ValueError, KeyError, TypeError):
        return None
