"""The tables of server-side synchronization: `mailbox`, `usersettings`, `mailboxtrackingfolder`, `organization`.

Entity sets, keys, columns, max lengths and option values follow the table reference pages:
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/mailbox
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/usersettings
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/mailboxtrackingfolder
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/organization
Only the columns a mailbox-sync worker and the add-in read or write are modelled.
"""

from __future__ import annotations

from addin_api.devstack.dataverse.schema import (
    BOOL,
    DATETIME,
    GUID,
    INT,
    LOOKUP,
    MEMO,
    PICKLIST,
    REGARDING_TARGETS,
    CollectionNav,
    Column,
    NavProperty,
    Table,
    common_columns,
    make_table,
    string_column,
)

# emailrouteraccessapproval, on mailbox, systemuser and queue
APPROVAL = {0: "Empty", 1: "Approved", 2: "Pending Approval", 3: "Rejected"}
APPROVED = 1
PENDING_APPROVAL = 2
# incomingemaildeliverymethod: 0 None, 1 Microsoft Dynamics 365 for Outlook, 2 Server-Side Synchronization or Email
# Router, 3 Forward Mailbox; outgoingemaildeliverymethod has the first three.
INCOMING_DELIVERY = {
    0: "None",
    1: "Microsoft Dynamics 365 for Outlook",
    2: "Server-Side Synchronization or Email Router",
    3: "Forward Mailbox",
}
OUTGOING_DELIVERY = {
    0: "None",
    1: "Microsoft Dynamics 365 for Outlook",
    2: "Server-Side Synchronization or Email Router",
}
SERVER_SIDE_SYNC = 2
# actdeliverymethod (appointments, contacts and tasks) numbers its options differently from the two above.
ACT_DELIVERY = {0: "Microsoft Dynamics 365 for Outlook", 1: "Server-Side Synchronization", 2: "None"}
ACT_SERVER_SIDE_SYNC = 1
ACT_NONE = 2
# incomingemailstatus, outgoingemailstatus, actstatus, mailboxstatus
TEST_STATUS = {0: "Not Run", 1: "Success", 2: "Failure"}
NOT_RUN, SUCCESS, FAILURE = 0, 1, 2
# usersettings.incomingemailfilteringmethod (queue has the same column)
FILTERING = {
    0: "All email messages",
    1: "Email messages in response to Dynamics 365 email",
    2: "Email messages from Dynamics 365 Leads, Contacts and Accounts",
    3: "Email messages from Dynamics 365 records that are email enabled",
    4: "No email messages",
}
# mailboxtrackingfolder.folderonboardingstatus is a whole number the platform sets (0 while the folder is being
# set up); our choice: 0 not yet onboarded, 1 onboarded, 2 disabled (the folder left the Inbox).
STATE = {0: "Active", 1: "Inactive"}
STATUS = {1: "Active", 2: "Inactive"}

# The sync bookkeeping columns of a mailbox. In Dataverse, server-side synchronization writes them itself; here the
# mailbox-sync worker plays that part, so only a caller with organization-level write on mailboxes may set them.
SYNC_COLUMNS = frozenset(
    {
        "incomingemailstatus",
        "outgoingemailstatus",
        "actstatus",
        "mailboxstatus",
        "testemailconfigurationretrycount",
        "testmailboxaccesscompletedon",
        "postponetestemailconfigurationuntil",
        "testandenablelastattemptedon",
        "hostid",
        "postponemailboxprocessinguntil",
        "processinglastattemptedon",
        "forcedunlockcount",
        "lastsyncerror",
        "lastsyncerrorcode",
        "lastsyncerrorcount",
        "lastsyncerroroccurredon",
        "lastsuccessfulsynccompletedon",
        "itemsprocessedforlastsync",
        "itemsfailedforlastsync",
        "noemailcount",
        "transientfailurecount",
        "nextscheduledactsyncinseconds",
        "orgmarkedasprimaryforexchangesync",
        "isactsyncorgflagset",
        "processemailreceivedafter",
        "lasttaggedmessageid",
        "lasttagcompletedon",
    }
)
# Columns only an administrator with prvApproveRejectEmailAddress may change (mailbox and systemuser).
APPROVAL_COLUMNS = frozenset({"emailrouteraccessapproval"})


