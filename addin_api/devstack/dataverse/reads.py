"""Reading rows through the Web API: retrieve multiple (query options, paging, `?fetchXml=`), retrieve one
(conditional GET), related rows and counts, single column values.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/overview
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from addin_api.devstack.dataverse.errors import DataverseError, syntax_error
from addin_api.devstack.dataverse.fetch_run import annotations_for as fetch_annotations
from addin_api.devstack.dataverse.fetch_run import render as render_fetch
from addin_api.devstack.dataverse.fetch_run import run as run_fetch
from addin_api.devstack.dataverse.fetchxml import parse_fetch
from addin_api.devstack.dataverse.filter_parser import parse_filter
from addin_api.devstack.dataverse.functions import FilterContext
from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.query import (
    parse_expand,
    parse_guid,
    parse_orderby,
    parse_select,
    parse_top,
    sort_records,
)
from addin_api.devstack.dataverse.records import Operations, Record
from addin_api.devstack.dataverse.schema import Table
from addin_api.devstack.dataverse.serialize import Annotations, Serializer, context_fragment, validate_expands
from addin_api.devstack.dataverse.wire import (
    JSON_TYPE,
    ApiRequest,
    ApiResponse,
    entity_path,
    json_response,
    parse_prefer,
)

DEFAULT_PAGE_SIZE = (
    5000  # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/page-results
)
QUERY_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$expand", "$count", "$skiptoken"}
QUERY_LANGUAGES = frozenset({"fetchXml", "savedQuery", "userQuery", "sql"})


class Reads:
    """Retrieving rows for one caller: collections with query options and paging, one row, related rows, a column."""

    def __init__(self, ops: Operations, business_unit_id: str) -> None:
        self.ops = ops
        self.base = ops.api_base
        self.business_unit_id = business_unit_id

    def serializer(self, req: ApiRequest) -> tuple[Serializer, dict[str, str]]:
        """The serializer a request's Prefer header and query ask for, and its preferences."""
        prefs = parse_prefer(req.headers.get("prefer"))
        annotations = Annotations.from_prefer(prefs.get("odata.include-annotations"))
        serializer = Serializer(self.ops, annotations)
        serializer.filter_context, serializer.aliases = self.filter_context(), req.query
        if "odata.maxpagesize" in prefs and any("$expand" in e.options for e in parse_expand(req.query.get("$expand"))):
            serializer.expand_page_size = _page_size(prefs["odata.maxpagesize"])
        return serializer, prefs

    def filter_context(self) -> FilterContext:
        """What query functions and lookup paths in a `$filter` of this caller read."""
        ops = self.ops
        return FilterContext(
            user_id=ops.user.systemuserid,
            business_unit_id=self.business_unit_id,
            now=datetime.now(UTC),
            resolve=lambda logical, record_id: ops.readable(TABLES[logical], record_id),
        )

    def query(self, table: Table, rows: list[Record] | None, req: ApiRequest) -> list[Record]:
        """Filter and sort `rows` (None: the table's, fetched through an index when the filter allows)."""
        if "$filter" in req.query:
            predicate = parse_filter(table, req.query["$filter"], self.filter_context(), req.query)
            candidates = self.ops.candidates(table, predicate.keys) if rows is None else rows
            rows = [r for r in candidates if predicate(r)]
        elif rows is None:
            rows = self.ops.rows(table)
        return sort_records(table, rows, parse_orderby(table, req.query.get("$orderby")))

    def list_records(self, table: Table, req: ApiRequest, rows: list[Record] | None = None) -> ApiResponse:
        """Retrieve multiple, with query options and paging."""
        self.ops.require("read", table)
        if rows is None and QUERY_LANGUAGES.intersection(req.query):
            return self.query_language(table, req)
        unsupported = [k for k in req.query if k.startswith("$") and k not in QUERY_OPTIONS]
        if unsupported:
            raise syntax_error(f"The query parameter '{unsupported[0]}' is not supported.")
        select = parse_select(table, req.query.get("$select"))
        expands = parse_expand(req.query.get("$expand"))
        validate_expands(table, expands)
        serializer, prefs = self.serializer(req)
        matched = self.query(table, rows, req)
        total = len(matched)
        top = parse_top(req.query.get("$top"))
        applied: list[str] = []
        page_size = DEFAULT_PAGE_SIZE
        if "odata.maxpagesize" in prefs:
            page_size = _page_size(prefs["odata.maxpagesize"])
            applied.append(f"odata.maxpagesize={page_size}")
            # $top is ignored when odata.maxpagesize is set (page-results doc)
        elif top is not None:
            matched = matched[:top]
        page = 1
        if "$skiptoken" in req.query:
            found = re.search(r'pagenumber="(\d+)"', req.query["$skiptoken"])
            if found is None:
                raise syntax_error("The $skiptoken is not valid.")
            page = int(found.group(1))
        start = (page - 1) * page_size
        rows_page = matched[start : start + page_size]
        body: dict[str, Any] = {
            "@odata.context": f"{self.base}$metadata#" + context_fragment(table, select, req.query.get("$expand"))
        }
        if req.query.get("$count") == "true":
            body["@odata.count"] = total
        body["value"] = [serializer.record(table, r, select, expands) for r in rows_page]
        if start + page_size < len(matched):
            last = rows_page[-1][table.key] if rows_page else ""
            cookie = quote(f'<cookie page="{page}"><{table.key} last="{{{last}}}" /></cookie>', safe="")
            token = f'<cookie pagenumber="{page + 1}" pagingcookie="{cookie}" istracking="False" />'
            query = {k: v for k, v in req.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = token
            encoded = "&".join(f"{quote(k, safe='$')}={quote(v, safe=chr(39) + '(),$=:')}" for k, v in query.items())
            body["@odata.nextLink"] = f"{self.base}{req.path}?{encoded}"
        headers: dict[str, str] = {}
        if serializer.annotations.patterns:
            applied.append(f'odata.include-annotations="{",".join(serializer.annotations.patterns)}"')
        if applied:
            headers["Preference-Applied"] = ",".join(applied)
        return json_response(200, body, headers)

    def query_language(self, table: Table, req: ApiRequest) -> ApiResponse:
        """`?fetchXml=` runs; `?savedQuery=` / `?userQuery=` name views this environment does not have; `?sql=` is
        refused (the emulator has no SQL engine) — each fails as Dataverse fails rather than ignoring the query.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/retrieve-and-execute-predefined-queries
        """
        given = sorted(QUERY_LANGUAGES.intersection(req.query))
        if len(given) > 1 or any(k.startswith("$") for k in req.query):
            raise syntax_error(f"The query parameter '{given[0]}' cannot be combined with other query options.")
        name = given[0]
        if name in ("savedQuery", "userQuery"):
            view = "savedquery" if name == "savedQuery" else "userquery"
            view_id = parse_guid(req.query[name])
            raise DataverseError(404, "0x80040217", f"Entity '{view}' With Id = {view_id} Does Not Exist")
        if name == "sql":
            raise syntax_error("The query parameter 'sql' is not supported by this environment.")
        fetch = parse_fetch(req.query[name], table, self.ops.user.systemuserid, self.business_unit_id)

        def rows_of(t: Table) -> list[Record]:
            self.ops.require("read", t)
            return self.ops.rows(t)

        result = run_fetch(fetch, rows_of)
        serializer, _ = self.serializer(req)
        body: dict[str, Any] = {"@odata.context": f"{self.base}$metadata#{table.entity_set}"}
        body.update(fetch_annotations(fetch, result, serializer.annotations))
        body["value"] = render_fetch(fetch, result, serializer.annotations, serializer.primary_name)
        headers: dict[str, str] = {}
        if serializer.annotations.patterns:
            headers["Preference-Applied"] = f'odata.include-annotations="{",".join(serializer.annotations.patterns)}"'
        return json_response(200, body, headers)

    def count(self, table: Table, req: ApiRequest) -> ApiResponse:
        """`GET <set>/$count`: the number of matching rows as plain text."""
        self.ops.require("read", table)
        matched = self.query(table, None, req)
        return ApiResponse(200, {"Content-Type": "text/plain", "OData-Version": "4.0"}, str(len(matched)).encode())

    def related(self, table: Table, record_id: str, nav: str, req: ApiRequest) -> ApiResponse:
        """`GET <set>(<id>)/<collection>`: the related rows."""
        self.ops.require("read", table)
        self.ops.get(table, record_id)
        collection = table.collections[nav]
        child = TABLES[collection.child]
        rows = self.ops.related_rows(child, collection.column, record_id)
        return self.list_records(child, req, rows)

    def related_count(self, table: Table, record_id: str, nav: str, req: ApiRequest) -> ApiResponse:
        """`GET <set>(<id>)/<collection>/$count`: how many rows are related, as UTF-8 text with its byte order mark.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/retrieve-entity-using-web-api#retrieve-navigation-property-values
        """
        self.ops.require("read", table)
        self.ops.get(table, record_id)
        collection = table.collections[nav]
        child = TABLES[collection.child]
        self.ops.require("read", child)
        rows = self.query(child, self.ops.related_rows(child, collection.column, record_id), req)
        body = "\ufeff" + str(len(rows))
        return ApiResponse(200, {"Content-Type": "text/plain", "OData-Version": "4.0"}, body.encode())

    def retrieve(self, table: Table, record_id: str, req: ApiRequest) -> ApiResponse:
        """Retrieve one record."""
        self.ops.require("read", table)
        select = parse_select(table, req.query.get("$select"))
        expands = parse_expand(req.query.get("$expand"))
        record = self.ops.get(table, record_id)
        # never 304 with $expand or annotations: they show other rows, whose changes the ETag does not see
        prefs = parse_prefer(req.headers.get("prefer"))
        conditional = "$expand" not in req.query and "odata.include-annotations" not in prefs
        if conditional and _not_modified(record, req.headers.get("if-none-match")):
            headers = {"Content-Type": JSON_TYPE, "OData-Version": "4.0", "ETag": f'W/"{record.get("versionnumber")}"'}
            return ApiResponse(304, headers)
        return self.representation(200, table, record, select, expands, req)

    def related_one(self, table: Table, record_id: str, nav_name: str, req: ApiRequest) -> ApiResponse:
        """`GET <set>(<id>)/<single-valued nav>`: the row the lookup points to (204 when it is empty).

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/retrieve-entity-using-web-api#retrieve-navigation-property-values
        """
        self.ops.require("read", table)
        record = self.ops.get(table, record_id)
        nav = table.navs[nav_name]
        target = TABLES.get(nav.target)
        lookup = f"_{nav.column}_value"
        linked_id = record.get(lookup)
        if target is None or linked_id is None:
            return ApiResponse(204, {"OData-Version": "4.0"})
        if nav.target != "activitypointer" and record.get(f"{lookup}@lookuplogicalname") != nav.target:
            return ApiResponse(204, {"OData-Version": "4.0"})
        self.ops.require("read", target)
        select = parse_select(target, req.query.get("$select"))
        expands = parse_expand(req.query.get("$expand"))
        linked = self.ops.get(target, str(linked_id))
        return self.representation(200, target, linked, select, expands, req)

    def representation(
        self,
        status: int,
        table: Table,
        record: Record,
        select: list[str] | None,
        expands: list[Any],
        req: ApiRequest,
        headers: dict[str, str] | None = None,
    ) -> ApiResponse:
        """One row as an entity with its `@odata.context` and `ETag` (retrieve; writes with return=representation)."""
        validate_expands(table, expands)
        serializer, _ = self.serializer(req)
        fragment = context_fragment(table, select, req.query.get("$expand"))
        body = {"@odata.context": f"{self.base}$metadata#{fragment}/$entity"}
        body.update(serializer.record(table, record, select, expands))
        out = dict(headers or {})
        out["ETag"] = body["@odata.etag"]
        if serializer.annotations.patterns:
            out["Preference-Applied"] = f'odata.include-annotations="{",".join(serializer.annotations.patterns)}"'
        return json_response(status, body, out)

    def property_value(self, table: Table, record_id: str, prop: str, raw: bool) -> ApiResponse:
        """`GET <set>(<id>)/<property>` answers `{"value": …}` (204 when the column is empty), `…/$value` the bare
        value as text.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/retrieve-entity-using-web-api#retrieve-a-single-property-value
        """
        self.ops.require("read", table)
        value = self.ops.get(table, record_id).get(prop)
        if value is None:
            return ApiResponse(204, {"OData-Version": "4.0"})
        if raw:
            text = value if isinstance(value, str) else json.dumps(value)
            return ApiResponse(200, {"Content-Type": "text/plain", "OData-Version": "4.0"}, text.encode())
        context = f"{self.base}$metadata#{entity_path(table, record_id)}/{prop}"
        return json_response(200, {"@odata.context": context, "value": value})


def _page_size(value: str) -> int:
    """The page size an `odata.maxpagesize` preference asks for, within 1..5000."""
    try:
        size = int(value)
    except ValueError as exc:
        raise syntax_error("The value of odata.maxpagesize must be a positive integer.") from exc
    return max(1, min(size, DEFAULT_PAGE_SIZE))


def _not_modified(record: Record, if_none_match: str | None) -> bool:
    """Tell whether a conditional GET's `If-None-Match` names the row's current version (answer 304).

    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api#conditional-retrievals
    Clients send `If-None-Match: null` to defeat browser caching; it names no version.
    """
    if not if_none_match or if_none_match.strip() == "null":
        return False
    current = f'W/"{record.get("versionnumber")}"'
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or current in tags
