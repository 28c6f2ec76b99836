"""The `$filter` grammar: tokens, and a recursive-descent parser that compiles an expression into a `Filter`.

Comparisons, `and`/`or`/`not`, `contains`/`startswith`/`endswith`, lookup paths, `any`/`all` lambdas over collections
and Dataverse query functions (`Microsoft.Dynamics.CRM.Today(...)`).
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from addin_api.devstack.dataverse import functions
from addin_api.devstack.dataverse.errors import syntax_error, unknown_query_property
from addin_api.devstack.dataverse.filter_eval import (
    Filter,
    Keys,
    Record,
    comparable,
    comparison,
    like_regex,
    named_condition,
    parse_datetime,
)
from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.schema import BOOL, DATEONLY, DATETIME, GUID, LOOKUP, MEMO, STRING, Column, Table

# Reads the related rows that `any`/`all` test: (child table, lookup column, parent id) -> rows. Set per request,
# so compiled filters stay pure and cacheable.
RELATED: ContextVar[Callable[[Table, str, Any], list[Record]] | None] = ContextVar("related_rows", default=None)

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


class _Parser:
    """Compiles one `$filter` expression for a table (and a caller's context, for query functions)."""

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
        predicate = comparison(attribute, column.type, op.text, literal, getter)
        expected = comparable(literal, column.type)
        if getter is not None:
            return Filter(predicate)
        if op.text == "eq" and isinstance(expected, str) and column.type not in (DATETIME, DATEONLY):
            # only a string whose case-folded form is `expected` can be equal (`comparison`)
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
        return Filter(named_condition(found), keys, named=True)

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
            return parse_datetime(token.text)
        if token.kind == "number":
            return Decimal(token.text)
        if token.text in ("true", "false"):
            if column_type != BOOL:
                raise syntax_error(f"A binary operator with incompatible types was detected in '{self.text}'.")
            return token.text == "true"
        if token.text == "null":
            return None
        raise syntax_error(f"Syntax error at '{token.text}' in '{self.text}'.")


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
