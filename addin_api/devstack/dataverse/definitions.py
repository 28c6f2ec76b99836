"""Table definitions as the Web API serves them: the service document, `$metadata` (CSDL) and `EntityDefinitions`.

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

import functools
import json
import re
import uuid
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

from addin_api.devstack.dataverse.errors import DataverseError, privilege_denied, syntax_error
from addin_api.devstack.dataverse.metadata import TABLES, partner_of
from addin_api.devstack.dataverse.query import parse_filter, parse_select, sort_records
from addin_api.devstack.dataverse.schema import (
    BOOL,
    DATEONLY,
    DATETIME,
    EDM_TYPES,
    GUID,
    INT,
    LOOKUP,
    MEMO,
    MONEY,
    PICKLIST,
    STRING,
    Column,
    Table,
)

Json = dict[str, Any]
NS = "Microsoft.Dynamics.CRM"
LANGUAGE = 1033
CUSTOMER = ("account", "contact")


def metadata_id(*parts: str) -> str:
    """A stable MetadataId for a definition item."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "dataverse-metadata:" + ":".join(parts)))


def label(text: str, *parts: str) -> Json:
    """A Label complex value with one English LocalizedLabel."""
    localized = {
        "Label": text,
        "LanguageCode": LANGUAGE,
        "IsManaged": True,
        "MetadataId": metadata_id("label", *parts) if parts else None,
        "HasChanged": None,
    }
    return {"LocalizedLabels": [localized] if text else [], "UserLocalizedLabel": localized if text else None}


def _managed(value: bool, name: str) -> Json:
    return {"Value": value, "CanBeChanged": False, "ManagedPropertyLogicalName": name}


def _plural(schema: str) -> str:
    return f"{schema[:-1]}ies" if schema.endswith("y") else f"{schema}s"


def _title(name: str) -> str:
    # Attribute display names are not kept in the table definitions; the logical name stands in for them.
    return name.replace("_", " ").title()


# ---- EntityMetadata ------------------------------------------------------------------------------------------


def entity_metadata(table: Table) -> Json:
    """The EntityMetadata of a table (the commonly read properties)."""
    regarding = any(c.child == "activitypointer" for c in table.collections.values())
    return {
        "MetadataId": metadata_id("entity", table.logical),
        "LogicalName": table.logical,
        "SchemaName": table.schema_name,
        "EntitySetName": table.entity_set,
        "LogicalCollectionName": table.entity_set,
        "CollectionSchemaName": _plural(table.schema_name),
        "PrimaryIdAttribute": table.key,
        "PrimaryNameAttribute": table.primary_name,
        "PrimaryImageAttribute": None,
        "ObjectTypeCode": table.otc,
        "DisplayName": label(table.display[0], "entity", table.logical),
        "DisplayCollectionName": label(table.display[1], "entitycollection", table.logical),
        "Description": label(""),
        "OwnershipType": table.ownership,
        "TableType": "Standard",
        "IsActivity": table.is_activity,
        "IsActivityParty": table.logical in ("account", "contact", "lead", "systemuser"),
        "HasActivities": regarding,
        "HasNotes": regarding,
        "IsCustomEntity": False,
        "IsManaged": True,
        "IsPrivate": False,
        "IsIntersect": False,
        "IsLogicalEntity": table.logical == "activitypointer",
        "IsValidForAdvancedFind": True,
        "IsReadOnlyInMobileClient": False,
        "ChangeTrackingEnabled": True,
        "IsCustomizable": _managed(True, "iscustomizable"),
        "IntroducedVersion": "5.0.0.0",
    }


# ---- AttributeMetadata ---------------------------------------------------------------------------------------


def attribute_kind(table: Table, column: Column) -> tuple[str, str]:
    """(AttributeType, derived type name) of a column: ("Picklist", "PicklistAttributeMetadata")."""
    if column.type == GUID:
        return "Uniqueidentifier", "UniqueIdentifierAttributeMetadata"
    if column.type == LOOKUP:
        if column.name == "ownerid":
            return "Owner", "LookupAttributeMetadata"
        if tuple(sorted(column.targets)) == CUSTOMER:
            return "Customer", "LookupAttributeMetadata"
        return "Lookup", "LookupAttributeMetadata"
    if column.type == PICKLIST:
        if column.name == "statecode":
            return "State", "StateAttributeMetadata"
        if column.name == "statuscode":
            return "Status", "StatusAttributeMetadata"
        return "Picklist", "PicklistAttributeMetadata"
    if column.type == INT:
        if column.name == "versionnumber":
            return "BigInt", "BigIntAttributeMetadata"
        return "Integer", "IntegerAttributeMetadata"
    return {
        STRING: ("String", "StringAttributeMetadata"),
        MEMO: ("Memo", "MemoAttributeMetadata"),
        BOOL: ("Boolean", "BooleanAttributeMetadata"),
        DATETIME: ("DateTime", "DateTimeAttributeMetadata"),
        DATEONLY: ("DateTime", "DateTimeAttributeMetadata"),
        MONEY: ("Money", "MoneyAttributeMetadata"),
    }[column.type]


