"""`POST /api/v1/records`: create a contact, lead, account, opportunity or case."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from addin_api.api.common import dataverse, json_body, me, parse
from addin_api.auth.decorators import require_user
from addin_api.schemas import MAX_RECORD_BODY_BYTES, CreateRecordSchema
from addin_api.schemas.responses import CreatedRecordSchema
from addin_api.services.model import CreateRecord
from addin_api.services.records import check_record, create_record

BODY = CreateRecordSchema()
CREATED = CreatedRecordSchema()
bp = Blueprint("records", __name__, url_prefix="/api/v1")


@bp.post("/records")
@require_user
def create() -> tuple[Response, int]:
    """Create a record as the caller."""
    data = parse(BODY, json_body(MAX_RECORD_BODY_BYTES))
    command = CreateRecord(data["table"], data["fields_"])
    check_record(command)
    dv, environment_url = dataverse()
    me(dv).require_add_in()
    return jsonify(CREATED.dump(create_record(dv, environment_url, command))), 201
