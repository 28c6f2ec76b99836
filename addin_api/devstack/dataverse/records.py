"""Record operations as Dataverse performs them: validate a body, bind lookups, deep insert, update, delete.

A record is a dict keyed by Web API property names (`name`, `_parentcustomerid_value`, …); for each lookup it
also keeps `<prop>@lookuplogicalname` and `<prop>@nav` (the table and the navigation property that set it),
which the serializer turns into the documented annotations.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/create-entity-web-api
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from addin_api.devstack.config import DevUser
from addin_api.devstack.dataverse import keys, mail_rows, mail_security
from addin_api.devstack.dataverse.errors import (
    INVALID_ARGUMENT,
    QUERY,
    REQUIRED,
    DataverseError,
    duplicate,
    not_found,
    payload_error,
    privilege_denied,
    too_long,
    unknown_property,
)
from addin_api.devstack.dataverse.metadata import (
    ACTIVITY_TABLES,
    APPOINTMENT_STATUS_STATE,
    BY_ENTITY_SET,
    EMAIL_STATUS_STATE,
    TABLES,
    partner_of,
)
from addin_api.devstack.dataverse.schema import (
    BOOL,
    DATEONLY,
    DATETIME,
    GUID,
    INT,
    LOOKUP,
    MEMO,
    MONEY,
    PICKLIST,
    STRING,
    Column,
    Table,
)
from addin_api.devstack.dataverse.store import DataverseStore, DuplicateKey, index_key

Record = dict[str, Any]

# statuscode -> statecode, and the default statuscode of each statecode
STATUS_STATE = {"email": EMAIL_STATUS_STATE, "appointment": APPOINTMENT_STATUS_STATE}
DEFAULT_STATUS = {"email": {0: 1, 1: 2, 2: 5}, "appointment": {0: 1, 1: 3, 2: 4, 3: 5}}


def now_iso() -> str:
    """The current UTC time as Dataverse writes it: ISO 8601 with `Z`, whole seconds."""
    return _iso_second(int(time.time()))


@functools.lru_cache(maxsize=2)
def _iso_second(second: int) -> str:
    # Formatting is most of the cost and the text changes once a second.
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ticket_number(record_id: str) -> str:
    """A case number in Dataverse's default `CAS-<n>-<suffix>` format, derived from the id."""
    digest = hashlib.sha1(record_id.encode()).hexdigest().upper()
    return f"CAS-{int(digest[:6], 16) % 100000:05d}-{digest[6:12]}"


def set_lookup(record: Record, column: str, target: str | None, target_id: str | None, nav: str | None) -> None:
    """Point a lookup at a record (or clear it)."""
    prop = f"_{column}_value"
    record[prop] = target_id
    record[f"{prop}@lookuplogicalname"] = target if target_id else None
    record[f"{prop}@nav"] = nav if target_id else None


def apply_computed(table: Table, record: Record) -> None:
    """Fill the columns Dataverse computes: fullname, ticketnumber, filesize, regardingobjecttypecode, senton."""
    if "fullname" in table.columns and table.logical in ("contact", "lead", "systemuser"):
        parts = [record.get("firstname"), record.get("lastname")]
        record["fullname"] = " ".join(p for p in parts if p) or None
    if table.logical == "activitymimeattachment":
        body = record.get("body")
        record["filesize"] = len(base64.b64decode(body, validate=False)) if body else 0
    if table.logical == "mailboxtrackingfolder":
        record["regardingobjecttypecode"] = record.get("_regardingobjectid_value@lookuplogicalname")
    if table.logical == "email" and record.get("statuscode") == 3 and not record.get("senton"):
        record["senton"] = now_iso()  # the platform stamps when an email became Sent


def blank_record(table: Table, record_id: str, user_id: str, when: str, version: int) -> Record:
    """A new record with every column at its default and the system columns set as the platform sets them."""
    record = dict(_defaults(table) if TABLES.get(table.logical) is not table else _cached_defaults(table.logical))
    record[table.key] = record_id
    record["createdon"] = when
    record["modifiedon"] = when
    record["versionnumber"] = version
    for column in ("createdby", "modifiedby", "ownerid"):
        if column in table.columns:
            set_lookup(record, column, "systemuser", user_id, column)
    if table.logical == "incident":
        record["ticketnumber"] = ticket_number(record_id)
    return record


