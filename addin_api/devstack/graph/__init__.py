"""Emulated Microsoft Graph v1.0 at `/v1.0/` for the demo tenant's mailboxes.

Module map, leaves first: `errors` (Graph's error body), `tokens` (Graph token claims), `store` (mailboxes, ids,
changes), `query` ($filter/$select/$expand), `serialize` (Graph JSON), `mail` (sending and delivery), `access`
(token verification, permissions, mailbox concurrency), `subscriptions` (validation, notifications, lifecycle),
`emulator` (what one devstack holds), `web` (request helpers the routes share), the route modules `user_routes`,
`folder_routes`, `message_routes`, `delta_routes`, `event_routes`, `category_routes`, `subscription_routes`,
`routes` (the Graph API blueprint made of them), `control_routes` (`/_devstack/mail/...` and
`/_devstack/graph/...`), `seed`.
"""

from __future__ import annotations

import re

from flask import Flask, Response, g, request

from addin_api.devstack.graph.access import MailboxConcurrency, verify_graph_token
from addin_api.devstack.graph.control_routes import bp as control_bp
from addin_api.devstack.graph.emulator import EXTENSION_KEY, RETRY_AFTER_SECONDS, GraphEmulator, current_graph
from addin_api.devstack.graph.errors import (
    MAILBOX_CONCURRENCY_CODE,
    MAILBOX_CONCURRENCY_MESSAGE,
    GraphError,
    graph_error,
)
from addin_api.devstack.graph.routes import bp
from addin_api.devstack.graph.seed import seed_mailboxes
from addin_api.devstack.graph.store import GraphStore
from addin_api.devstack.graph.subscriptions import Subscriptions
from addin_api.devstack.state import DevstackState, current_state

GRAPH_PREFIX = "/v1.0/"
_MAILBOX_PATH = re.compile(r"^/v1\.0/(?:(?P<me>me)|users/(?P<user>[^/]+))(?:/|$)", re.I)


def _admit() -> Response | None:
    """Verify the bearer and take one of the mailbox's concurrency slots (before injected latency, which holds it)."""
    if not request.path.startswith(GRAPH_PREFIX):
        return None
    try:
        caller = verify_graph_token(current_state(), request.headers.get("Authorization", ""))
    except GraphError as refusal:
        g.graph_refusal = refusal
        return None
    g.graph_caller = caller
    g.devstack_user = caller.user.upn if caller.user is not None else f"app:{caller.app_id}"
    match = _MAILBOX_PATH.match(request.path)
    if match is None:
        return None
    emulator = current_graph()
    if match.group("me"):
        owner = caller.user.oid if caller.user is not None else ""
    else:
        box = emulator.store.mailbox(match.group("user"))
        owner = box.user.oid if box is not None else match.group("user").lower()
    key = (caller.app_id, owner)
    if not emulator.concurrency.enter(key):
        return graph_error(429, MAILBOX_CONCURRENCY_CODE, MAILBOX_CONCURRENCY_MESSAGE, RETRY_AFTER_SECONDS)
    g.graph_slot = key
    return None


def _require_caller() -> Response | None:
    """Answer 401 to a Graph request without a valid token (after injected faults, as a real edge would)."""
    if not request.path.startswith(GRAPH_PREFIX) or g.get("graph_caller") is not None:
        return None
    refusal = g.get("graph_refusal") or GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
    response = graph_error(refusal.status, refusal.code, refusal.message)
    response.headers["WWW-Authenticate"] = (
        'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'
    )
    return response


def _release(_exc: BaseException | None) -> None:
    key = g.pop("graph_slot", None)
    if key is not None:
        current_graph().concurrency.leave(key)


def init_app(app: Flask) -> None:
    """Create the emulated mailboxes and register the Graph and control routes."""
    state = app.extensions["devstack"]
    assert isinstance(state, DevstackState)
    store = GraphStore(state.config.users, seed_mailboxes)
    emulator = GraphEmulator(store, Subscriptions(store, str(state.ca_file)), MailboxConcurrency())
    app.extensions[EXTENSION_KEY] = emulator
    state.reset_hooks.append(emulator.reset)
    app.before_request_funcs.setdefault(None, []).insert(0, _admit)
    app.before_request(_require_caller)
    app.teardown_request(_release)
    app.register_blueprint(bp)
    app.register_blueprint(control_bp)
