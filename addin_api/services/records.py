"""Create a contact, lead, account, opportunity or case as the caller, in one round trip."""

from __future__ import annotations

from typing import Any

from addin_api.dataverse.records import create_body
from addin_api.dataverse.tables import REGARDING_TABLES
from addin_api.errors import ValidationFailed
from addin_api.services.ports import Dataverse


def validated_body(table_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The create body for `fields`, checked against the table's allowlist (422 naming each bad field)."""
    body, errors = create_body(table_name, fields)
    if errors:
        raise ValidationFailed(errors)
    return body


def create_record(dv: Dataverse, environment_url: str, table_name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create the record; return its table, id, name and URL."""
    table = REGARDING_TABLES[table_name]
    created = dv.create(table.entity_set, body, select=[table.primary_id, table.primary_name])
    record_id = str(created[table.primary_id])
    return {
        "table": table_name,
        "id": record_id,
        "name": created.get(table.primary_name),
        "url": f"{environment_url}/main.aspx?etn={table_name}&pagetype=entityrecord&id={record_id}",
    }
