"""Create a contact, lead, account, opportunity or case as the caller, in one round trip."""

from __future__ import annotations

from typing import Any

from addin_api.dataverse import records
from addin_api.dataverse.port import Dataverse
from addin_api.errors import ValidationFailed
from addin_api.model import CreatedRecord, CreateRecord


def check_record(command: CreateRecord) -> None:
    """Check the fields against the table's allowlist: 422 naming each bad field."""
    _body(command)


def _body(command: CreateRecord) -> dict[str, Any]:
    body, errors = records.create_body(command.table, command.fields)
    if errors:
        raise ValidationFailed(errors)
    return body


def create_record(dv: Dataverse, environment_url: str, command: CreateRecord) -> CreatedRecord:
    """Create the record; return its table, id, name and URL."""
    return records.create_record(dv, environment_url, command.table, _body(command))
