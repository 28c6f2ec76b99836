"""Writing rows through the Web API: create (deep insert), update and upsert (also by alternate key), delete,
single column values — honouring If-Match / If-None-Match and `Prefer: return=representation`.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api
"""

from __future__ import annotations

from addin_api.devstack.dataverse import keys
from addin_api.devstack.dataverse.errors import DataverseError, not_found, payload_error
from addin_api.devstack.dataverse.query import parse_expand, parse_select
from addin_api.devstack.dataverse.reads import Reads
from addin_api.devstack.dataverse.records import Record
from addin_api.devstack.dataverse.schema import LOOKUP, Table
from addin_api.devstack.dataverse.wire import (
    ApiRequest,
    ApiResponse,
    entity_path,
    method_not_allowed,
    parse_prefer,
    request_body,
)


class Writes:
    """Creating, updating, upserting and deleting rows for one caller (the answers reuse `Reads.representation`)."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads
        self.ops = reads.ops
        self.base = reads.base

    def _written(self, status: int, table: Table, record_id: str, req: ApiRequest) -> ApiResponse:
        headers = {"OData-EntityId": f"{self.base}{entity_path(table, record_id)}"}
        prefs = parse_prefer(req.headers.get("prefer"))
        if prefs.get("return") == "representation":
            select = parse_select(table, req.query.get("$select"))
            expands = parse_expand(req.query.get("$expand"))
            record = self.ops.get(table, record_id)
            headers["Preference-Applied"] = "return=representation"
            return self.reads.representation(status, table, record, select, expands, req, headers)
        return ApiResponse(204, {"OData-Version": "4.0", **headers})

    def create(self, table: Table, req: ApiRequest) -> ApiResponse:
        """POST: create (with deep insert); 204 + OData-EntityId, or 201 with the record."""
        body = request_body(table, req)
        record_id = self.ops.create(table, body)
        return self._written(201, table, record_id, req)

    def upsert(self, table: Table, record_id: str, req: ApiRequest) -> ApiResponse:
        """PATCH: update, or create when missing (upsert), honouring If-Match / If-None-Match.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api
        """
        body = request_body(table, req)
        if_match = req.headers.get("if-match")
        if_none_match = req.headers.get("if-none-match")
        with self.ops.store.transaction():
            existing = self.ops.fetch(table, record_id)
            if existing is None:
                if if_match is not None:
                    raise not_found(table, record_id)
                if isinstance(body, dict):
                    body = {k: v for k, v in body.items() if k != table.key}
                self.ops.create(table, body, record_id=record_id)
                return self._written(201, table, record_id, req)
            if if_none_match == "*":
                raise DataverseError(412, "", "A record with matching key values already exists.")
            self._check_etag(existing, if_match)
            self.ops.update(table, record_id, body, existing)
        return self._written(200, table, record_id, req)

    def upsert_by_key(self, table: Table, key: keys.Key, req: ApiRequest) -> ApiResponse:
        """PATCH `<set>(<alternate key>)`: update the row with these key values, or create it with them.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/use-upsert-insert-update-record
        """
        with self.ops.store.transaction():
            found = keys.find(self.ops.store, table, key.values)
            if found is not None:
                return self.upsert(table, str(found[table.key]), req)
            if req.headers.get("if-match") is not None:
                raise keys.missing_alternate(table)
            body = request_body(table, req)
            if isinstance(body, dict):
                body = {**{k: v for k, v in body.items() if k != table.key}, **key.values}
            record_id = self.ops.create(table, body)
        return self._written(201, table, record_id, req)

    @staticmethod
    def _check_etag(existing: Record, if_match: str | None) -> None:
        if if_match is None or if_match.strip() == "*":
            return
        if if_match.strip() != f'W/"{existing.get("versionnumber")}"':
            raise DataverseError(
                412, "0x80060882", "The version of the existing record doesn't match the RowVersion property provided."
            )

    def delete(self, table: Table, record_id: str, req: ApiRequest) -> ApiResponse:
        """DELETE a record (cascading to an activity's parties and attachments)."""
        with self.ops.store.transaction():
            if_match = req.headers.get("if-match")
            if if_match is not None:
                existing = self.ops.fetch(table, record_id)
                if existing is None:
                    raise not_found(table, record_id)
                self._check_etag(existing, if_match)
            self.ops.delete(table, record_id)
        return ApiResponse(204, {"OData-Version": "4.0"})

    def set_property(self, table: Table, record_id: str, prop: str, raw: bool, req: ApiRequest) -> ApiResponse:
        """`PUT <set>(<id>)/<property>` with `{"value": …}`, `DELETE` to empty it; both answer 204.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/update-delete-entities-using-web-api#update-a-single-property-value
        """
        column = table.column_for_attribute(prop)
        if raw or req.method not in ("PUT", "DELETE"):
            raise method_not_allowed(req.method)
        if column is not None and column.type == LOOKUP:
            raise DataverseError(
                400,
                "0x80060888",
                "CRM do not support direct update of Entity Reference properties, Use Navigation properties instead.",
            )
        if req.method == "PUT":
            body = request_body(table, req)
            if not isinstance(body, dict) or "value" not in body:
                raise payload_error(table, "The request body must be an object with a 'value' property.")
            value = body["value"]
        else:
            value = None
        with self.ops.store.transaction():
            existing = self.ops.get(table, record_id)
            self.ops.update(table, record_id, {prop: value}, existing)
        return ApiResponse(204, {"OData-Version": "4.0"})
