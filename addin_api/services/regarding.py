"""Set, change and clear an activity's regarding record; untrack; search regarding candidates across tables."""

from __future__ import annotations

from addin_api.dataverse import regarding as dvregarding
from addin_api.dataverse import track
from addin_api.dataverse.activities import KINDS
from addin_api.dataverse.port import Dataverse
from addin_api.dataverse.tables import REGARDING_TABLES
from addin_api.model import (
    ClearRegarding,
    RegardingCleared,
    RegardingSet,
    SearchRegarding,
    SearchResults,
    SetRegarding,
    Untrack,
)


def set_regarding(dv: Dataverse, environment_url: str, command: SetRegarding) -> RegardingSet:
    """Point the activity at the record (one round trip); a change made since `if_match` answers 409."""
    kind = KINDS[command.activity]
    return dvregarding.set_regarding(
        dv, environment_url, kind, command.activity_id, command.regarding, command.if_match
    )


def clear_regarding(dv: Dataverse, environment_url: str, command: ClearRegarding) -> RegardingCleared:
    """Remove the activity's regarding."""
    return dvregarding.clear_regarding(dv, environment_url, KINDS[command.activity], command.activity_id)


def untrack(dv: Dataverse, command: Untrack) -> None:
    """Delete the activity (its parties and attachments go with it)."""
    track.untrack(dv, KINDS[command.activity], command.activity_id)


def parse_search(raw: str) -> tuple[str, bool]:
    """The text to look for and whether it may sit anywhere: a leading `*` is Dynamics' wildcard for "contains".

    A trailing `*` adds nothing to a begins-with search, so it is dropped too.
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/quick-find
    """
    text = raw.strip()
    contains = text.startswith("*")
    return text.strip("*").strip(), contains


def search(dv: Dataverse, command: SearchRegarding) -> SearchResults:
    """Candidates matching the text across the tables, or the account and its open opportunities and cases."""
    tables = [REGARDING_TABLES[name] for name in dict.fromkeys(command.tables)]
    if command.account is not None:
        return SearchResults(tuple(dvregarding.for_account(dv, command.account, tables, command.top)))
    text, contains = parse_search(command.search or "")
    return SearchResults(tuple(dvregarding.search(dv, text, contains, tables, command.top)))
