"""`POST /api/v1/emails/pending`: mark a message being written, to be tracked once it is sent."""

from __future__ import annotations

from flask import Blueprint

from addin_api.api.common import dataverse
from addin_api.api.declare import WRITE, Auth, declare
from addin_api.api.principal import current_principal
from addin_api.api.sync_view import store_errors
from addin_api.errors import SyncUnavailable
from addin_api.model_mailbox import MarkCompose, PendingTrack
from addin_api.schemas.compose import MarkComposeSchema, PendingTrackSchema
from addin_api.services.compose import mark_compose
from addin_api.sync.store import mailbox_scope
from addin_api.wiring import collaborators

bp = Blueprint("compose", __name__, url_prefix="/api/v1")


@bp.post("/emails/pending")
@declare(
    "Mark a message being written: once sent, the mailbox sync tracks it from Sent Items regarding the record",
    Auth.ADD_IN,
    status=201,
    response=PendingTrackSchema(),
    body=MarkComposeSchema(),
    body_limit=4096,
    errors=WRITE,
    tag="tracking",
    description="The pane writes `token` into the message as the Internet header `header` and gives it the tracking "
    "category. 404 `not_found` for a record the caller cannot see; 503 `sync_unavailable` when no mailbox sync shares "
    "this deployment's state.",
)
def post_pending(body: MarkCompose) -> PendingTrack:
    """Mark a message being written."""
    wired = collaborators()
    store = wired.sync_store
    if store is None:
        raise SyncUnavailable()
    dv, environment_url = dataverse()
    scope = mailbox_scope(environment_url, current_principal().object_id)
    try:
        return mark_compose(dv, store, scope, body)
    except store_errors() as exc:
        raise SyncUnavailable(retry_after=5) from exc
