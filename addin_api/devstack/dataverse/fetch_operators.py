"""FetchXML condition operators: each `<condition operator>` as a test on a column's value.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/reference/operators
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from addin_api.devstack.dataverse.fetch_model import Record, invalid
from addin_api.devstack.dataverse.filter_eval import comparable, comparison, like_regex
from addin_api.devstack.dataverse.schema import DATEONLY, DATETIME, LOOKUP, Column

Test = Callable[[Any, Record | None], bool]  # (the column's value, the row) -> whether the condition holds
_COMPARE = ("eq", "ne", "neq", "gt", "ge", "lt", "le")
_SETS = ("in", "not-in", "between", "not-between")
_LIKE = ("like", "not-like", "begins-with", "not-begin-with", "ends-with", "not-end-with")
_IDENTITY = ("eq-userid", "ne-userid", "eq-businessid", "ne-businessid")
_DAYS = ("on", "on-or-after", "on-or-before", "today", "yesterday", "tomorrow")
_WINDOWS = ("last-x-days", "next-x-days", "last-x-hours", "next-x-hours")


def operator_test(
    column: Column, operator: str, values: list[str], literal: Callable[[str], Any], user_id: str, business_unit_id: str
) -> Test:
    """The test of a `<condition operator>` on `column`; `literal` reads one of its values as the column's type."""
    if operator in _COMPARE:
        return _compare_test(column, operator, values, literal)
    if operator in ("null", "not-null"):
        want_null = operator == "null"
        return lambda value, record: (value is None) == want_null
    if operator in _SETS:
        return _set_test(column, operator, values, literal)
    if operator in _LIKE:
        return _like_test(column, operator, values)
    if operator in _IDENTITY:
        if column.type != LOOKUP:
            raise invalid(f"The condition operator '{operator}' is only valid on lookup attributes.")
        target = user_id if "userid" in operator else business_unit_id
        equal = operator.startswith("eq-")
        return lambda value, record: (isinstance(value, str) and value.lower() == target.lower()) == equal
    if operator in _DAYS:
        return _day_test(column, operator, values, literal)
    if operator in _WINDOWS:
        return _window_test(column, operator, values)
    raise invalid(f"The condition operator '{operator}' is not supported by this environment.")


def _one(operator: str, values: list[str], literal: Callable[[str], Any]) -> Any:
    if len(values) != 1:
        raise invalid(f"The condition operator '{operator}' takes exactly one value.")
    return literal(values[0])


def _compare(column: Column, op: str, literal: Any) -> Test:
    prop = column.attribute
    predicate = comparison(prop, column.type, op, literal)
    return lambda value, record: predicate({prop: value})


def _compare_test(column: Column, operator: str, values: list[str], literal: Callable[[str], Any]) -> Test:
    op = {"neq": "ne"}.get(operator, operator)
    test = _compare(column, op, _one(operator, values, literal))
    if op == "ne":
        # SQL semantics: a null column is neither equal nor unequal to a value
        return lambda value, record: value is not None and test(value, record)
    return test


def _set_test(column: Column, operator: str, values: list[str], literal: Callable[[str], Any]) -> Test:
    """`in` / `not-in` a list of values, `between` / `not-between` two."""
    if operator in ("in", "not-in"):
        if not values:
            raise invalid(f"The condition operator '{operator}' needs at least one value.")
        tests = [_compare(column, "eq", literal(v)) for v in values]
        negate = operator == "not-in"
        return lambda value, record: value is not None and any(t(value, record) for t in tests) != negate
    if len(values) != 2:
        raise invalid(f"The condition operator '{operator}' takes exactly two values.")
    low = _compare(column, "ge", literal(values[0]))
    high = _compare(column, "le", literal(values[1]))
    negate = operator == "not-between"
    return lambda value, record: value is not None and (low(value, record) and high(value, record)) != negate


def _like_test(column: Column, operator: str, values: list[str]) -> Test:
    """`like`, `begins-with`, `ends-with` and their negations, with SQL LIKE wildcards."""
    if column.type not in ("string", "memo"):
        raise invalid(f"The condition operator '{operator}' is only valid on string attributes.")
    text = values[0] if len(values) == 1 else ""
    if len(values) != 1:
        raise invalid(f"The condition operator '{operator}' takes exactly one value.")
    if operator in ("like", "not-like"):
        regex = like_regex(text, prefix=False, suffix=False)
    elif operator in ("begins-with", "not-begin-with"):
        regex = like_regex(text, prefix=False, suffix=True)
    else:
        regex = like_regex(text, prefix=True, suffix=False)
    negate = operator.startswith("not-")
    return lambda value, record: isinstance(value, str) and (regex.match(value) is not None) != negate


def _day_test(column: Column, operator: str, values: list[str], literal: Callable[[str], Any]) -> Test:
    """`on`, `on-or-after`, `on-or-before` a date; `today`, `yesterday`, `tomorrow`."""
    if column.type not in (DATETIME, DATEONLY):
        raise invalid(f"The condition operator '{operator}' is only valid on date and time attributes.")
    today = datetime.now(UTC).date()
    if operator in ("today", "yesterday", "tomorrow"):
        day = today + timedelta(days={"today": 0, "yesterday": -1, "tomorrow": 1}[operator])
    else:
        day = _one(operator, values, literal).date()
    ops = {"on": "eq", "on-or-after": "ge", "on-or-before": "le", "today": "eq", "yesterday": "eq"}
    sign = ops.get(operator, "eq")
    return lambda value, record: _day_compare(value, sign, day)


def _window_test(column: Column, operator: str, values: list[str]) -> Test:
    """`last-x-days`, `next-x-days`, `last-x-hours`, `next-x-hours` from now."""
    kind = column.type
    if kind not in (DATETIME, DATEONLY):
        raise invalid(f"The condition operator '{operator}' is only valid on date and time attributes.")
    try:
        amount = int(values[0]) if len(values) == 1 else -1
    except ValueError:
        amount = -1
    if amount < 0:
        raise invalid(f"The condition operator '{operator}' takes one whole number.")
    unit = timedelta(hours=amount) if operator.endswith("hours") else timedelta(days=amount)
    now = datetime.now(UTC)
    start, end = (now - unit, now) if operator.startswith("last") else (now, now + unit)
    return lambda value, record: _within(value, kind, start, end)


def _day_compare(value: Any, sign: str, day: date) -> bool:
    if not isinstance(value, str):
        return False
    actual = datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    if sign == "ge":
        return actual >= day
    if sign == "le":
        return actual <= day
    return actual == day


def _within(value: Any, kind: str, start: datetime, end: datetime) -> bool:
    moment = comparable(value, kind)
    if moment is None:
        return False
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return bool(start <= moment <= end)