_EDM = {
    STRING: "Edm.String",
    MEMO: "Edm.String",
    INT: "Edm.Int32",
    PICKLIST: "Edm.Int32",
    BOOL: "Edm.Boolean",
    DATETIME: "Edm.DateTimeOffset",
    DATEONLY: "Edm.Date",
    MONEY: "Edm.Decimal",
    GUID: "Edm.Guid",
}


def _conversion_error(table: Table, column: Column, value: Any, edm: str) -> DataverseError:
    """The error for a JSON value the column's type does not accept (built only when raised: it is costly)."""
    return payload_error(
        table,
        f"Cannot convert the literal '{value}' to the expected type '{edm}'."
        if isinstance(value, str)
        else f"A value of type '{type(value).__name__}' was found where '{edm}' was expected "
        f"for the property '{column.name}'.",
    )


def _defaults(table: Table) -> Record:
    record: Record = {}
    for col in table.columns.values():
        if col.type == LOOKUP:
            set_lookup(record, col.name, None, None, None)
        else:
            record[col.name] = col.default
    return record


@functools.lru_cache(maxsize=64)
def _cached_defaults(logical: str) -> Record:
    # Copied for every new record, never handed out; column defaults are immutable values.
    return _defaults(TABLES[logical])


@dataclass
class BindTarget:
    """Where an `@odata.bind` points."""

    table: Table
    record_id: str


