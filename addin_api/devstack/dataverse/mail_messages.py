"""The email messages of mailbox synchronization: `SendEmail` (bound to an email), `GetTrackingTokenEmail` and
`CheckIncomingEmail`.

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

import re
from typing import Any

from addin_api.devstack.dataverse import mail_security
from addin_api.devstack.dataverse.errors import INVALID_ARGUMENT, DataverseError, payload_error, syntax_error
from addin_api.devstack.dataverse.mail_rows import mailbox_id
from addin_api.devstack.dataverse.metadata import EMAIL_STATUS_STATE, TABLES
from addin_api.devstack.dataverse.records import Operations, Record, now_iso, set_lookup
from addin_api.devstack.dataverse.store import index_key

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


# CheckIncomingEmailResponse.ReasonCode
# https://learn.microsoft.com/en-us/dotnet/api/microsoft.crm.sdk.messages.checkincomingemailresponse.reasoncode
UNKNOWN, DUPLICATE, NO_CORRELATION_MATCH, CORRELATION_MATCH = -1, 0, 1, 2
NO_RECIPIENT_MATCH, INTERNAL_EMAIL_REJECT, SENDER_MATCH, ACCEPT_ALL, INVALID_SENDER = 3, 4, 5, 6, 7
_ADDRESS_COLUMNS = ("emailaddress1", "emailaddress2", "emailaddress3")
_PARAMETER = re.compile(r"\s*(\w+)\s*=\s*('(?:[^']|'')*'|@\w+|null)\s*(?:,|$)")


def parse_parameters(text: str, query: dict[str, str]) -> dict[str, str | None]:
    """`Name='value',Other=@p1` → {Name: value}; aliases are read from the query string, `null` is None."""
    out: dict[str, str | None] = {}
    pos = 0
    while pos < len(text):
        match = _PARAMETER.match(text, pos)
        if match is None:
            raise syntax_error(f"The function parameters '{text[:200]}' cannot be read.")
        name, value = match.group(1), match.group(2)
        if value.startswith("@"):
            if value not in query:
                raise syntax_error(f"The parameter alias '{value}' was not found in the request URI.")
            value = query[value]
        if value == "null":
            out[name] = None
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            out[name] = value[1:-1].replace("''", "'")
        else:
            raise syntax_error(f"The value of the parameter '{name}' must be a string literal.")
        pos = match.end()
    return out


def _addresses(value: str | None) -> list[str]:
    return [a.strip().casefold() for a in re.split(r"[;,]", value or "") if a.strip()]


def check_incoming_email(ops: Operations, params: dict[str, str | None]) -> dict[str, Any]:
    """`CheckIncomingEmail(MessageId, Subject, From, To, Cc, Bcc)`: whether server-side synchronization should
    deliver an incoming message, and why, by the organization's and each recipient's filtering options.

    Our port of the documented rules: a message already in Dataverse is a duplicate; only recipients who are users
    with an approved mailbox that synchronizes incoming email count; `ignoreinternalemail` rejects mail from a user;
    a tracking token of a Dynamics 365 email in the subject correlates; then each recipient's
    `incomingemailfilteringmethod` decides (0 all, 1 correlated replies only, 2 from contacts, accounts and leads,
    3 from any email-enabled record, 4 none).
    https://learn.microsoft.com/en-us/power-platform/admin/email-message-filtering-correlation
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/checkincomingemail
    """
    ops.require("read", TABLES["email"])  # prvReadActivity
    message_id = params.get("MessageId")
    if not message_id:
        raise syntax_error("The parameter 'MessageId' of type 'Edm.String' is required.")
    sender = (params.get("From") or "").strip().casefold()
    if "@" not in sender:
        return _verdict(False, INVALID_SENDER)
    store = ops.store
    if any(
        str(r.get("messageid") or "").casefold() == message_id.casefold()
        for r in store.find("email", [("messageid", index_key(message_id) or "")])
    ):
        return _verdict(False, DUPLICATE)
    org = (store.all("organization") or [{}])[0]
    recipients = set(_addresses(params.get("To")) + _addresses(params.get("Cc")) + _addresses(params.get("Bcc")))
    users = [u for u in store.all("systemuser") if str(u.get("internalemailaddress") or "").casefold() in recipients]
    receiving = [u for u in users if _receives(store.get("mailbox", mailbox_id(str(u["systemuserid"]))), org)]
    if not receiving:
        return _verdict(False, NO_RECIPIENT_MATCH)
    from_user = any(str(u.get("internalemailaddress") or "").casefold() == sender for u in store.all("systemuser"))
    if org.get("ignoreinternalemail") and from_user:
        return _verdict(False, INTERNAL_EMAIL_REJECT)
    if _correlates(store.all("email"), params.get("Subject") or "", org):
        return _verdict(True, CORRELATION_MATCH)
    reasons: list[int] = []
    for user in receiving:
        settings = store.get("usersettings", str(user["systemuserid"])) or {}
        method = settings.get("incomingemailfilteringmethod", 1)
        if method == 0:
            return _verdict(True, ACCEPT_ALL)
        if method in (2, 3) and _sender_is_record(ops, sender, with_users=method == 3):
            return _verdict(True, SENDER_MATCH)
        reasons.append(NO_CORRELATION_MATCH if method in (1, 2, 3) else UNKNOWN)
    return _verdict(False, reasons[0])


def _verdict(deliver: bool, reason: int) -> dict[str, Any]:
    return {"ShouldDeliver": deliver, "ReasonCode": reason}


def _receives(box: Record | None, org: Record) -> bool:
    """A mailbox that synchronizes incoming email (and is approved, when the organization requires it)."""
    if box is None or box.get("incomingemaildeliverymethod") != 2:
        return False
    return not org.get("requireapprovalforuseremail", True) or box.get("emailrouteraccessapproval") == 1


def _correlates(emails: list[Record], subject: str, org: Record) -> bool:
    prefix = str(org.get("trackingprefix") or "")
    if not prefix or prefix not in subject:
        return False
    tokens = set(re.findall(re.escape(prefix) + r"\d+", subject))
    return any(r.get("trackingtoken") in tokens for r in emails if r.get("trackingtoken"))


def _sender_is_record(ops: Operations, sender: str, with_users: bool) -> bool:
    for logical in ("contact", "account", "lead"):
        keys = [(column, index_key(sender) or "") for column in _ADDRESS_COLUMNS]
        if ops.store.find(logical, keys):
            return True
    if with_users:
        return bool(ops.store.find("systemuser", [("internalemailaddress", index_key(sender) or "")]))
    return False
