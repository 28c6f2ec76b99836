"""Graph master categories: the mailbox's category list, unique names, preset colors.

https://learn.microsoft.com/en-us/graph/api/resources/outlookcategory
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response

from addin_api.devstack.graph.access import SETTINGS_READ, SETTINGS_WRITE
from addin_api.devstack.graph.emulator import current_graph
from addin_api.devstack.graph.errors import GraphError, invalid_request, not_found
from addin_api.devstack.graph.serialize import category_json
from addin_api.devstack.graph.store import Category, Mailbox
from addin_api.devstack.graph.web import box_for, context_url, json_body, mailbox_router, reply

bp = Blueprint("categories", __name__)
mailbox_route = mailbox_router(bp)

# The preset colors of master categories. https://learn.microsoft.com/en-us/graph/api/resources/outlookcategory
COLORS = frozenset({"none", *(f"preset{n}" for n in range(25))})


@mailbox_route("/outlook/masterCategories", ["GET"])
def list_categories(uid: str | None = None) -> Response:
    """The master category list. https://learn.microsoft.com/en-us/graph/api/outlookuser-list-mastercategories"""
    box = box_for(uid, SETTINGS_READ)
    return reply(
        {"@odata.context": context_url("outlookCategory"), "value": [category_json(c) for c in box.categories.values()]}
    )


@mailbox_route("/outlook/masterCategories", ["POST"])
def create_category(uid: str | None = None) -> Response:
    """Create a master category; its display name is unique and fixed from now on.

    https://learn.microsoft.com/en-us/graph/api/outlookuser-post-mastercategories
    """
    box = box_for(uid, SETTINGS_WRITE)
    body = json_body()
    name = body.get("displayName")
    color = body.get("color", "none")
    if not isinstance(name, str) or not name.strip():
        raise invalid_request("displayName is required.")
    if color not in COLORS:
        raise invalid_request(f"'{color}' is not a valid categoryColor.")
    store = current_graph().store
    with store.lock:
        if any(c.display_name.casefold() == name.casefold() for c in box.categories.values()):
            # displayName is unique in the mailbox (outlookCategory); the code of the refusal is our choice.
            raise GraphError(409, "ErrorDuplicateCategory", "A category with this name already exists.")
        category = Category(new_id(), name, str(color))
        box.categories[category.id] = category
    return reply(category_json(category), 201)


def new_id() -> str:
    """A fresh GUID id (master categories are keyed by one)."""
    return str(uuid.uuid4())


def _category(box: Mailbox, cid: str) -> Category:
    category = box.categories.get(cid)
    if category is None:
        raise not_found()
    return category


@mailbox_route("/outlook/masterCategories/<cid>", ["GET"])
def get_category(cid: str, uid: str | None = None) -> Response:
    """A master category by id."""
    box = box_for(uid, SETTINGS_READ)
    return reply(category_json(_category(box, cid)))


@mailbox_route("/outlook/masterCategories/<cid>", ["PATCH"])
def update_category(cid: str, uid: str | None = None) -> Response:
    """Change a category's color; the display name cannot be changed after creation.

    https://learn.microsoft.com/en-us/graph/api/outlookcategory-update
    """
    box = box_for(uid, SETTINGS_WRITE)
    category = _category(box, cid)
    body = json_body()
    if "displayName" in body and body["displayName"] != category.display_name:
        raise GraphError(400, "ErrorInvalidRequest", "The displayName of a category cannot be changed.")
    color = body.get("color", category.color)
    if color not in COLORS:
        raise invalid_request(f"'{color}' is not a valid categoryColor.")
    category.color = str(color)
    return reply(category_json(category))


@mailbox_route("/outlook/masterCategories/<cid>", ["DELETE"])
def delete_category(cid: str, uid: str | None = None) -> Response:
    """Delete a master category (items keep the name in their `categories`)."""
    box = box_for(uid, SETTINGS_WRITE)
    _category(box, cid)
    box.categories.pop(cid, None)
    return Response(status=204)
