"""The activity tables: email, appointment, their parties and attachments, and activitypointer.

Column names, max lengths and option-set values follow the Dataverse table reference pages, e.g.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/email
"""

from __future__ import annotations

from addin_api.devstack.dataverse.schema import (
    BOOL,
    DATETIME,
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

PARTY_TARGETS = ("account", "contact", "lead", "systemuser")

EMAIL_STATE = {0: "Open", 1: "Completed", 2: "Canceled"}
EMAIL_STATUS = {
    1: "Draft",
    2: "Completed",
    3: "Sent",
    4: "Received",
    5: "Canceled",
    6: "Pending Send",
    7: "Sending",
    8: "Failed",
}
APPOINTMENT_STATE = {0: "Open", 1: "Completed", 2: "Canceled", 3: "Scheduled"}
APPOINTMENT_STATUS = {1: "Free", 2: "Tentative", 3: "Completed", 4: "Canceled", 5: "Busy", 6: "Out of Office"}
ACTIVITY_STATE = {0: "Open", 1: "Completed", 2: "Canceled", 3: "Scheduled"}
PARTICIPATION = {
    1: "Sender",
    2: "To Recipient",
    3: "CC Recipient",
    4: "BCC Recipient",
    5: "Required attendee",
    6: "Optional attendee",
    7: "Organizer",
    8: "Regarding",
    9: "Owner",
}
PRIORITY = {0: "Low", 1: "Normal", 2: "High"}


def _activity_columns(kind: str) -> list[Column]:
    return [
        Column("regardingobjectid", LOOKUP, targets=REGARDING_TARGETS),
        Column("actualstart", DATETIME),
        Column("actualend", DATETIME),
        Column("scheduledstart", DATETIME),
        Column("scheduledend", DATETIME),
        Column("prioritycode", PICKLIST, options=PRIORITY, default=1),
        string_column("activitytypecode", 64, create=False, update=False, default=kind),
    ]


def _activity_navs(kind: str) -> list[NavProperty]:
    return [NavProperty(f"regardingobjectid_{t}_{kind}", "regardingobjectid", t) for t in REGARDING_TARGETS]


def email() -> Table:
    """The email table."""
    return make_table(
        "email",
        "emails",
        "activityid",
        "subject",
        4202,
        "Email",
        [
            string_column("subject", 800),
            Column("description", MEMO, 1073741823),
            Column("directioncode", BOOL, default=True, labels=("Incoming", "Outgoing")),
            string_column("messageid", 320),
            string_column("conversationindex", 2048, create=False, update=False),
            string_column("inreplyto", 320, create=False, update=False),
            string_column("sender", 250),
            string_column("torecipients", 500),
            string_column("trackingtoken", 50),
            Column("senton", DATETIME, create=False, update=False),
            # the mailboxes that send / received it (server-side synchronization)
            Column("sendermailboxid", LOOKUP, targets=("mailbox",)),
            Column("receivingmailboxid", LOOKUP, targets=("mailbox",)),
            *_activity_columns("email"),
            Column("statecode", PICKLIST, options=EMAIL_STATE, default=0),
            Column("statuscode", PICKLIST, options=EMAIL_STATUS, default=1),
            *common_columns(),
        ],
        navs=_activity_navs("email"),
        collections=[
            CollectionNav("email_activity_parties", "activityparty", "activityid"),
            CollectionNav("email_activity_mime_attachment", "activitymimeattachment", "objectid"),
        ],
    )


def appointment() -> Table:
    """The appointment table."""
    return make_table(
        "appointment",
        "appointments",
        "activityid",
        "subject",
        4201,
        "Appointment",
        [
            string_column("subject", 200),
            string_column("location", 200),
            Column("description", MEMO, 1048576),
            Column("isalldayevent", BOOL, default=False),
            string_column("globalobjectid", 300),
            Column("outlookownerapptid", INT),
            Column(
                "instancetypecode",
                PICKLIST,
                create=False,
                update=False,
                default=0,
                options={
                    0: "Not Recurring",
                    1: "Recurring Master",
                    2: "Recurring Instance",
                    3: "Recurring Exception",
                    4: "Recurring Future Exception",
                },
            ),
            *_activity_columns("appointment"),
            # IsValidForCreate False: appointments are created Scheduled/Busy and moved by PATCH.
            # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/appointment
            Column("statecode", PICKLIST, options=APPOINTMENT_STATE, default=3, create=False),
            Column("statuscode", PICKLIST, options=APPOINTMENT_STATUS, default=5),
            *common_columns(),
        ],
        navs=_activity_navs("appointment"),
        collections=[
            CollectionNav("appointment_activity_parties", "activityparty", "activityid"),
            CollectionNav("appointment_activity_mime_attachment", "activitymimeattachment", "objectid"),
        ],
    )


def activityparty() -> Table:
    """The activityparty table."""
    return make_table(
        "activityparty",
        "activityparties",
        "activitypartyid",
        "partyid",
        135,
        "ActivityParty",
        [
            Column("activityid", LOOKUP, targets=("email", "appointment")),
            Column("partyid", LOOKUP, targets=PARTY_TARGETS),
            Column("participationtypemask", PICKLIST, options=PARTICIPATION, required=True),
            string_column("addressused", 320),
            *common_columns(owned=False),
        ],
        navs=[
            *(NavProperty(f"partyid_{t}", "partyid", t) for t in PARTY_TARGETS),
            NavProperty("activityid_email", "activityid", "email"),
            NavProperty("activityid_appointment", "activityid", "appointment"),
            NavProperty("activityid_activitypointer", "activityid", "activitypointer"),
        ],
    )


def activitymimeattachment() -> Table:
    """The activitymimeattachment table."""
    return make_table(
        "activitymimeattachment",
        "activitymimeattachments",
        "activitymimeattachmentid",
        "filename",
        1001,
        "ActivityMimeAttachment",
        [
            Column("objectid", LOOKUP, targets=("email", "appointment"), required=True),
            string_column("objecttypecode", 64, required=True),
            Column("body", MEMO, 1073741823),
            string_column("filename", 255),
            string_column("mimetype", 256),
            string_column("subject", 2000),
            Column("filesize", INT, create=False, update=False),
            *common_columns(owned=False),
        ],
        navs=[
            NavProperty("objectid_activitypointer", "objectid", "activitypointer"),
            NavProperty("objectid_email", "objectid", "email"),
            NavProperty("objectid_appointment", "objectid", "appointment"),
        ],
    )


def activitypointer() -> Table:
    """The activitypointer table."""
    return make_table(
        "activitypointer",
        "activitypointers",
        "activityid",
        "subject",
        4200,
        "Activity",
        [
            string_column("subject", 800),
            Column("description", MEMO, 1073741823),
            *_activity_columns("activitypointer"),
            Column("statecode", PICKLIST, options=ACTIVITY_STATE),
            Column("statuscode", PICKLIST),
            *common_columns(),
        ],
        navs=[NavProperty(f"regardingobjectid_{t}", "regardingobjectid", t) for t in REGARDING_TARGETS],
        read_only=True,
    )


def tables() -> list[Table]:
    """The activity tables: email, appointment, activityparty, activitymimeattachment, activitypointer."""
    return [email(), appointment(), activityparty(), activitymimeattachment(), activitypointer()]
