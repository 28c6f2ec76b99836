"""Dataverse query functions in `$filter` (`Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[...])`).

Each function is a named condition operator: Dataverse turns it into a plain comparison on one column, and so does
this module — `condition` answers the column, the comparison and its operands, which `query` then evaluates as it
evaluates `eq`/`ge`/…. https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/queryfunctions
Functions take named parameters only, inline or as parameter aliases (`PropertyName=@p1` with `&@p1='name'`), and
cannot be negated with `not`:
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/use-web-api-functions#query-functions
Date functions work on whole days in UTC, the time zone of every devstack user.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from addin_api.devstack.dataverse.errors import DataverseError, syntax_error
from addin_api.devstack.dataverse.schema import DATEONLY, DATETIME, GUID, LOOKUP, Column, Table

PREFIX = "Microsoft.Dynamics.CRM."
NEGATED_NAMED_CONDITION = "Not operator along with the Custom Named Condition operators is not allowed"

Resolver = Callable[[str, str], "dict[str, Any] | None"]


@dataclass(frozen=True)
class FilterContext:
    """What a `$filter` may depend on besides the row: the caller, the clock and the other rows (for lookups)."""

    user_id: str = ""
    business_unit_id: str = ""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    resolve: Resolver = field(default=lambda _table, _id: None)  # (logical name, id) -> record


@dataclass(frozen=True)
class Condition:
    """A named condition as a comparison: `op` is one of eq, ne, in, notin, between, notbetween, range.

    `range` is `lo <= value < hi` (either bound may be None); `between` is inclusive of both values.
    """

    attribute: str  # the Web API property compared (`_ownerid_value` for a lookup)
    column: Column
    op: str
    values: tuple[Any, ...]


def needs_context(text: str) -> bool:
    """Tell whether a `$filter` may depend on more than the row (so its compiled form cannot be shared)."""
    return PREFIX in text or "/" in text


def resolve_aliases(text: str, query: dict[str, str]) -> str:
    """Replace each parameter alias (`@p1`) outside string literals by its value from the query string.

    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/use-web-api-functions#passing-parameters-to-a-function
    """
    if "@" not in text or not any(name.startswith("@") for name in query):
        return text  # an alias without a value is then a syntax error of the expression
    out: list[str] = []
    pos = 0
    for match in re.finditer(r"'(?:[^']|'')*'|@[A-Za-z_]\w*", text):
        out.append(text[pos : match.start()])
        token = match.group(0)
        if token.startswith("@"):
            if token not in query:
                raise syntax_error(f"The parameter alias '{token}' was not found in the request URI.")
            token = query[token]
        out.append(token)
        pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def _attribute(table: Table, args: dict[str, Any]) -> tuple[str, Column]:
    name = args.get("PropertyName")
    if not isinstance(name, str):
        raise syntax_error("The query function requires a 'PropertyName' string parameter.")
    column = table.columns.get(name)
    if column is None:
        # Query functions name the column by its logical name (`ownerid`, not `_ownerid_value`), as FetchXML does.
        raise DataverseError(
            400,
            "0x80041103",
            f"'{table.logical}' entity doesn't contain attribute with Name = '{name}' and NameMapping = 'Logical'.",
        )
    return column.attribute, column


def _integer(args: dict[str, Any], name: str = "PropertyValue") -> int:
    value = args.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise syntax_error(f"The query function requires a '{name}' parameter.")
    try:
        return int(value)
    except ValueError as exc:
        raise syntax_error(f"The value '{value}' of '{name}' is not an integer.") from exc


def _values(args: dict[str, Any]) -> tuple[Any, ...]:
    values = args.get("PropertyValues")
    if not isinstance(values, list) or not values:
        raise syntax_error("The query function requires a non-empty 'PropertyValues' collection.")
    return tuple(values)


def _require_date(table: Table, column: Column, function: str) -> None:
    if column.type not in (DATETIME, DATEONLY):
        raise DataverseError(
            400,
            "0x80040203",
            f"The {function} condition operator is only valid on date and time attributes; '{column.name}' of "
            f"'{table.logical}' is not one.",
        )


def _midnight(moment: datetime, days: int = 0) -> datetime:
    return datetime.combine(moment.date() + timedelta(days=days), time(0), tzinfo=UTC)


def _day_window(name: str, args: dict[str, Any], now: datetime) -> tuple[datetime | None, datetime | None] | None:
    """The [lo, hi) window of a date function, or None if `name` is not one."""
    simple = {
        "Today": (0, 1),
        "Yesterday": (-1, 0),
        "Tomorrow": (1, 2),
        "Last7Days": (-7, None),
        "Next7Days": (None, 8),
    }
    if name in simple:
        start, end = simple[name]
        lo = _midnight(now, start) if start is not None else now
        hi = _midnight(now, end) if end is not None else now
        return lo, hi
    calendar = _calendar_window(name, now)
    if calendar is not None:
        return calendar
    if name == "LastXDays":
        return _midnight(now, -_integer(args)), now
    if name == "NextXDays":
        return now, _midnight(now, _integer(args) + 1)
    if name == "LastXHours":
        return now - timedelta(hours=_integer(args)), now
    if name == "NextXHours":
        return now, now + timedelta(hours=_integer(args))
    if name == "OlderThanXDays":
        return None, now - timedelta(days=_integer(args))
    if name == "OlderThanXHours":
        return None, now - timedelta(hours=_integer(args))
    if name == "On":
        day = _date_argument(args)
        return day, day + timedelta(days=1)
    if name == "OnOrAfter":
        return _date_argument(args), None
    if name == "OnOrBefore":
        return None, _date_argument(args) + timedelta(days=1)
    return None


def _month_start(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def _calendar_window(name: str, now: datetime) -> tuple[datetime, datetime] | None:
    """The [start, end) of ThisMonth/LastMonth/NextMonth/ThisYear/LastYear/NextYear (calendar, not fiscal)."""
    months = {"LastMonth": -1, "ThisMonth": 0, "NextMonth": 1}
    if name in months:
        offset = months[name]
        return _month_start(now.year, now.month + offset), _month_start(now.year, now.month + offset + 1)
    years = {"LastYear": -1, "ThisYear": 0, "NextYear": 1}
    if name in years:
        year = now.year + years[name]
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    return None


def _date_argument(args: dict[str, Any]) -> datetime:
    value = args.get("PropertyValue")
    if isinstance(value, datetime):
        return _midnight(value)
    if isinstance(value, str):
        try:
            return _midnight(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise syntax_error("The query function requires a date 'PropertyValue' parameter.")


def _require_id_column(table: Table, column: Column, function: str) -> None:
    if column.type not in (LOOKUP, GUID):
        raise DataverseError(
            400,
            "0x80040203",
            f"The {function} condition operator is only valid on lookup and unique identifier attributes; "
            f"'{column.name}' of '{table.logical}' is not one.",
        )


def condition(table: Table, name: str, args: dict[str, Any], context: FilterContext) -> Condition:
    """Translate `Microsoft.Dynamics.CRM.<name>(<args>)` on `table` into a comparison, or fail as Dataverse fails."""
    attribute, column = _attribute(table, args)
    if name in ("In", "NotIn"):
        return Condition(attribute, column, name.lower(), _values(args))
    if name in ("Between", "NotBetween"):
        values = _values(args)
        if len(values) != 2:
            raise syntax_error(f"The {name} query function requires exactly two values in 'PropertyValues'.")
        return Condition(attribute, column, name.lower(), values)
    if name in ("EqualUserId", "NotEqualUserId"):
        _require_id_column(table, column, name)
        return Condition(attribute, column, "eq" if name == "EqualUserId" else "ne", (context.user_id,))
    if name in ("EqualBusinessId", "NotEqualBusinessId"):
        _require_id_column(table, column, name)
        return Condition(attribute, column, "eq" if name == "EqualBusinessId" else "ne", (context.business_unit_id,))
    window = _day_window(name, args, context.now)
    if window is not None:
        _require_date(table, column, name)
        return Condition(attribute, column, "range", window)
    raise unknown_function(PREFIX + name)


def unknown_function(name: str) -> DataverseError:
    """A function the OData parser does not know (or that this emulator does not evaluate)."""
    return syntax_error(
        f"An unknown function with name '{name}' was found. This may also be a function import or a key lookup on "
        "a navigation property, which is not allowed."
    )
