"""The email messages of mailbox synchronization: `SendEmail` (bound to an email) and `GetTrackingTokenEmail`.

`SendEmail` {IssueSend, TrackingToken} → `SendEmailResponse` {Subject}:
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/sendemail
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/sendemailresponse
`IssueSend: false` only records the email as sent (statuscode 3 Sent). `IssueSend: true` hands it to the sender's
mailbox: with server-side synchronization it waits as Pending Send (statuscode 6, statecode 1 Completed) until the
mailbox sends it (then Sent, 3) or gives up (Failed, 8, back in the Open state).
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/email#BKMK_StatusCode

`GetTrackingTokenEmail` {Subject} → {TrackingToken}: the organization's prefix, its deployment base number, the
sender's number (`usersettings.trackingtokenid`, in `trackingtokeniddigits` digits) and a running number that wraps
after `maximumtrackingnumber`. https://learn.microsoft.com/en-us/power-platform/admin/email-message-filtering-correlation
https://learn.microsoft.com/en-us/previous-versions/dynamicscrm-2016/developers-guide/mt593007(v=crm.8)
"""

from __future__ import annotations

from typing import Any

from addin_api.devstack.dataverse import mail_security
from addin_api.devstack.dataverse.errors import INVALID_ARGUMENT, DataverseError, payload_error
from addin_api.devstack.dataverse.mail_rows import mailbox_id
from addin_api.devstack.dataverse.metadata import EMAIL_STATUS_STATE, TABLES
from addin_api.devstack.dataverse.records import Operations, Record, now_iso, set_lookup

DRAFT, SENT, PENDING_SEND, FAILED = 1, 3, 6, 8
RECIPIENT_MASKS = (2, 3, 4)  # To, Cc, Bcc
_TRACKING_TOKEN_MAX = TABLES["email"].columns["trackingtoken"].max_length or 50


def send_email(ops: Operations, email_id: str, body: Any) -> dict[str, Any]:
    """Queue (IssueSend true) or record as sent (false) a draft email; answer the SendEmailResponse members."""
    table = TABLES["email"]
    if not isinstance(body, dict):
        raise payload_error(table, "An object was expected as the request body.")
    issue_send = body.get("IssueSend")
    if not isinstance(issue_send, bool):
        raise payload_error(table, "The parameter 'IssueSend' of type 'Edm.Boolean' is required.")
    token = body.get("TrackingToken")
    if token is not None and not isinstance(token, str):
        raise payload_error(table, "The parameter 'TrackingToken' must be of type 'Edm.String'.")
    if token is not None and len(token) > _TRACKING_TOKEN_MAX:
        raise DataverseError(
            400, INVALID_ARGUMENT, f"The TrackingToken is longer than {_TRACKING_TOKEN_MAX} characters."
        )
    ops.require("write", table)
    with ops.store.transaction():
        email = ops.get(table, email_id)
        mail_security.check_row(ops.user, "write", table, email)
        if email.get("statecode") != 0:
            # Our wording: only an open email (a draft, or one that failed) can be sent.
            raise DataverseError(
                400,
                INVALID_ARGUMENT,
                f"The email with Id = {email_id} cannot be sent: its statuscode is {email.get('statuscode')}; "
                "only a draft (1) or a failed email (8) can be sent.",
            )
        if email.get("directioncode") is False:
            raise DataverseError(400, INVALID_ARGUMENT, "An incoming email cannot be sent.")
        parties = ops.related_rows(TABLES["activityparty"], "activityid", email_id)
        if not any(p.get("participationtypemask") in RECIPIENT_MASKS for p in parties):
            raise DataverseError(
                400, INVALID_ARGUMENT, "The email must have at least one recipient before it can be sent."
            )
        status = PENDING_SEND if issue_send else SENT
        record: Record = dict(email)
        record["statuscode"] = status
        record["statecode"] = EMAIL_STATUS_STATE[status]
        record["directioncode"] = True
        if token:
            record["trackingtoken"] = token
        when = now_iso()
        if not issue_send:
            record["senton"] = when
        owner = record.get("_ownerid_value")
        if isinstance(owner, str) and ops.store.get("mailbox", mailbox_id(owner)) is not None:
            set_lookup(record, "sendermailboxid", "mailbox", mailbox_id(owner), "sendermailboxid")
        record["modifiedon"] = when
        record["versionnumber"] = ops.store.next_version()
        set_lookup(record, "modifiedby", "systemuser", ops.user.systemuserid, "modifiedby")
        ops.store.replace("email", email_id, record)
    subject = str(record.get("subject") or "")
    return {"Subject": f"{subject} {token}".strip() if token else subject}


def tracking_token(ops: Operations, body: Any) -> dict[str, Any]:
    """Take the next tracking number of the caller and answer `{TrackingToken}`."""
    if not isinstance(body, dict) or not isinstance(body.get("Subject"), str):
        raise payload_error(None, "The parameter 'Subject' of type 'Edm.String' is required.")
    with ops.store.transaction():
        rows = ops.store.all("organization")
        if not rows:
            raise DataverseError(500, "0x80040216", "The organization row is missing.")
        org = rows[0]
        settings = ops.store.get("usersettings", ops.user.systemuserid)
        user_number = settings.get("trackingtokenid") if settings is not None else None
        if not isinstance(user_number, int):
            user_number = 0
        maximum = int(org.get("maximumtrackingnumber") or 999)
        number = int(org.get("nexttrackingnumber") or 0) + 1
        if number > maximum:
            number = 1  # the running number wraps
        updated = {**org, "nexttrackingnumber": number, "versionnumber": ops.store.next_version()}
        ops.store.replace("organization", str(org["organizationid"]), updated)
    digits = int(org.get("trackingtokeniddigits") or 3)
    counter_digits = len(str(maximum))
    token = (
        f"{org.get('trackingprefix') or ''}{int(org.get('trackingtokenidbase') or 0)}"
        f"{user_number % 10**digits:0{digits}d}{number:0{counter_digits}d}"
    )
    return {"TrackingToken": token}
