"""`GET` / `PATCH /api/v1/settings`: the caller's personal options for mailbox synchronization."""

from __future__ import annotations

from flask import Blueprint

from addin_api.api import sync_view
from addin_api.api.common import dataverse, me
from addin_api.api.declare import WRITE, Auth, declare
from addin_api.model_mailbox import PersonalOptions
from addin_api.schemas.options import ChangeOptionsSchema, OptionsSchema
from addin_api.services.options import change_options, personal_options

OPTIONS = OptionsSchema()
CHANGE = ChangeOptionsSchema()

bp = Blueprint("options", __name__, url_prefix="/api/v1")


@bp.get("/settings")
@declare(
    "The caller's personal options: which incoming email is tracked automatically (one Dataverse round trip)",
    Auth.USER,
    response=OPTIONS,
    tag="people",
)
def get_settings() -> PersonalOptions:
    """The caller's personal options."""
    dv, _environment_url = dataverse()
    return personal_options(dv, me(dv))


@bp.patch("/settings")
@declare(
    "Change the caller's personal options",
    Auth.ADD_IN,
    response=OPTIONS,
    body=CHANGE,
    body_limit=4096,
    errors=WRITE,
    tag="people",
)
def patch_settings(body: PersonalOptions) -> PersonalOptions:
    """Change the caller's personal options."""
    dv, environment_url = dataverse()
    changed = change_options(dv, me(dv), body)
    sync_view.options_changed(environment_url)
    return changed
