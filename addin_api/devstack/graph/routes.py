"""The emulated Microsoft Graph v1.0 API at `/v1.0/`: one blueprint made of the route modules, one error body.

Each mailbox route exists as `/me/…` (delegated tokens) and `/users/{id | userPrincipalName}/…` (`web`).
https://learn.microsoft.com/en-us/graph/api/resources/mail-api-overview
"""

from __future__ import annotations

from flask import Blueprint, Response

from addin_api.devstack.graph import (
    category_routes,
    delta_routes,
    event_routes,
    folder_routes,
    message_routes,
    subscription_routes,
    user_routes,
)
from addin_api.devstack.graph.errors import GraphError, graph_error

bp = Blueprint("devstack_graph", __name__, url_prefix="/v1.0")
for part in (
    user_routes,
    folder_routes,
    message_routes,
    delta_routes,
    event_routes,
    category_routes,
    subscription_routes,
):
    bp.register_blueprint(part.bp)


@bp.errorhandler(GraphError)
def _graph_error(exc: GraphError) -> Response:
    return graph_error(exc.status, exc.code, exc.message, exc.retry_after)
