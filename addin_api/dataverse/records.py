"""Which columns the add-in may write when it creates a contact, lead, account, opportunity or case.

Field names are Dataverse logical column names; lookups take `{"table", "id"}` and become `@odata.bind`s on the
relationship's navigation property. Anything not listed here is rejected, never passed to Dataverse.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/create-entity-web-api
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from addin_api.dataverse.port import Dataverse
from addin_api.dataverse.tables import CONTACT, LEAD, REGARDING_TABLES, Table
from addin_api.model import CreatedRecord, RecordRef

EMAIL_PATTERN = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Text:
    """A single line or memo of text with Dataverse's max length."""

    max_length: int
    multiline: bool = False

    def convert(self, name: str, value: Any) -> dict[str, Any]:
        """Check and turn a request value into the create body's entries."""
        if not isinstance(value, str):
            raise ValueError("must be a string")
        value = value.strip()
        if len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters")
        if CONTROL.search(value) or (not self.multiline and ("\r" in value or "\n" in value)):
            raise ValueError("must not contain control characters")
        return {name: value}


@dataclass(frozen=True)
class EmailAddress:
    """An email address column (Dataverse max length 100)."""

    max_length: int = 100

    def convert(self, name: str, value: Any) -> dict[str, Any]:
        """Check and normalise an address."""
        if not isinstance(value, str) or not EMAIL_PATTERN.match(value.strip()) or len(value) > self.max_length:
            raise ValueError("must be an email address")
        return {name: value.strip()}


@dataclass(frozen=True)
class Money:
    """A currency amount."""

    def convert(self, name: str, value: Any) -> dict[str, Any]:
        """Check a non-negative amount."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("must be a number")
        try:
            amount = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError("must be a number") from exc
        if not amount.is_finite() or amount < 0 or amount > Decimal("922337203685477"):
            raise ValueError("must be a non-negative amount")
        return {name: float(amount)}


@dataclass(frozen=True)
class DateOnly:
    """A date (YYYY-MM-DD)."""

    def convert(self, name: str, value: Any) -> dict[str, Any]:
        """Check an ISO date."""
        try:
            return {name: date.fromisoformat(str(value)).isoformat()}
        except ValueError as exc:
            raise ValueError("must be a date (YYYY-MM-DD)") from exc


@dataclass(frozen=True)
class Choice:
    """An option set, named by the API and stored as Dataverse's integer value."""

    options: tuple[tuple[str, int], ...]

    def convert(self, name: str, value: Any) -> dict[str, Any]:
        """Map a choice name to its value."""
        mapping = dict(self.options)
        if value not in mapping:
            raise ValueError("must be one of " + ", ".join(mapping))
        return {name: mapping[value]}


@dataclass(frozen=True)
class Lookup:
    """A lookup to one of `targets`; `navigation` names the nav property per target table."""

    navigation: tuple[tuple[str, str], ...]

    def convert(self, name: str, value: Any) -> dict[str, Any]:
        """Turn `{"table", "id"}` into the `@odata.bind` of the right navigation property."""
        targets = dict(self.navigation)
        if not isinstance(value, dict) or set(value) != {"table", "id"} or value["table"] not in targets:
            raise ValueError("must be {table, id} with table one of " + ", ".join(targets))
        try:
            record_id = str(uuid.UUID(str(value["id"])))
        except ValueError as exc:
            raise ValueError("id must be a GUID") from exc
        table = REGARDING_TABLES[value["table"]]
        return {f"{targets[value['table']]}@odata.bind": table.bind(record_id)}


Field = Text | EmailAddress | Money | DateOnly | Choice | Lookup
CUSTOMER = Lookup((("account", "customerid_account"), ("contact", "customerid_contact")))

