"""The business tables: account, contact, lead, opportunity, incident and systemuser.

Column names, max lengths and option-set values follow the Dataverse table reference pages, e.g.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/account
"""

from __future__ import annotations

from addin_api.devstack.dataverse.schema import (
    BOOL,
    DATEONLY,
    GUID,
    INT,
    LOOKUP,
    MEMO,
    MONEY,
    PICKLIST,
    AlternateKey,
    CollectionNav,
    Column,
    NavProperty,
    Table,
    common_columns,
    make_table,
    string_column,
)


def _address1() -> list[Column]:
    """The address1_* columns of account, contact and lead (MaxLengths from their table reference pages)."""
    return [
        string_column("address1_line1", 250),
        string_column("address1_line2", 250),
        string_column("address1_line3", 250),
        string_column("address1_city", 80),
        string_column("address1_stateorprovince", 50),
        string_column("address1_postalcode", 20),
        string_column("address1_country", 80),
        string_column("address1_telephone1", 50),
    ]


def _description() -> Column:
    # account, contact, lead and opportunity: Memo, MaxLength 2000
    # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/account#BKMK_Description
    return Column("description", MEMO, 2000)


INDUSTRY = {
    1: "Accounting",
    2: "Agriculture and Non-petrol Natural Resource Extraction",
    3: "Broadcasting Printing and Publishing",
    4: "Brokers",
    5: "Building Supply Retail",
    6: "Business Services",
    7: "Consulting",
    8: "Consumer Services",
    9: "Design, Direction and Creative Management",
    10: "Distributors, Dispatchers and Processors",
    11: "Doctor's Offices and Clinics",
    12: "Durable Manufacturing",
    13: "Eating and Drinking Places",
    14: "Entertainment Retail",
    15: "Equipment Rental and Leasing",
    16: "Financial",
    17: "Food and Tobacco Processing",
    18: "Inbound Capital Intensive Processing",
    19: "Inbound Repair and Services",
    20: "Insurance",
    21: "Legal Services",
    22: "Non-Durable Merchandise Retail",
    23: "Outbound Consumer Service",
    24: "Petrochemical Extraction and Distribution",
    25: "Service Retail",
    26: "SIG Affiliations",
    27: "Social Services",
    28: "Special Outbound Trade Contractors",
    29: "Specialty Realty",
    30: "Transportation",
    31: "Utility Creation and Distribution",
    32: "Vehicle Retail",
    33: "Wholesale",
}
GENDER = {1: "Male", 2: "Female"}


def _activities(entity: str, schema: str) -> list[CollectionNav]:
    """The `<Schema>_Emails`, `<Schema>_Appointments` and `<Schema>_ActivityPointers` of a regarding table."""
    return [
        CollectionNav(f"{schema}_Emails", "email", "regardingobjectid", f"regardingobjectid_{entity}_email"),
        CollectionNav(
            f"{schema}_Appointments", "appointment", "regardingobjectid", f"regardingobjectid_{entity}_appointment"
        ),
        CollectionNav(
            f"{schema}_ActivityPointers", "activitypointer", "regardingobjectid", f"regardingobjectid_{entity}"
        ),
    ]


ACTIVE_STATE = {0: "Active", 1: "Inactive"}
ACTIVE_STATUS = {1: "Active", 2: "Inactive"}


