"""The OData query options the Graph emulator understands on messages and events: `$filter`, `$select`, `$expand`.

`$filter`: comparisons (`eq ne gt ge lt le`) on a property path, `and`, `or`, `not`, parentheses, `startswith`,
`contains`, and the lambdas Outlook supports on collections — `categories/any(c:c eq 'Red')` and
`singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')`. String comparisons ignore case, as
Exchange's do. Anything else is refused with Exchange's error for an invalid filter.
https://learn.microsoft.com/en-us/graph/filter-query-parameter
https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from addin_api.devstack.graph.errors import GraphError

Predicate = Callable[[dict[str, Any], dict[str, Any]], bool]  # (item view, lambda variables) -> kept?

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<date>\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_@][\w.@]*)|(?P<punct>[/(),:]))"
)
COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}


def invalid_filter() -> GraphError:
    """Exchange's answer for a `$filter` it cannot run."""
    return GraphError(400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")


@dataclass
class _Tok:
    kind: str
    text: str


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise invalid_filter()
        kind = match.lastgroup or ""
        out.append(_Tok(kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _norm(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _compare(op: str, left: Any, right: Any) -> bool:
    left, right = _norm(left), _norm(right)
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None or type(left) is not type(right):
        return False
    return bool({"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op])


def _resolve(path: list[str], item: dict[str, Any], scope: dict[str, Any]) -> Any:
    head, rest = path[0], path[1:]
    value: Any = scope[head] if head in scope else item.get(head)
    for name in rest:
        value = value.get(name) if isinstance(value, dict) else None
    return value


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.pos = 0

    def peek(self, offset: int = 0) -> _Tok | None:
        index = self.pos + offset
        return self.toks[index] if index < len(self.toks) else None

    def take(self, text: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None or (text is not None and tok.text.lower() != text):
            raise invalid_filter()
        self.pos += 1
        return tok

    def word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "name" and tok.text.lower() in words

    def parse(self) -> Predicate:
        pred = self.or_()
        if self.peek() is not None:
            raise invalid_filter()
        return pred

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.word("or"):
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else (lambda i, s: any(p(i, s) for p in parts))

    def and_(self) -> Predicate:
        parts = [self.unary()]
        while self.word("and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda i, s: all(p(i, s) for p in parts))

    def unary(self) -> Predicate:
        if self.word("not"):
            self.take()
            inner = self.unary()
            return lambda i, s: not inner(i, s)
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.take()
            inner = self.or_()
            self.take(")")
            return inner
        if self.word("startswith", "contains", "endswith") and (nxt := self.peek(1)) is not None and nxt.text == "(":
            return self.function()
        return self.comparison_or_lambda()

    def path(self) -> list[str]:
        parts = [self.take().text]
        if self.toks[self.pos - 1].kind != "name":
            raise invalid_filter()
        while (tok := self.peek()) is not None and tok.text == "/":
            nxt = self.peek(1)
            after = self.peek(2)
            if nxt is not None and nxt.text.lower() == "any" and after is not None and after.text == "(":
                break
            self.take("/")
            name = self.take()
            if name.kind != "name":
                raise invalid_filter()
            parts.append(name.text)
        return parts

    def literal(self) -> Any:
        tok = self.take()
        if tok.kind == "str":
            return tok.text[1:-1].replace("''", "'")
        if tok.kind == "date":
            return tok.text.replace("+00:00", "Z")
        if tok.kind == "num":
            return float(tok.text) if "." in tok.text else int(tok.text)
        lowered = tok.text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        raise invalid_filter()

    def function(self) -> Predicate:
        name = self.take().text.lower()
        self.take("(")
        path = self.path()
        self.take(",")
        value = self.literal()
        self.take(")")
        if not isinstance(value, str):
            raise invalid_filter()
        needle = value.casefold()

        def test(i: dict[str, Any], s: dict[str, Any]) -> bool:
            have = _resolve(path, i, s)
            if not isinstance(have, str):
                return False
            have = have.casefold()
            if name == "startswith":
                return have.startswith(needle)
            if name == "endswith":
                return have.endswith(needle)
            return needle in have

        return test

    def comparison_or_lambda(self) -> Predicate:
        path = self.path()
        tok = self.peek()
        if tok is not None and tok.text == "/":
            self.take("/")
            self.take("any")
            self.take("(")
            var = self.take()
            if var.kind != "name":
                raise invalid_filter()
            self.take(":")
            body = self.or_()
            self.take(")")

            def any_of(i: dict[str, Any], s: dict[str, Any]) -> bool:
                values = _resolve(path, i, s)
                if not isinstance(values, list):
                    return False
                return any(body(i, {**s, var.text: v}) for v in values)

            return any_of
        op = self.take().text.lower()
        if op not in COMPARISONS:
            raise invalid_filter()
        value = self.literal()
        return lambda i, s: _compare(op, _resolve(path, i, s), value)


def parse_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """Compile a `$filter` into a test over an item's Graph view; GraphError 400 if it is not understood."""
    predicate = _Parser(text).parse()
    return lambda view: predicate(view, {})


def parse_select(text: str | None) -> list[str] | None:
    """The property names of `$select` (None: all the default ones)."""
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not all(re.fullmatch(r"[A-Za-z@][\w.@]*", n) for n in names):
        raise GraphError(400, "BadRequest", f"Parsing OData Select and Expand failed: invalid $select '{text}'.")
    return names


_EXPAND = re.compile(r"^\s*singleValueExtendedProperties\s*(?:\(\s*\$filter\s*=\s*(?P<filter>.+)\)\s*)?$", re.I)


def parse_expand_properties(text: str | None) -> Callable[[dict[str, Any]], bool] | None:
    """The extended-property filter of `$expand=singleValueExtendedProperties($filter=…)` (None: not expanded).

    Without a filter every extended property is returned; a filter is applied to each property.
    """
    if not text:
        return None
    match = _EXPAND.match(text)
    if match is None:
        raise GraphError(400, "BadRequest", f"Parsing OData Select and Expand failed: unsupported $expand '{text}'.")
    raw = match.group("filter")
    if raw is None:
        return lambda _prop: True
    return parse_filter(raw)
