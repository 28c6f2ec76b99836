"""The sender card: who an address is in Dataverse and the latest activities with it, in one `$batch`."""

from __future__ import annotations

from addin_api.dataverse.people import look_up
from addin_api.dataverse.port import Dataverse
from addin_api.model import LookupPerson, Person

RECENT_ACTIVITIES = 5


def lookup(dv: Dataverse, environment_url: str, command: LookupPerson) -> Person:
    """Records owning the address (systemuser, contact, account, lead) and the latest activities it took part in."""
    matches, recent = look_up(dv, command.email, environment_url)
    return Person(tuple(matches), tuple(recent[:RECENT_ACTIVITIES]))
