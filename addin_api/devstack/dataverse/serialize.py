"""Turn stored records into Web API JSON: `@odata.etag`, `$select`, `$expand` and the annotations clients ask for.

Annotations follow `Prefer: odata.include-annotations` (`"*"` or a comma list, `*` allowed as a suffix):
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/select-columns#formatted-values
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from addin_api.devstack.dataverse.errors import syntax_error, unknown_query_property
from addin_api.devstack.dataverse.filter_parser import parse_filter
from addin_api.devstack.dataverse.functions import FilterContext
from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.query import (
    Expand,
    parse_expand,
    parse_orderby,
    parse_select,
    parse_top,
    sort_records,
)
from addin_api.devstack.dataverse.records import Operations
from addin_api.devstack.dataverse.schema import BOOL, DATEONLY, DATETIME, INT, LOOKUP, MONEY, PICKLIST, Table

Record = dict[str, Any]

FORMATTED = "OData.Community.Display.V1.FormattedValue"
_SAFE = "'(),$=:"  # left as they are in the query options of a link
LOOKUP_LOGICAL = "Microsoft.Dynamics.CRM.lookuplogicalname"
ASSOCIATED_NAV = "Microsoft.Dynamics.CRM.associatednavigationproperty"


@dataclass(frozen=True)
class Annotations:
    """Which instance annotations the client asked for."""

    patterns: tuple[str, ...] = ()

    def wants(self, name: str) -> bool:
        """Tell whether an annotation is included."""
        for pattern in self.patterns:
            if pattern == "*" or pattern == name or (pattern.endswith("*") and name.startswith(pattern[:-1])):
                return True
        return False

    @classmethod
    def from_prefer(cls, value: str | None) -> Annotations:
        """Read them from `odata.include-annotations=...` in a Prefer value (None: none)."""
        if not value:
            return cls()
        return cls(tuple(p.strip() for p in value.strip('"').split(",") if p.strip()))


def formatted(column_type: str, value: Any, options: dict[int, str], labels: tuple[str, str]) -> str | None:
    """The display string Dataverse puts in the FormattedValue annotation."""
    if value is None:
        return None
    if column_type == PICKLIST:
        return options.get(int(value), str(value))
    if column_type == BOOL:
        return labels[1] if value else labels[0]
    if column_type == DATETIME:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
        hour = moment.hour % 12 or 12
        suffix = "AM" if moment.hour < 12 else "PM"
        return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d} {suffix}"
    if column_type == DATEONLY:
        day = date.fromisoformat(str(value))
        return f"{day.month}/{day.day}/{day.year}"
    if column_type == MONEY:
        return f"${float(value):,.2f}"
    if column_type == INT:
        return f"{int(value):,}"
    return None


class Serializer:
    """Render records of one request."""

    def __init__(self, ops: Operations, annotations: Annotations) -> None:
        self.ops = ops
        self.annotations = annotations
        # asked once per request instead of once per column of every row
        self._formatted = annotations.wants(FORMATTED)
        self._associated_nav = annotations.wants(ASSOCIATED_NAV)
        self._lookup_logical = annotations.wants(LOOKUP_LOGICAL)
        # what a `$filter` inside `$expand` reads besides the row (query functions, lookup paths, aliases)
        self.filter_context: FilterContext | None = None
        self.aliases: dict[str, str] | None = None
        # odata.maxpagesize when some $expand of the query is nested: then expanded collections are paged too
        self.expand_page_size: int | None = None

    def primary_name(self, logical: str | None, record_id: str | None) -> str | None:
        """The primary-name value of a record (for lookup FormattedValue)."""
        if not logical or not record_id or logical not in TABLES:
            return None
        table = TABLES[logical]
        record = self.ops.fetch(table, record_id)
        if record is None:
            return None
        value = record.get(table.primary_name)
        return str(value) if value is not None else None

    def record(
        self, table: Table, record: Record, select: list[str] | None, expands: list[Expand] | None = None
    ) -> dict[str, Any]:
        """Render one record."""
        out: dict[str, Any] = {"@odata.etag": f'W/"{record.get("versionnumber")}"'}
        names = table.attributes if select is None else [*select, table.key]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            column = table.column_for_attribute(name)
            if column is None:
                continue
            value = record.get(name)
            if column.type == LOOKUP:
                if value is not None:
                    target = record.get(f"{name}@lookuplogicalname")
                    if self._formatted:
                        out[f"{name}@{FORMATTED}"] = self.primary_name(target, value)
                    if self._associated_nav:
                        out[f"{name}@{ASSOCIATED_NAV}"] = record.get(f"{name}@nav")
                    if self._lookup_logical:
                        out[f"{name}@{LOOKUP_LOGICAL}"] = target
                out[name] = value
                continue
            if value is not None and self._formatted and name != "versionnumber":
                text = formatted(column.type, value, column.options, column.labels)
                if text is not None:
                    out[f"{name}@{FORMATTED}"] = text
            out[name] = value
        for expand in expands or []:
            if expand.nav in table.collections:
                out[expand.nav], out[f"{expand.nav}@odata.nextLink"] = self.collection(table, record, expand)
            else:
                out[expand.nav] = self.expand(table, record, expand)
        return out

    def expand(self, table: Table, record: Record, expand: Expand) -> Any:
        """Render one `$expand` item of a record, with the items nested in it.

        A single-valued navigation property takes `$select` and `$expand`; a collection-valued one also takes
        `$filter`, `$orderby` and `$top`:
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/join-tables
        """
        select_text = expand.options.get("$select")
        nested = parse_expand(expand.options.get("$expand"))
        if expand.nav in table.navs:
            nav = table.navs[expand.nav]
            target = TABLES.get(nav.target)
            if target is None:
                raise unknown_query_property(table, expand.nav)
            self.ops.require("read", target)
            select = parse_select(target, select_text)
            prop = f"_{nav.column}_value"
            linked_id, linked_table = record.get(prop), record.get(f"{prop}@lookuplogicalname")
            if linked_id is None:
                return None
            if nav.target != "activitypointer" and linked_table != nav.target:
                return None
            linked = self.ops.readable(target, str(linked_id))
            return None if linked is None else self.record(target, linked, select, nested)
        if expand.nav in table.collections:
            return self.collection(table, record, expand)[0]
        raise unknown_query_property(table, expand.nav)

    def collection(self, table: Table, record: Record, expand: Expand) -> tuple[list[dict[str, Any]], str]:
        """Render an expanded collection-valued navigation property and its `<nav>@odata.nextLink`.

        The link addresses the related collection with the expansion's options; when some `$expand` is nested and
        `odata.maxpagesize` is set, the collection is paged and the link asks for the next page:
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/join-tables#expand-collection-valued-navigation-properties
        """
        collection = table.collections[expand.nav]
        child = TABLES[collection.child]
        self.ops.require("read", child)
        select = parse_select(child, expand.options.get("$select"))
        nested = parse_expand(expand.options.get("$expand"))
        rows = self.ops.related_rows(child, collection.column, record.get(table.key))
        if "$filter" in expand.options:
            predicate = parse_filter(child, expand.options["$filter"], self.filter_context, self.aliases)
            rows = [r for r in rows if predicate(r)]
        rows = sort_records(child, rows, parse_orderby(child, expand.options.get("$orderby")))
        top = parse_top(expand.options.get("$top"))
        if top is not None:
            rows = rows[:top]
        options = [f"{name}={quote(value, safe=_SAFE)}" for name, value in expand.options.items()]
        if self.expand_page_size is not None:
            rows = rows[: self.expand_page_size]
            last = rows[-1][child.key] if rows else ""
            cookie = quote(f'<cookie page="1"><{child.key} last="{{{last}}}" /></cookie>', safe="")
            token = f'<cookie pagenumber="2" pagingcookie="{cookie}" istracking="False" />'
            options.append(f"$skiptoken={quote(token, safe=_SAFE)}")
        link = f"{self.ops.api_base}{table.entity_set}({record.get(table.key)})/{expand.nav}"
        if options:
            link += "?" + "&".join(options)
        return [self.record(child, r, select, nested) for r in rows], link


# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/join-tables#nested-expand-on-collection-valued-navigation-properties
EXPAND_OPTIONS_REFUSED = (
    "Only $select and $filter clause can be provided while doing $expand on many-to-one relationship or nested "
    "one-to-many relationship."
)


def validate_expands(table: Table, expands: list[Expand], nested: bool | None = None) -> None:
    """Refuse the `$expand` options Dataverse refuses, before any row is read.

    `$top` and `$orderby` apply only to a collection-valued navigation property, and only when no `$expand` anywhere
    in the query is nested. A `$filter` on a single-valued one is refused here too: what it would do is not
    documented, and answering without it would be wrong.
    """
    if nested is None:
        _count_expands(expands)
        nested = _has_nested(expands)
    for item in expands:
        limited = {"$top", "$orderby"} & set(item.options)
        if item.nav in table.navs:
            if limited:
                raise syntax_error(EXPAND_OPTIONS_REFUSED)
            if "$filter" in item.options:
                raise syntax_error("$filter is not supported when expanding a single-valued navigation property.")
            target = TABLES.get(table.navs[item.nav].target)
        elif item.nav in table.collections:
            if limited and nested:
                raise syntax_error(EXPAND_OPTIONS_REFUSED)
            target = TABLES.get(table.collections[item.nav].child)
        else:
            continue  # rendering names the unknown property
        if target is not None:
            validate_expands(target, parse_expand(item.options.get("$expand")), nested)


MAX_EXPANDS = 15  # "You can include up to 15 $expand options in a query." (join-tables)


def _count_expands(expands: list[Expand]) -> None:
    """Refuse a query with more than 15 `$expand` options, nested ones included (counted without recursion)."""
    pending, count = list(expands), 0
    while pending:
        item = pending.pop()
        count += 1
        if count > MAX_EXPANDS:
            raise syntax_error(f"The query has more than {MAX_EXPANDS} $expand options.")
        pending.extend(parse_expand(item.options.get("$expand")))


def _has_nested(expands: list[Expand]) -> bool:
    return any("$expand" in item.options for item in expands)


def context_fragment(table: Table, select: list[str] | None, expand_text: str | None) -> str:
    """The `$metadata#...` fragment for a collection of `table` with `$select`/`$expand`."""
    parts = _fragment_parts(select or [], expand_text)
    return f"{table.entity_set}({','.join(parts)})" if parts else table.entity_set


def _fragment_parts(select: list[str], expand_text: str | None) -> list[str]:
    # `contacts(fullname,parentcustomerid_account(name,primarycontactid(fullname)))`
    parts = list(select)
    for item in parse_expand(expand_text):
        inner = _fragment_parts(parse_names(item.options.get("$select")), item.options.get("$expand"))
        parts.append(f"{item.nav}({','.join(inner)})")
    return parts


def parse_names(text: str | None) -> list[str]:
    """The names of a `$select` list as written."""
    return [n.strip() for n in (text or "").split(",") if n.strip()]