def _string_format(name: str) -> str:
    if name.startswith("emailaddress") or name == "internalemailaddress":
        return "Email"
    if name.startswith("telephone") or name in ("mobilephone", "fax") or name.endswith("_telephone1"):
        return "Phone"
    if name == "websiteurl":
        return "Url"
    return "Text"


def attribute_metadata(table: Table, column: Column) -> Json:
    """The AttributeMetadata of a column, with the properties of its derived type and `@odata.type`."""
    kind, derived = attribute_kind(table, column)
    required = "SystemRequired" if column.required or column.name == table.key else "None"
    out: Json = {
        "@odata.type": f"#{NS}.{derived}",
        "MetadataId": metadata_id("attribute", table.logical, column.name),
        "LogicalName": column.name,
        "SchemaName": column.name,
        "EntityLogicalName": table.logical,
        "AttributeType": kind,
        "AttributeTypeName": {"Value": f"{kind}Type"},
        "AttributeOf": None,
        "ColumnNumber": list(table.columns).index(column.name) + 1,
        "DisplayName": label(_title(column.name), "attribute", table.logical, column.name),
        "Description": label(""),
        "IsPrimaryId": column.name == table.key,
        "IsPrimaryName": column.name == table.primary_name,
        "IsValidForCreate": column.create,
        "IsValidForUpdate": column.update,
        "IsValidForRead": True,
        "IsCustomAttribute": False,
        "IsManaged": True,
        "IsLogical": False,
        "IsSecured": False,
        "IsFilterable": True,
        "IsSearchable": column.type in (STRING, MEMO),
        "IsValidForAdvancedFind": _managed(True, "canmodifysearchsettings"),
        "RequiredLevel": {
            "Value": required,
            "CanBeChanged": required != "SystemRequired",
            "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
        },
        "SourceType": 0,
        "IntroducedVersion": "5.0.0.0",
    }
    if column.type == STRING:
        fmt = _string_format(column.name)
        out.update({"MaxLength": column.max_length, "DatabaseLength": (column.max_length or 0) * 2})
        out.update({"Format": fmt, "FormatName": {"Value": fmt}, "ImeMode": "Auto"})
    elif column.type == MEMO:
        out.update({"MaxLength": column.max_length, "Format": "TextArea", "ImeMode": "Auto"})
    elif kind == "Integer":
        out.update({"MinValue": -2147483648, "MaxValue": 2147483647, "Format": "None"})
    elif kind == "BigInt":
        out.update({"MinValue": -9223372036854775808, "MaxValue": 9223372036854775807})
    elif column.type == MONEY:
        limit = 922337203685477
        out.update({"MinValue": -limit, "MaxValue": limit, "Precision": 2, "PrecisionSource": 2})
    elif column.type in (DATETIME, DATEONLY):
        date_only = column.type == DATEONLY
        out.update(
            {
                "Format": "DateOnly" if date_only else "DateAndTime",
                "DateTimeBehavior": {"Value": "DateOnly" if date_only else "UserLocal"},
                "MinSupportedValue": "1753-01-01T00:00:00Z",
                "MaxSupportedValue": "9999-12-30T23:59:59Z",
            }
        )
    elif column.type == LOOKUP:
        out.update({"Targets": list(column.targets), "Format": None})
    elif column.type == BOOL:
        out["DefaultValue"] = bool(column.default)
    elif column.type == PICKLIST:
        out["DefaultFormValue"] = column.default if isinstance(column.default, int) else -1
    return out