def account() -> Table:
    """The account table."""
    return make_table(
        "account",
        "accounts",
        "accountid",
        "name",
        1,
        "Account",
        [
            string_column("name", 160),
            string_column("accountnumber", 20),
            string_column("emailaddress1", 100),
            string_column("emailaddress2", 100),
            string_column("emailaddress3", 100),
            string_column("telephone1", 50),
            string_column("telephone2", 50),
            string_column("telephone3", 50),
            string_column("fax", 50),
            string_column("websiteurl", 200),
            *_address1(),
            _description(),
            Column("numberofemployees", INT),
            Column("industrycode", PICKLIST, options=INDUSTRY),
            Column("primarycontactid", LOOKUP, targets=("contact",)),
            Column("parentaccountid", LOOKUP, targets=("account",)),
            Column("revenue", MONEY),
            Column("statecode", PICKLIST, options=ACTIVE_STATE, default=0),
            Column("statuscode", PICKLIST, options=ACTIVE_STATUS, default=1),
            *common_columns(),
        ],
        collections=[
            CollectionNav("contact_customer_accounts", "contact", "parentcustomerid", "parentcustomerid_account"),
            CollectionNav("account_parent_account", "account", "parentaccountid", "parentaccountid"),
            CollectionNav("lead_parent_account", "lead", "parentaccountid", "parentaccountid"),
            CollectionNav("opportunity_parent_account", "opportunity", "parentaccountid", "parentaccountid"),
            CollectionNav("opportunity_customer_accounts", "opportunity", "customerid", "customerid_account"),
            CollectionNav("incident_customer_accounts", "incident", "customerid", "customerid_account"),
            *_activities("account", "Account"),
        ],
        # An alternate key on accountnumber (Dataverse has none by default; environments often define one).
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/define-alternate-keys-entity
        keys=(AlternateKey("accountnumber_key", ("accountnumber",), "Account Number"),),
    )


def contact() -> Table:
    """The contact table."""
    return make_table(
        "contact",
        "contacts",
        "contactid",
        "fullname",
        2,
        "Contact",
        [
            string_column("firstname", 50),
            string_column("lastname", 50),
            string_column("fullname", 160, create=False, update=False),
            string_column("emailaddress1", 100),
            string_column("emailaddress2", 100),
            string_column("emailaddress3", 100),
            string_column("telephone1", 50),
            string_column("telephone2", 50),
            string_column("mobilephone", 50),
            string_column("jobtitle", 100),
            *_address1(),
            _description(),
            # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/contact#BKMK_BirthDate
            Column("birthdate", DATEONLY),
            Column("gendercode", PICKLIST, options=GENDER),
            Column("parentcustomerid", LOOKUP, targets=("account", "contact")),
            Column("statecode", PICKLIST, options=ACTIVE_STATE, default=0),
            Column("statuscode", PICKLIST, options=ACTIVE_STATUS, default=1),
            *common_columns(),
        ],
        navs=[
            NavProperty("parentcustomerid_account", "parentcustomerid", "account"),
            NavProperty("parentcustomerid_contact", "parentcustomerid", "contact"),
        ],
        collections=[
            CollectionNav("contact_customer_contacts", "contact", "parentcustomerid", "parentcustomerid_contact"),
            CollectionNav("account_primary_contact", "account", "primarycontactid", "primarycontactid"),
            CollectionNav("opportunity_customer_contacts", "opportunity", "customerid", "customerid_contact"),
            CollectionNav("incident_customer_contacts", "incident", "customerid", "customerid_contact"),
            *_activities("contact", "Contact"),
        ],
    )


def lead() -> Table:
    """The lead table."""
    return make_table(
        "lead",
        "leads",
        "leadid",
        "fullname",
        4,
        "Lead",
        [
            string_column("subject", 300),
            string_column("firstname", 50),
            string_column("lastname", 50),
            string_column("fullname", 160, create=False, update=False),
            string_column("companyname", 100),
            string_column("emailaddress1", 100),
            string_column("emailaddress2", 100),
            string_column("emailaddress3", 100),
            string_column("telephone1", 50),
            string_column("telephone2", 50),
            string_column("mobilephone", 20),
            string_column("jobtitle", 100),
            *_address1(),
            _description(),
            Column("numberofemployees", INT),
            Column("industrycode", PICKLIST, options=INDUSTRY),
            Column("parentaccountid", LOOKUP, targets=("account",)),
            Column("parentcontactid", LOOKUP, targets=("contact",)),
            Column("statecode", PICKLIST, options={0: "Open", 1: "Qualified", 2: "Disqualified"}, default=0),
            Column(
                "statuscode",
                PICKLIST,
                options={
                    1: "New",
                    2: "Contacted",
                    3: "Qualified",
                    4: "Lost",
                    5: "Cannot Contact",
                    6: "No Longer Interested",
                    7: "Canceled",
                },
                default=1,
            ),
            *common_columns(),
        ],
        collections=_activities("lead", "Lead"),
    )


