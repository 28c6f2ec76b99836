"""Microsoft Graph's webhooks: `POST /graph/notifications` and `POST /graph/lifecycle`. They only validate and enqueue.

- Creating a subscription makes Graph POST `?validationToken=…` to each URL: the answer is 200, `text/plain`, the
  token itself, within 10 seconds.
- A change notification must be answered 2xx within 3 seconds (else Graph retries and may drop the subscription):
  each notification is checked (its clientState against the one this deployment gave that owner's subscriptions,
  in constant time) and "sync this mailbox" is enqueued; the work happens in the sync worker.
- Lifecycle events: `reauthorizationRequired` and `subscriptionRemoved` enqueue a resubscribe, `missed` a full sync.
https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks
https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events

A notification that fails the check is dropped and counted, never answered with an error: Graph would only retry it.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, request

from addin_api.api.common import json_body
from addin_api.api.declare import Auth, declare
from addin_api.api.sync_view import JOBS_EXTENSION, store_errors
from addin_api.errors import ValidationFailed
from addin_api.sync.store import mailbox_scope
from addin_api.sync.subscriptions import client_state_owner, subscription_feed
from addin_api.wiring import collaborators

if TYPE_CHECKING:
    from addin_api.sync.jobs import Jobs, MailboxJob

log = logging.getLogger(__name__)

JOBS = JOBS_EXTENSION
# A notification batch holds at most 1,000 items; each is well under a kilobyte.
MAX_BODY_BYTES = 1024 * 1024
MAX_VALIDATION_TOKEN = 1024
# users/{id}/… or Users/{id}/… (Graph answers the resource with its own casing).
_OWNER = re.compile(r"^/?users/([0-9a-fA-F-]{36})/(\w+)", re.IGNORECASE)
# The feed a changed entity belongs to (a notification names the entity, not the folder).
FEEDS = {"messages": "mail", "events": "calendar"}
RESUBSCRIBE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved"})

VALIDATION = (
    "Called by Microsoft Graph, not by the pane. With `?validationToken=`, answers 200 `text/plain` with the token "
    "(the subscription handshake); otherwise takes a batch of notifications (`value`), answers 202 at once and "
    "enqueues a sync of each mailbox whose notification carries this deployment's clientState (others are dropped)."
)

bp = Blueprint("webhooks", __name__, url_prefix="/graph")


def init_app(app: Flask, jobs: Jobs | None) -> None:
    """Hand the webhooks the job queue (None: no worker listens; notifications are dropped, catch-up still runs)."""
    app.extensions[JOBS] = jobs


@bp.post("/notifications")
@declare(
    "Microsoft Graph change notifications (validation handshake, then enqueue)",
    Auth.NONE,
    errors=(400, 413, 422),
    status=202,
    tag="operations",
    description=VALIDATION,
)
def notifications() -> Response:
    """Echo a validation token, or enqueue a sync for each mailbox that changed."""
    return _handle(lambda item: item.get("changeType") is not None, lambda item: False)


@bp.post("/lifecycle")
@declare(
    "Microsoft Graph lifecycle notifications (validation handshake, then enqueue)",
    Auth.NONE,
    errors=(400, 413, 422),
    status=202,
    tag="operations",
    description=VALIDATION,
)
def lifecycle() -> Response:
    """Echo a validation token, or enqueue a resubscribe or a full sync for each lifecycle event."""
    return _handle(
        lambda item: isinstance(item.get("lifecycleEvent"), str),
        lambda item: item.get("lifecycleEvent") in RESUBSCRIBE_EVENTS,
    )


def _handle(accepted: Any, resubscribe: Any) -> Response:
    token = request.args.get("validationToken")
    if token is not None:
        if not token or len(token) > MAX_VALIDATION_TOKEN:
            raise ValidationFailed({"validationToken": ["must be 1 to 1024 characters"]})
        return Response(token, status=200, mimetype="text/plain")
    body = json_body(MAX_BODY_BYTES)
    items = body.get("value") if body is not None else None
    if not isinstance(items, list):
        raise ValidationFailed({"value": ["must be a list of notifications"]})
    # Imported on the first notification: the job engine (Dramatiq) is not loaded by a service that never gets one.
    from addin_api.sync.jobs import MailboxJob

    sent = dropped = 0
    for item in items:
        job = _job(item) if isinstance(item, dict) and accepted(item) else None
        if job is None:
            dropped += 1
            continue
        tenant, environment, owner, feeds = job
        again = bool(resubscribe(item))
        sent += _enqueue(MailboxJob(tenant, environment, owner, resubscribe=again, feeds="all" if again else feeds))
    if dropped:
        log.warning("graph_notifications_dropped", extra={"count": dropped})
    return Response(status=202)


def _job(item: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """(tenant, environment, owner, feeds) of a notification that carries this deployment's clientState.

    The owner is the one the clientState was given for; a change notification's resource must name the same user
    (a lifecycle notification carries no resource).
    """
    wired = collaborators()
    tenant = str(item.get("tenantId") or "").lower()
    environment = wired.settings.dataverse_urls.get(tenant)
    owner = client_state_owner(wired.activity_id_key, item.get("clientState"))
    if environment is None or owner is None:
        return None
    resource = item.get("resource")
    feeds = "all"
    if resource is not None:
        found = _OWNER.match(str(resource))
        if found is None or found.group(1).lower() != owner:
            return None
        feeds = _feed(environment, owner, item.get("subscriptionId")) or FEEDS.get(found.group(2).lower(), "all")
    return tenant, environment.rstrip("/"), owner, feeds


def _feed(environment: str, owner: str, subscription_id: object) -> str | None:
    """The one folder (or the calendar) the notification's subscription watches, when the sync store says which:
    its pass then reads that feed alone. An unreachable store only costs the pass a folder more."""
    store = collaborators().sync_store
    if store is None:
        return None
    try:
        return subscription_feed(store, mailbox_scope(environment, owner), subscription_id)
    except store_errors() as exc:
        log.warning("sync_store_unavailable", extra={"error": type(exc).__name__})
        return None


def _enqueue(job: MailboxJob) -> int:
    jobs: Jobs | None = current_app.extensions.get(JOBS)
    if jobs is None:
        log.warning("sync_jobs_unavailable")
        return 0
    return int(jobs.send(job))