def option_set(table: Table, column: Column) -> Json | None:
    """The OptionSet of a choice, state, status or yes/no column (None for other columns)."""
    kind, _ = attribute_kind(table, column)
    name = f"{table.logical}_{column.name}"
    base: Json = {
        "MetadataId": metadata_id("optionset", name),
        "HasChanged": None,
        "Name": name,
        "IsGlobal": False,
        "IsCustomOptionSet": False,
        "IsManaged": True,
        "ParentOptionSetName": None,
        "ExternalTypeName": None,
        "IntroducedVersion": "5.0.0.0",
        "DisplayName": label(_title(column.name), "optionset", name),
        "Description": label(""),
        "IsCustomizable": _managed(True, "iscustomizable"),
    }
    if column.type == BOOL:
        false_label, true_label = column.labels
        base.update(
            {
                "OptionSetType": "Boolean",
                "TrueOption": _option(1, true_label, name),
                "FalseOption": _option(0, false_label, name),
            }
        )
        return base
    if column.type != PICKLIST:
        return None
    options = [_option(value, text, name) for value, text in column.options.items()]
    if kind == "State":
        statuses = TABLES[table.logical].columns.get("statuscode")
        for option in options:
            option["@odata.type"] = f"#{NS}.StateOptionMetadata"
            option["InvariantName"] = option["Label"]["UserLocalizedLabel"]["Label"]
            option["DefaultStatus"] = _default_status(table, int(option["Value"]), statuses)
    elif kind == "Status":
        for option in options:
            option["@odata.type"] = f"#{NS}.StatusOptionMetadata"
            option["State"] = _state_of(table, int(option["Value"]))
    base.update({"OptionSetType": kind, "Options": options})
    return base


def _option(value: int, text: str, name: str) -> Json:
    return {
        "Value": value,
        "Color": None,
        "IsManaged": True,
        "ExternalValue": "",
        "ParentValues": [],
        "Tag": None,
        "IsHidden": False,
        "MetadataId": None,
        "HasChanged": None,
        "Label": label(text, "option", name, str(value)),
        "Description": label(""),
    }


def _state_of(table: Table, status: int) -> int | None:
    from addin_api.devstack.dataverse.records import STATUS_STATE

    mapping = STATUS_STATE.get(table.logical)
    if mapping is not None:
        return mapping.get(status)
    # Active/Inactive tables: statuscode 1 is Active (0), 2 Inactive (1); others follow their statecode default
    return {1: 0, 2: 1}.get(status, 0)


def _default_status(table: Table, state: int, statuses: Column | None) -> int | None:
    from addin_api.devstack.dataverse.records import DEFAULT_STATUS

    if table.logical in DEFAULT_STATUS:
        return DEFAULT_STATUS[table.logical].get(state)
    if statuses is None:
        return None
    return next((v for v in statuses.options if _state_of(table, v) == state), None)


# ---- relationships and keys ----------------------------------------------------------------------------------


def relationships() -> list[Json]:
    """Every one-to-many relationship: one per collection-valued navigation property (its SchemaName)."""
    return list(_relationships())


@functools.lru_cache(maxsize=1)
def _relationships() -> tuple[Json, ...]:
    out: list[Json] = []
    for parent in TABLES.values():
        for collection in parent.collections.values():
            out.append(
                {
                    "@odata.type": f"#{NS}.OneToManyRelationshipMetadata",
                    "MetadataId": metadata_id("relationship", collection.name),
                    "SchemaName": collection.name,
                    "RelationshipType": "OneToManyRelationship",
                    "ReferencedEntity": parent.logical,
                    "ReferencedAttribute": parent.key,
                    "ReferencingEntity": collection.child,
                    "ReferencingAttribute": collection.column,
                    "ReferencedEntityNavigationPropertyName": collection.name,
                    "ReferencingEntityNavigationPropertyName": partner_of(collection, parent),
                    "IsCustomRelationship": False,
                    "IsManaged": True,
                    "IsHierarchical": False,
                    "IsValidForAdvancedFind": True,
                    "SecurityTypes": "None",
                    "RelationshipBehavior": 0,
                    "IntroducedVersion": "5.0.0.0",
                    "CascadeConfiguration": {
                        "Assign": "NoCascade",
                        "Delete": "RemoveLink",
                        "Merge": "NoCascade",
                        "Reparent": "NoCascade",
                        "Share": "NoCascade",
                        "Unshare": "NoCascade",
                        "RollupView": "NoCascade",
                    },
                }
            )
    return tuple(out)


