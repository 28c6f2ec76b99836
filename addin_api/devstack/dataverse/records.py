"""Record operations as Dataverse performs them: validate a body, bind lookups, deep insert, update, delete.

The rows the platform keeps in step with a write (a new user's mailbox, one approval shown on two rows) are not
this module's: whoever builds `Operations` passes those rules as `after_write` (the Web API passes
`mail_rows.after_write`). https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/create-entity-web-api
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from addin_api.devstack.config import DevUser
from addin_api.devstack.dataverse import keys, mail_security
from addin_api.devstack.dataverse.errors import (
    INVALID_ARGUMENT,
    QUERY,
    REQUIRED,
    DataverseError,
    duplicate,
    not_found,
    payload_error,
    privilege_denied,
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
from addin_api.devstack.dataverse.rows import Record as Record  # re-exported: api and mail_messages import these
from addin_api.devstack.dataverse.rows import apply_computed, as_activitypointer, blank_record, ticket_number
from addin_api.devstack.dataverse.rows import now_iso as now_iso
from addin_api.devstack.dataverse.rows import set_lookup as set_lookup
from addin_api.devstack.dataverse.schema import LOOKUP, Table
from addin_api.devstack.dataverse.store import DataverseStore, DuplicateKey, index_key
from addin_api.devstack.dataverse.values import convert

# statuscode -> statecode, and the default statuscode of each statecode
STATUS_STATE = {"email": EMAIL_STATUS_STATE, "appointment": APPOINTMENT_STATUS_STATE}
DEFAULT_STATUS = {"email": {0: 1, 1: 2, 2: 5}, "appointment": {0: 1, 1: 3, 2: 4, 3: 5}}


@dataclass
class BindTarget:
    """Where an `@odata.bind` points."""

    table: Table
    record_id: str


# A platform rule run after each create (True) or update (False) inside the writer's transaction, with the columns
# the body wrote.
AfterWrite = Callable[["Operations", Table, Record, bool, set[str]], None]


@dataclass
class Operations:
    """The data operations of one caller (a request, or one part of a `$batch`)."""

    store: DataverseStore
    user: DevUser
    api_base: str  # https://host/api/data/v9.2/
    written: set[str] = field(default_factory=set)  # the columns the last `apply_body` wrote
    content_ids: dict[str, str] = field(default_factory=dict)  # "$1" -> "accounts(<id>)"
    delegate: DevUser | None = None  # the impersonating caller, when `user` is impersonated (`impersonation`)
    after_write: tuple[AfterWrite, ...] = ()  # the platform's rules for the rows it keeps in step

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
        """The rows a filter with these `keys` (`filter_eval.Filter.keys`) can match: an index lookup, or every row."""
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
                record[table.key] = convert(table, column, value)
                continue
            if (creating and not column.create) or (not creating and not column.update):
                verb = "create" if creating else "update"
                raise DataverseError(
                    400,
                    INVALID_ARGUMENT,
                    f"The '{column.name}' attribute of the '{table.logical}' entity is not valid for {verb}.",
                )
            record[column.name] = convert(table, column, value)
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
            _check_required(table, record)
            new_id = str(record[table.key])
            self._check_activity_id(table, new_id)
            keys.check_unique(self.store, table, record)
            try:
                self.store.insert(table.logical, new_id, record)
            except DuplicateKey as exc:
                raise duplicate() from exc
            self._after_write(table, record, True, written)
            self._deep_insert(table, new_id, deep)
        return new_id

    def _check_activity_id(self, table: Table, new_id: str) -> None:
        """Refuse an activity id another activity table holds.

        Every activity is also an activitypointer row keyed by activityid: an email cannot take the id of an
        appointment. https://learn.microsoft.com/en-us/power-apps/developer/data-platform/activities-data-model-storage
        """
        if table.logical in ACTIVITY_TABLES and any(
            self.store.get(other, new_id) is not None for other in ACTIVITY_TABLES if other != table.logical
        ):
            raise duplicate()

    def _deep_insert(self, table: Table, new_id: str, deep: list[tuple[str, list[Any]]]) -> None:
        """Create the children a create body nests under its collection-valued navigation properties."""
        for nav_name, children in deep:
            collection = table.collections[nav_name]
            child_table = TABLES[collection.child]
            for child in children:
                link = (collection.column, table, new_id, partner_of(collection, table))
                self.create(child_table, child, parent=link)

    def _after_write(self, table: Table, record: Record, creating: bool, written: set[str]) -> None:
        for rule in self.after_write:
            rule(self, table, record, creating, written)

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
            self._after_write(table, record, False, written)

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


def _check_required(table: Table, record: Record) -> None:
    """Refuse a new record that leaves a required column empty."""
    for col in table.columns.values():
        if col.required and record.get(col.attribute) is None:
            if table.logical == "incident" and col.name == "customerid":
                message = "You should specify a parent contact or account."
            else:
                message = f"Attribute '{col.name}' cannot be NULL"
            raise DataverseError(400, REQUIRED, message)
