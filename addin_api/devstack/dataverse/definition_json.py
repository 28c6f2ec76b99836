"""EntityDefinitions JSON: EntityMetadata, AttributeMetadata, option sets, relationships and keys of each table.

Everything here is derived from `metadata.TABLES`, the definitions the emulator runs on, so what a client reads
about a table is what the emulator does with it.

- EntityDefinitions, Attributes, casts and `$expand=OptionSet`:
  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query-metadata-web-api
- By name (`EntityDefinitions(LogicalName='account')`, `Attributes(LogicalName='name')`):
  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/retrieve-metadata-name-metadataid
- Property shapes: https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/entitymetadata
  and https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/attributemetadata
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from addin_api.devstack.dataverse.metadata import TABLES, partner_of
from addin_api.devstack.dataverse.records import DEFAULT_STATUS, STATUS_STATE
from addin_api.devstack.dataverse.schema import (
    BOOL,
    DATEONLY,
    DATETIME,
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
    out.update(_type_properties(column, kind))
    return out


def _type_properties(column: Column, kind: str) -> Json:
    """The properties the derived AttributeMetadata type of a column adds (MaxLength, MinValue, Targets...)."""
    out: Json = {}
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
    mapping = STATUS_STATE.get(table.logical)
    if mapping is not None:
        return mapping.get(status)
    # Active/Inactive tables: statuscode 1 is Active (0), 2 Inactive (1); others follow their statecode default
    return {1: 0, 2: 1}.get(status, 0)


def _default_status(table: Table, state: int, statuses: Column | None) -> int | None:
    if table.logical in DEFAULT_STATUS:
        return DEFAULT_STATUS[table.logical].get(state)
    if statuses is None:
        return None
    return next((v for v in statuses.options if _state_of(table, v) == state), None)


def relationships() -> list[Json]:
    """Every one-to-many relationship: one per collection-valued navigation property (its SchemaName)."""
    return list(relationship_items())


@functools.lru_cache(maxsize=1)
def relationship_items() -> tuple[Json, ...]:
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


ENUM_CASTS = {f"{NS}.PicklistAttributeMetadata", f"{NS}.StateAttributeMetadata", f"{NS}.StatusAttributeMetadata"}
