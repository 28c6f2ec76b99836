"""Graph mail folders: list, create, rename, move, delete, child folders.

https://learn.microsoft.com/en-us/graph/api/resources/mailfolder
"""

from __future__ import annotations

from flask import Blueprint, Response

from addin_api.devstack.graph.access import MAIL_READ, MAIL_WRITE
from addin_api.devstack.graph.emulator import current_graph
from addin_api.devstack.graph.errors import GraphError, invalid_request
from addin_api.devstack.graph.store import Folder, Mailbox
from addin_api.devstack.graph.web import (
    box_for,
    folder_or_404,
    folder_out,
    json_body,
    mailbox_router,
    paged,
    param,
    reply,
)

bp = Blueprint("folders", __name__)
mailbox_route = mailbox_router(bp)


@mailbox_route("/mailFolders", ["GET"])
def list_folders(uid: str | None = None) -> Response:
    """The top-level mail folders."""
    box = box_for(uid, MAIL_READ)
    folders = current_graph().store.child_folders(box, box.root_id)
    return paged(folders, lambda f: folder_out(box, f), f"users('{box.user.oid}')/mailFolders")


@mailbox_route("/mailFolders", ["POST"])
def create_top_folder(uid: str | None = None) -> Response:
    """Create a top-level mail folder."""
    box = box_for(uid, MAIL_WRITE)
    return _create_folder(box, folder_or_404(box, box.root_id))


@mailbox_route("/mailFolders/<fid>", ["GET"])
def get_folder(fid: str, uid: str | None = None) -> Response:
    """A mail folder by id or well-known name."""
    box = box_for(uid, MAIL_READ)
    return reply(folder_out(box, folder_or_404(box, fid)))


@mailbox_route("/mailFolders/<fid>", ["PATCH"])
def rename_folder(fid: str, uid: str | None = None) -> Response:
    """Rename a mail folder (its id stays)."""
    box = box_for(uid, MAIL_WRITE)
    folder = folder_or_404(box, fid)
    name = json_body().get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise invalid_request("displayName is required.")
    try:
        current_graph().store.rename_folder(box, folder, name.strip())
    except ValueError as exc:
        raise GraphError(409, "ErrorFolderExists", str(exc)) from exc
    return reply(folder_out(box, folder))


@mailbox_route("/mailFolders/<fid>", ["DELETE"])
def delete_folder(fid: str, uid: str | None = None) -> Response:
    """Delete a mail folder (not a well-known one)."""
    box = box_for(uid, MAIL_WRITE)
    folder = folder_or_404(box, fid)
    if folder.well_known is not None:
        raise GraphError(403, "ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
    current_graph().store.delete_folder(box, folder)
    return Response(status=204)


@mailbox_route("/mailFolders/<fid>/childFolders", ["GET"])
def list_child_folders(fid: str, uid: str | None = None) -> Response:
    """The folders directly under a folder."""
    box = box_for(uid, MAIL_READ)
    folder = folder_or_404(box, fid)
    children = current_graph().store.child_folders(box, folder.id)
    return paged(
        children, lambda f: folder_out(box, f), f"users('{box.user.oid}')/mailFolders('{folder.id}')/childFolders"
    )


@mailbox_route("/mailFolders/<fid>/childFolders", ["POST"])
def create_child_folder(fid: str, uid: str | None = None) -> Response:
    """Create a folder under a folder."""
    box = box_for(uid, MAIL_WRITE)
    return _create_folder(box, folder_or_404(box, fid))


def _create_folder(box: Mailbox, parent: Folder) -> Response:
    name = json_body().get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise invalid_request("displayName is required.")
    try:
        folder = current_graph().store.create_folder(box, parent, name.strip())
    except ValueError as exc:
        # https://learn.microsoft.com/en-us/graph/api/mailfolder-post-childfolders
        raise GraphError(409, "ErrorFolderExists", str(exc)) from exc
    return reply(folder_out(box, folder), 201)


@mailbox_route("/mailFolders/<fid>/move", ["POST"])
def move_folder(fid: str, uid: str | None = None) -> Response:
    """Move a folder under another (`destinationId`: an id or well-known name)."""
    box = box_for(uid, MAIL_WRITE)
    folder = folder_or_404(box, fid)
    destination = folder_or_404(box, str(param(json_body(), "destinationId") or ""))
    if folder.well_known is not None:
        raise GraphError(403, "ErrorMoveDistinguishedFolder", "Distinguished folders cannot be moved.")
    try:
        current_graph().store.move_folder(box, folder, destination)
    except ValueError as exc:
        raise GraphError(409, "ErrorFolderExists", str(exc)) from exc
    return reply(folder_out(box, folder), 201)