def key_metadata(table: Table) -> list[Json]:
    """The EntityKeyMetadata of a table's alternate keys."""
    return [
        {
            "MetadataId": metadata_id("key", table.logical, key.name),
            "LogicalName": key.name,
            "SchemaName": key.name,
            "KeyAttributes": list(key.columns),
            "EntityLogicalName": table.logical,
            "EntityKeyIndexStatus": "Active",
            "DisplayName": label(key.display, "key", table.logical, key.name),
            "IsManaged": False,
            "IsCustomizable": _managed(True, "iscustomizable"),
            "IntroducedVersion": "1.0",
            "AsyncJob": None,
        }
        for key in table.keys
    ]


# ---- querying definitions ------------------------------------------------------------------------------------


def _shape(name: str, sample: Json) -> Table:
    """A Table describing definition items of one type, so `$select`/`$filter`/`$orderby` parse against it."""
    table = Table(name, name, "MetadataId", "LogicalName", 0, name)
    for prop, value in sample.items():
        if prop.startswith("@"):
            continue
        if isinstance(value, bool):
            kind = BOOL
        elif isinstance(value, int):
            kind = INT
        elif prop == "MetadataId":
            kind = GUID
        elif isinstance(value, str) or value is None:
            kind = STRING
        else:
            kind = MEMO  # complex values: selectable, compared as opaque
        table.columns[prop] = Column(prop, kind)
    return table


@functools.lru_cache(maxsize=1)
def _shapes() -> dict[str, Table]:
    account = TABLES["account"]
    # AttributeMetadata has the properties every column has; each derived type (the cast) adds its own
    every = [attribute_metadata(t, c) for t in TABLES.values() for c in t.columns.values()]
    common = set.intersection(*(set(a) for a in every))
    base = {k: v for k, v in every[0].items() if k in common}
    derived: dict[str, Json] = {}
    for attribute in every:
        cast = str(attribute["@odata.type"]).lstrip("#")
        derived.setdefault(cast, dict(base)).update(attribute)
        if cast in _ENUM_CASTS:
            derived.setdefault(f"{NS}.EnumAttributeMetadata", dict(base)).update(attribute)
    for cast, sample in derived.items():
        if cast in _ENUM_CASTS or cast.endswith((".BooleanAttributeMetadata", ".EnumAttributeMetadata")):
            sample.update({"OptionSet": {}, "GlobalOptionSet": {}})
    entity = dict(entity_metadata(account))
    for nav in ("Attributes", "Keys", "OneToManyRelationships", "ManyToOneRelationships", "ManyToManyRelationships"):
        entity[nav] = []
    relationship = dict(_relationships()[0])
    return {
        "EntityMetadata": _shape("EntityMetadata", entity),
        "AttributeMetadata": _shape("AttributeMetadata", base),
        **{cast: _shape(cast.rsplit(".", 1)[1], sample) for cast, sample in derived.items()},
        "EntityKeyMetadata": _shape("EntityKeyMetadata", {**key_metadata(account)[0]}),
        "RelationshipMetadataBase": _shape("RelationshipMetadataBase", relationship),
        "OptionSetMetadata": _shape(
            "OptionSetMetadata", {**(option_set(account, account.columns["industrycode"]) or {})}
        ),
    }


_ENUM_LITERAL = re.compile(r"Microsoft\.Dynamics\.CRM\.\w+'((?:[^']|'')*)'")


def _query(
    items: list[Json], shape: str, query: dict[str, str], allowed_expand: dict[str, Callable[[Json], Any]]
) -> list[Json]:
    """Apply `$filter`, `$orderby`, `$expand` and `$select` to definition items (MetadataId always comes)."""
    table = _shapes()[shape]
    unsupported = [k for k in query if k.startswith("$") and k not in ("$select", "$filter", "$expand", "$orderby")]
    if unsupported:
        raise syntax_error(f"The query parameter '{unsupported[0]}' is not supported on metadata.")
    if "$filter" in query:
        # enum literals (`Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'`) compare as their member names
        predicate = parse_filter(table, _ENUM_LITERAL.sub(lambda m: f"'{m.group(1)}'", query["$filter"]))
        items = [i for i in items if predicate(i)]
    if "$orderby" in query:
        from addin_api.devstack.dataverse.query import parse_orderby

        items = sort_records(table, items, parse_orderby(table, query["$orderby"]))
    select = parse_select(table, query.get("$select"))
    expands = _expands(table, query.get("$expand"), allowed_expand)
    return [_project(item, select, expands) for item in items]


