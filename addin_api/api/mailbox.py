"""`GET /api/v1/mailbox`."""

from __future__ import annotations

from flask import Blueprint

from addin_api.api.common import dataverse, me
from addin_api.api.declare import Auth, declare
from addin_api.model import MailboxState
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
    return mailbox_state(dv, environment_url, me(dv))
