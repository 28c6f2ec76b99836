"""Record keys in URLs — `accounts(<id>)`, `accounts(accountid=<id>)`, `accounts(accountnumber='A-1')` — and the
uniqueness an alternate key imposes.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/use-alternate-key-reference-record — a key
segment names the primary key or every column of one alternate key, anything else is refused; a row whose key
columns are all set must not share them with another row (rows with an empty key column are not indexed).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from addin_api.devstack.dataverse.errors import NOT_FOUND, QUERY, DataverseError
from addin_api.devstack.dataverse.schema import BOOL, DATEONLY, DATETIME, GUID, LOOKUP, MEMO, STRING, Table
from addin_api.devstack.dataverse.store import DataverseStore, index_key

Record = dict[str, Any]

# a value is a quoted string or a run without quotes, commas or spaces (so matching stays linear in the text)
_PAIR = re.compile(r"\s*(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<value>'(?:[^']|'')*'|[^,'\s]+)\s*(?:,|$)")
DUPLICATE_KEY = "0x80060892"
# systemuser and team inherit their key (ownerid) from principal, so their primary key cannot be named in a URL
PRINCIPALS = ("systemuser", "team")


@dataclass(frozen=True)
class Key:
    """A parsed key segment: the primary key, or the values of one alternate key (property name -> value)."""

    record_id: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    name: str | None = None  # the alternate key's name

    @property
    def alternate(self) -> bool:
        """Tell whether the segment names an alternate key."""
        return self.record_id is None


def invalid_key(table: Table) -> DataverseError:
    """A key segment that is neither the primary key nor exactly one alternate key."""
    entity = f"Microsoft.Dynamics.CRM.{table.logical}"
    return DataverseError(
        400,
        QUERY,
        f"The key in the request URI is not valid for resource '{entity}'. Ensure that the names and number of key "
        f"properties match the declared key properties for the resource '{entity}'.",
    )


def missing_alternate(table: Table) -> DataverseError:
    """No row has the alternate key values of the URL: 404."""
    return DataverseError(
        404, NOT_FOUND, f"A record with the specified key values does not exist in {table.logical} entity"
    )


def _guid(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError as exc:
        raise DataverseError(400, QUERY, "Bad Request - Error in query syntax.") from exc


def _literal(table: Table, column_name: str, text: str) -> Any:
    column = table.columns[column_name]
    if text.startswith("'"):
        if column.type not in (STRING, MEMO, DATETIME, DATEONLY):
            raise invalid_key(table)
        return text[1:-1].replace("''", "'")
    if column.type in (GUID, LOOKUP):
        return _guid(text)
    if column.type == BOOL and text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError as exc:
        raise invalid_key(table) from exc


def parse_key(table: Table, text: str) -> Key:
    """Read the text between the parentheses of `<set>(…)`."""
    if "=" not in text:
        return Key(record_id=_guid(text))
    pairs: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _PAIR.match(text, pos)
        if match is None or match.end() == pos:
            raise invalid_key(table)
        pairs[match.group("name")] = match.group("value").strip()
        pos = match.end()
    if set(pairs) == {table.key}:
        if table.logical in PRINCIPALS:
            raise invalid_key(table)
        return Key(record_id=_guid(pairs[table.key]))
    for name, columns in table.alternate_keys.items():
        properties = {table.columns[c].attribute: c for c in columns}
        if set(pairs) == set(properties):
            values = {prop: _literal(table, column, pairs[prop]) for prop, column in properties.items()}
            return Key(values=values, name=name)
    raise invalid_key(table)


def _same(a: Any, b: Any) -> bool:
    # Key columns compare as SQL Server's default collation does: strings without regard to case.
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    return bool(a == b)


def find(store: DataverseStore, table: Table, values: dict[str, Any]) -> Record | None:
    """The row with these alternate key values, or None."""
    first, value = next(iter(values.items()))
    key = index_key(value)
    rows = store.find(table.logical, [(first, key)]) if key is not None else store.all(table.logical)
    for row in rows:
        if all(_same(row.get(prop), expected) for prop, expected in values.items()):
            return row
    return None


def check_unique(store: DataverseStore, table: Table, record: Record) -> None:
    """Refuse a row that would share every column of an alternate key with another row (412)."""
    for name, columns in table.alternate_keys.items():
        values = {table.columns[c].attribute: record.get(table.columns[c].attribute) for c in columns}
        if any(v is None for v in values.values()):
            continue
        other = find(store, table, values)
        if other is not None and str(other.get(table.key)).lower() != str(record.get(table.key)).lower():
            labels = ", ".join(columns)
            raise DataverseError(
                412,
                DUPLICATE_KEY,
                f"A record that has the attribute values {labels} already exists. The entity key {name} requires "
                "that this set of attributes contains unique values. Select unique values and try again.",
            )