def _expands(
    table: Table, text: str | None, allowed: dict[str, Callable[[Json], Any]]
) -> list[tuple[str, Callable[[Json], Any], list[str] | None, Table | None]]:
    from addin_api.devstack.dataverse.query import parse_expand

    out: list[tuple[str, Callable[[Json], Any], list[str] | None, Table | None]] = []
    for item in parse_expand(text):
        if item.nav not in allowed:
            raise DataverseError(
                400, "0x80060888", f"Could not find a property named '{item.nav}' on type '{NS}.{table.logical}'."
            )
        if set(item.options) - {"$select"}:
            raise syntax_error(f"Only $select is supported when expanding '{item.nav}'.")
        inner_shape = _EXPAND_SHAPES.get(item.nav)
        inner = _shapes()[inner_shape] if inner_shape else None
        select = parse_select(inner, item.options["$select"]) if inner and "$select" in item.options else None
        out.append((item.nav, allowed[item.nav], select, inner))
    return out


_EXPAND_SHAPES = {
    "Attributes": "AttributeMetadata",
    "Keys": "EntityKeyMetadata",
    "OneToManyRelationships": "RelationshipMetadataBase",
    "ManyToOneRelationships": "RelationshipMetadataBase",
    "ManyToManyRelationships": "RelationshipMetadataBase",
    "OptionSet": "OptionSetMetadata",
    "GlobalOptionSet": "OptionSetMetadata",
}


def _project(
    item: Json,
    select: list[str] | None,
    expands: list[tuple[str, Callable[[Json], Any], list[str] | None, Table | None]],
) -> Json:
    if select is None:
        out = dict(item)
    else:
        out = {k: item[k] for k in ("@odata.type", "MetadataId") if k in item}
        out.update({name: item.get(name) for name in select})
    for nav, resolve, inner_select, _ in expands:
        value = resolve(item)
        if isinstance(value, list):
            out[nav] = [_project(v, inner_select, []) for v in value]
        elif isinstance(value, dict):
            out[nav] = _project(value, inner_select, [])
        else:
            out[nav] = None
    return out


# ---- routing -------------------------------------------------------------------------------------------------

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
_ENUM_CASTS = {f"{NS}.PicklistAttributeMetadata", f"{NS}.StateAttributeMetadata", f"{NS}.StatusAttributeMetadata"}


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
        return f"{NS}.{derived}" in _ENUM_CASTS
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
            return {"@odata.context": context, "value": _query(items, "EntityMetadata", query, expand)}
        table = _find_table(key)
        entity_path = metadata_id("entity", table.logical)
        if rest is None:
            select = query.get("$select")
            result = _query([entity_metadata(table)], "EntityMetadata", query, expand)[0]
            fragment = f"EntityDefinitions({select})" if select else "EntityDefinitions"
            return {"@odata.context": f"{self.base}$metadata#{fragment}/$entity", **result}
        if rest in ("Keys", "OneToManyRelationships", "ManyToOneRelationships", "ManyToManyRelationships"):
            items = self._navigation(table, rest)
            shape = "EntityKeyMetadata" if rest == "Keys" else "RelationshipMetadataBase"
            return {"@odata.context": f"{context}({entity_path})/{rest}", "value": _query(items, shape, query, {})}
        attribute = _ATTRIBUTE.match(rest)
        if attribute is None:
            raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{rest}'.")
        cast = attribute.group("cast")
        option_expand: dict[str, Callable[[Json], Any]] = {}
        if cast in _ENUM_CASTS or cast == f"{NS}.BooleanAttributeMetadata":
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
                "value": _query(items, cast or "AttributeMetadata", query, option_expand),
            }
        column = _find_column(table, attr_key)
        if not _cast_matches(table, column, cast):
            raise DataverseError(
                400,
                "0x80060888",
                f"The attribute '{column.name}' is not of type '{cast}'.",
            )
        result = _query([attribute_metadata(table, column)], cast or "AttributeMetadata", query, option_expand)[0]
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
            return {"@odata.context": context, "value": _query(items, "RelationshipMetadataBase", query, {})}
        named = _NAMED.match(key)
        wanted = named.group("name") if named else key.strip()
        field = "SchemaName" if named else "MetadataId"
        found = [r for r in items if str(r[field]).lower() == wanted.lower()]
        if not found:
            raise DataverseError(404, "0x80040217", f"Could not find relationship with name or id '{wanted}'.")
        return {"@odata.context": f"{context}/$entity", **_query(found, "RelationshipMetadataBase", query, {})[0]}

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
        entity_test = _metadata_criteria(expression.get("Criteria"))
        entity_props = _metadata_properties(expression.get("Properties"))
        attribute_query = expression.get("AttributeQuery")
        attribute_test = _metadata_criteria(
            attribute_query.get("Criteria") if isinstance(attribute_query, dict) else None
        )
        attribute_props = _metadata_properties(
            attribute_query.get("Properties") if isinstance(attribute_query, dict) else None
        )
        entities: list[Json] = []
        for table in TABLES.values():
            item = entity_metadata(table)
            if not entity_test(item):
                continue
            out = _pick(item, entity_props)
            if entity_props is None or "Attributes" in entity_props:
                attributes = [attribute_metadata(table, c) for c in table.columns.values()]
                out["Attributes"] = [_pick(a, attribute_props) for a in attributes if attribute_test(a)]
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
            return {"@odata.context": context, "value": _query([], "OptionSetMetadata", query, {})}
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


