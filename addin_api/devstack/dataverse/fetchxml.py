"""FetchXML queries on the Web API: `GET <entityset>?fetchXml=<url-encoded fetch>`.

Supported: `<fetch top|count|page|paging-cookie|distinct|returntotalrecordcount>`, `<entity name>`, `<attribute
name [alias]>`, `<all-attributes/>`, `<order attribute [descending]>`, `<filter type="and|or">` (nested) with
`<condition attribute operator value [entityname]>` and the common operators, and `<link-entity name from to alias
link-type="inner|outer">` (nested, with its own attributes, filters and orders). Anything else (aggregates, other
operators) fails with a 400 instead of answering wrongly.

- Query data with FetchXml: https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/overview
- Over the Web API: https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/retrieve-data?tabs=webapi
- Paging (`count`, `page`, paging cookie, `@Microsoft.Dynamics.CRM.morerecords`):
  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/page-results?tabs=webapi
- Operators: https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/reference/operators
- Joins (at most 15 link-entity elements):
  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/join-tables

The XML is read with defusedxml: no DTD, no entity expansion, nothing fetched.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeXml
from defusedxml import DefusedXmlException

from addin_api.devstack.dataverse.errors import INVALID_ARGUMENT, DataverseError
from addin_api.devstack.dataverse.filter_eval import comparable, comparison, like_regex
from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.query import sort_records
from addin_api.devstack.dataverse.schema import (
    BOOL,
    DATEONLY,
    DATETIME,
    GUID,
    INT,
    LOOKUP,
    MONEY,
    PICKLIST,
    Column,
    Table,
)
from addin_api.devstack.dataverse.serialize import FORMATTED, Annotations, formatted

Record = dict[str, Any]
Context = dict[str, Record | None]  # alias ("" for the root) -> the joined record
MAX_LINKS = 15
MAX_PAGE = 5000
MAX_JOINED = 100_000  # joined rows held at once: a query over that fails rather than exhausting the emulator
NO_ATTRIBUTE = "0x80041103"  # QueryBuilderNoAttribute
MORE = "Microsoft.Dynamics.CRM.morerecords"
COOKIE = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
TOTAL = "Microsoft.Dynamics.CRM.totalrecordcount"
TOTAL_LIMIT = "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"


def invalid(message: str) -> DataverseError:
    """A FetchXML the platform refuses."""
    return DataverseError(400, INVALID_ARGUMENT, message)


def no_attribute(table: Table, name: str) -> DataverseError:
    """A FetchXML naming an attribute the table does not have."""
    return DataverseError(
        400,
        NO_ATTRIBUTE,
        f"'{table.logical}' entity doesn't contain attribute with Name = '{name}' and NameMapping = 'Logical'.",
    )


@dataclass
class Link:
    """A `<link-entity>`: how its rows join to the parent's, and what it adds to each row."""

    table: Table
    alias: str
    from_column: Column  # on this table
    to_column: Column  # on the parent
    outer: bool
    attributes: list[tuple[Column, str]] = field(default_factory=list)  # (column, output name)
    filter: Callable[[Context], bool] | None = None
    orders: list[tuple[str, Column, bool]] = field(default_factory=list)  # (alias, column, descending)
    links: list[Link] = field(default_factory=list)


@dataclass
class Fetch:
    """A parsed `<fetch>`."""

    table: Table
    attributes: list[tuple[Column, str]] | None  # None: every column
    filter: Callable[[Context], bool] | None
    orders: list[tuple[str, Column, bool]]
    links: list[Link]
    top: int | None
    count: int
    page: int
    distinct: bool
    total: bool