def mailbox() -> Table:
    """`mailboxes`: one per user (and queue); the row is also server-side synchronization's own work queue."""
    return make_table(
        "mailbox",
        "mailboxes",
        "mailboxid",
        "name",
        9606,
        "Mailbox",
        [
            string_column("name", 200, required=True),
            string_column("emailaddress", 100),
            # The owning user or queue; set by the platform when it creates the mailbox.
            Column("regardingobjectid", LOOKUP, targets=("systemuser",), update=False),
            Column("emailrouteraccessapproval", PICKLIST, options=APPROVAL, default=0, required=True),
            Column("incomingemaildeliverymethod", PICKLIST, options=INCOMING_DELIVERY, default=SERVER_SIDE_SYNC),
            Column("outgoingemaildeliverymethod", PICKLIST, options=OUTGOING_DELIVERY, default=SERVER_SIDE_SYNC),
            Column("actdeliverymethod", PICKLIST, options=ACT_DELIVERY, default=ACT_SERVER_SIDE_SYNC),
            Column("incomingemailstatus", PICKLIST, options=TEST_STATUS, default=NOT_RUN),
            Column("outgoingemailstatus", PICKLIST, options=TEST_STATUS, default=NOT_RUN),
            Column("actstatus", PICKLIST, options=TEST_STATUS, default=NOT_RUN),
            Column("mailboxstatus", PICKLIST, options=TEST_STATUS, default=NOT_RUN),
            # "Test & Enable": setting it to true schedules the test of the mailbox's configuration.
            Column("testemailconfigurationscheduled", BOOL, default=False),
            Column("testemailconfigurationretrycount", INT, default=0),
            Column("testmailboxaccesscompletedon", DATETIME),
            Column("postponetestemailconfigurationuntil", DATETIME),
            Column("testandenablelastattemptedon", DATETIME),
            Column("testandenablelastattemptedby", LOOKUP, targets=("systemuser",), create=False, update=False),
            # Whole number, SystemRequired, read-only: whether email will be processed for this mailbox.
            Column("processingstatecode", INT, default=0, create=False, update=False),
            Column("isforwardmailbox", BOOL, default=True, create=False, update=False),
            Column("isemailaddressapprovedbyo365admin", BOOL, default=False, create=False, update=False),
            Column("orgmarkedasprimaryforexchangesync", BOOL, default=False),
            Column("isactsyncorgflagset", BOOL, default=False),
            Column("enabledforincomingemail", BOOL, default=False, create=False, update=False),
            Column("enabledforoutgoingemail", BOOL, default=False, create=False, update=False),
            Column("enabledforact", BOOL, default=False, create=False, update=False),
            *_sync_columns(),
            Column("statecode", PICKLIST, options=STATE, default=0),
            Column("statuscode", PICKLIST, options=STATUS, default=1),
            *common_columns(),
        ],
        collections=[
            CollectionNav("Mailbox_MailboxTrackingFolder", "mailboxtrackingfolder", "mailboxid", "mailboxid"),
            CollectionNav("email_sendermailboxid_mailbox", "email", "sendermailboxid", "sendermailboxid"),
            CollectionNav("mailbox_email_ReceivingMailboxId", "email", "receivingmailboxid", "receivingmailboxid"),
        ],
        display=("Mailbox", "Mailboxes"),
        schema_name="Mailbox",
    )


def _sync_columns() -> list[Column]:
    """The lease and schedule of a mailbox's synchronization job."""
    return [
        string_column("hostid", 100),
        Column("postponemailboxprocessinguntil", DATETIME),
        Column("processinglastattemptedon", DATETIME),
        Column("forcedunlockcount", INT, default=0),
        Column("lastsyncerror", MEMO, 2000),
        Column("lastsyncerrorcode", INT),
        Column("lastsyncerrorcount", INT, default=0),
        Column("lastsyncerroroccurredon", DATETIME),
        Column("lastsuccessfulsynccompletedon", DATETIME),
        Column("itemsprocessedforlastsync", INT),
        Column("itemsfailedforlastsync", INT),
        Column("noemailcount", INT, default=0),
        Column("transientfailurecount", INT, default=0),
        Column("nextscheduledactsyncinseconds", INT),
        Column("processemailreceivedafter", DATETIME),
        string_column("lasttaggedmessageid", 320),
        Column("lasttagcompletedon", DATETIME),
    ]


