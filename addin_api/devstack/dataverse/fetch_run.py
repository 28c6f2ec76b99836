"""Running a parsed FetchXML query: joins, sorting, paging, and the rows and paging annotations it answers with.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/page-results?tabs=webapi
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from addin_api.devstack.dataverse.fetch_model import (
    COOKIE,
    MAX_JOINED,
    MAX_PAGE,
    MORE,
    TOTAL,
    TOTAL_LIMIT,
    Context,
    Fetch,
    FetchResult,
    Link,
    Record,
    invalid,
)
from addin_api.devstack.dataverse.query import sort_records
from addin_api.devstack.dataverse.schema import LOOKUP, Column, Table
from addin_api.devstack.dataverse.serialize import FORMATTED, Annotations, formatted


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