class _Parser:
    def __init__(self, user_id: str, business_unit_id: str) -> None:
        self.user_id = user_id
        self.business_unit_id = business_unit_id
        self.aliases: dict[str, Table] = {}
        self.link_count = 0

    def column(self, table: Table, name: str | None) -> Column:
        if not name:
            raise invalid("An attribute element must have a name.")
        column = table.columns.get(name)
        if column is None:
            raise no_attribute(table, name)
        return column

    def attributes(self, element: Element, table: Table, prefix: str) -> list[tuple[Column, str]] | None:
        if element.find("all-attributes") is not None:
            return None
        out: list[tuple[Column, str]] = []
        for attribute in element.findall("attribute"):
            if attribute.get("aggregate") or attribute.get("groupby") or attribute.get("dategrouping"):
                raise invalid("Aggregate FetchXML queries are not supported by this environment.")
            column = self.column(table, attribute.get("name"))
            name = attribute.get("alias") or (f"{prefix}.{column.name}" if prefix else column.attribute)
            out.append((column, name))
        return out

    def orders(self, element: Element, table: Table, alias: str) -> list[tuple[str, Column, bool]]:
        out: list[tuple[str, Column, bool]] = []
        for order in element.findall("order"):
            if order.get("alias"):
                raise invalid("Ordering by an aggregate alias is not supported by this environment.")
            column = self.column(table, order.get("attribute"))
            out.append((alias, column, order.get("descending", "false").lower() == "true"))
        return out

    def filters(self, element: Element, table: Table, alias: str) -> Callable[[Context], bool] | None:
        tests = [self.filter(f, table, alias) for f in element.findall("filter")]
        if not tests:
            return None
        return lambda ctx: all(t(ctx) for t in tests)

    def filter(self, element: Element, table: Table, alias: str) -> Callable[[Context], bool]:
        kind = element.get("type", "and").lower()
        if kind not in ("and", "or"):
            raise invalid(f"The filter type '{kind}' is not valid.")
        parts: list[Callable[[Context], bool]] = []
        for child in element:
            if child.tag == "condition":
                parts.append(self.condition(child, table, alias))
            elif child.tag == "filter":
                parts.append(self.filter(child, table, alias))
            else:
                raise invalid(f"The element '{child.tag}' is not valid inside a filter.")
        if kind == "and":
            return lambda ctx: all(p(ctx) for p in parts)
        return lambda ctx: any(p(ctx) for p in parts) if parts else True

    def condition(self, element: Element, table: Table, alias: str) -> Callable[[Context], bool]:
        where = alias
        entityname = element.get("entityname")
        if entityname:
            if entityname not in self.aliases:
                raise invalid(f"The entityname '{entityname}' does not name a link-entity alias of this query.")
            where, table = entityname, self.aliases[entityname]
        if element.get("valueof"):
            raise invalid("Column comparison conditions (valueof) are not supported by this environment.")
        column = self.column(table, element.get("attribute"))
        operator = (element.get("operator") or "").lower()
        values = [v.text or "" for v in element.findall("value")]
        if element.get("value") is not None:
            values.insert(0, element.get("value") or "")
        test = self.operator(table, column, operator, values)
        prop = column.attribute

        def check(ctx: Context) -> bool:
            record = ctx.get(where)
            return test(record.get(prop) if record is not None else None, record)

        return check

    def literal(self, table: Table, column: Column, text: str) -> Any:
        """A condition value as the column's type."""
        text = text.strip()
        try:
            if column.type in (INT, PICKLIST):
                return Decimal(int(text))
            if column.type == MONEY:
                return Decimal(text)
            if column.type == BOOL:
                if text.lower() in ("1", "true"):
                    return True
                if text.lower() in ("0", "false"):
                    return False
                raise ValueError(text)
            if column.type in (GUID, LOOKUP):
                return str(uuid.UUID(text.strip("{}")))
            if column.type in (DATETIME, DATEONLY):
                value = datetime.fromisoformat(text.replace("Z", "+00:00"))
                return value if value.tzinfo else value.replace(tzinfo=UTC)
        except (ValueError, InvalidOperation) as exc:
            raise invalid(
                f"The value '{text}' is not valid for the attribute '{column.name}' of '{table.logical}'."
            ) from exc
        return text

    def operator(
        self, table: Table, column: Column, operator: str, values: list[str]
    ) -> Callable[[Any, Record | None], bool]:
        kind = column.type
        prop = column.attribute

        def one() -> Any:
            if len(values) != 1:
                raise invalid(f"The condition operator '{operator}' takes exactly one value.")
            return self.literal(table, column, values[0])

        def compare(op: str, literal: Any) -> Callable[[Any, Record | None], bool]:
            predicate = comparison(prop, kind, op, literal)
            return lambda value, record: predicate({prop: value})

        if operator in ("eq", "ne", "neq", "gt", "ge", "lt", "le"):
            op = {"neq": "ne"}.get(operator, operator)
            test = compare(op, one())
            if op == "ne":
                # SQL semantics: a null column is neither equal nor unequal to a value
                return lambda value, record: value is not None and test(value, record)
            return test
        if operator in ("null", "not-null"):
            want_null = operator == "null"
            return lambda value, record: (value is None) == want_null
        if operator in ("in", "not-in"):
            if not values:
                raise invalid(f"The condition operator '{operator}' needs at least one value.")
            tests = [compare("eq", self.literal(table, column, v)) for v in values]
            negate = operator == "not-in"
            return lambda value, record: value is not None and any(t(value, record) for t in tests) != negate
        if operator in ("between", "not-between"):
            if len(values) != 2:
                raise invalid(f"The condition operator '{operator}' takes exactly two values.")
            low = compare("ge", self.literal(table, column, values[0]))
            high = compare("le", self.literal(table, column, values[1]))
            negate = operator == "not-between"
            return lambda value, record: value is not None and (low(value, record) and high(value, record)) != negate
        if operator in ("like", "not-like", "begins-with", "not-begin-with", "ends-with", "not-end-with"):
            if kind not in ("string", "memo"):
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
        if operator in ("eq-userid", "ne-userid", "eq-businessid", "ne-businessid"):
            if kind != LOOKUP:
                raise invalid(f"The condition operator '{operator}' is only valid on lookup attributes.")
            target = self.user_id if "userid" in operator else self.business_unit_id
            equal = operator.startswith("eq-")
            return lambda value, record: (isinstance(value, str) and value.lower() == target.lower()) == equal
        if operator in ("on", "on-or-after", "on-or-before", "today", "yesterday", "tomorrow"):
            if kind not in (DATETIME, DATEONLY):
                raise invalid(f"The condition operator '{operator}' is only valid on date and time attributes.")
            today = datetime.now(UTC).date()
            if operator in ("today", "yesterday", "tomorrow"):
                day = today + timedelta(days={"today": 0, "yesterday": -1, "tomorrow": 1}[operator])
            else:
                day = one().date()
            ops = {"on": "eq", "on-or-after": "ge", "on-or-before": "le", "today": "eq", "yesterday": "eq"}
            sign = ops.get(operator, "eq")
            return lambda value, record: _day_compare(value, sign, day)
        if operator in ("last-x-days", "next-x-days", "last-x-hours", "next-x-hours"):
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
        raise invalid(f"The condition operator '{operator}' is not supported by this environment.")

    def link(self, element: Element, parent: Table) -> Link:
        self.link_count += 1
        if self.link_count > MAX_LINKS:
            raise invalid(f"Number of link entities in query exceeded maximum limit of {MAX_LINKS}.")
        name = element.get("name") or ""
        table = TABLES.get(name)
        if table is None:
            raise DataverseError(
                400, "0x80040217", f"The entity with a name = '{name}' with namemapping = 'Logical' was not found."
            )
        kind = element.get("link-type", "inner").lower()
        if kind not in ("inner", "outer"):
            raise invalid(f"The link-type '{kind}' is not supported by this environment.")
        alias = element.get("alias") or f"{table.logical}{self.link_count}"
        if alias in self.aliases:
            raise invalid(f"The alias '{alias}' is used more than once.")
        self.aliases[alias] = table
        link = Link(
            table,
            alias,
            self.column(table, element.get("from") or table.key),
            self.column(parent, element.get("to") or parent.key),
            kind == "outer",
        )
        link.links = [self.link(child, table) for child in element.findall("link-entity")]
        attributes = self.attributes(element, table, alias)
        link.attributes = (
            [(c, f"{alias}.{c.name}") for c in table.columns.values()] if attributes is None else attributes
        )
        link.filter = self.filters(element, table, alias)
        link.orders = self.orders(element, table, alias)
        return link

    def fetch(self, root: Element, table: Table) -> Fetch:
        if root.tag != "fetch":
            raise invalid("The root element of a FetchXML query must be 'fetch'.")
        if root.get("aggregate", "false").lower() == "true":
            raise invalid("Aggregate FetchXML queries are not supported by this environment.")
        entities = root.findall("entity")
        if len(entities) != 1:
            raise invalid("A FetchXML query must have exactly one entity element.")
        entity = entities[0]
        if entity.get("name") != table.logical:
            raise invalid(
                f"The entity name '{entity.get('name')}' in the FetchXML does not match the entity set "
                f"'{table.entity_set}' it was sent to."
            )
        top = _whole(root.get("top"), "top")
        count = _whole(root.get("count"), "count")
        page = _whole(root.get("page"), "page")
        if top is not None and (count is not None or page is not None):
            raise invalid("The top attribute can't be specified with paging attribute page or count.")
        if top is not None and top > MAX_PAGE:
            raise invalid(f"The top attribute must be at most {MAX_PAGE}.")
        if count is not None and not 1 <= count <= MAX_PAGE:
            raise invalid(f"The count attribute must be between 1 and {MAX_PAGE}.")
        self.aliases[""] = table
        links = [self.link(child, table) for child in entity.findall("link-entity")]
        attributes = self.attributes(entity, table, "")
        return Fetch(
            table=table,
            # no attribute elements on the entity: every column, as with all-attributes
            # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/select-columns
            attributes=attributes or None,
            filter=self.filters(entity, table, ""),
            orders=self.orders(entity, table, ""),
            links=links,
            top=top,
            count=count or MAX_PAGE,
            page=page or 1,
            distinct=root.get("distinct", "false").lower() == "true",
            total=root.get("returntotalrecordcount", "false").lower() == "true",
        )


