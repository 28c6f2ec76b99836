"""Table definitions as the Web API serves them: the service document, `EntityDefinitions` and the other
definition sets (routing by key, name and cast; the JSON is built in `definition_json`, queried in `definition_query`).

Everything here is derived from `metadata.TABLES`, the definitions the emulator runs on, so what a client reads
about a table is what the emulator does with it.

- Service document and CSDL: https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/web-api-service-documents
- EntityDefinitions, Attributes, casts and `$expand=OptionSet`:
  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query-metadata-web-api
- By name (`EntityDefinitions(LogicalName='account')`, `Attributes(LogicalName='name')`):
  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/retrieve-metadata-name-metadataid
- Property shapes: https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/entitymetadata
  and https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/attributemetadata
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from addin_api.devstack.dataverse.definition_json import (
    ENUM_CASTS,
    NS,
    Json,
    attribute_kind,
    attribute_metadata,
    entity_metadata,
    key_metadata,
    metadata_id,
    option_set,
    relationships,
)
from addin_api.devstack.dataverse.definition_query import (
    metadata_criteria,
    metadata_properties,
    pick_properties,
    query_definitions,
)
from addin_api.devstack.dataverse.errors import DataverseError, privilege_denied, syntax_error
from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.schema import Column, Table

DEFINITION_SETS = (
    "EntityDefinitions",
    "RelationshipDefinitions",
    "GlobalOptionSetDefinitions",
    "RetrieveMetadataChanges",
)
_ENTITY_KEY = re.compile(r"^EntityDefinitions(?:\((?P<key>[^)]*)\))?(?:/(?P<rest>.*))?$")
_ATTRIBUTE = re.compile(r"^Attributes(?:\((?P<key>[^)]*)\))?(?:/(?P<cast>[\w.]+))?$")
_NAMED = re.compile(r"^(?:LogicalName|SchemaName|Name)='(?P<name>(?:[^']|'')*)'$")
_CASTS = {
    f"{NS}.{name}"
    for name in (
        "StringAttributeMetadata",
        "MemoAttributeMetadata",
        "IntegerAttributeMetadata",
        "BigIntAttributeMetadata",
        "BooleanAttributeMetadata",
        "DateTimeAttributeMetadata",
        "PicklistAttributeMetadata",
        "StateAttributeMetadata",
        "StatusAttributeMetadata",
        "MoneyAttributeMetadata",
        "LookupAttributeMetadata",
        "UniqueIdentifierAttributeMetadata",
        "EnumAttributeMetadata",
    )
}


def _not_found(kind: str, key: str) -> DataverseError:
    # A definition that does not exist: 404 with the metadata cache's message.
    if kind == "entity":
        return DataverseError(
            404, "0x80040217", f"Could not find entity with name or id '{key}'. Entity name or id not found."
        )
    return DataverseError(404, "0x80040217", f"Could not find attribute with name or id '{key}'.")


def _find_table(key: str) -> Table:
    named = _NAMED.match(key)
    if named is not None:
        name = named.group("name").replace("''", "'")
        table = TABLES.get(name)
        if table is None:
            raise _not_found("entity", name)
        return table
    try:
        wanted = str(uuid.UUID(key.strip().strip("'")))
    except ValueError as exc:
        raise DataverseError(400, "0x80060888", "Bad Request - Error in query syntax.") from exc
    for table in TABLES.values():
        if metadata_id("entity", table.logical) == wanted:
            return table
    raise _not_found("entity", wanted)


def _find_column(table: Table, key: str) -> Column:
    named = _NAMED.match(key)
    if named is not None:
        name = named.group("name").replace("''", "'")
        column = table.columns.get(name)
        if column is None:
            raise _not_found("attribute", name)
        return column
    try:
        wanted = str(uuid.UUID(key.strip()))
    except ValueError as exc:
        raise DataverseError(400, "0x80060888", "Bad Request - Error in query syntax.") from exc
    for column in table.columns.values():
        if metadata_id("attribute", table.logical, column.name) == wanted:
            return column
    raise _not_found("attribute", wanted)


def _cast_matches(table: Table, column: Column, cast: str | None) -> bool:
    if cast is None:
        return True
    if cast not in _CASTS:
        raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{cast}'.")
    _, derived = attribute_kind(table, column)
    if cast == f"{NS}.EnumAttributeMetadata":
        return f"{NS}.{derived}" in ENUM_CASTS
    return cast == f"{NS}.{derived}"


class Definitions:
    """Answers for the metadata routes; `base` is the service root (`https://host/api/data/v9.2/`)."""

    def __init__(self, base: str, systemuserid: str, privilege_count: int) -> None:
        self.base = base
        self.systemuserid = systemuserid
        self.privilege_count = privilege_count

    def service_document(self) -> Json:
        """`GET /api/data/v9.2/`: every entity set, as OData service documents list them."""
        return {
            "@odata.context": f"{self.base}$metadata",
            "value": [{"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set} for t in TABLES.values()],
        }

    def refuse_write(self, method: str) -> DataverseError:
        """Schema changes need a customizer's privileges (prvCreateEntity …), which no devstack role holds."""
        verb = {"POST": "create", "PATCH": "write", "PUT": "write", "DELETE": "delete"}.get(method, "write")
        entity = Table("entity", "EntityDefinitions", "MetadataId", "LogicalName", 9800, "Entity")
        return privilege_denied(self.systemuserid, self.privilege_count, verb, entity)

    def entity_definitions(self, path: str, query: dict[str, str]) -> Json:
        """`EntityDefinitions[(key)][/Attributes[(key)][/cast] | /Keys | /…Relationships]`."""
        match = _ENTITY_KEY.match(path)
        if match is None:
            raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{path}'.")
        key, rest = match.group("key"), match.group("rest")
        context = f"{self.base}$metadata#EntityDefinitions"
        expand = self._entity_expands()
        if key is None:
            if rest is not None:
                raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{rest}'.")
            items = [entity_metadata(t) for t in TABLES.values()]
            return {"@odata.context": context, "value": query_definitions(items, "EntityMetadata", query, expand)}
        table = _find_table(key)
        entity_path = metadata_id("entity", table.logical)
        if rest is None:
            select = query.get("$select")
            result = query_definitions([entity_metadata(table)], "EntityMetadata", query, expand)[0]
            fragment = f"EntityDefinitions({select})" if select else "EntityDefinitions"
            return {"@odata.context": f"{self.base}$metadata#{fragment}/$entity", **result}
        if rest in ("Keys", "OneToManyRelationships", "ManyToOneRelationships", "ManyToManyRelationships"):
            items = self._navigation(table, rest)
            shape = "EntityKeyMetadata" if rest == "Keys" else "RelationshipMetadataBase"
            return {
                "@odata.context": f"{context}({entity_path})/{rest}",
                "value": query_definitions(items, shape, query, {}),
            }
        return self._attributes(table, rest, query)

    def _attributes(self, table: Table, rest: str, query: dict[str, str]) -> Json:
        """`EntityDefinitions(key)/Attributes[(key)][/cast]`, with `$expand=OptionSet` on the enum casts."""
        context = f"{self.base}$metadata#EntityDefinitions"
        entity_path = metadata_id("entity", table.logical)
        attribute = _ATTRIBUTE.match(rest)
        if attribute is None:
            raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{rest}'.")
        cast = attribute.group("cast")
        option_expand: dict[str, Callable[[Json], Any]] = {}
        if cast in ENUM_CASTS or cast == f"{NS}.BooleanAttributeMetadata":
            # OptionSet/GlobalOptionSet are properties of the derived types only (cast first, then expand)
            option_expand = {
                "OptionSet": lambda item: option_set(table, table.columns[str(item["LogicalName"])]),
                "GlobalOptionSet": lambda item: None,  # the option sets here are local to their column
            }
        attr_key = attribute.group("key")
        suffix = f"/{cast}" if cast else ""
        if attr_key is None:
            columns = [c for c in table.columns.values() if _cast_matches(table, c, cast)]
            items = [attribute_metadata(table, c) for c in columns]
            return {
                "@odata.context": f"{context}({entity_path})/Attributes{suffix}",
                "value": query_definitions(items, cast or "AttributeMetadata", query, option_expand),
            }
        column = _find_column(table, attr_key)
        if not _cast_matches(table, column, cast):
            raise DataverseError(
                400,
                "0x80060888",
                f"The attribute '{column.name}' is not of type '{cast}'.",
            )
        result = query_definitions(
            [attribute_metadata(table, column)], cast or "AttributeMetadata", query, option_expand
        )[0]
        return {
            "@odata.context": f"{context}({entity_path})/Attributes({result['MetadataId']}){suffix}/$entity",
            **result,
        }

    def relationship_definitions(self, path: str, query: dict[str, str]) -> Json:
        """`RelationshipDefinitions[(key)]`: every one-to-many relationship (there are no many-to-many ones)."""
        context = f"{self.base}$metadata#RelationshipDefinitions"
        match = re.match(r"^RelationshipDefinitions(?:\((?P<key>[^)]*)\))?$", path)
        if match is None:
            raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{path}'.")
        items = relationships()
        key = match.group("key")
        if key is None:
            return {"@odata.context": context, "value": query_definitions(items, "RelationshipMetadataBase", query, {})}
        named = _NAMED.match(key)
        wanted = named.group("name") if named else key.strip()
        field = "SchemaName" if named else "MetadataId"
        found = [r for r in items if str(r[field]).lower() == wanted.lower()]
        if not found:
            raise DataverseError(404, "0x80040217", f"Could not find relationship with name or id '{wanted}'.")
        return {
            "@odata.context": f"{context}/$entity",
            **query_definitions(found, "RelationshipMetadataBase", query, {})[0],
        }

    def retrieve_metadata_changes(self, path: str, query: dict[str, str]) -> Json:
        """`RetrieveMetadataChanges(Query=@p1)`: the tables and columns an EntityQueryExpression selects, with only
        the properties it names (MetadataId and @odata.type always).

        Criteria are MetadataConditionExpressions (Equals, NotEquals, In, NotIn) joined by And/Or; a RelationshipQuery
        or KeyQuery is refused rather than ignored. There are never changes to report: ServerVersionStamp is fixed.
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/retrievemetadatachanges
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/query-schema-definitions
        """
        match = re.match(r"^RetrieveMetadataChanges\((?P<args>.*)\)$", path)
        if match is None:
            raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{path}'.")
        args: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in match.group("args").split(","))):
            name, _, value = part.partition("=")
            args[name.strip()] = query.get(value.strip(), "") if value.strip().startswith("@") else value.strip()
        try:
            expression = json.loads(args.get("Query") or "{}")
        except ValueError as exc:
            raise syntax_error("The Query parameter of RetrieveMetadataChanges is not valid JSON.") from exc
        if not isinstance(expression, dict):
            raise syntax_error("The Query parameter of RetrieveMetadataChanges must be an EntityQueryExpression.")
        for unsupported in ("RelationshipQuery", "KeyQuery"):
            if expression.get(unsupported):
                raise syntax_error(f"{unsupported} in RetrieveMetadataChanges is not supported by this environment.")
        entity_test = metadata_criteria(expression.get("Criteria"))
        entity_props = metadata_properties(expression.get("Properties"))
        attribute_query = expression.get("AttributeQuery")
        attribute_test = metadata_criteria(
            attribute_query.get("Criteria") if isinstance(attribute_query, dict) else None
        )
        attribute_props = metadata_properties(
            attribute_query.get("Properties") if isinstance(attribute_query, dict) else None
        )
        entities: list[Json] = []
        for table in TABLES.values():
            item = entity_metadata(table)
            if not entity_test(item):
                continue
            out = pick_properties(item, entity_props)
            if entity_props is None or "Attributes" in entity_props:
                attributes = [attribute_metadata(table, c) for c in table.columns.values()]
                out["Attributes"] = [pick_properties(a, attribute_props) for a in attributes if attribute_test(a)]
            entities.append(out)
        return {
            "@odata.context": f"{self.base}$metadata#{NS}.RetrieveMetadataChangesResponse",
            "EntityMetadata": entities,
            "ServerVersionStamp": "1!01/01/2025 00:00:00",
            "DeletedMetadata": None,
        }

    def global_option_sets(self, path: str, query: dict[str, str]) -> Json:
        """`GlobalOptionSetDefinitions[(Name='…')]`: every choice column here has a local option set, so the
        collection is empty and a name is a 404 — the GlobalOptionSet of each column is null to match."""
        context = f"{self.base}$metadata#GlobalOptionSetDefinitions"
        match = re.match(r"^GlobalOptionSetDefinitions(?:\((?P<key>[^)]*)\))?$", path)
        if match is None:
            raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{path}'.")
        if match.group("key") is None:
            return {"@odata.context": context, "value": query_definitions([], "OptionSetMetadata", query, {})}
        named = _NAMED.match(match.group("key"))
        wanted = named.group("name") if named else match.group("key")
        raise DataverseError(404, "0x80040217", f"Could not find optionset with name or id '{wanted}'.")

    @staticmethod
    def _navigation(table: Table, nav: str) -> list[Json]:
        if nav == "Keys":
            return key_metadata(table)
        if nav == "OneToManyRelationships":
            return [r for r in relationships() if r["ReferencedEntity"] == table.logical]
        if nav == "ManyToOneRelationships":
            return [r for r in relationships() if r["ReferencingEntity"] == table.logical]
        return []

    def _entity_expands(self) -> dict[str, Callable[[Json], Any]]:
        def table_of(item: Json) -> Table:
            return TABLES[str(item["LogicalName"])] if "LogicalName" in item else _by_id(str(item["MetadataId"]))

        out: dict[str, Callable[[Json], Any]] = {
            "Attributes": lambda item: [attribute_metadata(table_of(item), c) for c in table_of(item).columns.values()]
        }
        for nav in ("Keys", "OneToManyRelationships", "ManyToOneRelationships", "ManyToManyRelationships"):
            out[nav] = (lambda n: lambda item: self._navigation(table_of(item), n))(nav)
        return out


def _by_id(metadata: str) -> Table:
    return _find_table(metadata)
