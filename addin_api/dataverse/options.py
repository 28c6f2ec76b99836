"""A user's personal options for server-side synchronization: `usersettingscollection(<systemuserid>)`.

`incomingemailfilteringmethod`: which incoming email is tracked automatically — 0 all, 1 in response to Dynamics 365
email, 2 from contacts, accounts and leads, 3 from email-enabled records, 4 none.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/usersettings
https://learn.microsoft.com/en-us/power-apps/user/set-personal-options
"""

from __future__ import annotations

from addin_api.dataverse import odata
from addin_api.dataverse.port import Dataverse

ENTITY_SET = "usersettingscollection"
FILTERING = "incomingemailfilteringmethod"
# The option Dynamics turns on by default ("Email messages in response to Dynamics 365 email").
DEFAULT_FILTERING = 1


def read_filtering(dv: Dataverse, systemuser_id: str) -> int:
    """The user's automatic tracking option (one round trip)."""
    row = dv.get(f"{ENTITY_SET}({odata.guid(systemuser_id)})", {"$select": FILTERING})
    value = row.get(FILTERING)
    return value if isinstance(value, int) else DEFAULT_FILTERING


def write_filtering(dv: Dataverse, systemuser_id: str, method: int) -> None:
    """Change the user's automatic tracking option (one round trip)."""
    dv.update(ENTITY_SET, systemuser_id, {FILTERING: method})
