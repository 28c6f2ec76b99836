"""The errors the emulated Dataverse answers with, worded and coded as the real Web API words and codes them.

Codes: https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/web-service-error-codes
"""

from __future__ import annotations

import uuid

from addin_api.devstack.dataverse.schema import Table

# Web API payload / query errors
PAYLOAD = "0x80048d19"
QUERY = "0x80060888"
# "Resource not found for the segment '…'": an unknown entity set, function, action or path segment
# https://learn.microsoft.com/en-us/troubleshoot/power-platform/dataverse/dataverse-web-api-and-sdk/web-api-client-errors#resource-not-found-for-the-segment
SEGMENT_NOT_FOUND = "0x8006088a"
NOT_FOUND = "0x80040217"
DUPLICATE = "0x80040237"
PRIVILEGE = "0x80040220"
MAX_LENGTH = "0x80044331"
REQUIRED = "0x80040278"
INVALID_ARGUMENT = "0x80040203"
STATE = "0x80040203"
READ_ONLY = "0x8004f507"


class DataverseError(Exception):
    """An error answered as `{"error": {"code", "message"}}` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def payload_error(table: Table | None, inner: str) -> DataverseError:
    """A body the OData deserializer rejects (unknown property, wrong type, bad JSON)."""
    name = table.entity_set if table else ""
    return DataverseError(
        400,
        PAYLOAD,
        f"Error identified in Payload provided by the user for Entity :'{name}', For more information on this "
        f"error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ----> "
        f"InnerException : Microsoft.OData.ODataException: {inner}",
    )


def unknown_property(table: Table, name: str) -> DataverseError:
    """A write naming a property the table does not have."""
    return payload_error(
        table,
        f"The property '{name}' does not exist on type 'Microsoft.Dynamics.CRM.{table.logical}'. Make sure to "
        "only use property names that are defined by the type or mark the type as open type.",
    )


def unknown_query_property(table: Table, name: str) -> DataverseError:
    """A `$select`, `$filter`, `$orderby` or `$expand` naming a property the table does not have."""
    return DataverseError(
        400, QUERY, f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{table.logical}'."
    )


def syntax_error(detail: str) -> DataverseError:
    """A query option or URL the OData parser cannot read."""
    return DataverseError(400, QUERY, detail)


def not_found(table: Table, record_id: str) -> DataverseError:
    """A record that does not exist: 404 `0x80040217`."""
    return DataverseError(404, NOT_FOUND, f"Entity '{table.logical}' With Id = {record_id} Does Not Exist")


def duplicate() -> DataverseError:
    """A create with the key of an existing record: 412 `0x80040237`.

    https://learn.microsoft.com/en-us/troubleshoot/power-platform/power-apps/dataverse/client-errors
    """
    return DataverseError(412, DUPLICATE, "Cannot insert duplicate key.")


def too_long(table: Table, column: str, max_length: int) -> DataverseError:
    """A string longer than the column's MaxLength."""
    return DataverseError(
        400,
        MAX_LENGTH,
        f"A validation error occurred.  The length of the '{column}' attribute of the '{table.logical}' entity "
        f"exceeded the maximum allowed length of '{max_length}'.",
    )


def privilege_denied(systemuserid: str, privilege_count: int, operation: str, table: Table) -> DataverseError:
    """The caller's roles lack a table privilege: 403 `0x80040220`."""
    verb = {"read": "Read", "create": "Create", "write": "Write", "delete": "Delete"}.get(
        operation, operation.capitalize()
    )
    name = f"prv{verb}{table.schema}"
    privilege_id = uuid.uuid5(uuid.NAMESPACE_URL, f"dataverse-privilege:{name}")
    return DataverseError(
        403,
        PRIVILEGE,
        f"Principal user (Id={systemuserid}, type=8, roleCount=1, privilegeCount={privilege_count}, "
        f"accessMode=0), is missing {name} privilege (Id={privilege_id}) on OTC={table.otc} for entity "
        f"'{table.logical}'. context.Caller={systemuserid}",
    )
