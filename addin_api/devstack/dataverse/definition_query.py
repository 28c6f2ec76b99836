"""Querying definition items: `$select`, `$filter`, `$orderby` and `$expand` over EntityDefinitions JSON, and the
MetadataFilterExpression criteria of RetrieveMetadataChanges.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query-metadata-web-api
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/query-schema-definitions
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from addin_api.devstack.dataverse.definition_json import (
    ENUM_CASTS,
    NS,
    Json,
    attribute_metadata,
    entity_metadata,
    key_metadata,
    option_set,
    relationship_items,
)
from addin_api.devstack.dataverse.errors import DataverseError, syntax_error
from addin_api.devstack.dataverse.filter_parser import parse_filter
from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.query import parse_expand, parse_orderby, parse_select, sort_records
from addin_api.devstack.dataverse.schema import BOOL, GUID, INT, MEMO, STRING, Column, Table


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
        if cast in ENUM_CASTS:
            derived.setdefault(f"{NS}.EnumAttributeMetadata", dict(base)).update(attribute)
    for cast, sample in derived.items():
        if cast in ENUM_CASTS or cast.endswith((".BooleanAttributeMetadata", ".EnumAttributeMetadata")):
            sample.update({"OptionSet": {}, "GlobalOptionSet": {}})
    entity = dict(entity_metadata(account))
    for nav in ("Attributes", "Keys", "OneToManyRelationships", "ManyToOneRelationships", "ManyToManyRelationships"):
        entity[nav] = []
    relationship = dict(relationship_items()[0])
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


def query_definitions(
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
        items = sort_records(table, items, parse_orderby(table, query["$orderby"]))
    select = parse_select(table, query.get("$select"))
    expands = _expands(table, query.get("$expand"), allowed_expand)
    return [_project(item, select, expands) for item in items]


def _expands(
    table: Table, text: str | None, allowed: dict[str, Callable[[Json], Any]]
) -> list[tuple[str, Callable[[Json], Any], list[str] | None, Table | None]]:
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


def metadata_properties(properties: Any) -> set[str] | None:
    """The PropertyNames of a MetadataPropertiesExpression (None: all properties)."""
    if not isinstance(properties, dict) or properties.get("AllProperties"):
        return None
    names = properties.get("PropertyNames")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise syntax_error("PropertyNames must be a list of property names.")
    return set(names)


def pick_properties(item: Json, names: set[str] | None) -> Json:
    if names is None:
        return dict(item)
    return {k: v for k, v in item.items() if k in names or k in ("@odata.type", "MetadataId")}


def metadata_criteria(criteria: Any) -> Callable[[Json], bool]:
    """A MetadataFilterExpression as a predicate on definition items."""
    if criteria is None:
        return lambda item: True
    if not isinstance(criteria, dict):
        raise syntax_error("Criteria must be a MetadataFilterExpression.")
    tests = [_metadata_condition(c) for c in criteria.get("Conditions") or []]
    tests += [metadata_criteria(f) for f in criteria.get("Filters") or []]
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
