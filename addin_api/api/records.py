"""`POST /api/v1/records`: create a contact, lead, account, opportunity or case."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from addin_api.api.common import dataverse, json_body, me, parse
from addin_api.auth.decorators import require_user
from addin_api.schemas import MAX_RECORD_BODY_BYTES, CreateRecordSchema
from addin_api.services.records import create_record, validated_body

BODY = CreateRecordSchema()
bp = Blueprint("records", __name__, url_prefix="/api/v1")


@bp.post("/records")
@require_user
def create() -> tuple[Response, int]:
    """Create a record as the caller."""
    data = parse(BODY, json_body(MAX_RECORD_BODY_BYTES))
    body = validated_body(data["table"], data["fields_"])
    dv, environment_url = dataverse()
    me(dv).require_add_in()
    return jsonify(create_record(dv, environment_url, data["table"], body)), 201
