"""`GET /api/v1/people?email=…`: the sender card."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from addin_api.api.common import dataverse, parse, query_args
from addin_api.auth.decorators import require_user
from addin_api.schemas import PeopleArgs
from addin_api.schemas.responses import PeopleSchema
from addin_api.services.model import LookupPerson
from addin_api.services.people import lookup

ARGS = PeopleArgs()
PERSON = PeopleSchema()
bp = Blueprint("people", __name__, url_prefix="/api/v1")


@bp.get("/people")
@require_user
def people() -> Response:
    """Who an address is in Dataverse and the latest activities with it."""
    args = parse(ARGS, query_args())
    dv, environment_url = dataverse()
    return jsonify(PERSON.dump(lookup(dv, environment_url, LookupPerson(args["email"].lower()))))
