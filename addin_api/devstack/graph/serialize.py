"""Graph JSON for the emulator's resources: users, mail folders, messages, events, attachments, master categories.

Message properties follow the message resource type: `internetMessageHeaders` and `uniqueBody` only when `$select`
names them, `singleValueExtendedProperties` only through `$expand`, and `@odata.etag` from the change key.
https://learn.microsoft.com/en-us/graph/api/resources/message
https://learn.microsoft.com/en-us/graph/api/resources/event
https://learn.microsoft.com/en-us/graph/api/resources/mailfolder
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from addin_api.devstack.config import DevUser
from addin_api.devstack.graph.store import CALENDAR, Category, Folder, Item, Mailbox

SELECT_ONLY = frozenset({"internetMessageHeaders", "uniqueBody"})


def user_json(user: DevUser) -> dict[str, Any]:
    """A user as Graph returns it by default."""
    given, _, family = user.name.partition(" ")
    return {
        "businessPhones": [],
        "displayName": user.name,
        "givenName": given,
        "jobTitle": None,
        "mail": user.upn.lower(),
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "surname": family,
        "userPrincipalName": user.upn,
        "id": user.oid,
    }


def folder_json(box: Mailbox, folder: Folder) -> dict[str, Any]:
    """A mail folder with its counts."""
    items = [i for i in box.items.values() if i.collection == folder.id]
    return {
        "id": folder.id,
        "displayName": folder.display_name,
        "parentFolderId": folder.parent_id,
        "childFolderCount": sum(1 for f in box.folders.values() if f.parent_id == folder.id),
        "unreadItemCount": sum(1 for i in items if not i.data.get("isRead")),
        "totalItemCount": len(items),
        "sizeInBytes": sum(len(str(i.data.get("body", ""))) for i in items),
        "isHidden": False,
    }


def category_json(category: Category) -> dict[str, Any]:
    """A master category (outlookCategory). https://learn.microsoft.com/en-us/graph/api/resources/outlookcategory"""
    return {"id": category.id, "displayName": category.display_name, "color": category.color}


def item_view(item: Item, immutable: bool) -> dict[str, Any]:
    """Every property of an item (what `$filter` sees), with the id in the form the caller asked for."""
    view = copy.deepcopy(item.data)
    view["id"] = item.immutable_id if immutable else item.rest_id
    view["changeKey"] = item.change_key
    if item.collection != CALENDAR:
        view["parentFolderId"] = item.collection
        view["hasAttachments"] = bool(item.attachments)
    view["singleValueExtendedProperties"] = [{"id": pid, "value": value} for pid, value in item.properties.values()]
    return view


def item_json(
    item: Item,
    immutable: bool,
    select: list[str] | None = None,
    expand: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """An item as Graph returns it: default or `$select`ed properties, extended properties only when expanded."""
    view = item_view(item, immutable)
    props = view.pop("singleValueExtendedProperties")
    kind = "event" if item.collection == CALENDAR else "message"
    out: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{kind}", "@odata.etag": f'W/"{item.change_key}"'}
    if select is None:
        out.update({k: v for k, v in view.items() if k not in SELECT_ONLY})
    else:
        out["id"] = view["id"]
        wanted = {s.casefold() for s in select}
        out.update({k: v for k, v in view.items() if k.casefold() in wanted})
    if expand is not None:
        out["singleValueExtendedProperties"] = [p for p in props if expand(p)]
    return out


def attachment_json(attachment: dict[str, Any], with_content: bool = True) -> dict[str, Any]:
    """A fileAttachment. https://learn.microsoft.com/en-us/graph/api/resources/fileattachment"""
    out = {k: v for k, v in attachment.items() if k != "raw"}
    if not with_content:
        out.pop("contentBytes", None)
    return out
