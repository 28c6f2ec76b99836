"""The devstack's control surface for the emulated Graph (tests, demos; only on the devstack).

`POST /_devstack/mail/deliver` (mail from outside arrives in tenant Inboxes), `GET /_devstack/mail/outbound`,
`POST`/`DELETE /_devstack/graph/notifications/pause`, and beyond the contract: `GET /_devstack/graph/notifications`
(what was POSTed to subscribers), `POST /_devstack/graph/lifecycle` (send a lifecycle event) and
`PUT /_devstack/graph/limits` (mailbox concurrency, subscription lifetime) and `PUT /_devstack/graph/access-policy`
(the mailboxes app-only tokens may open, as an application access policy scopes them).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, Response, jsonify, request

from addin_api.devstack.graph.emulator import current_graph
from addin_api.devstack.graph.errors import GraphError
from addin_api.devstack.graph.mail import deliver, file_attachment, message_data, recipient

bp = Blueprint("devstack_graph_control", __name__, url_prefix="/_devstack")
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})


def _bad_request(message: str) -> Response:
    response = jsonify({"error": "bad_request", "message": message})
    response.status_code = 400
    return response


def _address(raw: Any) -> str | None:
    address = raw.get("address") if isinstance(raw, dict) else None
    return address if isinstance(address, str) and "@" in address else None


@bp.post("/mail/deliver")
def deliver_mail() -> Response:
    """Deliver a message from outside the tenant to each tenant recipient's Inbox (notifications follow)."""
    body = request.get_json(silent=True) or {}
    sender = body.get("from")
    sender_address = _address(sender)
    if sender_address is None or not isinstance(sender, dict):
        return _bad_request("from.address is required")
    to, cc = body.get("to") or [], body.get("cc") or []
    if not isinstance(to, list) or not isinstance(cc, list) or not to:
        return _bad_request("to must be a non-empty list of {address}")
    if any(_address(r) is None for r in [*to, *cc]):
        return _bad_request("every recipient needs an address")
    attachments = []
    for raw in body.get("attachments") or []:
        try:
            content = base64.b64decode(str(raw.get("contentBase64") or ""), validate=True)
        except (binascii.Error, ValueError, AttributeError):
            return _bad_request("attachments need name, contentType and contentBase64")
        attachments.append(
            file_attachment(
                str(raw.get("name") or "attachment"), str(raw.get("contentType") or "application/octet-stream"), content
            )
        )
    fields = {
        "subject": body.get("subject"),
        "body": {"contentType": body.get("bodyType") or "text", "content": body.get("body") or ""},
        "toRecipients": [recipient(r["address"], r.get("name")) for r in to],
        "ccRecipients": [recipient(r["address"], r.get("name")) for r in cc],
    }
    try:
        data = message_data(fields, is_draft=False)
    except GraphError as exc:
        return _bad_request(exc.message)
    data["from"] = data["sender"] = recipient(sender_address, sender.get("name"))
    if body.get("internetMessageId"):
        data["internetMessageId"] = str(body["internetMessageId"])
    in_reply_to = body.get("inReplyTo")
    store = current_graph().store
    # Mail from outside: what it also sent to other domains is not the tenant's outbound mail.
    deliveries = deliver(store, data, attachments, None, str(in_reply_to) if in_reply_to else None, False)
    response = jsonify(
        {
            "internetMessageId": data["internetMessageId"],
            "deliveries": [
                {"user": box.user.upn, "messageId": item.rest_id, "immutableId": item.immutable_id}
                for box, item in deliveries
            ],
        }
    )
    response.status_code = 201
    return response


@bp.get("/mail/outbound")
def outbound_mail() -> Response:
    """What mailboxes of the tenant sent to other domains."""
    store = current_graph().store
    with store.lock:
        return jsonify({"messages": list(store.outbound)})


@bp.post("/graph/notifications/pause")
def pause_notifications() -> Response:
    """Drop change notifications until resumed (to prove delta catch-up)."""
    current_graph().subscriptions.paused = True
    return Response(status=204)


@bp.delete("/graph/notifications/pause")
def resume_notifications() -> Response:
    """Send change notifications again."""
    current_graph().subscriptions.paused = False
    return Response(status=204)


@bp.get("/graph/notifications")
def sent_notifications() -> Response:
    """What the emulator POSTed to notification and lifecycle URLs (validations, changes, lifecycle events)."""
    return jsonify({"notifications": current_graph().subscriptions.log.snapshot()})


@bp.post("/graph/lifecycle")
def send_lifecycle() -> Response:
    """Send a lifecycle event for a subscription: `{"subscriptionId", "event"}`."""
    body = request.get_json(silent=True) or {}
    event = body.get("event")
    if event not in LIFECYCLE_EVENTS:
        return _bad_request("event must be reauthorizationRequired, subscriptionRemoved or missed")
    subs = current_graph().subscriptions
    sub = next((s for s in subs.live() if s.id == body.get("subscriptionId")), None)
    if sub is None:
        return _bad_request("unknown subscriptionId")
    subs.lifecycle(sub, str(event))
    return Response(status=202)


@bp.put("/graph/access-policy")
def set_access_policy() -> Response:
    """Scope app-only tokens to some mailboxes: `{"users": [upn or object id, …]}`; `{"users": null}` lifts it."""
    body = request.get_json(silent=True) or {}
    users = body.get("users")
    emulator = current_graph()
    if users is None:
        emulator.app_mailboxes = None
        return jsonify({"users": None})
    if not isinstance(users, list):
        return _bad_request("users must be a list of user principal names or object ids, or null")
    boxes = [emulator.store.mailbox(str(u)) for u in users]
    if any(b is None for b in boxes):
        return _bad_request("unknown user in users")
    emulator.app_mailboxes = frozenset(b.user.oid for b in boxes if b is not None)
    return jsonify({"users": sorted(b.user.upn for b in boxes if b is not None)})


@bp.put("/graph/limits")
def set_graph_limits() -> Response:
    """Scale the Graph limits: `{"concurrent": 4, "maxSubscriptionMinutes": 10080}`."""
    body = request.get_json(silent=True) or {}
    emulator = current_graph()
    try:
        if "concurrent" in body:
            emulator.concurrency.limit = int(body["concurrent"])
        if "maxSubscriptionMinutes" in body:
            emulator.subscriptions.max_minutes = int(body["maxSubscriptionMinutes"])
    except (TypeError, ValueError) as exc:
        return _bad_request(f"invalid limits: {exc}")
    return jsonify(
        {"concurrent": emulator.concurrency.limit, "maxSubscriptionMinutes": emulator.subscriptions.max_minutes}
    )