# Per table: the writable fields and which of them are required.
CREATABLE: dict[str, tuple[dict[str, Field], frozenset[str]]] = {
    "contact": (
        {
            "firstname": Text(50),
            "lastname": Text(50),
            "emailaddress1": EmailAddress(),
            "jobtitle": Text(100),
            "telephone1": Text(50),
            "mobilephone": Text(50),
            "description": Text(2000, multiline=True),
            "parentcustomerid": Lookup(
                (("account", "parentcustomerid_account"), ("contact", "parentcustomerid_contact"))
            ),
        },
        frozenset({"lastname"}),
    ),
    "lead": (
        {
            "subject": Text(300),
            "firstname": Text(50),
            "lastname": Text(50),
            "emailaddress1": EmailAddress(),
            "companyname": Text(100),
            "jobtitle": Text(100),
            "telephone1": Text(50),
            "description": Text(2000, multiline=True),
        },
        frozenset({"lastname"}),
    ),
    "account": (
        {
            "name": Text(160),
            "emailaddress1": EmailAddress(),
            "telephone1": Text(50),
            "websiteurl": Text(200),
            "address1_city": Text(80),
            "description": Text(2000, multiline=True),
        },
        frozenset({"name"}),
    ),
    "opportunity": (
        {
            "name": Text(300),
            "description": Text(2000, multiline=True),
            "estimatedvalue": Money(),
            "estimatedclosedate": DateOnly(),
            "customerid": CUSTOMER,
        },
        frozenset({"name"}),
    ),
    "incident": (
        {
            "title": Text(200),
            "description": Text(2000, multiline=True),
            "customerid": CUSTOMER,
            "caseorigincode": Choice((("phone", 1), ("email", 2), ("web", 3))),
        },
        frozenset({"title", "customerid"}),
    ),
}


def create_body(table: str, fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The create body for `table` from request `fields`, and the per-field errors (empty when valid)."""
    allowed, required = CREATABLE[table]
    body: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in fields.items():
        spec = allowed.get(name)
        if spec is None:
            errors[f"fields.{name}"] = [f"is not a field that can be set on {table}"]
            continue
        try:
            body.update(spec.convert(name, value))
        except ValueError as exc:
            errors[f"fields.{name}"] = [str(exc)]
    for name in sorted(required - fields.keys()):
        errors[f"fields.{name}"] = ["is required"]
    for name in required & fields.keys():
        if isinstance(fields[name], str) and not fields[name].strip():
            errors[f"fields.{name}"] = ["is required"]
    return body, errors


@dataclass(frozen=True)
class NewRecord:
    """A record to create with a client-chosen id, as the body of its POST."""

    table: Table
    body: dict[str, Any]

    @property
    def id(self) -> str:
        """The record's id."""
        return str(self.body[self.table.primary_id])

    @property
    def ref(self) -> RecordRef:
        """The record as a result names it (a contact's or lead's full name)."""
        name = " ".join(str(self.body[k]) for k in ("firstname", "lastname") if self.body.get(k))
        return RecordRef(self.table.logical_name, self.id, name)


def sender_record(table_name: str, address: str, name: str | None, subject: str) -> NewRecord:
    """The contact or lead to create for an unresolved sender (`createMissing`), with a fresh random id.

    Its id need not be deterministic: it is created in one change set with the activity, whose id is, so a twin's
    change set fails on the activity and rolls its record back. Being random, nobody can pre-claim it.
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api#change-sets
    """
    table = LEAD if table_name == "lead" else CONTACT
    first, _, last = (name or "").strip().rpartition(" ")
    if not last:
        last = address.split("@", 1)[0]
    body: dict[str, Any] = {table.primary_id: str(uuid.uuid4()), "lastname": last[:50], "emailaddress1": address}
    if first:
        body["firstname"] = first[:50]
    if table is LEAD:
        body["subject"] = (subject or f"Email from {address}")[:300]
    return NewRecord(table, body)


def create_record(dv: Dataverse, environment_url: str, table_name: str, body: dict[str, Any]) -> CreatedRecord:
    """Create the record as the caller (one round trip); its table, id, name and form in Dynamics 365."""
    table = REGARDING_TABLES[table_name]
    created = dv.create(table.entity_set, body, select=[table.primary_id, table.primary_name])
    record_id = str(created[table.primary_id])
    return CreatedRecord(
        table=table_name,
        id=record_id,
        name=created.get(table.primary_name),
        url=f"{environment_url}/main.aspx?etn={table_name}&pagetype=entityrecord&id={record_id}",
    )