def usersettings() -> Table:
    """`usersettingscollection(<systemuserid>)`: a user's personal options; GET and PATCH only."""
    return make_table(
        "usersettings",
        "usersettingscollection",
        "systemuserid",
        "systemuserid",
        150,
        "UserSettings",
        [
            # The generated reference gives 2 as the form default; the admin documentation says option 1 is on by
            # default; a new row here takes 1, as the admin text says.
            # https://learn.microsoft.com/en-us/power-platform/admin/set-personal-options
            Column("incomingemailfilteringmethod", PICKLIST, options=FILTERING, default=1),
            # Whole number "Auto-create contact on client promote": 0 off, 1 on (the values' meaning is not documented;
            # the organization-wide AutoCreateContactOnPromote defaults to true, and "can also be disabled from each
            # user's personal options": https://learn.microsoft.com/en-us/power-platform/admin/orgdborgsettings).
            Column("autocreatecontactonpromote", INT, default=1),
            # This user's number inside tracking tokens.
            Column("trackingtokenid", INT, create=False, update=False),
            Column("businessunitid", GUID, create=False, update=False),
            Column("timezonecode", INT, default=85),
            string_column("uilanguageid", 10, create=False, update=False),
            *common_columns(owned=False),
        ],
        display=("User Settings", "User Settings"),
        schema_name="UserSettings",
        ownership="BusinessOwned",
    )


def mailboxtrackingfolder() -> Table:
    """`mailboxtrackingfolders`: folder-tracking rules (an Exchange folder → a regarding record)."""
    return make_table(
        "mailboxtrackingfolder",
        "mailboxtrackingfolders",
        "mailboxtrackingfolderid",
        "exchangefoldername",
        9608,
        "MailboxTrackingFolder",
        [
            string_column("exchangefolderid", 120),
            string_column("exchangefoldername", 256),
            Column("folderonboardingstatus", INT, default=0, required=True),
            Column("mailboxid", LOOKUP, targets=("mailbox",), required=True),
            Column("regardingobjectid", LOOKUP, targets=REGARDING_TARGETS),
            string_column("regardingobjecttypecode", 64, create=False, update=False),
            *common_columns(),
        ],
        display=("Mailbox Auto Tracking Folder", "Mailbox Auto Tracking Folders"),
        schema_name="MailboxTrackingFolder",
        navs=[NavProperty(f"regardingobjectid_{t}", "regardingobjectid", t) for t in REGARDING_TARGETS],
    )


def organization() -> Table:
    """`organizations`: the one row of environment settings; it cannot be created or deleted."""
    return make_table(
        "organization",
        "organizations",
        "organizationid",
        "name",
        1019,
        "Organization",
        [
            string_column("name", 160, create=False, update=False),
            # 0 Server-Side Synchronization, 1 Microsoft Dynamics 365 Email Router
            Column(
                "emailconnectionchannel",
                PICKLIST,
                options={0: "Server-Side Synchronization", 1: "Microsoft Dynamics 365 Email Router"},
                default=0,
            ),
            Column("isfolderbasedtrackingenabled", BOOL, default=False),
            Column("maxfolderbasedtrackingmappings", INT, default=25),
            Column("requireapprovalforuseremail", BOOL, default=True),
            Column("requireapprovalforqueueemail", BOOL, default=True),
            Column("ignoreinternalemail", BOOL, default=False),
            Column("emailcorrelationenabled", BOOL, default=True),
            Column("enablesmartmatching", BOOL, default=False),
            string_column("trackingprefix", 256, default="CRM:"),
            # The OrgDBOrgSettings as XML (`<OrgSettings><AutoTrackSentFolderItems>true</…></OrgSettings>`), which
            # admins change with the OrgDBOrgSettings tool. https://learn.microsoft.com/en-us/power-platform/admin/orgdborgsettings
            string_column("orgdborgsettings", 1_048_576),
            Column("trackingtokenidbase", INT, default=0),
            Column("trackingtokeniddigits", INT, default=3),
            Column("maximumtrackingnumber", INT, default=999),
            Column("nexttrackingnumber", INT, default=0, create=False, update=False),
            Column("ismailboxinactivebackoffenabled", BOOL, default=True),
            Column("tagpollingperiod", INT),
            Column("maxuploadfilesize", INT, default=5242880),
            *common_columns(owned=False),
        ],
        display=("Organization", "Organizations"),
        schema_name="Organization",
        ownership="None",
    )


def tables() -> list[Table]:
    """Every table of this module."""
    return [mailbox(), usersettings(), mailboxtrackingfolder(), organization()]