@dataclass
class Operations:
    """The data operations of one caller (a request, or one part of a `$batch`)."""

    store: DataverseStore
    user: DevUser
    api_base: str  # https://host/api/data/v9.2/
    written: set[str] = field(default_factory=set)  # the columns the last `apply_body` wrote
    content_ids: dict[str, str] = field(default_factory=dict)  # "$1" -> "accounts(<id>)"
    delegate: DevUser | None = None  # the impersonating caller, when `user` is impersonated (`impersonation`)

    # ---- security -------------------------------------------------------------------------------------------

    def require(self, operation: str, table: Table) -> None:
        """Raise 403 `0x80040220` unless the caller's roles grant `operation` on `table`."""
        logical = table.logical
        if not self.user.may(operation, logical) and not mail_security.granted_to_all(operation, logical):
            raise privilege_denied(self.user.systemuserid, len(self.user.privileges), operation, table)

    # ---- reading --------------------------------------------------------------------------------------------

    def rows(self, table: Table) -> list[Record]:
        """Every record of a table (activitypointer: the emails and appointments seen as activities)."""
        if table.logical == "activitypointer":
            out: list[Record] = []
            for logical in ACTIVITY_TABLES:
                out.extend(as_activitypointer(r) for r in self.store.all(logical))
            return out
        return mail_security.visible(self.user, table, self.store.all(table.logical))

    def candidates(self, table: Table, keys: frozenset[tuple[str, str]] | None) -> list[Record]:
        """The rows a filter with these `keys` (`query.Filter.keys`) can match: an index lookup, or every row."""
        if keys is None or table.logical == "activitypointer":
            return self.rows(table)
        return mail_security.visible(self.user, table, self.store.find(table.logical, keys))

    def related_rows(self, child: Table, column: str, parent_id: Any) -> list[Record]:
        """The rows of `child` whose lookup `column` points at `parent_id`."""
        prop = f"_{column}_value"
        if not isinstance(parent_id, str) or child.logical == "activitypointer":
            return [r for r in self.rows(child) if r.get(prop) == parent_id]
        rows = self.store.find(child.logical, [(prop, index_key(parent_id) or "")])
        return mail_security.visible(self.user, child, [r for r in rows if r.get(prop) == parent_id])

    def fetch(self, table: Table, record_id: str) -> Record | None:
        """One record by id, or None."""
        if table.logical == "activitypointer":
            for logical in ACTIVITY_TABLES:
                found = self.store.get(logical, record_id)
                if found is not None:
                    return as_activitypointer(found)
            return None
        return self.store.get(table.logical, record_id)

    def readable(self, table: Table, record_id: str) -> Record | None:
        """One record by id if the caller may read it (an expanded or joined row they may not read is absent)."""
        record = self.fetch(table, record_id)
        return record if record is not None and mail_security.visible(self.user, table, [record]) else None

    def get(self, table: Table, record_id: str) -> Record:
        """One record by id, or 404 `0x80040217`."""
        record = self.fetch(table, record_id)
        if record is None:
            raise not_found(table, record_id)
        mail_security.check_row(self.user, "read", table, record)
        return record

    # ---- binds ----------------------------------------------------------------------------------------------

    def resolve_reference(self, value: Any, table_hint: Table | None = None) -> BindTarget:
        """Parse `/contacts(<id>)`, `contacts(<id>)`, an absolute URL or a `$n` Content-ID reference."""
        if not isinstance(value, str):
            raise payload_error(table_hint, "An entity reference link must be a string URL.")
        text = value.strip()
        if text.startswith("$") and text in self.content_ids:
            text = self.content_ids[text]
        elif text.startswith("$"):
            raise DataverseError(400, QUERY, f"Content-ID Reference: '{text}' does not exist in the batch context.")
        path = unquote(urlsplit(text).path) if "://" in text else text
        path = re.sub(r"^api/data/v9\.[012]/", "", path.lstrip("/"))
        match = re.fullmatch(r"([A-Za-z_]+)\(([^)]*)\)", path)
        if match is None:
            raise DataverseError(400, QUERY, f"Invalid entity reference '{value}'.")
        target = BY_ENTITY_SET.get(match.group(1))
        if target is None:
            raise DataverseError(404, QUERY, f"Resource not found for the segment '{match.group(1)}'.")
        key = keys.parse_key(target, match.group(2))
        if key.record_id is not None:
            return BindTarget(target, key.record_id)
        # a reference may name the row by an alternate key (use-alternate-key-reference-record)
        found = keys.find(self.store, target, key.values)
        if found is None:
            raise keys.missing_alternate(target)
        return BindTarget(target, str(found[target.key]))

    def bind(self, table: Table, record: Record, nav_name: str, value: Any) -> None:
        """Apply `<nav>@odata.bind` to a record being created or updated."""
        nav = table.navs.get(nav_name)
        if nav is None:
            raise unknown_property(table, f"{nav_name}@odata.bind")
        if value is None:
            set_lookup(record, nav.column, None, None, None)
            return
        ref = self.resolve_reference(value, table)
        expected = TABLES.get(nav.target)
        if expected is None or ref.table.logical != nav.target:
            raise payload_error(
                table,
                f"The entity reference '{value}' is of type '{ref.table.logical}' but the navigation property "
                f"'{nav_name}' expects '{nav.target}'.",
            )
        target = self.get(expected, ref.record_id)
        actual = target.get("activitytypecode") if nav.target == "activitypointer" else nav.target
        self.require("append", table)
        self.require("appendto", TABLES[str(actual)])
        nav_used = f"{nav.column}_{actual}" if nav.target == "activitypointer" else nav_name
        set_lookup(record, nav.column, str(actual), ref.record_id, nav_used)

    # ---- values ---------------------------------------------------------------------------------------------

    def convert(self, table: Table, column: Column, value: Any) -> Any:
        """Check a JSON value against the column's type and length; return what is stored."""
        if value is None:
            return None
        edm = _EDM[column.type]  # a lookup has no literal type: KeyError, as before
        if column.type in (STRING, MEMO):
            if not isinstance(value, str):
                raise _conversion_error(table, column, value, edm)
            if column.max_length is not None and len(value) > column.max_length:
                raise too_long(table, column.name, column.max_length)
            return value
        if column.type in (INT, PICKLIST):
            if isinstance(value, bool) or not isinstance(value, int):
                raise _conversion_error(table, column, value, edm)
            if column.type == PICKLIST and column.options and value not in column.options:
                accepted = ",".join(str(k) for k in column.options)
                raise DataverseError(
                    400,
                    "0x8004431a",
                    f"A validation error occurred.  The value {value} of '{column.name}' on record of type "
                    f"'{table.logical}' is outside the valid range. Accepted Values: {accepted}",
                )
            return value
        if column.type == BOOL:
            if not isinstance(value, bool):
                raise _conversion_error(table, column, value, edm)
            return value
        if column.type == MONEY:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _conversion_error(table, column, value, edm)
            return value
        if column.type == GUID:
            try:
                return str(uuid.UUID(str(value)))
            except ValueError as exc:
                raise _conversion_error(table, column, value, edm) from exc
        if not isinstance(value, str):
            raise _conversion_error(table, column, value, edm)
        try:
            if column.type == DATEONLY:
                return date.fromisoformat(value[:10]).isoformat()
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise _conversion_error(table, column, value, edm) from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def apply_body(
        self, table: Table, record: Record, body: dict[str, Any], creating: bool
    ) -> list[tuple[str, list[Any]]]:
        """Write a request body onto a record; return the deep-insert collections to create afterwards."""
        deep: list[tuple[str, list[Any]]] = []
        written: set[str] = set()
        for key, value in body.items():
            if key.endswith("@odata.bind"):
                self.bind(table, record, key[: -len("@odata.bind")], value)
                continue
            if key.startswith("@") or "@" in key:
                continue  # instance annotations such as @odata.type or @odata.etag
            if key in table.collections:
                if not creating or not isinstance(value, list):
                    raise payload_error(table, f"Deep insert into '{key}' is only supported on create.")
                deep.append((key, value))
                continue
            if key in table.navs:
                raise payload_error(table, f"Use '{key}@odata.bind' to set the navigation property '{key}'.")
            column = table.column_for_attribute(key)
            if column is None or column.type == LOOKUP:
                if key.startswith("_") and key.endswith("_value") and key[1:-6] in table.columns:
                    raise DataverseError(
                        400,
                        QUERY,
                        "CRM do not support direct update of Entity Reference properties, Use Navigation "
                        "properties instead.",
                    )
                raise unknown_property(table, key)
            if column.name == table.key:
                if not creating:
                    continue
                record[table.key] = self.convert(table, column, value)
                continue
            if (creating and not column.create) or (not creating and not column.update):
                verb = "create" if creating else "update"
                raise DataverseError(
                    400,
                    INVALID_ARGUMENT,
                    f"The '{column.name}' attribute of the '{table.logical}' entity is not valid for {verb}.",
                )
            record[column.name] = self.convert(table, column, value)
            written.add(column.name)
        mail_security.check_columns(self.user, table, written)
        self._state_status(table, record, written)
        self.written = written
        return deep

    def _state_status(self, table: Table, record: Record, written: set[str]) -> None:
        mapping = STATUS_STATE.get(table.logical)
        if mapping is None:
            return
        state, status = record.get("statecode"), record.get("statuscode")
        if "statuscode" in written and "statecode" not in written and isinstance(status, int):
            record["statecode"] = mapping[status]
        elif "statecode" in written and "statuscode" not in written and isinstance(state, int):
            record["statuscode"] = DEFAULT_STATUS[table.logical][state]
        elif isinstance(status, int) and mapping.get(status) != record.get("statecode"):
            raise DataverseError(
                400,
                "0x80040203",
                f"{status} is not a valid status code for state code {table.logical.capitalize()}State "
                f"{record.get('statecode')} on {table.logical} with Id {record.get(table.key)}.",
            )

    # ---- create ---------------------------------------------------------------------------------------------

    def create(
        self,
        table: Table,
        body: Any,
        parent: tuple[str, Table, str, str] | None = None,
        record_id: str | None = None,
    ) -> str:
        """Create a record (and its deep-inserted children); return its id.

        `parent` is (lookup column, parent table, parent id, navigation property) for a deep-inserted child.
        """
        if table.read_only:
            raise DataverseError(405, "0x80060888", f"The '{table.entity_set}' entity set is read-only.")
        mail_security.check_method("create", table)
        self.require("create", table)
        if not isinstance(body, dict):
            raise payload_error(table, "An object was expected as the request body.")
        with self.store.transaction():
            record = blank_record(
                table,
                record_id or str(uuid.uuid4()),
                self.user.systemuserid,
                now_iso(),
                self.store.next_version(),
            )
            self._on_behalf(table, record, "createdonbehalfby")
            self._on_behalf(table, record, "modifiedonbehalfby")
            if parent is not None:
                column, parent_table, parent_id, nav = parent
                set_lookup(record, column, parent_table.logical, parent_id, nav)
            deep = self.apply_body(table, record, body, creating=True)
            written = self.written
            mail_security.check_row(self.user, "create", table, record)
            apply_computed(table, record)
            if table.logical == "incident":
                record["ticketnumber"] = ticket_number(record[table.key])
            if table.logical == "activitymimeattachment" and parent is not None and not record["objecttypecode"]:
                record["objecttypecode"] = parent[1].logical
            for col in table.columns.values():
                if col.required and record.get(col.attribute) is None:
                    if table.logical == "incident" and col.name == "customerid":
                        message = "You should specify a parent contact or account."
                    else:
                        message = f"Attribute '{col.name}' cannot be NULL"
                    raise DataverseError(400, REQUIRED, message)
            new_id = str(record[table.key])
            # Every activity is also an activitypointer row keyed by activityid: an email cannot take the id of an
            # appointment. https://learn.microsoft.com/en-us/power-apps/developer/data-platform/activities-data-model-storage
            if table.logical in ACTIVITY_TABLES and any(
                self.store.get(other, new_id) is not None for other in ACTIVITY_TABLES if other != table.logical
            ):
                raise duplicate()
            keys.check_unique(self.store, table, record)
            try:
                self.store.insert(table.logical, new_id, record)
            except DuplicateKey as exc:
                raise duplicate() from exc
            mail_rows.after_write(self, table, record, True, written)
            for nav_name, children in deep:
                collection = table.collections[nav_name]
                child_table = TABLES[collection.child]
                for child in children:
                    link = (collection.column, table, new_id, partner_of(collection, table))
                    self.create(child_table, child, parent=link)
        return new_id

    def _on_behalf(self, table: Table, record: Record, column: str) -> None:
        """Set `createdonbehalfby`/`modifiedonbehalfby` to the impersonating caller (null when none)."""
        if column in table.columns:
            delegate = self.delegate.systemuserid if self.delegate is not None else None
            set_lookup(record, column, "systemuser", delegate, column)

    # ---- update ---------------------------------------------------------------------------------------------

    def update(self, table: Table, record_id: str, body: Any, existing: Record) -> None:
        """Apply a PATCH body to an existing record."""
        if table.read_only:
            raise DataverseError(405, "0x80060888", f"The '{table.entity_set}' entity set is read-only.")
        self.require("write", table)
        mail_security.check_row(self.user, "write", table, existing)
        if not isinstance(body, dict):
            raise payload_error(table, "An object was expected as the request body.")
        with self.store.transaction():
            record = dict(existing)
            self.apply_body(table, record, body, creating=False)
            written = self.written
            apply_computed(table, record)
            record["modifiedon"] = now_iso()
            record["versionnumber"] = self.store.next_version()
            if "modifiedby" in table.columns:
                set_lookup(record, "modifiedby", "systemuser", self.user.systemuserid, "modifiedby")
            keys.check_unique(self.store, table, record)
            self._on_behalf(table, record, "modifiedonbehalfby")
            self.store.replace(table.logical, record_id, record)
            mail_rows.after_write(self, table, record, False, written)

    def set_reference(self, table: Table, record_id: str, nav_name: str, value: Any) -> None:
        """Associate (`PUT …/<nav>/$ref`) or disassociate (`value=None`) a single-valued navigation property."""
        existing = self.get(table, record_id)
        if nav_name not in table.navs:
            raise DataverseError(
                400,
                QUERY,
                f"Could not find a property named '{nav_name}' on type 'Microsoft.Dynamics.CRM.{table.logical}'.",
            )
        self.update(table, record_id, {f"{nav_name}@odata.bind": value}, existing)

    # ---- delete ---------------------------------------------------------------------------------------------

    def delete(self, table: Table, record_id: str) -> None:
        """Delete a record; activities take their parties and attachments with them (cascade)."""
        if table.read_only:
            raise DataverseError(405, "0x80060888", f"The '{table.entity_set}' entity set is read-only.")
        mail_security.check_method("delete", table)
        self.require("delete", table)
        with self.store.transaction():
            existing = self.store.get(table.logical, record_id)
            if existing is not None:
                mail_security.check_row(self.user, "delete", table, existing)
            if not self.store.delete(table.logical, record_id):
                raise not_found(table, record_id)
            if table.logical in ACTIVITY_TABLES:
                for child, column in (("activityparty", "activityid"), ("activitymimeattachment", "objectid")):
                    for row in self.related_rows(TABLES[child], column, record_id):
                        self.store.delete(child, row[TABLES[child].key])


def as_activitypointer(record: Record) -> Record:
    """Project an email or appointment onto the activitypointer columns."""
    table = TABLES["activitypointer"]
    out: Record = {}
    for col in table.columns.values():
        prop = col.attribute
        out[prop] = record.get(prop)
        if col.type == LOOKUP:
            out[f"{prop}@lookuplogicalname"] = record.get(f"{prop}@lookuplogicalname")
            nav = record.get(f"{prop}@nav")
            if isinstance(nav, str) and col.name == "regardingobjectid":
                nav = re.sub(r"_(email|appointment)$", "", nav)
            out[f"{prop}@nav"] = nav
    return out
