"""Route one Web API request (a real one or a `$batch` part) to the record operations and shape the answer.

`dispatch` knows nothing of Flask: it takes an `ApiRequest` and returns an `ApiResponse`, so `$batch` parts run
through exactly the code plain requests do.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from addin_api.devstack.dataverse import actions, keys, mail_messages, mail_security
from addin_api.devstack.dataverse.csdl import csdl
from addin_api.devstack.dataverse.definitions import DEFINITION_SETS, Definitions
from addin_api.devstack.dataverse.errors import DataverseError, not_found, payload_error, syntax_error
from addin_api.devstack.dataverse.fetchxml import annotations_for as fetch_annotations
from addin_api.devstack.dataverse.fetchxml import parse_fetch
from addin_api.devstack.dataverse.fetchxml import render as render_fetch
from addin_api.devstack.dataverse.fetchxml import run as run_fetch
from addin_api.devstack.dataverse.functions import FilterContext
from addin_api.devstack.dataverse.metadata import BY_ENTITY_SET, TABLES, partner_of
from addin_api.devstack.dataverse.query import (
    RELATED,
    parse_expand,
    parse_filter,
    parse_guid,
    parse_orderby,
    parse_select,
    parse_top,
    sort_records,
)
from addin_api.devstack.dataverse.records import Operations, Record
from addin_api.devstack.dataverse.schema import LOOKUP, Table
from addin_api.devstack.dataverse.serialize import Annotations, Serializer, context_fragment, validate_expands

JSON_TYPE = "application/json; odata.metadata=minimal"
DEFAULT_PAGE_SIZE = (
    5000  # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/page-results
)
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
}
_PATH = re.compile(r"^(?P<set>[A-Za-z_.]+)(?:\((?P<key>[^)]*)\))?(?:/(?P<rest>.+))?$")
_PRIVILEGE_FUNCTION = re.compile(
    r"^Microsoft\.Dynamics\.CRM\.RetrieveUserPrivilegeByPrivilegeName\(PrivilegeName=(?P<arg>[^)]*)\)$"
)
_ACCESS_FUNCTION = re.compile(r"^Microsoft\.Dynamics\.CRM\.RetrievePrincipalAccess\(Target=(?P<arg>.*)\)$")
_CHECK_INCOMING = re.compile(r"^(?:Microsoft\.Dynamics\.CRM\.)?CheckIncomingEmail\((?P<args>.*)\)$", re.S)
_BULK_ACTIONS = ("Microsoft.Dynamics.CRM.CreateMultiple", "Microsoft.Dynamics.CRM.UpdateMultiple")


@dataclass
class ApiRequest:
    """A Web API request relative to the service root (`path` has no leading slash)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""


@dataclass
class ApiResponse:
    """What the Web API answers."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def entity_id(self) -> str | None:
        """The `OData-EntityId` header, if any."""
        return self.headers.get("OData-EntityId")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> ApiResponse:
    """A JSON answer with the OData headers Dataverse sends."""
    out = {"Content-Type": JSON_TYPE, "OData-Version": "4.0"}
    out.update(headers or {})
    return ApiResponse(status, out, json.dumps(body).encode())


def error_response(error: DataverseError) -> ApiResponse:
    """The `{"error": {"code", "message"}}` answer of a failed request."""
    return json_response(error.status, {"error": {"code": error.code, "message": error.message}})


def no_resource(url: str) -> DataverseError:
    """The 404 of a URL (or method) that matches no Web API resource, worded as ASP.NET Web API words it."""
    return DataverseError(404, "", f"No HTTP resource was found that matches the request URI '{url}'.")


def parse_prefer(value: str | None) -> dict[str, str]:
    """Split a Prefer header into preferences (commas inside quotes kept)."""
    if not value:
        return {}
    return dict(_prefer(value))


@functools.lru_cache(maxsize=256)
def _prefer(value: str) -> tuple[tuple[str, str], ...]:
    # Clients send the same few Prefer headers on every request; splitting one is a loop over its characters.
    prefs: dict[str, str] = {}
    current: list[str] = []
    quoted = False
    items: list[str] = []
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    for item in items:
        name, _, val = item.strip().partition("=")
        if name:
            prefs[name.strip().lower()] = val.strip()
    return tuple(prefs.items())


def entity_path(table: Table, record_id: str) -> str:
    """`accounts(<id>)`."""
    return f"{table.entity_set}({record_id})"


def privilege_id(name: str) -> str:
    """A stable id per privilege name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dataverse-privilege:{name}"))


