"""`POST /api/v1/records`: create a contact, lead, account, opportunity or case."""

from __future__ import annotations

from flask import Blueprint

from addin_api.api.common import dataverse
from addin_api.api.declare import WRITE, Auth, declare
from addin_api.model import CreatedRecord, CreateRecord
from addin_api.schemas import MAX_RECORD_BODY_BYTES, CreateRecordSchema
from addin_api.schemas.responses import CreatedRecordSchema
from addin_api.services.records import check_record, create_record

CREATED = CreatedRecordSchema()
bp = Blueprint("records", __name__, url_prefix="/api/v1")


@bp.post("/records")
@declare(
    "Create a contact, lead, account, opportunity or case as the caller",
    Auth.ADD_IN,
    status=201,
    response=CREATED,
    body=CreateRecordSchema(),
    body_limit=MAX_RECORD_BODY_BYTES,
    body_check=check_record,  # the table's field allowlist: a 422 before the add-in check
    errors=WRITE,
    tag="records",
)
def create(body: CreateRecord) -> CreatedRecord:
    """Create a record as the caller."""
    dv, environment_url = dataverse()
    return create_record(dv, environment_url, body)
