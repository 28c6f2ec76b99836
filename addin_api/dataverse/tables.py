"""The Dataverse tables the add-in reads and writes: entity sets, keys, primary names and the columns we use.

Entity-set and column names used in URLs come only from here (an allowlist), never from a request.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/about-entity-reference
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """One table as the add-in uses it."""

    logical_name: str
    entity_set: str
    primary_id: str
    primary_name: str
    email_columns: tuple[str, ...] = ()
    search_columns: tuple[str, ...] = ()
    detail_columns: tuple[str, ...] = ()
    active_filter: str = "statecode eq 0"

    @property
    def select(self) -> tuple[str, ...]:
        """The columns to read for a card or a search result."""
        columns = (self.primary_id, self.primary_name, *self.email_columns, *self.detail_columns)
        return tuple(dict.fromkeys(columns))

    def bind(self, record_id: str) -> str:
        """The `@odata.bind` value for a record of this table."""
        return f"/{self.entity_set}({record_id})"


ACCOUNT = Table(
    "account",
    "accounts",
    "accountid",
    "name",
    email_columns=("emailaddress1", "emailaddress2", "emailaddress3"),
    search_columns=("name", "accountnumber", "emailaddress1"),
    detail_columns=("address1_city", "telephone1"),
)
CONTACT = Table(
    "contact",
    "contacts",
    "contactid",
    "fullname",
    email_columns=("emailaddress1", "emailaddress2", "emailaddress3"),
    search_columns=("fullname", "lastname", "emailaddress1"),
    detail_columns=("jobtitle", "_parentcustomerid_value"),
)
LEAD = Table(
    "lead",
    "leads",
    "leadid",
    "fullname",
    email_columns=("emailaddress1", "emailaddress2", "emailaddress3"),
    search_columns=("fullname", "lastname", "companyname", "emailaddress1"),
    detail_columns=("companyname", "subject"),
)
OPPORTUNITY = Table(
    "opportunity",
    "opportunities",
    "opportunityid",
    "name",
    search_columns=("name",),
    detail_columns=("_customerid_value", "estimatedvalue"),
)
INCIDENT = Table(
    "incident",
    "incidents",
    "incidentid",
    "title",
    search_columns=("title", "ticketnumber"),
    detail_columns=("ticketnumber", "_customerid_value"),
)
SYSTEMUSER = Table(
    "systemuser",
    "systemusers",
    "systemuserid",
    "fullname",
    email_columns=("internalemailaddress",),
    active_filter="isdisabled eq false",
)

# Tables a tracked item may be regarding (activities enabled), in the order search results are shown.
REGARDING_TABLES: dict[str, Table] = {t.logical_name: t for t in (ACCOUNT, CONTACT, LEAD, OPPORTUNITY, INCIDENT)}
# Sender resolution order, as Dynamics 365 resolves a From address.
# https://learn.microsoft.com/en-us/power-platform/admin/associate-email-address
RESOLUTION_ORDER: tuple[Table, ...] = (SYSTEMUSER, CONTACT, ACCOUNT, LEAD)
TABLES: dict[str, Table] = {t.logical_name: t for t in (*REGARDING_TABLES.values(), SYSTEMUSER)}


def regarding_property(table: Table, activity: str) -> str:
    """The navigation property that sets an activity's regarding, e.g. `regardingobjectid_account_email`."""
    return f"regardingobjectid_{table.logical_name}_{activity}"
