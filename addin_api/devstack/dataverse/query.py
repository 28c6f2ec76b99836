"""OData query options: parse `$select`, `$filter`, `$orderby`, `$expand` and evaluate them on records.

String comparisons are case-insensitive and `contains` / `startswith` / `endswith` behave like SQL `LIKE`, as
Dataverse translates them: `%`, `_` and `[...]` inside the literal are wildcards unless bracketed (`[%]`, `[_]`,
`[[]`). https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from addin_api.devstack.dataverse import functions
from addin_api.devstack.dataverse.errors import DataverseError, syntax_error, unknown_query_property
from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.schema import BOOL, DATEONLY, DATETIME, GUID, LOOKUP, MEMO, STRING, Column, Table

Record = dict[str, Any]
Predicate = Callable[[Record], bool]
# Reads the related rows that `any`/`all` test: (child table, lookup column, parent id) -> rows. Set per request,
# so compiled filters stay pure and cacheable.
RELATED: ContextVar[Callable[[Table, str, Any], list[Record]] | None] = ContextVar("related_rows", default=None)
Keys = frozenset[tuple[str, str]]

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
  | (?P<jstring>"(?:[^"\\]|\\.)*")
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
  | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?(?![\w-]))
  | (?P<number>-?\d+(?:\.\d+)?(?![\w-]))
  | (?P<name>[A-Za-z_][\w.]*(?:/[A-Za-z_]\w*)*)
  | (?P<punct>[(),:=\[\]])
    )""",
    re.VERBOSE,
)
_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
MAX_NESTING = 100  # parentheses and `not`: bounds the parser's and the predicate's recursion
MAX_LINKS = 15  # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/join-tables#limitations
_FUNCTIONS = {"contains", "startswith", "endswith"}


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


@dataclass
class Token:
    """One lexical token of a `$filter`."""

    kind: str
    text: str


def tokenize(text: str) -> list[Token]:
    """Split a `$filter` expression into tokens."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise syntax_error(f"Syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind)))
        pos = match.end()
    return tokens


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


def _parse_datetime(text: str) -> datetime:
    if len(text) == 10:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _comparable(value: Any, column_type: str | None) -> Any:
    """Normalise a stored or literal value so Python comparison matches Dataverse's."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if column_type in (DATETIME, DATEONLY):
            try:
                parsed = _parse_datetime(value)
            except ValueError:
                return value.casefold()
            return parsed.date() if column_type == DATEONLY else parsed
        return value.casefold()
    if isinstance(value, datetime):
        return value.date() if column_type == DATEONLY else value
    if isinstance(value, int | float):
        return Decimal(str(value))
    return value


