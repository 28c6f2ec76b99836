"""The dev harness's live view: the latest emails and appointments a demo user can see, newest first."""

from __future__ import annotations

from collections.abc import Callable

import requests

from addin_api.dataverse.latest import KINDS, get_latest
from addin_api.model import LatestActivity

# The environment URL and a Dataverse token for the user, or None when the user has neither.
Access = Callable[[], tuple[str, str] | None]


def latest_activity(
    session: requests.Session, access: Access, timeout: tuple[float, float]
) -> tuple[LatestActivity, ...]:
    """Each table's latest rows, asking `access` afresh for each table, merged newest first."""
    items: list[LatestActivity] = []
    for kind in KINDS:
        granted = access()
        if granted is not None:
            environment_url, token = granted
            items.extend(get_latest(session, environment_url, token, kind, timeout))
    return tuple(sorted(items, key=lambda item: str(item.created_on or ""), reverse=True))
