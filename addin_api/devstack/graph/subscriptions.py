"""Graph subscriptions to mailbox resources: the validation handshake, change and lifecycle notifications.

Creating (or renewing) a subscription POSTs `?validationToken=…` to the notification URL (and to the lifecycle URL)
and requires 200 with the token echoed as text/plain within 10 seconds. Changes in the mailbox are then POSTed as
`{"value": [changeNotification…]}` with the subscription's `clientState`; a notification must be answered 2xx within
3 seconds, else it is retried a few times and then reported as `missed` to the lifecycle URL.
https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks
https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events
https://learn.microsoft.com/en-us/graph/api/resources/subscription
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from addin_api.devstack.graph.errors import GraphError
from addin_api.devstack.graph.store import CALENDAR, Change, GraphStore, Mailbox

LOG = logging.getLogger(__name__)

VALIDATION_TIMEOUT_SECONDS = 10.0
NOTIFICATION_TIMEOUT_SECONDS = 3.0
RETRY_DELAYS_SECONDS = (0.5, 1.0, 2.0)  # Graph retries for hours; the devstack a few times, then reports `missed`
# Maximum lifetime of an Outlook (message, event) subscription without resource data: 10,080 minutes (7 days) in
# the current reference; earlier versions gave 4,230 minutes, so the devstack lets tests change it.
# https://learn.microsoft.com/en-us/graph/api/resources/subscription#subscription-lifetime
MAX_MAIL_MINUTES = 10_080
MAX_CLIENT_STATE = 128
CHANGE_TYPES = frozenset({"created", "updated", "deleted"})

# users/{id}/messages, users/{id}/mailFolders('inbox')/messages, me/mailFolders/{id}/messages, users/{id}/events
_RESOURCE = re.compile(
    r"^/?(?:(?P<me>me)|users/(?P<user>[^/()]+))"
    r"(?:/(?:mailFolders\('(?P<folder1>[^']+)'\)|mailFolders/(?P<folder2>[^/]+)))?"
    r"/(?P<kind>messages|events)$",
    re.IGNORECASE,
)


@dataclass
class Subscription:
    """A subscription as Graph keeps it."""

    id: str
    resource: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    app_id: str
    creator_id: str
    mailbox: str  # owner's object id
    folder_id: str | None  # None: every folder (or the calendar for events)
    kind: str  # "message" | "event"
    immutable_ids: bool
    tenant_id: str

    def json(self) -> dict[str, Any]:
        """The subscription resource."""
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app_id,
            "changeType": ",".join(sorted(self.change_types)),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": iso(self.expiration),
            "creatorId": self.creator_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


def iso(moment: datetime) -> str:
    """A datetime as Graph writes subscription times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def parse_time(raw: Any) -> datetime:
    """Parse an ISO 8601 `expirationDateTime`; 400 if it is not one."""
    if not isinstance(raw, str):
        raise GraphError(400, "InvalidRequest", "expirationDateTime is required.")
    # Python reads at most 6 fractional digits; Graph writes 7.
    text = re.sub(r"\.(\d{6})\d+", r".\1", raw.strip().replace("Z", "+00:00"))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise GraphError(400, "InvalidRequest", f"Invalid expirationDateTime '{raw}'.") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_allowed(url: str) -> bool:
    # Graph requires HTTPS; the devstack also accepts plain HTTP to a loopback host (the service under `make dev` and
    # test receivers), our choice.
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and _is_loopback(parts.hostname)


@dataclass
class NotificationLog:
    """What the devstack POSTed to subscribers (validations, changes, lifecycle events), newest last; bounded."""

    entries: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10_000))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: dict[str, Any]) -> None:
        """Record one POST."""
        with self.lock:
            self.entries.append(entry)

    def snapshot(self) -> list[dict[str, Any]]:
        """A copy of the log."""
        with self.lock:
            return list(self.entries)

    def clear(self) -> None:
        """Forget everything."""
        with self.lock:
            self.entries.clear()


