"""`GET /api/v1/me`."""

from __future__ import annotations

from flask import Blueprint

from addin_api.api.common import dataverse, me
from addin_api.api.declare import Auth, declare
from addin_api.api.principal import current_principal
from addin_api.model import Me
from addin_api.schemas.responses import MeSchema
from addin_api.services.me import me as me_service

ME = MeSchema()

bp = Blueprint("me", __name__, url_prefix="/api/v1")


@bp.get("/me")
@declare("The caller in Dataverse and whether they may use the add-in", Auth.USER, response=ME, tag="people")
def get_me() -> Me:
    """Who the caller is in Dataverse, the environment, and whether they may use the add-in."""
    dv, environment_url = dataverse()
    return me_service(me(dv), current_principal().tenant_id, environment_url)
