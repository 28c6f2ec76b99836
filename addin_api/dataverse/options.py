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
# "Automatically create records in Dynamics 365" (Personal Options › Email): a whole number, 0 off and 1 on; other
# values are not documented. The organization can turn it off for everyone (OrgDBOrgSetting AutoCreateContactOnPromote).
# https://learn.microsoft.com/en-us/power-platform/admin/orgdborgsettings
AUTO_CREATE = "autocreatecontactonpromote"
# The option Dynamics turns on by default ("Email messages in response to Dynamics 365 email").
DEFAULT_FILTERING = 1


def read_options(dv: Dataverse, systemuser_id: str) -> tuple[int, bool]:
    """The user's automatic tracking method and whether unresolved senders become records (one round trip)."""
    row = dv.get(f"{ENTITY_SET}({odata.guid(systemuser_id)})", {"$select": f"{FILTERING},{AUTO_CREATE}"})
    method = row.get(FILTERING)
    return (method if isinstance(method, int) else DEFAULT_FILTERING), row.get(AUTO_CREATE) == 1


def read_auto_create(dv: Dataverse, systemuser_id: str) -> bool:
    """Whether the user's unresolved senders become records (one round trip)."""
    return read_options(dv, systemuser_id)[1]


def write_options(dv: Dataverse, systemuser_id: str, method: int, auto_create: bool) -> None:
    """Change the user's options (one round trip)."""
    dv.update(ENTITY_SET, systemuser_id, {FILTERING: method, AUTO_CREATE: 1 if auto_create else 0})
