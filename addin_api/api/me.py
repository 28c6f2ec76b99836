"""`GET /api/v1/me`."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from addin_api.api.common import dataverse, me
from addin_api.auth.decorators import current_principal, require_user

bp = Blueprint("me", __name__, url_prefix="/api/v1")


@bp.get("/me")
@require_user
def get_me() -> Response:
    """Who the caller is in Dataverse, the environment, and whether they may use the add-in."""
    dv, environment_url = dataverse()
    info = me(dv)
    principal = current_principal()
    return jsonify(
        {
            "userId": info.user_id,
            "name": info.name,
            "email": info.email,
            "tenantId": principal.tenant_id,
            "businessUnitId": info.business_unit_id,
            "organizationId": info.organization_id,
            "environmentUrl": environment_url,
            "canUseAddIn": info.can_use_add_in,
            "features": {"track": info.can_track, "setRegarding": info.can_track},
        }
    )
