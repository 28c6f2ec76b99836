"""A record row's own values as the platform sets them: timestamps, lookups, defaults and computed columns.

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
from datetime import UTC, datetime
from typing import Any

from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.dataverse.schema import LOOKUP, Table

Record = dict[str, Any]


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
