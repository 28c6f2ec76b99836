"""Activity parties: resolving email addresses to records and building the party rows of a deep insert.

Dynamics 365 resolves a sender to one row, the first active match in the order systemuser, contact, account,
lead (a duplicate owned by the tracking user wins), and lists every matching row for recipients and attendees.
Immediate tracking resolves only to records the user can read — which is what a query made as the user returns.
https://learn.microsoft.com/en-us/power-platform/admin/associate-email-address
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from addin_api.dataverse import odata
from addin_api.dataverse.batch import BatchRequest, BatchResponse
from addin_api.dataverse.tables import RESOLUTION_ORDER, Table
from addin_api.model import PartyResult, RecordRef

# participationtypemask values.
# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/activityparty-entity
SENDER, TO, CC, BCC, REQUIRED, OPTIONAL, ORGANIZER = 1, 2, 3, 4, 5, 6, 7
ROLE_NAMES = {
    SENDER: "from",
    TO: "to",
    CC: "cc",
    BCC: "bcc",
    REQUIRED: "required",
    OPTIONAL: "optional",
    ORGANIZER: "organizer",
}
# Keep each address query well inside the 64 KB URL limit of a $batch part.
MAX_ADDRESSES_PER_QUERY = 100


@dataclass(frozen=True)
class Party:
    """One address on an item with its participation type."""

    mask: int
    address: str
    name: str | None = None

    @property
    def role(self) -> str:
        """The API's name for the participation type."""
        return ROLE_NAMES[self.mask]


@dataclass(frozen=True)
class Match:
    """A record an address resolved to."""

    table: Table
    id: str
    name: str | None
    owner_id: str | None = None

    @property
    def ref(self) -> RecordRef:
        """The record as a result names it."""
        return RecordRef(self.table.logical_name, self.id, self.name)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def resolution_queries(
    addresses: Sequence[str],
    extra_columns: Mapping[str, Sequence[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> list[tuple[Table, BatchRequest]]:
    """GET requests (for one `$batch`) that find the records owning any of `addresses`, table by table.

    `extra_columns` adds columns to read per table (by logical name); `headers` go on every request.
    """
    queries: list[tuple[Table, BatchRequest]] = []
    for table in RESOLUTION_ORDER:
        select = [table.primary_id, table.primary_name, *table.email_columns]
        if table.logical_name != "systemuser":
            select.append("_ownerid_value")
        select.extend((extra_columns or {}).get(table.logical_name, ()))
        for chunk in _chunks(addresses, MAX_ADDRESSES_PER_QUERY):
            clauses = " or ".join(f"{column} eq {odata.literal(a)}" for a in chunk for column in table.email_columns)
            params = {"$select": ",".join(select), "$filter": f"({clauses}) and {table.active_filter}"}
            path = f"{table.entity_set}?{odata.query_string(params)}"
            queries.append((table, BatchRequest("GET", path, headers=dict(headers or {}))))
    return queries


def collect_matches(
    queries: Sequence[tuple[Table, BatchRequest]], responses: Sequence[BatchResponse]
) -> dict[str, list[Match]]:
    """Map each address (lower-case) to the records it resolved to, in resolution order."""
    found: dict[str, list[Match]] = {}
    for (table, _), response in zip(queries, responses, strict=True):
        for row in (response.body or {}).get("value", []):
            match = Match(table, str(row[table.primary_id]), row.get(table.primary_name), row.get("_ownerid_value"))
            for column in table.email_columns:
                value = row.get(column)
                if isinstance(value, str) and value:
                    bucket = found.setdefault(value.lower(), [])
                    if match not in bucket:
                        bucket.append(match)
    return found


def sender_match(matches: Sequence[Match], caller_id: str | None) -> Match | None:
    """The one record a sender resolves to: first table in order; within it, the caller's own record first."""
    for table in RESOLUTION_ORDER:
        in_table = [m for m in matches if m.table is table]
        if in_table:
            owned = [m for m in in_table if caller_id and m.owner_id == caller_id]
            return (owned or in_table)[0]
    return None


@dataclass(frozen=True)
class Resolved:
    """A party and the records its address resolved to (one for the sender or organizer, every match otherwise)."""

    party: Party
    matches: tuple[Match, ...]


def resolve(
    parties: Sequence[Party],
    matches: Mapping[str, Sequence[Match]],
    caller_id: str | None,
    single_match_masks: Set[int],
) -> list[Resolved]:
    """Resolve each party: those whose mask is in `single_match_masks` (sender, organizer) to one record."""
    resolved: list[Resolved] = []
    for party in parties:
        candidates = matches.get(party.address, [])
        if party.mask in single_match_masks:
            chosen = sender_match(candidates, caller_id)
            resolved.append(Resolved(party, (chosen,) if chosen else ()))
        else:
            resolved.append(Resolved(party, tuple(candidates)))
    return resolved


def party_rows(
    resolved: Sequence[Resolved], new_sender: tuple[Party, Table, str] | None = None
) -> list[dict[str, Any]]:
    """The deep-insert party rows: one per resolved record, or one with only the address when none.

    `new_sender` (party, table, id) binds that unresolved party's row to the record created for it.
    """
    rows: list[dict[str, Any]] = []
    bound = False
    for entry in resolved:
        party = entry.party
        for match in entry.matches:
            rows.append(
                {
                    "participationtypemask": party.mask,
                    f"partyid_{match.table.logical_name}@odata.bind": match.table.bind(match.id),
                    "addressused": party.address,
                }
            )
        if not entry.matches:
            row: dict[str, Any] = {"participationtypemask": party.mask, "addressused": party.address}
            if new_sender is not None and not bound and new_sender[0] == party:
                table, record_id = new_sender[1], new_sender[2]
                row[f"partyid_{table.logical_name}@odata.bind"] = table.bind(record_id)
                bound = True
            rows.append(row)
    return rows


def party_results(
    resolved: Sequence[Resolved], new_sender: tuple[Party, RecordRef] | None = None
) -> tuple[PartyResult, ...]:
    """The API's parties, in the item's order; `new_sender` (party, record) shows the record created for it."""
    results: list[PartyResult] = []
    for entry in resolved:
        refs = tuple(m.ref for m in entry.matches)
        if new_sender is not None and (entry.party.address, entry.party.mask) == (
            new_sender[0].address,
            new_sender[0].mask,
        ):
            refs = (new_sender[1],)
        results.append(PartyResult(entry.party.role, entry.party.address, refs))
    return tuple(results)
