"""The two activity tables the add-in tracks into — email and appointment — and how each is read and written.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/email
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/appointment
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Any

from addin_api.dataverse import odata
from addin_api.dataverse.parties import BCC, CC, OPTIONAL, ORGANIZER, REQUIRED, ROLE_NAMES, SENDER, TO
from addin_api.dataverse.tables import REGARDING_TABLES, Table, regarding_property

# Deterministic activity ids: the same Outlook item in the same environment always maps to the same record, so a
# retry, a double click or a second worker can never create a duplicate (the create answers 412 0x80040237).
# Anyone who knows the item's key (every recipient knows a Message-ID) can compute this id, so it is only the first
# candidate: when someone else's record sits at it, `fallback_id` gives ids only the deployment can compute.
ACTIVITY_NAMESPACE = uuid.UUID("0f5e8b8e-5c3a-4d55-9a44-2d6f0e3c9a71")

# Ask for formatted values and lookup table names on every record read for a view.
INCLUDE_ANNOTATIONS = {"Prefer": odata.INCLUDE_ANNOTATIONS}
FORMATTED = odata.FORMATTED
LOGICAL_NAME = odata.LOGICAL_NAME


@dataclass(frozen=True)
class ActivityKind:
    """How one activity table is keyed, partied and attached to."""

    logical_name: str
    entity_set: str
    key_column: str  # the Outlook item's stable id: messageid / globalobjectid
    key_max_length: int
    parties_property: str
    attachments_property: str
    single_match_masks: frozenset[int]

    def activity_id(self, environment_url: str, item_key: str) -> str:
        """The activityid a tracked item gets in this environment."""
        return str(uuid.uuid5(ACTIVITY_NAMESPACE, f"{environment_url}|{self.logical_name}|{item_key}"))

    def fallback_id(self, key: bytes, environment_url: str, item_key: str, attempt: int) -> str:
        """The `attempt`-th (1, 2, …) activityid to try when the deterministic one is held by another record.

        An HMAC under the deployment's activity-id key: every process and host of the deployment (web workers, the
        mailbox-sync worker) derives the same sequence, so concurrent tracks of one item still meet at one id and
        the loser's create answers 412, while a colleague who knows the item's key cannot compute it to pre-claim.
        """
        message = f"{environment_url}|{self.logical_name}|{item_key}|{attempt}".encode()
        digest = hmac.new(key, message, hashlib.sha256).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def same_item(self, record: dict[str, Any], item_key: str) -> bool:
        """Whether `record` holds this item: its key column equals `item_key`.

        Compared case-insensitively, as the `$filter` eq of the tracking lookup compares strings in Dataverse, so a
        record this test accepts is exactly one the status lookup also reports.
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows
        """
        value = record.get(self.key_column)
        return isinstance(value, str) and value.casefold() == item_key.casefold()

    def regarding_property(self, table: Table) -> str:
        """`regardingobjectid_<table>_<activity>`."""
        return regarding_property(table, self.logical_name)

    def record_url(self, environment_url: str, activity_id: str) -> str:
        """Where the user opens the activity in Dynamics 365."""
        return f"{environment_url}/main.aspx?etn={self.logical_name}&pagetype=entityrecord&id={activity_id}"

    def _view_params(self) -> dict[str, str]:
        """What a tracked view reads: the activity's key columns, its parties and its regarding."""
        return {
            "$select": f"activityid,{self.key_column},subject,_regardingobjectid_value,statecode,createdon",
            "$expand": f"{self.parties_property}($select=participationtypemask,addressused,_partyid_value)",
        }

    def lookup_query(self, item_key: str) -> str:
        """The GET (relative URL) that finds this item's activity, with its parties and regarding."""
        params = {
            **self._view_params(),
            "$filter": f"{self.key_column} eq {odata.literal(item_key, max_length=self.key_max_length)}",
            "$top": "1",
        }
        return f"{self.entity_set}?{odata.query_string(params)}"

    def by_id_query(self, activity_id: str) -> str:
        """The GET (relative URL) of one activity by id, with its parties and regarding."""
        return f"{self.entity_set}({odata.guid(activity_id)})?{odata.query_string(self._view_params())}"


EMAIL = ActivityKind(
    logical_name="email",
    entity_set="emails",
    key_column="messageid",
    key_max_length=320,
    parties_property="email_activity_parties",
    attachments_property="email_activity_mime_attachment",
    single_match_masks=frozenset({SENDER}),
)
APPOINTMENT = ActivityKind(
    logical_name="appointment",
    entity_set="appointments",
    key_column="globalobjectid",
    key_max_length=300,
    parties_property="appointment_activity_parties",
    attachments_property="appointment_activity_mime_attachment",
    single_match_masks=frozenset({ORGANIZER}),
)
# How parties are listed: sender or organizer first, then recipients or attendees.
ROLE_ORDER = {SENDER: 0, ORGANIZER: 0, TO: 1, REQUIRED: 1, CC: 2, OPTIONAL: 2, BCC: 3}


def regarding_view(record: dict[str, Any]) -> dict[str, Any] | None:
    """The API's `regarding` from a record read with annotations, or None when not set."""
    regarding_id = record.get("_regardingobjectid_value")
    if not regarding_id:
        return None
    return {
        "table": record.get("_regardingobjectid_value" + LOGICAL_NAME),
        "id": regarding_id,
        "name": record.get("_regardingobjectid_value" + FORMATTED),
    }


def tracked_view(kind: ActivityKind, environment_url: str, record: dict[str, Any]) -> dict[str, Any]:
    """The API's view of a tracked activity read back from Dataverse (with annotations)."""
    activity_id = str(record["activityid"])
    parties: dict[tuple[int, str], dict[str, Any]] = {}
    for row in record.get(kind.parties_property) or []:
        mask = int(row.get("participationtypemask") or 0)
        if mask not in ROLE_NAMES:
            continue
        address = str(row.get("addressused") or "").lower()
        entry = parties.setdefault((mask, address), {"role": ROLE_NAMES[mask], "address": address, "resolved": []})
        party_id = row.get("_partyid_value")
        table = row.get("_partyid_value" + LOGICAL_NAME)
        if party_id and (table in REGARDING_TABLES or table == "systemuser"):
            entry["resolved"].append({"table": table, "id": party_id, "name": row.get("_partyid_value" + FORMATTED)})
    return {
        "activityId": activity_id,
        "tracked": True,
        "alreadyTracked": True,
        "subject": record.get("subject"),
        "etag": record.get("@odata.etag"),
        "regarding": regarding_view(record),
        "url": kind.record_url(environment_url, activity_id),
        "parties": [view for (_, _), view in sorted(parties.items(), key=lambda item: ROLE_ORDER[item[0][0]])],
    }
