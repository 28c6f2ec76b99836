"""Graph users: `/me` and `/users/{id | userPrincipalName}`."""

from __future__ import annotations

from flask import Blueprint, Response

from addin_api.devstack.graph.serialize import user_json
from addin_api.devstack.graph.web import box_for, context_url, mailbox_router, reply

bp = Blueprint("users", __name__)
mailbox_route = mailbox_router(bp)


@bp.get("/me")
def me() -> Response:
    """The signed-in user."""
    box = box_for(None)
    return reply({"@odata.context": context_url("users/$entity"), **user_json(box.user)})


@bp.get("/users/<uid>")
def get_user(uid: str) -> Response:
    """A user of the tenant by id or user principal name."""
    box = box_for(uid)
    return reply({"@odata.context": context_url("users/$entity"), **user_json(box.user)})