def _metadata_properties(properties: Any) -> set[str] | None:
    """The PropertyNames of a MetadataPropertiesExpression (None: all properties)."""
    if not isinstance(properties, dict) or properties.get("AllProperties"):
        return None
    names = properties.get("PropertyNames")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise syntax_error("PropertyNames must be a list of property names.")
    return set(names)


def _pick(item: Json, names: set[str] | None) -> Json:
    if names is None:
        return dict(item)
    return {k: v for k, v in item.items() if k in names or k in ("@odata.type", "MetadataId")}


def _metadata_criteria(criteria: Any) -> Callable[[Json], bool]:
    """A MetadataFilterExpression as a predicate on definition items."""
    if criteria is None:
        return lambda item: True
    if not isinstance(criteria, dict):
        raise syntax_error("Criteria must be a MetadataFilterExpression.")
    tests = [_metadata_condition(c) for c in criteria.get("Conditions") or []]
    tests += [_metadata_criteria(f) for f in criteria.get("Filters") or []]
    if str(criteria.get("FilterOperator", "And")) == "Or":
        return lambda item: any(t(item) for t in tests) if tests else True
    return lambda item: all(t(item) for t in tests)


def _metadata_condition(condition: Any) -> Callable[[Json], bool]:
    if not isinstance(condition, dict) or not isinstance(condition.get("PropertyName"), str):
        raise syntax_error("A MetadataConditionExpression needs a PropertyName.")
    prop = condition["PropertyName"]
    operator = condition.get("ConditionOperator", "Equals")
    raw = condition.get("Value")
    value = raw.get("Value") if isinstance(raw, dict) else raw
    values = value if isinstance(value, list) else [value]

    def same(actual: Any, expected: Any) -> bool:
        if isinstance(actual, str) and isinstance(expected, str):
            return actual.casefold() == expected.casefold()
        return bool(actual == expected)

    if operator in ("Equals", "NotEquals"):
        equal = operator == "Equals"
        return lambda item: same(item.get(prop), value) == equal
    if operator in ("In", "NotIn"):
        inside = operator == "In"
        return lambda item: any(same(item.get(prop), v) for v in values) == inside
    raise syntax_error(f"The metadata condition operator '{operator}' is not supported by this environment.")


def _by_id(metadata: str) -> Table:
    return _find_table(metadata)


# ---- $metadata (CSDL) ----------------------------------------------------------------------------------------

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"