class Api:
    """The Web API of one caller."""

    def __init__(self, ops: Operations, business_unit_id: str, organization_id: str) -> None:
        self.ops = ops
        self.base = ops.api_base
        self.business_unit_id = business_unit_id
        self.organization_id = organization_id

    def dispatch(self, req: ApiRequest) -> ApiResponse:
        """Answer one request; every DataverseError becomes its error response."""
        related = RELATED.set(self._related)
        try:
            return self._route(req)
        except DataverseError as error:
            return error_response(error)
        finally:
            RELATED.reset(related)

    def _related(self, child: Table, column: str, parent_id: Any) -> list[Record]:
        """The related rows a `$filter` lambda (`any`/`all`) tests, read with the caller's privileges."""
        self.ops.require("read", child)
        return self.ops.related_rows(child, column, parent_id)

    # ---- routing --------------------------------------------------------------------------------------------

    def _route(self, req: ApiRequest) -> ApiResponse:
        path = unquote(req.path).strip("/")
        if path in ("WhoAmI", "WhoAmI()"):
            return self._method(req, "GET", self.who_am_i)
        metadata = self._definitions(path, req)
        if metadata is not None:
            return metadata
        if path in ("RetrieveVersion", "RetrieveVersion()"):
            return self._method(req, "GET", self.retrieve_version)
        if path in ("GetTrackingTokenEmail", "Microsoft.Dynamics.CRM.GetTrackingTokenEmail"):
            return self._method(req, "POST", lambda: self.mail_action("GetTrackingTokenEmail", None, req))
        incoming = _CHECK_INCOMING.match(path)
        if incoming is not None:
            params = mail_messages.parse_parameters(incoming.group("args"), req.query)
            return self._method(req, "GET", lambda: self.mail_function("CheckIncomingEmail", params))
        match = _PATH.match(path)
        if match is None:
            raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{path}'.")
        table = BY_ENTITY_SET.get(match.group("set"))
        if table is None:
            raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{match.group('set')}'.")
        key, rest = match.group("key"), match.group("rest")
        languages = sorted(_QUERY_LANGUAGES.intersection(req.query))
        if languages and (key is not None or rest is not None or req.method != "GET"):
            raise syntax_error(f"The query parameter '{languages[0]}' is only valid when retrieving an entity set.")
        if key is None:
            if rest == "$count":
                return self._method(req, "GET", lambda: self.count(table, req))
            if rest in _BULK_ACTIONS:
                return self._method(req, "POST", lambda: self.bulk(table, rest, req))
            if rest is not None:
                raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{rest}'.")
            if req.method == "GET":
                return self.list_records(table, req)
            if req.method == "POST":
                return self.create(table, req)
            raise DataverseError(405, "0x80060888", f"The HTTP method '{req.method}' is not allowed here.")
        parsed = keys.parse_key(table, key)
        if parsed.alternate and rest is None and req.method == "PATCH":
            return self.upsert_by_key(table, parsed, req)
        record_id = parsed.record_id or self._alternate_id(table, parsed)
        if rest is None:
            handlers = {
                "GET": lambda: self.retrieve(table, record_id, req),
                "PATCH": lambda: self.upsert(table, record_id, req),
                "DELETE": lambda: self.delete(table, record_id, req),
            }
            handler = handlers.get(req.method)
            if handler is None:
                raise DataverseError(405, "0x80060888", f"The HTTP method '{req.method}' is not allowed here.")
            return handler()
        function = _PRIVILEGE_FUNCTION.match(rest)
        if function is not None and table.logical == "systemuser":
            arg = function.group("arg")
            if arg.startswith("@"):
                arg = req.query.get(arg, "")
            return self._method(req, "GET", lambda: self.user_privilege(record_id, arg.strip("'")))
        access = _ACCESS_FUNCTION.match(rest)
        if access is not None and table.logical == "systemuser":
            target = access.group("arg")
            if target.startswith("@"):
                target = req.query.get(target, "")
            return self._method(req, "GET", lambda: self.principal_access(record_id, target))
        if rest == "Microsoft.Dynamics.CRM.SendEmail" and table.logical == "email":
            return self._method(req, "POST", lambda: self.mail_action("SendEmail", record_id, req))
        if rest.endswith("/$ref"):
            return self.reference(table, record_id, rest[: -len("/$ref")], req)
        if rest in table.collections and req.method == "GET":
            return self.related(table, record_id, rest, req)
        if rest in table.navs:
            return self._method(req, "GET", lambda: self.related_one(table, record_id, rest, req))
        if rest.endswith("/$count") and rest[: -len("/$count")] in table.collections:
            nav = rest[: -len("/$count")]
            return self._method(req, "GET", lambda: self.related_count(table, record_id, nav, req))
        prop, _, raw = rest.partition("/")
        if table.column_for_attribute(prop) is not None and raw in ("", "$value"):
            return self.property_value(table, record_id, prop, raw == "$value", req)
        raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{rest}'.")

    def _definitions(self, path: str, req: ApiRequest) -> ApiResponse | None:
        """The service document, `$metadata` and the definition entity sets (None: not one of them)."""
        head = path.split("(", 1)[0].split("/", 1)[0]
        if path not in ("", "$metadata") and head not in DEFINITION_SETS:
            return None
        definitions = Definitions(self.base, self.ops.user.systemuserid, len(self.ops.user.privileges))
        if req.method != "GET":
            if path in ("", "$metadata"):
                raise no_resource(f"{self.base}{req.path}")
            raise definitions.refuse_write(req.method)
        if path == "":
            return json_response(200, definitions.service_document())
        if path == "$metadata":
            return ApiResponse(200, {"Content-Type": "application/xml", "OData-Version": "4.0"}, csdl())
        if head == "EntityDefinitions":
            return json_response(200, definitions.entity_definitions(path, req.query))
        if head == "RetrieveMetadataChanges":
            return json_response(200, definitions.retrieve_metadata_changes(path, req.query))
        if head == "GlobalOptionSetDefinitions":
            return json_response(200, definitions.global_option_sets(path, req.query))
        return json_response(200, definitions.relationship_definitions(path, req.query))

    def _alternate_id(self, table: Table, key: keys.Key) -> str:
        found = keys.find(self.ops.store, table, key.values)
        if found is None:
            raise keys.missing_alternate(table)
        return str(found[table.key])

    def _method(self, req: ApiRequest, method: str, handler: Any) -> ApiResponse:
        """Run a function (GET) or action (POST); another method matches no resource (404).

        https://learn.microsoft.com/en-us/troubleshoot/power-platform/power-apps/dataverse/web-api-client-errors#no-http-resource-was-found-that-matches-the-request-uri
        """
        if req.method != method:
            raise no_resource(f"{self.base}{req.path}")
        result: ApiResponse = handler()
        return result

    # ---- functions ------------------------------------------------------------------------------------------

    def who_am_i(self) -> ApiResponse:
        """`GET WhoAmI`."""
        return json_response(
            200,
            {
                "@odata.context": f"{self.base}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                "BusinessUnitId": self.business_unit_id,
                "UserId": self.ops.user.systemuserid,
                "OrganizationId": self.organization_id,
            },
        )

    def retrieve_version(self) -> ApiResponse:
        """`GET RetrieveVersion()`: the environment's version.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/retrieveversion
        """
        context = f"{self.base}$metadata#Microsoft.Dynamics.CRM.RetrieveVersionResponse"
        return json_response(200, {"@odata.context": context, "Version": actions.VERSION})

    def principal_access(self, systemuserid: str, target: str) -> ApiResponse:
        """`systemusers(<id>)/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)`."""
        rights = actions.principal_access(self.ops, systemuserid, target)
        context = f"{self.base}$metadata#Microsoft.Dynamics.CRM.RetrievePrincipalAccessResponse"
        return json_response(200, {"@odata.context": context, "AccessRights": rights})

    def mail_action(self, name: str, email_id: str | None, req: ApiRequest) -> ApiResponse:
        """`POST emails(<id>)/Microsoft.Dynamics.CRM.SendEmail` and `POST GetTrackingTokenEmail` (`mail_messages`)."""
        body = self._body(TABLES["email"], req)
        if email_id is not None:
            result = mail_messages.send_email(self.ops, email_id, body)
        else:
            result = mail_messages.tracking_token(self.ops, body)
        context = f"{self.base}$metadata#Microsoft.Dynamics.CRM.{name}Response"
        return json_response(200, {"@odata.context": context, **result})

    def mail_function(self, name: str, params: dict[str, str | None]) -> ApiResponse:
        """`GET CheckIncomingEmail(MessageId=@m,Subject=@s,From=@f,To=@t,Cc=@c,Bcc=@b)` (`mail_messages`)."""
        result = mail_messages.check_incoming_email(self.ops, params)
        context = f"{self.base}$metadata#Microsoft.Dynamics.CRM.{name}Response"
        return json_response(200, {"@odata.context": context, **result})

    def bulk(self, table: Table, action: str, req: ApiRequest) -> ApiResponse:
        """`CreateMultiple` answers 200 with the new `Ids`; `UpdateMultiple` answers 204.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/bulk-operations
        """
        body = self._body(table, req)
        if action.endswith("CreateMultiple"):
            ids = actions.create_multiple(self.ops, table, body)
            context = f"{self.base}$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse"
            return json_response(200, {"@odata.context": context, "Ids": ids})
        actions.update_multiple(self.ops, table, body)
        return ApiResponse(204, {"OData-Version": "4.0"})

    def user_privilege(self, systemuserid: str, name: str) -> ApiResponse:
        """`systemusers(<id>)/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName(...)`."""
        self.ops.require("read", TABLES["systemuser"])
        self.ops.get(TABLES["systemuser"], systemuserid)
        config_user = next((u for u in self.ops.store.config.users if u.systemuserid == systemuserid), None)
        has = False
        depth = "Global"
        if config_user is None:
            has = name == "prvUseOfficeApps"  # colleagues who never sign in keep the default roles
        elif name in config_user.named_privileges:
            has = True
        else:
            for verb, op in (("Create", "create"), ("Read", "read"), ("Write", "write"), ("Delete", "delete")):
                for table in TABLES.values():
                    # Every activity table shares the Activity privileges (prvCreateActivity…); the emulator's
                    # roles grant them per table, so the email table's grant stands for them.
                    # https://learn.microsoft.com/en-us/previous-versions/dynamicscrm-2015/developers-guide/gg334198(v=crm.7)
                    logical = "email" if table.logical == "activitypointer" else table.logical
                    if name == f"prv{verb}{table.schema}" and config_user.may(op, logical):
                        has = True
                        if not mail_security.organization_wide(config_user, op, table.logical):
                            depth = "Basic"  # the user's own rows
        privileges = (
            [
                {
                    "Depth": depth,
                    "PrivilegeId": privilege_id(name),
                    "BusinessUnitId": self.business_unit_id,
                    "PrivilegeName": name,
                }
            ]
            if has
            else []
        )
        return json_response(
            200,
            {
                "@odata.context": f"{self.base}$metadata#Microsoft.Dynamics.CRM."
                "RetrieveUserPrivilegeByPrivilegeNameResponse",
                "RolePrivileges": privileges,
            },
        )

    # ---- reads ----------------------------------------------------------------------------------------------

    def _serializer(self, req: ApiRequest) -> tuple[Serializer, dict[str, str]]:
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

    def _query(self, table: Table, rows: list[Record] | None, req: ApiRequest) -> list[Record]:
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
        if rows is None and _QUERY_LANGUAGES.intersection(req.query):
            return self.query_language(table, req)
        unsupported = [k for k in req.query if k.startswith("$") and k not in QUERY_OPTIONS]
        if unsupported:
            raise syntax_error(f"The query parameter '{unsupported[0]}' is not supported.")
        select = parse_select(table, req.query.get("$select"))
        expands = parse_expand(req.query.get("$expand"))
        validate_expands(table, expands)
        serializer, prefs = self._serializer(req)
        matched = self._query(table, rows, req)
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
        given = sorted(_QUERY_LANGUAGES.intersection(req.query))
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
        serializer, _ = self._serializer(req)
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
        matched = self._query(table, None, req)
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
        rows = self._query(child, self.ops.related_rows(child, collection.column, record_id), req)
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
        return self._representation(200, table, record, select, expands, req)

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
        return self._representation(200, target, linked, select, expands, req)

    def property_value(self, table: Table, record_id: str, prop: str, raw: bool, req: ApiRequest) -> ApiResponse:
        """`GET|PUT|DELETE <set>(<id>)/<property>` (and `GET …/<property>/$value`): one column of one row.

        GET answers `{"value": …}` (204 when the column is empty), `$value` the bare value as text; PUT takes
        `{"value": …}`, DELETE empties the column; both answer 204.
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/retrieve-entity-using-web-api#retrieve-a-single-property-value
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/update-delete-entities-using-web-api#update-a-single-property-value
        """
        column = table.column_for_attribute(prop)
        if req.method == "GET":
            self.ops.require("read", table)
            value = self.ops.get(table, record_id).get(prop)
            if value is None:
                return ApiResponse(204, {"OData-Version": "4.0"})
            if raw:
                text = value if isinstance(value, str) else json.dumps(value)
                return ApiResponse(200, {"Content-Type": "text/plain", "OData-Version": "4.0"}, text.encode())
            context = f"{self.base}$metadata#{entity_path(table, record_id)}/{prop}"
            return json_response(200, {"@odata.context": context, "value": value})
        if raw or req.method not in ("PUT", "DELETE"):
            raise DataverseError(405, "0x80060888", f"The HTTP method '{req.method}' is not allowed here.")
        if column is not None and column.type == LOOKUP:
            raise DataverseError(
                400,
                "0x80060888",
                "CRM do not support direct update of Entity Reference properties, Use Navigation properties instead.",
            )
        if req.method == "PUT":
            body = self._body(table, req)
            if not isinstance(body, dict) or "value" not in body:
                raise payload_error(table, "The request body must be an object with a 'value' property.")
            value = body["value"]
        else:
            value = None
        with self.ops.store.transaction():
            existing = self.ops.get(table, record_id)
            self.ops.update(table, record_id, {prop: value}, existing)
        return ApiResponse(204, {"OData-Version": "4.0"})

    def _representation(
        self,
        status: int,
        table: Table,
        record: Record,
        select: list[str] | None,
        expands: list[Any],
        req: ApiRequest,
        headers: dict[str, str] | None = None,
    ) -> ApiResponse:
        validate_expands(table, expands)
        serializer, _ = self._serializer(req)
        fragment = context_fragment(table, select, req.query.get("$expand"))
        body = {"@odata.context": f"{self.base}$metadata#{fragment}/$entity"}
        body.update(serializer.record(table, record, select, expands))
        out = dict(headers or {})
        out["ETag"] = body["@odata.etag"]
        if serializer.annotations.patterns:
            out["Preference-Applied"] = f'odata.include-annotations="{",".join(serializer.annotations.patterns)}"'
        return json_response(status, body, out)

    # ---- writes ---------------------------------------------------------------------------------------------

    @staticmethod
    def _body(table: Table, req: ApiRequest) -> Any:
        try:
            return json.loads(req.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise payload_error(table, f"Invalid JSON. {exc}") from exc

    def _written(self, status: int, table: Table, record_id: str, req: ApiRequest) -> ApiResponse:
        headers = {"OData-EntityId": f"{self.base}{entity_path(table, record_id)}"}
        prefs = parse_prefer(req.headers.get("prefer"))
        if prefs.get("return") == "representation":
            select = parse_select(table, req.query.get("$select"))
            expands = parse_expand(req.query.get("$expand"))
            record = self.ops.get(table, record_id)
            headers["Preference-Applied"] = "return=representation"
            return self._representation(status, table, record, select, expands, req, headers)
        return ApiResponse(204, {"OData-Version": "4.0", **headers})

    def create(self, table: Table, req: ApiRequest) -> ApiResponse:
        """POST: create (with deep insert); 204 + OData-EntityId, or 201 with the record."""
        body = self._body(table, req)
        record_id = self.ops.create(table, body)
        return self._written(201, table, record_id, req)

    def upsert(self, table: Table, record_id: str, req: ApiRequest) -> ApiResponse:
        """PATCH: update, or create when missing (upsert), honouring If-Match / If-None-Match.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api
        """
        body = self._body(table, req)
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
            body = self._body(table, req)
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

    def collection_reference(
        self, table: Table, record_id: str, nav: str, child_key: str | None, req: ApiRequest
    ) -> ApiResponse:
        """`POST …/<collection>/$ref` with `{"@odata.id": url}` associates a row; `DELETE …/<collection>(<id>)/$ref` (or
        `…/<collection>/$ref?$id=<url>`) disassociates it. Both set or clear the child's lookup, as Dataverse does for a
        one-to-many relationship.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api#add-a-reference-to-a-collection-valued-navigation-property
        """
        collection = table.collections[nav]
        child = TABLES[collection.child]
        bind = f"{partner_of(collection, table)}@odata.bind"
        ops = self.ops
        with ops.store.transaction():
            ops.get(table, record_id)
            if req.method == "POST" and child_key is None:
                body = self._body(table, req)
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
                raise DataverseError(405, "0x80060888", f"The HTTP method '{req.method}' is not allowed here.")
        return ApiResponse(204, {"OData-Version": "4.0"})

    def reference(self, table: Table, record_id: str, nav: str, req: ApiRequest) -> ApiResponse:
        """`DELETE …/<nav>/$ref` disassociates; `PUT …/<nav>/$ref` with `{"@odata.id": url}` associates.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api
        """
        name, _, key = nav.partition("(")
        if name in table.collections:
            return self.collection_reference(table, record_id, name, key.rstrip(")") or None, req)
        if req.method == "DELETE":
            self.ops.set_reference(table, record_id, nav, None)
        elif req.method == "PUT":
            body = self._body(table, req)
            if not isinstance(body, dict) or "@odata.id" not in body:
                raise payload_error(table, "The request body must contain '@odata.id'.")
            self.ops.set_reference(table, record_id, nav, body["@odata.id"])
        else:
            raise DataverseError(405, "0x80060888", f"The HTTP method '{req.method}' is not allowed here.")
        return ApiResponse(204, {"OData-Version": "4.0"})


QUERY_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$expand", "$count", "$skiptoken"}
_QUERY_LANGUAGES = frozenset({"fetchXml", "savedQuery", "userQuery", "sql"})


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
