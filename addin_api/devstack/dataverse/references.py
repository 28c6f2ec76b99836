"""Associating and disassociating rows through navigation properties (`…/$ref`).

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api
"""

from __future__ import annotations

from addin_api.devstack.dataverse.errors import payload_error, syntax_error
from addin_api.devstack.dataverse.metadata import TABLES, partner_of
from addin_api.devstack.dataverse.query import parse_guid
from addin_api.devstack.dataverse.records import Operations
from addin_api.devstack.dataverse.schema import Table
from addin_api.devstack.dataverse.wire import ApiRequest, ApiResponse, method_not_allowed, request_body


def collection_reference(
    ops: Operations, table: Table, record_id: str, nav: str, child_key: str | None, req: ApiRequest
) -> ApiResponse:
    """`POST …/<collection>/$ref` with `{"@odata.id": url}` associates a row; `DELETE …/<collection>(<id>)/$ref` (or
    `…/<collection>/$ref?$id=<url>`) disassociates it. Both set or clear the child's lookup, as Dataverse does for a
    one-to-many relationship.

    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api#add-a-reference-to-a-collection-valued-navigation-property
    """
    collection = table.collections[nav]
    child = TABLES[collection.child]
    bind = f"{partner_of(collection, table)}@odata.bind"
    with ops.store.transaction():
        ops.get(table, record_id)
        if req.method == "POST" and child_key is None:
            body = request_body(table, req)
            if not isinstance(body, dict) or "@odata.id" not in body:
                raise payload_error(table, "The request body must contain '@odata.id'.")
            ref = ops.resolve_reference(body["@odata.id"], child)
            if ref.table.logical != child.logical:
                raise payload_error(
                    table,
                    f"The navigation property '{nav}' holds '{child.logical}' rows, not '{ref.table.logical}'.",
                )
            existing = ops.get(child, ref.record_id)
            ops.update(child, ref.record_id, {bind: f"/{table.entity_set}({record_id})"}, existing)
        elif req.method == "DELETE":
            if child_key is None:
                if "$id" not in req.query:
                    raise syntax_error("Disassociating from a collection needs the related row's key or $id.")
                child_id = ops.resolve_reference(req.query["$id"], child).record_id
            else:
                child_id = parse_guid(child_key)
            existing = ops.get(child, child_id)
            if existing.get(f"_{collection.column}_value") == record_id:
                ops.update(child, child_id, {bind: None}, existing)
        else:
            raise method_not_allowed(req.method)
    return ApiResponse(204, {"OData-Version": "4.0"})


def reference(ops: Operations, table: Table, record_id: str, nav: str, req: ApiRequest) -> ApiResponse:
    """`DELETE …/<nav>/$ref` disassociates; `PUT …/<nav>/$ref` with `{"@odata.id": url}` associates.

    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api
    """
    name, _, key = nav.partition("(")
    if name in table.collections:
        return collection_reference(ops, table, record_id, name, key.rstrip(")") or None, req)
    if req.method == "DELETE":
        ops.set_reference(table, record_id, nav, None)
    elif req.method == "PUT":
        body = request_body(table, req)
        if not isinstance(body, dict) or "@odata.id" not in body:
            raise payload_error(table, "The request body must contain '@odata.id'.")
        ops.set_reference(table, record_id, nav, body["@odata.id"])
    else:
        raise method_not_allowed(req.method)
    return ApiResponse(204, {"OData-Version": "4.0"})