def opportunity() -> Table:
    """The opportunity table."""
    return make_table(
        "opportunity",
        "opportunities",
        "opportunityid",
        "name",
        3,
        "Opportunity",
        [
            string_column("name", 300),
            _description(),
            Column("customerid", LOOKUP, targets=("account", "contact")),
            Column("parentaccountid", LOOKUP, targets=("account",)),
            Column("parentcontactid", LOOKUP, targets=("contact",)),
            Column("estimatedvalue", MONEY),
            Column("estimatedclosedate", DATEONLY),
            Column("statecode", PICKLIST, options={0: "Open", 1: "Won", 2: "Lost"}, default=0),
            Column(
                "statuscode",
                PICKLIST,
                options={1: "In Progress", 2: "On Hold", 3: "Won", 4: "Canceled", 5: "Out-Sold"},
                default=1,
            ),
            *common_columns(),
        ],
        navs=[
            NavProperty("customerid_account", "customerid", "account"),
            NavProperty("customerid_contact", "customerid", "contact"),
        ],
        collections=_activities("opportunity", "Opportunity"),
    )


def incident() -> Table:
    """The incident table."""
    return make_table(
        "incident",
        "incidents",
        "incidentid",
        "title",
        112,
        "Incident",
        [
            string_column("title", 200),
            string_column("ticketnumber", 100, update=False),
            string_column("description", 2000),
            # "You should specify a parent contact or account." — customerid is SystemRequired on cases.
            Column("customerid", LOOKUP, targets=("account", "contact"), required=True),
            Column("prioritycode", PICKLIST, options={1: "High", 2: "Normal", 3: "Low"}, default=2),
            Column("caseorigincode", PICKLIST, options={1: "Phone", 2: "Email", 3: "Web"}),
            Column("statecode", PICKLIST, options={0: "Active", 1: "Resolved", 2: "Canceled"}, default=0),
            Column(
                "statuscode",
                PICKLIST,
                options={
                    1: "In Progress",
                    2: "On Hold",
                    3: "Waiting for Details",
                    4: "Researching",
                    5: "Problem Solved",
                    1000: "Information Provided",
                    6: "Canceled",
                    2000: "Merged",
                },
                default=1,
            ),
            *common_columns(),
        ],
        navs=[
            NavProperty("customerid_account", "customerid", "account"),
            NavProperty("customerid_contact", "customerid", "contact"),
        ],
        collections=_activities("incident", "Incident"),
    )


def systemuser() -> Table:
    """The systemuser table."""
    return make_table(
        "systemuser",
        "systemusers",
        "systemuserid",
        "fullname",
        8,
        "User",
        [
            string_column("firstname", 64),
            string_column("lastname", 64),
            string_column("fullname", 200, create=False, update=False),
            string_column("internalemailaddress", 100),
            string_column("domainname", 1024),
            Column("azureactivedirectoryobjectid", GUID),
            Column("applicationid", GUID),  # set on application users: the app registration's client id
            string_column("jobtitle", 100),
            string_column("title", 128),
            Column("isdisabled", BOOL, default=False, labels=("Enabled", "Disabled")),
            Column("businessunitid", LOOKUP, targets=("businessunit",)),
            # mailbox sync: the address's approval (0 Empty, 1 Approved, 2 Pending Approval, 3 Rejected) and
            # the user's mailbox. https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/systemuser
            Column(
                "emailrouteraccessapproval",
                PICKLIST,
                options={0: "Empty", 1: "Approved", 2: "Pending Approval", 3: "Rejected"},
                default=0,
            ),
            Column("defaultmailbox", LOOKUP, targets=("mailbox",), create=False, update=False),
            *common_columns(owned=False),
        ],
    )


def tables() -> list[Table]:
    """The business tables: account, contact, lead, opportunity, incident, systemuser."""
    return [account(), contact(), lead(), opportunity(), incident(), systemuser()]
