"""`GET /api/v1/mailbox`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from flask import Blueprint

from addin_api.api import sync_view
from addin_api.api.common import dataverse, me
from addin_api.api.declare import Auth, declare
from addin_api.model_mailbox import MailboxState
from addin_api.schemas.mailbox import MailboxSchema
from addin_api.services.mailbox import mailbox_state

MAILBOX = MailboxSchema()

bp = Blueprint("mailbox", __name__, url_prefix="/api/v1")


@bp.get("/mailbox")
@declare(
    "The caller's mailbox synchronization and why tracking is impossible (one Dataverse round trip)",
    Auth.USER,
    response=MAILBOX,
    tag="people",
)
def get_mailbox() -> MailboxState:
    """The caller's mailbox: approval, each direction's synchronization, and why tracking is impossible if it is."""
    dv, environment_url = dataverse()
    found = mailbox_state(dv, environment_url, me(dv))
    worker = sync_view.last_sync(environment_url)
    # Dataverse's own record of a sync, or this deployment's worker's: the later of the two.
    if worker is not None and (found.last_sync is None or _instant(worker) > _instant(found.last_sync)):
        return replace(found, last_sync=worker)
    return found


def _instant(text: str) -> datetime:
    """An ISO 8601 date-time as an aware instant (a bare one is taken as UTC); the distant past when unreadable."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