class _Parser:
    def __init__(self, table: Table, text: str, context: functions.FilterContext | None = None) -> None:
        self.table = table
        self.text = text
        self.context = context or functions.FilterContext()
        self.depth = 0
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise syntax_error(f"Syntax error: unexpected end of expression '{self.text}'.")
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise syntax_error(f"Syntax error: expected '{text}' but found '{token.text}' in '{self.text}'.")

    def parse(self) -> Filter:
        predicate = self.parse_or()
        if self.peek() is not None:
            raise syntax_error(f"Syntax error at '{self.take().text}' in '{self.text}'.")
        return predicate

    def parse_or(self) -> Filter:
        terms = [self.parse_and()]
        while (token := self.peek()) is not None and token.text == "or":
            self.take()
            terms.append(self.parse_and())
        if len(terms) == 1:
            return terms[0]
        # a match of any term: the union of their keys, unknown if one term's is
        known = [t.keys for t in terms if t.keys is not None]
        keys = frozenset().union(*known) if len(known) == len(terms) else None
        tests = tuple(t.test for t in terms)  # a flat list: a long chain must not nest closures
        return Filter(lambda r: any(test(r) for test in tests), keys, any(t.named for t in terms))

    def parse_and(self) -> Filter:
        terms = [self.parse_not()]
        while (token := self.peek()) is not None and token.text == "and":
            self.take()
            terms.append(self.parse_not())
        if len(terms) == 1:
            return terms[0]
        # a match of every term: any term's keys will do, the narrower the better
        known = [t.keys for t in terms if t.keys is not None]
        keys = min(known, key=len) if known else None
        tests = tuple(t.test for t in terms)
        return Filter(lambda r: all(test(r) for test in tests), keys, any(t.named for t in terms))

    def nest(self) -> None:
        """Enter a `not` or a parenthesis; a hostile nesting is refused before it exhausts the stack."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise syntax_error(f"The $filter expression nests more than {MAX_NESTING} levels deep.")

    def parse_not(self) -> Filter:
        token = self.peek()
        if token is not None and token.text == "not":
            self.take()
            self.nest()
            negated = self.parse_not()
            self.depth -= 1
            if negated.named:
                raise syntax_error(functions.NEGATED_NAMED_CONDITION)
            inner = negated.test
            return Filter(lambda r: not inner(r))
        return self.parse_primary()

    def parse_primary(self) -> Filter:
        token = self.take()
        if token.text == "(":
            self.nest()
            inner = self.parse_or()
            self.expect(")")
            self.depth -= 1
            return inner
        if token.kind == "name" and token.text in _FUNCTIONS:
            return self.parse_function(token.text)
        if token.kind == "name" and token.text.endswith(("/any", "/all")) and self._next_is("("):
            return self.parse_lambda(token.text[:-4], token.text[-3:])
        if token.kind == "name" and token.text.startswith(functions.PREFIX):
            return self.parse_query_function(token.text)
        if token.kind != "name":
            raise syntax_error(f"Syntax error at '{token.text}' in '{self.text}'.")
        attribute = token.text
        getter, column = self.operand(attribute)
        op = self.take()
        if op.text not in _COMPARISONS:
            raise syntax_error(f"Syntax error: expected a comparison after '{attribute}' in '{self.text}'.")
        literal = self.parse_literal(column.type)
        predicate = _comparison(attribute, column.type, op.text, literal, getter)
        expected = _comparable(literal, column.type)
        if getter is not None:
            return Filter(predicate)
        if op.text == "eq" and isinstance(expected, str) and column.type not in (DATETIME, DATEONLY):
            # only a string whose case-folded form is `expected` can be equal (`_comparison`)
            return Filter(predicate, frozenset({(attribute, expected.lower())}))
        return Filter(predicate)

    def _next_is(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.text == text

    def parse_lambda(self, nav: str, kind: str) -> Filter:
        """`<collection>/any(x:x/<column> … )`, `…/all(…)` and `…/any()` over a collection-valued navigation property.

        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows#lambda-expressions
        """
        collection = self.table.collections.get(nav)
        if collection is None:
            raise unknown_query_property(self.table, nav)
        child = TABLES[collection.child]
        key = self.table.key
        self.expect("(")
        inner: Filter | None = None
        if self._next_is(")"):
            if kind == "all":
                raise syntax_error(f"The 'all' operator needs a lambda expression in '{self.text}'.")
            self.take()
        else:
            variable = self.take()
            self.expect(":")
            depth, body = 0, []
            while True:
                token = self.take()
                if token.text == "(":
                    depth += 1
                elif token.text == ")":
                    if depth == 0:
                        break
                    depth -= 1
                text = token.text
                if token.kind == "name" and text.startswith(f"{variable.text}/"):
                    text = text[len(variable.text) + 1 :]
                body.append(text)
            inner = parse_filter(child, " ".join(body))

        def predicate(record: Record) -> bool:
            resolve = RELATED.get()
            if resolve is None:
                raise syntax_error("Lambda operators are not supported here.")
            rows = resolve(child, collection.column, record.get(key))
            if inner is None:
                return bool(rows)
            if kind == "any":
                return any(inner(r) for r in rows)
            return all(inner(r) for r in rows)

        return Filter(predicate)

    def operand(self, attribute: str) -> tuple[Callable[[Record], Any] | None, Column]:
        """The column a property path names, and how to read it when it is not the row's own (None).

        `parentcustomerid_account/name` reads a column of the row a single-valued navigation property points to, and
        `primarycontactid/createdby/fullname` goes further up:
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows#filter-using-lookup-column-property-values
        """
        steps = attribute.split("/")
        if len(steps) - 1 > MAX_LINKS:
            # each step is a join; a query joins at most 15 tables (as FetchXML's 15 link-entity elements)
            raise syntax_error(f"The property path '{attribute}' joins more than {MAX_LINKS} related tables.")
        table = self.table
        hops: list[tuple[str, str, bool]] = []  # (lookup property, target table, any table will do)
        for nav_name in steps[:-1]:
            nav = table.navs.get(nav_name)
            target = TABLES.get(nav.target) if nav is not None else None
            if nav is None or target is None:
                raise unknown_query_property(table, nav_name)
            hops.append((f"_{nav.column}_value", target.logical, nav.target == "activitypointer"))
            table = target
        column = table.column_for_attribute(steps[-1])
        if column is None:
            raise unknown_query_property(table, steps[-1])
        if not hops:
            return None, column
        prop = steps[-1]
        resolve = self.context.resolve

        def read(record: Record) -> Any:
            current: Record | None = record
            for lookup, logical, any_table in hops:
                linked_id = current.get(lookup) if current is not None else None
                if linked_id is None or current is None:
                    return None
                if not (any_table or current.get(f"{lookup}@lookuplogicalname") == logical):
                    return None
                current = resolve(logical, str(linked_id))
            return None if current is None else current.get(prop)

        return read, column

    def parse_query_function(self, name: str) -> Filter:
        """`Microsoft.Dynamics.CRM.<Function>(Name=value,…)`, evaluated as the comparison it stands for."""
        self.expect("(")
        args: dict[str, Any] = {}
        while (token := self.peek()) is not None and token.text != ")":
            if args:
                self.expect(",")
            param = self.take()
            if param.kind != "name":
                raise syntax_error(f"Syntax error at '{param.text}' in '{self.text}'.")
            self.expect("=")
            args[param.text] = self.parse_argument()
        self.expect(")")
        found = functions.condition(self.table, name[len(functions.PREFIX) :], args, self.context)
        keys: Keys | None = None
        textual = found.column.type in (STRING, MEMO, GUID, LOOKUP)
        if found.op in ("in", "eq") and textual and all(isinstance(v, str) for v in found.values):
            # only a row whose column is one of these strings can match: an equality index can find them
            keys = frozenset((found.attribute, str(v).casefold().lower()) for v in found.values)
        return Filter(_named_condition(found), keys, named=True)

    def parse_argument(self) -> Any:
        """A function parameter value: a literal or a collection of literals (`['a','b']`)."""
        token = self.peek()
        if token is not None and token.text == "[":
            self.take()
            values: list[Any] = []
            while (item := self.peek()) is not None and item.text != "]":
                if values:
                    self.expect(",")
                values.append(self.parse_argument())
            self.expect("]")
            return values
        token = self.take()
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'")
        if token.kind == "jstring":
            # a collection of strings may quote them as JSON does (filter-rows#manage-single-quotes)
            return json.loads(token.text)
        if token.kind == "number":
            return int(token.text) if token.text.lstrip("-").isdigit() else Decimal(token.text)
        if token.kind in ("guid", "datetime"):
            return token.text
        raise syntax_error(f"Syntax error at '{token.text}' in '{self.text}'.")

    def parse_function(self, name: str) -> Filter:
        self.expect("(")
        attr_token = self.take()
        getter, column = self.operand(attr_token.text)
        self.expect(",")
        literal = self.take()
        if literal.kind != "string":
            raise syntax_error(f"The '{name}' function requires a string literal in '{self.text}'.")
        self.expect(")")
        pattern = literal.text[1:-1].replace("''", "'")
        regex = like_regex(pattern, prefix=name in ("contains", "endswith"), suffix=name in ("contains", "startswith"))
        attribute = attr_token.text

        read = getter or (lambda record: record.get(attribute))

        def predicate(record: Record) -> bool:
            value = read(record)
            return isinstance(value, str) and regex.match(value) is not None

        return Filter(predicate)

    def parse_literal(self, column_type: str) -> Any:
        token = self.take()
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'")
        if token.kind == "guid":
            if column_type not in (GUID, LOOKUP):
                raise syntax_error(f"A binary operator with incompatible types was detected in '{self.text}'.")
            return token.text.lower()
        if token.kind == "datetime":
            return _parse_datetime(token.text)
        if token.kind == "number":
            return Decimal(token.text)
        if token.text in ("true", "false"):
            if column_type != BOOL:
                raise syntax_error(f"A binary operator with incompatible types was detected in '{self.text}'.")
            return token.text == "true"
        if token.text == "null":
            return None
        raise syntax_error(f"Syntax error at '{token.text}' in '{self.text}'.")


def _comparison(
    attribute: str, column_type: str, op: str, literal: Any, getter: Callable[[Record], Any] | None = None
) -> Predicate:
    expected = _comparable(literal, column_type)
    read = getter or (lambda record: record.get(attribute))

    def predicate(record: Record) -> bool:
        actual = _comparable(read(record), column_type)
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
    """A query-function operand (a string, number or date) as `_comparable` compares it with the column."""
    if isinstance(value, str) and column.type in (DATETIME, DATEONLY):
        try:
            return _comparable(_parse_datetime(value), column.type)
        except ValueError as exc:
            raise syntax_error(f"The value '{value}' is not a valid date for '{column.name}'.") from exc
    if isinstance(value, str) and column.type in (GUID, LOOKUP):
        return value.lower()
    if isinstance(value, str) and column.type not in (STRING, MEMO):
        try:
            return Decimal(value)
        except ArithmeticError as exc:
            raise syntax_error(f"The value '{value}' is not valid for '{column.name}'.") from exc
    return _comparable(value, column.type)


def _named_condition(found: functions.Condition) -> Predicate:
    """Evaluate a query function's comparison; a null column value never matches, as in SQL."""
    column = found.column
    values = [_operand_value(column, v) if v is not None else None for v in found.values]
    attribute = found.attribute

    def actual(record: Record) -> Any:
        value = _comparable(record.get(attribute), column.type)
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


def parse_filter(
    table: Table,
    text: str,
    context: functions.FilterContext | None = None,
    aliases: dict[str, str] | None = None,
) -> Filter:
    """Compile a `$filter` expression into a predicate on records (compiled filters are reused: they are pure).

    A filter that reads the caller, the clock or other rows (query functions, lookup paths) is compiled for
    `context` each time; `aliases` are the request's parameter aliases (`@p1=…`).
    """
    if aliases:
        text = functions.resolve_aliases(text, aliases)
    if TABLES.get(table.logical) is not table or functions.needs_context(text):
        return _Parser(table, text, context).parse()
    return _compile_filter(table.logical, text)


@functools.lru_cache(maxsize=1024)
def _compile_filter(logical: str, text: str) -> Filter:
    return _Parser(TABLES[logical], text).parse()


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
            value = _comparable(record.get(attribute), column_type)
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
