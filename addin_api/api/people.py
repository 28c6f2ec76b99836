"""`GET /api/v1/people?email=…`: the sender card."""

from __future__ import annotations

from flask import Blueprint

from addin_api.api.common import dataverse
from addin_api.api.declare import Auth, declare
from addin_api.model import LookupPerson, Person
from addin_api.schemas import PeopleArgs
from addin_api.schemas.responses import PeopleSchema
from addin_api.services.people import lookup

PERSON = PeopleSchema()
bp = Blueprint("people", __name__, url_prefix="/api/v1")


@bp.get("/people")
@declare(
    "The sender card: records with this address and recent activities",
    Auth.USER,
    response=PERSON,
    query=PeopleArgs(),
    tag="people",
)
def people(args: LookupPerson) -> Person:
    """Who an address is in Dataverse and the latest activities with it."""
    dv, environment_url = dataverse()
    return lookup(dv, environment_url, args)
