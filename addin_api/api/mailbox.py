"""`GET /api/v1/mailbox`."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from addin_api.api.common import dataverse, me
from addin_api.auth.decorators import require_user
from addin_api.services.mailbox import mailbox_state

bp = Blueprint("mailbox", __name__, url_prefix="/api/v1")


@bp.get("/mailbox")
@require_user
def get_mailbox() -> Response:
    """The caller's mailbox: approval, each direction's synchronization, and why tracking is impossible if it is."""
    dv, environment_url = dataverse()
    state = mailbox_state(dv, me(dv))
    return jsonify(
        {
            "approved": state.approved,
            "incoming": state.incoming,
            "outgoing": state.outgoing,
            "appointments": state.appointments,
            "trackingEnabled": state.tracking_enabled,
            "reasons": list(state.reasons),
            "environment": {
                "url": environment_url,
                "organizationId": state.organization_id,
                "name": state.organization_name,
            },
            "lastSync": state.last_sync,
        }
    )
