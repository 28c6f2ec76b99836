"""Route one Web API request (a real one or a `$batch` part) to the record operations and shape the answer.

`dispatch` knows nothing of Flask: it takes an `ApiRequest` and returns an `ApiResponse`, so `$batch` parts run
through exactly the code plain requests do.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from addin_api.devstack.dataverse import keys, mail_messages, references
from addin_api.devstack.dataverse.calls import Calls
from addin_api.devstack.dataverse.csdl import csdl
from addin_api.devstack.dataverse.definitions import DEFINITION_SETS, Definitions
from addin_api.devstack.dataverse.errors import DataverseError, syntax_error
from addin_api.devstack.dataverse.filter_parser import RELATED
from addin_api.devstack.dataverse.metadata import BY_ENTITY_SET
from addin_api.devstack.dataverse.reads import QUERY_LANGUAGES, Reads
from addin_api.devstack.dataverse.records import Operations, Record
from addin_api.devstack.dataverse.schema import Table
from addin_api.devstack.dataverse.wire import (
    ApiRequest,
    ApiResponse,
    error_response,
    json_response,
    method_not_allowed,
    no_resource,
)
from addin_api.devstack.dataverse.writes import Writes

_PATH = re.compile(r"^(?P<set>[A-Za-z_.]+)(?:\((?P<key>[^)]*)\))?(?:/(?P<rest>.+))?$")
_PRIVILEGE_FUNCTION = re.compile(
    r"^Microsoft\.Dynamics\.CRM\.RetrieveUserPrivilegeByPrivilegeName\(PrivilegeName=(?P<arg>[^)]*)\)$"
)
_ACCESS_FUNCTION = re.compile(r"^Microsoft\.Dynamics\.CRM\.RetrievePrincipalAccess\(Target=(?P<arg>.*)\)$")
_CHECK_INCOMING = re.compile(r"^(?:Microsoft\.Dynamics\.CRM\.)?CheckIncomingEmail\((?P<args>.*)\)$", re.S)
_BULK_ACTIONS = ("Microsoft.Dynamics.CRM.CreateMultiple", "Microsoft.Dynamics.CRM.UpdateMultiple")


class Api:
    """The Web API of one caller: routes a request to the reads, writes, references, functions and actions."""

    def __init__(self, ops: Operations, business_unit_id: str, organization_id: str) -> None:
        self.ops = ops
        self.base = ops.api_base
        self.reads = Reads(ops, business_unit_id)
        self.writes = Writes(self.reads)
        self.calls = Calls(ops, business_unit_id, organization_id)

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

    def _route(self, req: ApiRequest) -> ApiResponse:
        path = unquote(req.path).strip("/")
        unbound = self._unbound(path, req)
        if unbound is not None:
            return unbound
        match = _PATH.match(path)
        if match is None:
            raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{path}'.")
        table = BY_ENTITY_SET.get(match.group("set"))
        if table is None:
            raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{match.group('set')}'.")
        key, rest = match.group("key"), match.group("rest")
        languages = sorted(QUERY_LANGUAGES.intersection(req.query))
        if languages and (key is not None or rest is not None or req.method != "GET"):
            raise syntax_error(f"The query parameter '{languages[0]}' is only valid when retrieving an entity set.")
        if key is None:
            return self._entity_set(table, rest, req)
        parsed = keys.parse_key(table, key)
        if parsed.alternate and rest is None and req.method == "PATCH":
            return self.writes.upsert_by_key(table, parsed, req)
        record_id = parsed.record_id or self._alternate_id(table, parsed)
        if rest is None:
            return self._record(table, record_id, req)
        return self._below_record(table, record_id, rest, req)

    def _unbound(self, path: str, req: ApiRequest) -> ApiResponse | None:
        """Unbound functions and actions, the service document and definitions (None: an entity set path)."""
        calls = self.calls
        if path in ("WhoAmI", "WhoAmI()"):
            return self._method(req, "GET", calls.who_am_i)
        metadata = self._definitions(path, req)
        if metadata is not None:
            return metadata
        if path in ("RetrieveVersion", "RetrieveVersion()"):
            return self._method(req, "GET", calls.retrieve_version)
        if path in ("GetTrackingTokenEmail", "Microsoft.Dynamics.CRM.GetTrackingTokenEmail"):
            return self._method(req, "POST", lambda: calls.mail_action("GetTrackingTokenEmail", None, req))
        incoming = _CHECK_INCOMING.match(path)
        if incoming is not None:
            params = mail_messages.parse_parameters(incoming.group("args"), req.query)
            return self._method(req, "GET", lambda: calls.mail_function("CheckIncomingEmail", params))
        return None

    def _entity_set(self, table: Table, rest: str | None, req: ApiRequest) -> ApiResponse:
        """`<set>`, `<set>/$count` and the bulk actions bound to a table."""
        if rest == "$count":
            return self._method(req, "GET", lambda: self.reads.count(table, req))
        if rest in _BULK_ACTIONS:
            action = rest
            return self._method(req, "POST", lambda: self.calls.bulk(table, action, req))
        if rest is not None:
            raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{rest}'.")
        if req.method == "GET":
            return self.reads.list_records(table, req)
        if req.method == "POST":
            return self.writes.create(table, req)
        raise method_not_allowed(req.method)

    def _record(self, table: Table, record_id: str, req: ApiRequest) -> ApiResponse:
        """`<set>(<key>)`: retrieve, update or upsert, delete."""
        handlers = {
            "GET": lambda: self.reads.retrieve(table, record_id, req),
            "PATCH": lambda: self.writes.upsert(table, record_id, req),
            "DELETE": lambda: self.writes.delete(table, record_id, req),
        }
        handler = handlers.get(req.method)
        if handler is None:
            raise method_not_allowed(req.method)
        return handler()

    def _below_record(self, table: Table, record_id: str, rest: str, req: ApiRequest) -> ApiResponse:
        """`<set>(<key>)/<rest>`: bound functions and actions, `$ref`, navigation properties, one column."""
        bound = self._bound(table, record_id, rest, req)
        if bound is not None:
            return bound
        if rest.endswith("/$ref"):
            return references.reference(self.ops, table, record_id, rest[: -len("/$ref")], req)
        if rest in table.collections and req.method == "GET":
            return self.reads.related(table, record_id, rest, req)
        if rest in table.navs:
            return self._method(req, "GET", lambda: self.reads.related_one(table, record_id, rest, req))
        if rest.endswith("/$count") and rest[: -len("/$count")] in table.collections:
            nav = rest[: -len("/$count")]
            return self._method(req, "GET", lambda: self.reads.related_count(table, record_id, nav, req))
        prop, _, raw = rest.partition("/")
        if table.column_for_attribute(prop) is not None and raw in ("", "$value"):
            if req.method == "GET":
                return self.reads.property_value(table, record_id, prop, raw == "$value")
            return self.writes.set_property(table, record_id, prop, raw == "$value", req)
        raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{rest}'.")

    def _bound(self, table: Table, record_id: str, rest: str, req: ApiRequest) -> ApiResponse | None:
        """The functions bound to a systemuser and the SendEmail action bound to an email (None: neither)."""
        calls = self.calls
        function = _PRIVILEGE_FUNCTION.match(rest)
        if function is not None and table.logical == "systemuser":
            arg = function.group("arg")
            if arg.startswith("@"):
                arg = req.query.get(arg, "")
            return self._method(req, "GET", lambda: calls.user_privilege(record_id, arg.strip("'")))
        access = _ACCESS_FUNCTION.match(rest)
        if access is not None and table.logical == "systemuser":
            target = access.group("arg")
            if target.startswith("@"):
                target = req.query.get(target, "")
            return self._method(req, "GET", lambda: calls.principal_access(record_id, target))
        if rest == "Microsoft.Dynamics.CRM.SendEmail" and table.logical == "email":
            return self._method(req, "POST", lambda: calls.mail_action("SendEmail", record_id, req))
        return None

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
