"""`POST /api/v1/records`: create a contact, lead, account, opportunity or case."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from addin_api.api.common import dataverse
from addin_api.api.declare import WRITE, Auth, declare
from addin_api.schemas import MAX_RECORD_BODY_BYTES, CreateRecordSchema
from addin_api.schemas.responses import CreatedRecordSchema
from addin_api.services.records import create_record

bp = Blueprint("records", __name__, url_prefix="/api/v1")


@bp.post("/records")
@declare(
    "Create a contact, lead, account, opportunity or case as the caller",
    Auth.ADD_IN,
    status=201,
    response=CreatedRecordSchema(),
    body=CreateRecordSchema(),
    body_limit=MAX_RECORD_BODY_BYTES,
    errors=WRITE,
    tag="records",
)
def create(body: dict[str, Any]) -> tuple[Response, int]:
    """Create a record as the caller."""
    dv, environment_url = dataverse()
    return jsonify(create_record(dv, environment_url, body["table"], body["body"])), 201