class Subscriptions:
    """The subscriptions of every app and the dispatcher that sends their notifications."""

    def __init__(self, store: GraphStore, local_ca: str | None = None) -> None:
        self.store = store
        self.max_minutes = MAX_MAIL_MINUTES
        self.paused = False
        self.log = NotificationLog()
        self._lock = threading.Lock()
        self._subs: dict[str, Subscription] = {}
        self._local_ca = local_ca
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="graph-notify")
        store.listeners.append(self._on_changes)

    def reset(self) -> None:
        """Forget every subscription and what was sent; notifications flow again."""
        with self._lock:
            self._subs.clear()
        self.paused = False
        self.max_minutes = MAX_MAIL_MINUTES
        self.log.clear()

    # ---------------------------------------------------------------------------------------------- management

    def parse_resource(self, resource: Any) -> tuple[str | None, str | None, str]:
        """Split a subscription resource into (user ref or None for `me`, folder ref, kind); 400 if unsupported."""
        match = _RESOURCE.match(resource) if isinstance(resource, str) else None
        if match is None:
            raise GraphError(
                400, "InvalidRequest", f"The resource '{resource}' is not supported for subscriptions here."
            )
        kind = "message" if match.group("kind").lower() == "messages" else "event"
        folder = match.group("folder1") or match.group("folder2")
        if kind == "event" and folder:
            raise GraphError(400, "InvalidRequest", f"The resource '{resource}' is not supported.")
        return (None if match.group("me") else match.group("user")), folder, kind

    def _check_expiration(self, moment: datetime) -> None:
        now = datetime.now(UTC)
        if moment <= now:
            raise GraphError(
                400, "InvalidRequest", "Subscription expiration can only be in the future, not in the past."
            )
        if moment > now + timedelta(minutes=self.max_minutes):
            raise GraphError(
                400,
                "ExtensionError",
                "Operation: Create; Exception: [Status Code: BadRequest; Reason: Subscription expiration can only "
                f"be {self.max_minutes} minutes in the future.]",
            )

    def create(
        self,
        body: dict[str, Any],
        box: Mailbox,
        folder_id: str | None,
        kind: str,
        app_id: str,
        creator_id: str,
        immutable_ids: bool,
    ) -> Subscription:
        """Validate the endpoints and create a subscription; GraphError 400 when validation fails."""
        change_types = frozenset(c.strip() for c in str(body.get("changeType") or "").split(",") if c.strip())
        if not change_types or not change_types <= CHANGE_TYPES:
            raise GraphError(400, "InvalidRequest", "changeType must be created, updated and/or deleted.")
        url = body.get("notificationUrl")
        lifecycle = body.get("lifecycleNotificationUrl")
        for name, value in (("notificationUrl", url), ("lifecycleNotificationUrl", lifecycle)):
            if value is None and name == "lifecycleNotificationUrl":
                continue
            if not isinstance(value, str) or not _url_allowed(value):
                raise GraphError(400, "InvalidRequest", f"The {name} must be an HTTPS URL.")
        client_state = body.get("clientState")
        if client_state is not None and (not isinstance(client_state, str) or len(client_state) > MAX_CLIENT_STATE):
            raise GraphError(400, "InvalidRequest", "clientState must be a string of at most 128 characters.")
        expiration = parse_time(body.get("expirationDateTime"))
        self._check_expiration(expiration)
        assert isinstance(url, str)
        self.validate(url)
        if isinstance(lifecycle, str):
            self.validate(lifecycle)
        sub = Subscription(
            id=str(uuid.uuid4()),
            resource=str(body["resource"]),
            change_types=change_types,
            notification_url=url,
            lifecycle_url=lifecycle if isinstance(lifecycle, str) else None,
            client_state=client_state,
            expiration=expiration,
            app_id=app_id,
            creator_id=creator_id,
            mailbox=box.user.oid,
            folder_id=folder_id,
            kind=kind,
            immutable_ids=immutable_ids,
            tenant_id=box.user.tenant_id,
        )
        with self._lock:
            self._subs[sub.id] = sub
        return sub

    def validate(self, url: str) -> None:
        """The handshake: POST `?validationToken=` and require 200 text/plain echoing it within 10 seconds."""
        token = "Validation: Testing client application reachability for subscription Request-Id: " + str(uuid.uuid4())
        separator = "&" if "?" in url else "?"
        entry: dict[str, Any] = {"kind": "validation", "url": url, "at": time.time()}
        ok = False
        try:
            response = self._send(
                f"{url}{separator}validationToken={quote(token)}",
                data=b"",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=VALIDATION_TIMEOUT_SECONDS,
            )
            entry["status"] = response.status_code
            content_type = response.headers.get("Content-Type", "")
            ok = response.status_code == 200 and content_type.startswith("text/plain") and response.text == token
        except requests.RequestException as exc:
            entry["error"] = type(exc).__name__
        self.log.add(entry)
        if not ok:
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
                "validation request.",
            )

    def _send(self, url: str, **kwargs: Any) -> requests.Response:
        # One connection per POST, closed after it: nothing to leak when the devstack stops. A loopback HTTPS
        # endpoint (the service under `make dev`) is trusted through the devstack's CA.
        verify: str | bool = self._local_ca if self._local_ca and _is_loopback(urlsplit(url).hostname) else True
        with requests.Session() as session:
            session.trust_env = False
            return session.post(url, verify=verify, **kwargs)

    def get(self, sub_id: str, app_id: str) -> Subscription | None:
        """A subscription of this app."""
        with self._lock:
            sub = self._subs.get(sub_id)
        return sub if sub is not None and sub.app_id == app_id else None

    def live(self, app_id: str | None = None) -> list[Subscription]:
        """The live subscriptions (of one app, or all)."""
        self._expire()
        with self._lock:
            return [s for s in self._subs.values() if app_id is None or s.app_id == app_id]

    def renew(self, sub: Subscription, body: dict[str, Any]) -> Subscription:
        """PATCH: a new expiration (and optionally a new notification URL, validated again)."""
        if "expirationDateTime" in body:
            expiration = parse_time(body["expirationDateTime"])
            self._check_expiration(expiration)
            sub.expiration = expiration
        url = body.get("notificationUrl")
        if url is not None:
            if not isinstance(url, str) or not _url_allowed(url):
                raise GraphError(400, "InvalidRequest", "The notificationUrl must be an HTTPS URL.")
            self.validate(url)
            sub.notification_url = url
        return sub

    def delete(self, sub_id: str) -> None:
        """Remove a subscription."""
        with self._lock:
            self._subs.pop(sub_id, None)

    def _expire(self) -> None:
        now = datetime.now(UTC)
        with self._lock:
            for sub_id in [s.id for s in self._subs.values() if s.expiration <= now]:
                self._subs.pop(sub_id)

    # ---------------------------------------------------------------------------------------------- dispatch

    def _on_changes(self, changes: list[Change]) -> None:
        self._expire()
        with self._lock:
            subs = list(self._subs.values())
        for change in changes:
            for sub in subs:
                if self._matches(sub, change):
                    self._send_change(sub, change)

    @staticmethod
    def _matches(sub: Subscription, change: Change) -> bool:
        if sub.mailbox != change.user.oid or change.kind != sub.kind or change.change_type not in sub.change_types:
            return False
        if sub.kind == "event":
            return change.collection == CALENDAR
        return sub.folder_id is None or sub.folder_id == change.collection

    def _send_change(self, sub: Subscription, change: Change) -> None:
        item_id = change.immutable_id if sub.immutable_ids else change.rest_id
        entity = "Messages" if change.kind == "message" else "Events"
        resource = f"Users/{change.user.oid}/{entity}/{item_id}"
        notification = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": iso(sub.expiration),
            "changeType": change.change_type,
            "resource": resource,
            "resourceData": {
                "@odata.type": f"#Microsoft.Graph.{change.kind.capitalize()}",
                "@odata.id": resource,
                "@odata.etag": f'W/"{change.change_key}"',
                "id": item_id,
            },
            "clientState": sub.client_state,
            "tenantId": sub.tenant_id,
        }
        self._post(sub, sub.notification_url, {"value": [notification]}, "change", change.change_type)

    def lifecycle(self, sub: Subscription, event: str) -> None:
        """Send a lifecycle event (`reauthorizationRequired`, `subscriptionRemoved`, `missed`) to the lifecycle URL.

        `subscriptionRemoved` also removes the subscription, as Graph has done when it sends it.
        """
        if event == "subscriptionRemoved":
            self.delete(sub.id)
        if sub.lifecycle_url is None:
            return
        notification = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": iso(sub.expiration),
            "tenantId": sub.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        self._post(sub, sub.lifecycle_url, {"value": [notification]}, "lifecycle", event, lifecycle=True)

    def _post(
        self, sub: Subscription, url: str, body: dict[str, Any], kind: str, event: str, lifecycle: bool = False
    ) -> None:
        entry: dict[str, Any] = {"kind": kind, "subscriptionId": sub.id, "event": event, "at": time.time()}
        if self.paused and not lifecycle:
            entry["dropped"] = True
            self.log.add(entry)
            return
        self._pool.submit(self._deliver, sub, url, body, entry, lifecycle)

    def _deliver(
        self, sub: Subscription, url: str, body: dict[str, Any], entry: dict[str, Any], lifecycle: bool
    ) -> None:
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS_SECONDS)):
            time.sleep(delay)
            try:
                response = self._send(url, json=body, timeout=NOTIFICATION_TIMEOUT_SECONDS)
                if 200 <= response.status_code < 300:
                    self.log.add({**entry, "status": response.status_code, "attempts": attempt + 1})
                    return
                entry["status"] = response.status_code
            except requests.RequestException as exc:
                entry["error"] = type(exc).__name__
        self.log.add({**entry, "failed": True, "attempts": len(RETRY_DELAYS_SECONDS) + 1})
        if not lifecycle:
            self.lifecycle(sub, "missed")