@functools.lru_cache(maxsize=1)
def csdl() -> bytes:
    """The CSDL document of every table: entity types with keys, properties and navigation properties, and the
    `System` entity container with one entity set per table.

    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/web-api-service-documents#csdl-metadata-document
    """
    ElementTree.register_namespace("edmx", EDMX)
    root = ElementTree.Element(f"{{{EDMX}}}Edmx", {"Version": "4.0"})
    services = ElementTree.SubElement(root, f"{{{EDMX}}}DataServices")
    schema = ElementTree.SubElement(services, "Schema", {"Namespace": NS, "Alias": "mscrm", "xmlns": EDM})
    ElementTree.SubElement(schema, "EntityType", {"Name": "crmbaseentity", "Abstract": "true"})
    for table in TABLES.values():
        entity = ElementTree.SubElement(
            schema, "EntityType", {"Name": table.logical, "BaseType": "mscrm.crmbaseentity"}
        )
        key = ElementTree.SubElement(entity, "Key")
        ElementTree.SubElement(key, "PropertyRef", {"Name": table.key})
        for column in table.columns.values():
            edm = "Edm.Int64" if column.name == "versionnumber" else EDM_TYPES[column.type]
            attrs = {"Name": column.attribute, "Type": edm}
            if column.name == table.key:
                attrs["Nullable"] = "false"
            if column.type in (STRING, MEMO):
                attrs["Unicode"] = "false"
            if column.type == MONEY:
                attrs["Scale"] = "Variable"
            ElementTree.SubElement(entity, "Property", attrs)
        for nav in table.navs.values():
            target = TABLES.get(nav.target)
            if target is None:
                continue
            partner = next(
                (
                    c.name
                    for c in target.collections.values()
                    if c.child == table.logical and c.column == nav.column and partner_of(c, target) == nav.name
                ),
                None,
            )
            attrs = {"Name": nav.name, "Type": f"mscrm.{target.logical}", "Nullable": "false"}
            if partner:
                attrs["Partner"] = partner
            element = ElementTree.SubElement(entity, "NavigationProperty", attrs)
            ElementTree.SubElement(
                element, "ReferentialConstraint", {"Property": f"_{nav.column}_value", "ReferencedProperty": target.key}
            )
        for collection in table.collections.values():
            ElementTree.SubElement(
                entity,
                "NavigationProperty",
                {
                    "Name": collection.name,
                    "Type": f"Collection(mscrm.{collection.child})",
                    "Partner": partner_of(collection, table),
                },
            )
    _functions(schema)
    container = ElementTree.SubElement(schema, "EntityContainer", {"Name": "System"})
    for table in TABLES.values():
        entity_set = ElementTree.SubElement(
            container, "EntitySet", {"Name": table.entity_set, "EntityType": f"{NS}.{table.logical}"}
        )
        targets = {nav.name: nav.target for nav in table.navs.values() if nav.target in TABLES}
        targets.update({c.name: c.child for c in table.collections.values()})
        for path, target_name in targets.items():
            ElementTree.SubElement(
                entity_set, "NavigationPropertyBinding", {"Path": path, "Target": TABLES[target_name].entity_set}
            )
    ElementTree.SubElement(container, "FunctionImport", {"Name": "WhoAmI", "Function": f"{NS}.WhoAmI"})
    document: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>' + document


def _functions(schema: ElementTree.Element) -> None:
    """The functions the emulator answers: WhoAmI and RetrieveUserPrivilegeByPrivilegeName."""
    who = ElementTree.SubElement(schema, "ComplexType", {"Name": "WhoAmIResponse"})
    for name in ("BusinessUnitId", "UserId", "OrganizationId"):
        ElementTree.SubElement(who, "Property", {"Name": name, "Type": "Edm.Guid", "Nullable": "false"})
    privilege = ElementTree.SubElement(schema, "ComplexType", {"Name": "RolePrivilege"})
    for name, edm in (("Depth", "Edm.String"), ("PrivilegeId", "Edm.Guid"), ("BusinessUnitId", "Edm.Guid")):
        ElementTree.SubElement(privilege, "Property", {"Name": name, "Type": edm})
    ElementTree.SubElement(privilege, "Property", {"Name": "PrivilegeName", "Type": "Edm.String"})
    response = ElementTree.SubElement(schema, "ComplexType", {"Name": "RetrieveUserPrivilegeByPrivilegeNameResponse"})
    ElementTree.SubElement(response, "Property", {"Name": "RolePrivileges", "Type": "Collection(mscrm.RolePrivilege)"})
    function = ElementTree.SubElement(schema, "Function", {"Name": "WhoAmI"})
    ElementTree.SubElement(function, "ReturnType", {"Type": "mscrm.WhoAmIResponse", "Nullable": "false"})
    bound = ElementTree.SubElement(
        schema, "Function", {"Name": "RetrieveUserPrivilegeByPrivilegeName", "IsBound": "true"}
    )
    ElementTree.SubElement(bound, "Parameter", {"Name": "entity", "Type": "mscrm.systemuser", "Nullable": "false"})
    ElementTree.SubElement(bound, "Parameter", {"Name": "PrivilegeName", "Type": "Edm.String", "Nullable": "false"})
    ElementTree.SubElement(
        bound, "ReturnType", {"Type": "mscrm.RetrieveUserPrivilegeByPrivilegeNameResponse", "Nullable": "false"}
    )