def _whole(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    if not text.strip().isdigit():
        raise invalid(f"The {name} attribute must be a whole number.")
    return int(text)


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


def parse_fetch(text: str, table: Table, user_id: str, business_unit_id: str) -> Fetch:
    """Read a FetchXML document sent to `table`'s entity set."""
    try:
        root = SafeXml.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise invalid("DTDs and entities are not allowed in FetchXML.") from exc
    except SafeXml.ParseError as exc:
        raise invalid(f"The FetchXML is not well-formed: {exc}.") from exc
    return _Parser(user_id, business_unit_id).fetch(root, table)


@dataclass
class FetchResult:
    """The rows of one page and what the paging annotations need."""

    rows: list[Context]
    more: bool
    total: int


def run(fetch: Fetch, rows_of: Callable[[Table], list[Record]]) -> FetchResult:
    """Join, filter, order and page. `rows_of` reads a table's rows (checking the caller's read privilege)."""
    contexts: list[Context] = [{"": r} for r in rows_of(fetch.table)]
    for link in fetch.links:
        contexts = _join(contexts, "", link, rows_of)
    if fetch.filter is not None:
        contexts = [c for c in contexts if fetch.filter(c)]
    orders = fetch.orders + [o for link in _all_links(fetch.links) for o in link.orders]
    contexts = _sort(contexts, orders)
    if fetch.distinct:
        seen: set[str] = set()
        unique: list[Context] = []
        for ctx in contexts:
            marker = repr(sorted(_project_plain(fetch, ctx).items()))
            if marker not in seen:
                seen.add(marker)
                unique.append(ctx)
        contexts = unique
    total = len(contexts)
    if fetch.top is not None:
        return FetchResult(contexts[: fetch.top], False, total)
    start = (fetch.page - 1) * fetch.count
    page = contexts[start : start + fetch.count]
    return FetchResult(page, start + fetch.count < len(contexts), total)


def _all_links(links: list[Link]) -> list[Link]:
    out: list[Link] = []
    for link in links:
        out.append(link)
        out.extend(_all_links(link.links))
    return out


def _join(contexts: list[Context], parent: str, link: Link, rows_of: Callable[[Table], list[Record]]) -> list[Context]:
    index: dict[Any, list[Record]] = {}
    from_prop = link.from_column.attribute
    for row in rows_of(link.table):
        key = _join_key(row.get(from_prop))
        if key is not None:
            index.setdefault(key, []).append(row)
    out: list[Context] = []
    for ctx in contexts:
        parent_record = ctx.get(parent)
        key = _join_key(parent_record.get(link.to_column.attribute)) if parent_record is not None else None
        matches = index.get(key, []) if key is not None else []
        joined = [{**ctx, link.alias: m} for m in matches]
        if link.filter is not None:
            joined = [j for j in joined if link.filter(j)]
        for inner in link.links:
            joined = _join(joined, link.alias, inner, rows_of)
        if joined:
            out.extend(joined)
            if len(out) > MAX_JOINED:
                raise invalid(f"The query joins more than {MAX_JOINED} rows; narrow it with filters.")
        elif link.outer:
            empty: Context = {**ctx, link.alias: None}
            for inner in _all_links(link.links):
                empty[inner.alias] = None
            out.append(empty)
    return out


def _join_key(value: Any) -> Any:
    if value is None:
        return None
    return value.lower() if isinstance(value, str) else value


def _sort(contexts: list[Context], orders: list[tuple[str, Column, bool]]) -> list[Context]:
    result = list(contexts)
    for alias, column, descending in reversed(orders):
        prop = column.attribute
        table = Table("", "", prop, prop, 0, "", columns={column.name: column})
        keyed = [({prop: (c.get(alias) or {}).get(prop)}, c) for c in result]
        ordered = sort_records(table, [k for k, _ in keyed], [(prop, descending)])
        # sort_records is stable and returns the same dicts: map them back to their contexts
        position = {id(k): c for k, c in keyed}
        result = [position[id(k)] for k in ordered]
    return result


def _project_plain(fetch: Fetch, ctx: Context) -> Record:
    out: Record = {}
    root = ctx.get("") or {}
    columns = (
        fetch.attributes if fetch.attributes is not None else [(c, c.attribute) for c in fetch.table.columns.values()]
    )
    for column, name in columns:
        out[name] = root.get(column.attribute)
    for link in _all_links(fetch.links):
        record = ctx.get(link.alias)
        for column, name in link.attributes:
            out[name] = record.get(column.attribute) if record is not None else None
    return out


def render(
    fetch: Fetch,
    result: FetchResult,
    annotations: Annotations,
    primary_name: Callable[[str | None, str | None], str | None],
) -> list[Record]:
    """The JSON rows: the root's columns under their Web API names, linked ones as `alias.column`."""
    want_formatted = annotations.wants(FORMATTED)
    rows: list[Record] = []
    for ctx in result.rows:
        root = ctx.get("") or {}
        row: Record = {"@odata.etag": f'W/"{root.get("versionnumber")}"'}
        columns = (
            list(fetch.attributes)
            if fetch.attributes is not None
            else [(c, c.attribute) for c in fetch.table.columns.values()]
        )
        key = fetch.table.columns[fetch.table.key]
        if all(c.name != key.name for c, _ in columns):
            columns.append((key, key.name))
        for column, name in columns:
            _put(row, name, column, root, want_formatted, primary_name)
        for link in _all_links(fetch.links):
            record = ctx.get(link.alias)
            for column, name in link.attributes:
                if record is not None:
                    _put(row, name, column, record, want_formatted, primary_name)
        rows.append(row)
    return rows


def _put(
    row: Record,
    name: str,
    column: Column,
    record: Record,
    want_formatted: bool,
    primary_name: Callable[[str | None, str | None], str | None],
) -> None:
    value = record.get(column.attribute)
    if value is None:
        # FetchXML returns no property for a null column (the absence means null)
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/retrieve-data#null-column-values-are-not-returned
        return
    if want_formatted and value is not None and column.name != "versionnumber":
        if column.type == LOOKUP:
            text = primary_name(record.get(f"{column.attribute}@lookuplogicalname"), value)
        else:
            text = formatted(column.type, value, column.options, column.labels)
        if text is not None:
            row[f"{name}@{FORMATTED}"] = text
    row[name] = value


def paging_cookie(fetch: Fetch, result: FetchResult) -> str:
    """The `@Microsoft.Dynamics.CRM.fetchxmlpagingcookie` value: the next page number and, URL-encoded twice, the
    cookie naming the first and last ids of this page (the shape the page-results doc shows)."""
    key = fetch.table.key
    ids = [(c.get("") or {}).get(key) for c in result.rows]
    inner = f'<cookie page="{fetch.page}"><{key} last="{{{str(ids[-1]).upper() if ids else ""}}}" '
    inner += f'first="{{{str(ids[0]).upper() if ids else ""}}}" /></cookie>'
    encoded = quote(quote(inner, safe=""), safe="")
    return f'<cookie pagenumber="{fetch.page + 1}" pagingcookie="{encoded}" istracking="False" />'


def annotations_for(fetch: Fetch, result: FetchResult, annotations: Annotations) -> Record:
    """The collection annotations a FetchXML answer carries when the client asked for them."""
    out: Record = {}
    if fetch.total:
        out[f"@{TOTAL}"] = result.total if result.total <= MAX_PAGE else -1
        out[f"@{TOTAL_LIMIT}"] = result.total > MAX_PAGE
    if annotations.wants(COOKIE) and result.more:
        out[f"@{COOKIE}"] = paging_cookie(fetch, result)
    if annotations.wants(MORE):
        out[f"@{MORE}"] = result.more
    return out
