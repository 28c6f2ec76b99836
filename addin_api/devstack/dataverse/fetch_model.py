"""What a parsed FetchXML query is (`Fetch`, its `Link`s), what running one gives (`FetchResult`), and the errors
the platform answers for a query it refuses.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/overview
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from addin_api.devstack.dataverse.errors import INVALID_ARGUMENT, DataverseError
from addin_api.devstack.dataverse.schema import Column, Table

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


@dataclass
class FetchResult:
    """The rows of one page and what the paging annotations need."""

    rows: list[Context]
    more: bool
    total: int
