"""OData query options: `$filter` (compiled by `filter_parser`, evaluated by `filter_eval`), `$select`, `$orderby`,
`$top` and `$expand`.

String comparisons are case-insensitive and `contains` / `startswith` / `endswith` behave like SQL `LIKE`, as
Dataverse translates them: `%`, `_` and `[...]` inside the literal are wildcards unless bracketed (`[%]`, `[_]`,
`[[]`). https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from addin_api.devstack.dataverse.errors import DataverseError, syntax_error, unknown_query_property
from addin_api.devstack.dataverse.filter_eval import Record, comparable
from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.schema import Table


def parse_select(table: Table, text: str | None) -> list[str] | None:
    """Validate a `$select` list; None means every column."""
    if text is None:
        return None
    if TABLES.get(table.logical) is not table:
        return list(_select(table, text))
    return list(_cached_select(table.logical, text))


def _select(table: Table, text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if table.column_for_attribute(name) is None:
            raise unknown_query_property(table, name)
    return names


# Query options repeat from request to request while the rows they read change, so parsing (pure: text and table
# definition in, names out) is worth remembering; what is read from the store never is.
@functools.lru_cache(maxsize=1024)
def _cached_select(logical: str, text: str) -> tuple[str, ...]:
    return _select(TABLES[logical], text)


def parse_orderby(table: Table, text: str | None) -> list[tuple[str, bool]]:
    """Parse `$orderby` into (attribute, descending) pairs."""
    if not text:
        return []
    if TABLES.get(table.logical) is not table:
        return list(_orderby(table, text))
    return list(_cached_orderby(table.logical, text))


def _orderby(table: Table, text: str) -> tuple[tuple[str, bool], ...]:
    out: list[tuple[str, bool]] = []
    for part in text.split(","):
        bits = part.split()
        if not bits or len(bits) > 2 or (len(bits) == 2 and bits[1] not in ("asc", "desc")):
            raise syntax_error(f"Syntax error in $orderby '{text}'.")
        if table.column_for_attribute(bits[0]) is None:
            raise unknown_query_property(table, bits[0])
        out.append((bits[0], len(bits) == 2 and bits[1] == "desc"))
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def _cached_orderby(logical: str, text: str) -> tuple[tuple[str, bool], ...]:
    return _orderby(TABLES[logical], text)


def sort_records(table: Table, records: list[Record], orderby: list[tuple[str, bool]]) -> list[Record]:
    """Sort records by several columns; nulls sort first ascending, as in SQL Server."""
    result = list(records)
    for attribute, descending in reversed(orderby):
        column = table.column_for_attribute(attribute)
        column_type = column.type if column else None

        def key(record: Record, attribute: str = attribute, column_type: str | None = column_type) -> Any:
            value = comparable(record.get(attribute), column_type)
            if value is None:
                return (0, "")
            if isinstance(value, datetime):
                return (1, value.timestamp())
            if isinstance(value, date):
                return (1, value.toordinal())
            return (1, value)

        result.sort(key=key, reverse=descending)
    return result


def parse_top(text: str | None) -> int | None:
    """Parse `$top`."""
    if text is None:
        return None
    if not text.isdigit():
        raise syntax_error(f"Invalid value '{text}' for $top query option found.")
    return int(text)


@dataclass(frozen=True)
class Expand:
    """One `$expand` item with its nested options (parsed items are shared: do not modify `options`)."""

    nav: str
    options: dict[str, str] = field(default_factory=dict)


def _split_top_level(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    in_string = False
    for ch in text:
        if ch == "'":
            in_string = not in_string
        elif not in_string and ch == "(":
            depth += 1
        elif not in_string and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not in_string:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise syntax_error(f"Syntax error: unbalanced parentheses in '{text}'.")
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_expand(text: str | None) -> list[Expand]:
    """Parse `$expand=nav($select=a,b;$filter=...;$orderby=...;$top=n),other`."""
    if not text:
        return []
    return list(_expand(text))


@functools.lru_cache(maxsize=1024)
def _expand(text: str) -> tuple[Expand, ...]:
    items: list[Expand] = []
    for part in _split_top_level(text, ","):
        if "(" in part:
            if not part.endswith(")"):
                raise syntax_error(f"Syntax error in $expand '{text}'.")
            nav, inner = part[: part.index("(")], part[part.index("(") + 1 : -1]
            options: dict[str, str] = {}
            for option in _split_top_level(inner, ";"):
                name, _, value = option.partition("=")
                if name not in ("$select", "$filter", "$orderby", "$top", "$expand"):
                    raise syntax_error(f"The query option '{name}' is not supported in $expand.")
                options[name] = value
            items.append(Expand(nav.strip(), options))
        else:
            items.append(Expand(part))
    return tuple(items)


def parse_guid(text: str) -> str:
    """Parse a key GUID from a URL, the way the Web API does."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError as exc:
        raise DataverseError(400, "0x80060888", "Bad Request - Error in query syntax.") from exc
