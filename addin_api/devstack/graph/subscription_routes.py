"""Graph change-notification subscriptions: create, list, renew, reauthorize, delete.

https://learn.microsoft.com/en-us/graph/api/resources/subscription
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from addin_api.devstack.graph.access import CALENDAR_READ, MAIL_READ
from addin_api.devstack.graph.emulator import current_graph
from addin_api.devstack.graph.errors import GraphError
from addin_api.devstack.graph.store import Mailbox
from addin_api.devstack.graph.web import (
    box_for,
    context_url,
    current_caller,
    folder_or_404,
    immutable_ids,
    json_body,
    mailbox_router,
    reply,
)

bp = Blueprint("subscriptions", __name__)
mailbox_route = mailbox_router(bp)


def _subscription_target(resource: Any) -> tuple[Mailbox, str | None, str]:
    subs = current_graph().subscriptions
    user_ref, folder_ref, kind = subs.parse_resource(resource)
    box = box_for(user_ref, MAIL_READ if kind == "message" else CALENDAR_READ)
    folder_id = folder_or_404(box, folder_ref).id if folder_ref else None
    return box, folder_id, kind


@bp.post("/subscriptions")
def create_subscription() -> Response:
    """Create a subscription after the validation handshake. https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions"""
    body = json_body()
    box, folder_id, kind = _subscription_target(body.get("resource"))
    caller = current_caller()
    sub = current_graph().subscriptions.create(
        body, box, folder_id, kind, caller.app_id, caller.principal_id, immutable_ids()
    )
    return reply({"@odata.context": context_url("subscriptions/$entity"), **sub.json()}, 201)


@bp.get("/subscriptions")
def list_subscriptions() -> Response:
    """The calling app's subscriptions."""
    subs = current_graph().subscriptions.live(current_caller().app_id)
    return reply({"@odata.context": context_url("subscriptions"), "value": [s.json() for s in subs]})


def _subscription(sid: str) -> Any:
    sub = current_graph().subscriptions.get(sid, current_caller().app_id)
    if sub is None:
        raise GraphError(404, "ResourceNotFound", f"The object '{sid}' doesn't exist.")
    return sub


@bp.get("/subscriptions/<sid>")
def get_subscription(sid: str) -> Response:
    """One subscription."""
    return reply(_subscription(sid).json())


@bp.patch("/subscriptions/<sid>")
def renew_subscription(sid: str) -> Response:
    """Renew a subscription (a new expirationDateTime). https://learn.microsoft.com/en-us/graph/api/subscription-update"""
    sub = current_graph().subscriptions.renew(_subscription(sid), json_body())
    return reply(sub.json())


@bp.post("/subscriptions/<sid>/reauthorize")
def reauthorize_subscription(sid: str) -> Response:
    """Reauthorize a subscription after `reauthorizationRequired`."""
    _subscription(sid)
    return Response(status=200)


@bp.delete("/subscriptions/<sid>")
def delete_subscription(sid: str) -> Response:
    """Delete a subscription."""
    _subscription(sid)
    current_graph().subscriptions.delete(sid)
    return Response(status=204)
