"""Column values from a request body: each JSON value checked against its column's type and length.

Types and their literals: https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/web-api-types-operations
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from addin_api.devstack.dataverse.errors import DataverseError, payload_error, too_long
from addin_api.devstack.dataverse.schema import (
    BOOL,
    DATEONLY,
    DATETIME,
    GUID,
    INT,
    MEMO,
    MONEY,
    PICKLIST,
    STRING,
    Column,
    Table,
)

_EDM = {
    STRING: "Edm.String",
    MEMO: "Edm.String",
    INT: "Edm.Int32",
    PICKLIST: "Edm.Int32",
    BOOL: "Edm.Boolean",
    DATETIME: "Edm.DateTimeOffset",
    DATEONLY: "Edm.Date",
    MONEY: "Edm.Decimal",
    GUID: "Edm.Guid",
}


def _conversion_error(table: Table, column: Column, value: Any, edm: str) -> DataverseError:
    """The error for a JSON value the column's type does not accept (built only when raised: it is costly)."""
    return payload_error(
        table,
        f"Cannot convert the literal '{value}' to the expected type '{edm}'."
        if isinstance(value, str)
        else f"A value of type '{type(value).__name__}' was found where '{edm}' was expected "
        f"for the property '{column.name}'.",
    )


def convert(table: Table, column: Column, value: Any) -> Any:
    """Check a JSON value against the column's type and length; return what is stored."""
    if value is None:
        return None
    edm = _EDM[column.type]  # a lookup has no literal type: KeyError, as before
    if column.type in (STRING, MEMO):
        if not isinstance(value, str):
            raise _conversion_error(table, column, value, edm)
        if column.max_length is not None and len(value) > column.max_length:
            raise too_long(table, column.name, column.max_length)
        return value
    if column.type in (INT, PICKLIST):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _conversion_error(table, column, value, edm)
        if column.type == PICKLIST and column.options and value not in column.options:
            accepted = ",".join(str(k) for k in column.options)
            raise DataverseError(
                400,
                "0x8004431a",
                f"A validation error occurred.  The value {value} of '{column.name}' on record of type "
                f"'{table.logical}' is outside the valid range. Accepted Values: {accepted}",
            )
        return value
    if column.type == BOOL:
        if not isinstance(value, bool):
            raise _conversion_error(table, column, value, edm)
        return value
    if column.type == MONEY:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _conversion_error(table, column, value, edm)
        return value
    if column.type == GUID:
        try:
            return str(uuid.UUID(str(value)))
        except ValueError as exc:
            raise _conversion_error(table, column, value, edm) from exc
    if not isinstance(value, str):
        raise _conversion_error(table, column, value, edm)
    try:
        if column.type == DATEONLY:
            return date.fromisoformat(value[:10]).isoformat()
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _conversion_error(table, column, value, edm) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
