"""FetchXML queries on the Web API: `GET <entityset>?fetchXml=<url-encoded fetch>` — reading the XML into a `Fetch`
(`fetch_model`); `fetch_operators` holds the condition operators, `fetch_run` runs it.

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
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeXml
from defusedxml import DefusedXmlException

from addin_api.devstack.dataverse.errors import DataverseError
from addin_api.devstack.dataverse.fetch_model import MAX_LINKS, MAX_PAGE, Context, Fetch, Link, invalid, no_attribute
from addin_api.devstack.dataverse.fetch_operators import operator_test
from addin_api.devstack.dataverse.metadata import TABLES
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
        test = operator_test(
            column,
            operator,
            values,
            lambda text: self.literal(table, column, text),
            self.user_id,
            self.business_unit_id,
        )
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


def parse_fetch(text: str, table: Table, user_id: str, business_unit_id: str) -> Fetch:
    """Read a FetchXML document sent to `table`'s entity set."""
    try:
        root = SafeXml.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise invalid("DTDs and entities are not allowed in FetchXML.") from exc
    except SafeXml.ParseError as exc:
        raise invalid(f"The FetchXML is not well-formed: {exc}.") from exc
    return _Parser(user_id, business_unit_id).fetch(root, table)
