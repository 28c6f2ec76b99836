"""Evaluating a compiled `$filter` on records: comparable values, comparisons, LIKE patterns and the conditions of
Dataverse query functions.

String comparisons are case-insensitive and `contains` / `startswith` / `endswith` behave like SQL `LIKE`, as
Dataverse translates them: `%`, `_` and `[...]` inside the literal are wildcards unless bracketed (`[%]`, `[_]`,
`[[]`). https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from addin_api.devstack.dataverse import functions
from addin_api.devstack.dataverse.errors import syntax_error
from addin_api.devstack.dataverse.schema import DATEONLY, DATETIME, GUID, LOOKUP, MEMO, STRING, Column

Record = dict[str, Any]
Predicate = Callable[[Record], bool]
Keys = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Filter:
    """A compiled `$filter`: call it on a record. `keys`, when known, narrows the rows worth testing.

    `keys` is a set of (attribute, key) pairs such that a record can only match if, for one of them,
    `store.index_key(record[attribute]) == key` — so an equality index can fetch the candidates instead of a scan.
    None: any record may match.
    """

    test: Predicate
    keys: Keys | None = None
    named: bool = False  # uses a Dataverse query function (which `not` may not negate)

    def __call__(self, record: Record) -> bool:
        return self.test(record)


def like_regex(pattern: str, prefix: bool, suffix: bool) -> re.Pattern[str]:
    """Translate a SQL LIKE pattern (`%`, `_`, `[...]`) into a case-insensitive regex."""
    out: list[str] = [] if prefix else ["^"]
    if prefix:
        out.append("^.*")
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith("^")
                if negate:
                    body = body[1:]
                escaped = "".join("\\" + c if c in "\\]^[" else c for c in body)
                out.append(f"[{'^' if negate else ''}{escaped}]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append(".*$" if suffix else "$")
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def parse_datetime(text: str) -> datetime:
    if len(text) == 10:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def comparable(value: Any, column_type: str | None) -> Any:
    """Normalise a stored or literal value so Python comparison matches Dataverse's."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if column_type in (DATETIME, DATEONLY):
            try:
                parsed = parse_datetime(value)
            except ValueError:
                return value.casefold()
            return parsed.date() if column_type == DATEONLY else parsed
        return value.casefold()
    if isinstance(value, datetime):
        return value.date() if column_type == DATEONLY else value
    if isinstance(value, int | float):
        return Decimal(str(value))
    return value


def comparison(
    attribute: str, column_type: str, op: str, literal: Any, getter: Callable[[Record], Any] | None = None
) -> Predicate:
    expected = comparable(literal, column_type)
    read = getter or (lambda record: record.get(attribute))

    def predicate(record: Record) -> bool:
        actual = comparable(read(record), column_type)
        if column_type in (GUID, LOOKUP) and isinstance(actual, str):
            actual = actual.lower()
        if op == "eq":
            return bool(actual == expected)
        if op == "ne":
            return bool(actual != expected)
        if actual is None or expected is None:
            return False
        try:
            if op == "gt":
                return bool(actual > expected)
            if op == "ge":
                return bool(actual >= expected)
            if op == "lt":
                return bool(actual < expected)
            return bool(actual <= expected)
        except TypeError:
            return False

    return predicate


def _operand_value(column: Column, value: Any) -> Any:
    """A query-function operand (a string, number or date) as `comparable` compares it with the column."""
    if isinstance(value, str) and column.type in (DATETIME, DATEONLY):
        try:
            return comparable(parse_datetime(value), column.type)
        except ValueError as exc:
            raise syntax_error(f"The value '{value}' is not a valid date for '{column.name}'.") from exc
    if isinstance(value, str) and column.type in (GUID, LOOKUP):
        return value.lower()
    if isinstance(value, str) and column.type not in (STRING, MEMO):
        try:
            return Decimal(value)
        except ArithmeticError as exc:
            raise syntax_error(f"The value '{value}' is not valid for '{column.name}'.") from exc
    return comparable(value, column.type)


def named_condition(found: functions.Condition) -> Predicate:
    """Evaluate a query function's comparison; a null column value never matches, as in SQL."""
    column = found.column
    values = [_operand_value(column, v) if v is not None else None for v in found.values]
    attribute = found.attribute

    def actual(record: Record) -> Any:
        value = comparable(record.get(attribute), column.type)
        return value.lower() if isinstance(value, str) and column.type in (GUID, LOOKUP) else value

    if found.op in ("eq", "ne"):
        expected = values[0]
        equal = found.op == "eq"
        return lambda r: (v := actual(r)) is not None and (v == expected) is equal
    if found.op in ("in", "notin"):
        members = values
        inside = found.op == "in"
        return lambda r: (v := actual(r)) is not None and (v in members) is inside
    if found.op in ("between", "notbetween"):
        lo, hi = values
        within = found.op == "between"
        return lambda r: (v := actual(r)) is not None and (lo <= v <= hi) is within
    low, high = values
    upper = found.values[1]
    if column.type == DATEONLY and isinstance(upper, datetime) and upper.timetz().replace(tzinfo=None) != time(0):
        high = upper.date() + timedelta(days=1)  # a window ending now still holds all of today's date

    def in_range(record: Record) -> bool:
        v = actual(record)
        if v is None:
            return False
        return (low is None or v >= low) and (high is None or v < high)

    return in_range
