"""The environment's settings the mailbox sync follows, read from its `organization` row at most every
`ORGANIZATION_SECONDS` (kept in the sync store for every worker).

`orgdborgsettings` holds the OrgDBOrgSettings as XML; the one read here is **AutoTrackSentFolderItems** ("enables the
auto-tracking of items in the Sent Items folder", default false): with it, new messages in Sent Items are put to
the owner's personal options as those in the Inbox are.
https://learn.microsoft.com/en-us/power-platform/admin/orgdborgsettings
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from addin_api.dataverse.port import Dataverse
from addin_api.sync.store import SyncStore

__all__ = ["ORGANIZATION_SECONDS", "OrganizationSettings", "organization_settings"]

ORGANIZATION_SECONDS = 300.0
_KEY = "organization"
# Matched, not parsed: the value is a small XML document, and a pattern cannot be made to expand entities.
_AUTO_TRACK_SENT = re.compile(r"<AutoTrackSentFolderItems>\s*(true|1)\s*</AutoTrackSentFolderItems>", re.IGNORECASE)
MAX_SETTINGS = 1_048_576


@dataclass(frozen=True)
class OrganizationSettings:
    """What the sync reads of the organization."""

    auto_track_sent: bool = False


def organization_settings(dv: Dataverse, store: SyncStore, environment_url: str) -> OrganizationSettings:
    """The environment's settings, as kept (one round trip when they are read again)."""
    scope = f"{environment_url.rstrip('/').lower()} organization"
    try:
        kept = json.loads(store.get(scope, _KEY) or "null")
        if isinstance(kept, dict) and 0 <= time.time() - float(kept["at"]) < ORGANIZATION_SECONDS:
            return OrganizationSettings(bool(kept["autoTrackSent"]))
    except (ValueError, TypeError, KeyError):
        pass
    rows = dv.get("organizations", {"$select": "orgdborgsettings"})
    found = [r for r in rows.get("value", []) if isinstance(r, dict)]
    text = found[0].get("orgdborgsettings") if found else None
    settings = OrganizationSettings(isinstance(text, str) and _AUTO_TRACK_SENT.search(text[:MAX_SETTINGS]) is not None)
    store.put(scope, _KEY, json.dumps({"at": time.time(), "autoTrackSent": settings.auto_track_sent}))
    return settings
