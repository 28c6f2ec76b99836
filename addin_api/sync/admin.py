"""Mailbox administration, as `addin-api mailbox approve|test|status` runs it: the app's Dataverse application user
looks the user up, and acts by impersonation where a person's privileges must decide.

- approve: an administrator's approval of the user's email address (`emailrouteraccessapproval` = 1, Approved).
  Dataverse keeps one approval on the user and their mailbox; it needs prvApproveRejectEmailAddress, which a service
  principal's approval does not exercise (it does nothing and reports no error:
  https://github.com/seanmcne/Microsoft.Xrm.Data.PowerShell/issues/454), so the app writes it, on the mailbox, acting
  as the administrator named with `--by`.
  https://learn.microsoft.com/en-us/power-platform/admin/connect-exchange-online#approve-email
- test: Test & Enable. Dataverse "tests the incoming and outgoing email configuration … and enables them"; here the
  mailbox is probed through Graph (`probe.probe_mailbox`) and the result written to `incomingemailstatus`,
  `outgoingemailstatus`, `actstatus` (1 Success, 2 Failure) and `testmailboxaccesscompletedon`.
  One mailbox synchronizes with one environment: the environment holding it carries
  `orgmarkedasprimaryforexchangesync`; a mailbox tested before whose row here lacks the mark is held by another
  environment, and its incoming test fails (IncomingEmailRejected) unless the administrator takes it over ("sync with
  this environment only"), which moves the mark here.
  https://learn.microsoft.com/en-us/power-platform/admin/best-practices-server-side-synchronization
- status: the user's mailbox as the pane shows it (`services.mailbox.mailbox_state`, read as the user), in words.

Column names and option values: https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/mailbox
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from addin_api.dataverse import mailbox as dvmailbox
from addin_api.dataverse import odata
from addin_api.dataverse.port import Dataverse
from addin_api.dataverse.whoami import read_me
from addin_api.errors import NotFound
from addin_api.model import (
    ADD_IN_NOT_ALLOWED,
    DISABLED,
    FAILURE,
    INCOMING_DISABLED,
    NO_MAILBOX,
    NOT_APPROVED,
    NOT_RUN,
    OTHER_ENVIRONMENT,
    SUCCESS,
    TEST_FAILED,
    TEST_NOT_RUN,
)
from addin_api.model_mailbox import MailboxState
from addin_api.services.mailbox import mailbox_state
from addin_api.sync.graph import GraphClient
from addin_api.sync.probe import MailboxProbe, probe_mailbox

__all__ = [
    "INCOMING_EMAIL_REJECTED",
    "NOT_APPROVED_REJECTED",
    "MailboxFacts",
    "Person",
    "EnableResult",
    "approve",
    "decide",
    "describe",
    "describe_result",
    "find_user",
    "status",
    "run_test_and_enable",
]

# Why an incoming test failed: the mailbox synchronizes with another environment (Dataverse's label).
INCOMING_EMAIL_REJECTED = "IncomingEmailRejected"
# Why every test failed: the address is not approved (our label).
NOT_APPROVED_REJECTED = "EmailAddressNotApproved"

_TEST_COLUMNS = (
    "mailboxid",
    "emailrouteraccessapproval",
    "incomingemaildeliverymethod",
    "outgoingemaildeliverymethod",
    "actdeliverymethod",
    "orgmarkedasprimaryforexchangesync",
    "testmailboxaccesscompletedon",
)

_DIRECTION_WORDS = {
    SUCCESS: "server-side synchronization; Test & Enable succeeded",
    FAILURE: "server-side synchronization; Test & Enable failed",
    NOT_RUN: "server-side synchronization; not tested yet",
    DISABLED: "off (not delivered by server-side synchronization)",
}
_RESULT_WORDS = {
    dvmailbox.SUCCESS: "success",
    dvmailbox.FAILURE: "failure",
    None: "not tested (not delivered by server-side synchronization)",
}
_REASON_WORDS = {
    NO_MAILBOX: "the user has no mailbox in this environment",
    NOT_APPROVED: "the email address is not approved (addin-api mailbox approve)",
    INCOMING_DISABLED: "incoming email is not synchronized (incoming delivery is not server-side synchronization)",
    TEST_FAILED: "the last Test & Enable of incoming email failed (addin-api mailbox test)",
    TEST_NOT_RUN: "incoming email has not been tested (addin-api mailbox test)",
    OTHER_ENVIRONMENT: "the mailbox may be synchronizing with another environment (addin-api mailbox test --take-over)",
    ADD_IN_NOT_ALLOWED: "the user lacks prvUseOfficeApps (Use Dynamics 365 App for Outlook)",
}


@dataclass(frozen=True)
class Person:
    """A user of the environment, found by sign-in name."""

    systemuser_id: str
    object_id: str
    name: str | None
    upn: str
    mailbox_id: str | None


@dataclass(frozen=True)
class MailboxFacts:
    """What Test & Enable reads of a mailbox row."""

    approved: bool
    incoming_sss: bool
    outgoing_sss: bool
    appointments_sss: bool
    marked_here: bool
    tested_before: bool


@dataclass(frozen=True)
class EnableResult:
    """Test & Enable's result per direction (1 Success, 2 Failure; None: not delivered by server-side sync, so not
    tested) and why a direction failed."""

    incoming: int | None
    outgoing: int | None
    appointments: int | None
    reasons: tuple[str, ...]

    @property
    def succeeded(self) -> bool:
        """Whether every direction that was tested succeeded."""
        return all(r != dvmailbox.FAILURE for r in (self.incoming, self.outgoing, self.appointments))

    @property
    def holds_mailbox(self) -> bool:
        """Whether this environment now holds the mailbox (its incoming test succeeded)."""
        return self.incoming == dvmailbox.SUCCESS


def find_user(dv: Dataverse, upn: str) -> Person:
    """The systemuser whose sign-in name (`domainname`) is `upn`, with their mailbox id; NotFound if none."""
    found = dv.get(
        "systemusers",
        {
            "$select": "systemuserid,azureactivedirectoryobjectid,fullname,domainname",
            "$filter": f"domainname eq {odata.literal(upn, max_length=320)}",
            "$expand": "defaultmailbox($select=mailboxid)",
            "$top": "2",
        },
    )
    rows = [r for r in found.get("value", []) if isinstance(r, dict)]
    if len(rows) != 1 or not rows[0].get("azureactivedirectoryobjectid"):
        raise NotFound(f"No user signs in as {upn} in this environment")
    row = rows[0]
    box = row.get("defaultmailbox")
    mailbox_id = box.get("mailboxid") if isinstance(box, dict) else None
    return Person(
        systemuser_id=str(row["systemuserid"]),
        object_id=str(row["azureactivedirectoryobjectid"]),
        name=row.get("fullname") if isinstance(row.get("fullname"), str) else None,
        upn=str(row.get("domainname") or upn),
        mailbox_id=str(mailbox_id) if mailbox_id else None,
    )


def scheduled_tests(dv: Dataverse) -> list[Person]:
    """The users whose mailbox waits for Test & Enable (`testemailconfigurationscheduled`, set when an admin asks
    for it in the Power Platform admin center), read as the application user."""
    params = {
        "$select": "systemuserid,azureactivedirectoryobjectid,fullname,domainname",
        "$expand": "defaultmailbox($select=mailboxid,testemailconfigurationscheduled)",
    }
    page, found = dv.get("systemusers", params), []
    while True:
        for row in page.get("value", []):
            box = row.get("defaultmailbox") if isinstance(row, dict) else None
            if isinstance(box, dict) and box.get("testemailconfigurationscheduled") is True:
                found.append(
                    Person(
                        systemuser_id=str(row["systemuserid"]),
                        object_id=str(row.get("azureactivedirectoryobjectid") or ""),
                        name=row.get("fullname") if isinstance(row.get("fullname"), str) else None,
                        upn=str(row.get("domainname") or ""),
                        mailbox_id=str(box.get("mailboxid") or "") or None,
                    )
                )
        next_link = page.get("@odata.nextLink")
        if not isinstance(next_link, str):
            return [p for p in found if p.object_id and p.mailbox_id]
        page = dv.get(next_link)


def approve(as_admin: Dataverse, person: Person) -> None:
    """Approve the user's email address, acting as an administrator (their mailbox shows the same approval)."""
    as_admin.update("mailboxes", _mailbox_id(person), {"emailrouteraccessapproval": dvmailbox.APPROVED})


def status(as_user: Dataverse, environment_url: str) -> MailboxState:
    """The user's mailbox state as the pane shows it, read acting as the user."""
    return mailbox_state(as_user, environment_url, read_me(as_user))


def read_facts(dv: Dataverse, person: Person) -> MailboxFacts:
    """The mailbox columns Test & Enable decides on."""
    row = dv.get(f"mailboxes({_mailbox_id(person)})", {"$select": ",".join(_TEST_COLUMNS)})
    return MailboxFacts(
        approved=row.get("emailrouteraccessapproval") == dvmailbox.APPROVED,
        incoming_sss=row.get("incomingemaildeliverymethod") == dvmailbox.EMAIL_SERVER_SIDE_SYNC,
        outgoing_sss=row.get("outgoingemaildeliverymethod") == dvmailbox.EMAIL_SERVER_SIDE_SYNC,
        appointments_sss=row.get("actdeliverymethod") == dvmailbox.ACT_SERVER_SIDE_SYNC,
        marked_here=row.get("orgmarkedasprimaryforexchangesync") is True,
        tested_before=bool(row.get("testmailboxaccesscompletedon")),
    )


def decide(facts: MailboxFacts, probe: MailboxProbe, *, take_over: bool) -> EnableResult:
    """Test & Enable's result for a mailbox, from its row here and what Graph answered."""
    reasons: list[str] = []
    if not facts.approved:
        reasons.append(NOT_APPROVED_REJECTED)
    if probe.failure is not None:
        reasons.append(probe.failure)
    held_elsewhere = facts.tested_before and not facts.marked_here and not take_over
    incoming_ok = facts.approved and probe.can_read_inbox and not held_elsewhere
    if facts.incoming_sss and held_elsewhere:
        reasons.append(INCOMING_EMAIL_REJECTED)
    return EnableResult(
        incoming=_result(facts.incoming_sss, incoming_ok),
        outgoing=_result(facts.outgoing_sss, facts.approved and probe.can_read_sent_items),
        appointments=_result(facts.appointments_sss, facts.approved and probe.ok),
        reasons=tuple(reasons),
    )


def outcome_update(outcome: EnableResult, now: datetime) -> dict[str, Any]:
    """The mailbox PATCH that records a Test & Enable (the mark moves here only when incoming succeeded)."""
    update: dict[str, Any] = {
        "testemailconfigurationscheduled": False,
        "testmailboxaccesscompletedon": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    for column, result in (
        ("incomingemailstatus", outcome.incoming),
        ("outgoingemailstatus", outcome.outgoing),
        ("actstatus", outcome.appointments),
    ):
        if result is not None:
            update[column] = result
    if outcome.holds_mailbox:
        update["orgmarkedasprimaryforexchangesync"] = True
        update["isactsyncorgflagset"] = outcome.appointments == dvmailbox.SUCCESS
    return update


def run_test_and_enable(
    dv: Dataverse,
    graph: GraphClient,
    person: Person,
    *,
    take_over: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> EnableResult:
    """Probe the user's mailbox through Graph and record the result on their mailbox row (as the application user)."""
    facts = read_facts(dv, person)
    outcome = decide(facts, probe_mailbox(graph, person.object_id), take_over=take_over)
    dv.update("mailboxes", _mailbox_id(person), outcome_update(outcome, now()))
    return outcome


def describe(person: Person, state: MailboxState) -> list[str]:
    """The lines `addin-api mailbox status` prints."""
    environment = state.environment
    lines = [
        f"user:          {person.name or person.upn} <{person.upn}>",
        f"environment:   {environment.url}" + (f" ({environment.name})" if environment.name else ""),
        f"approved:      {'yes' if state.approved else 'no'}",
        f"incoming:      {_DIRECTION_WORDS.get(state.incoming, state.incoming)}",
        f"outgoing:      {_DIRECTION_WORDS.get(state.outgoing, state.outgoing)}",
        f"appointments:  {_DIRECTION_WORDS.get(state.appointments, state.appointments)}",
    ]
    if state.tracking_enabled:
        lines.append("tracking:      enabled")
    else:
        lines.append("tracking:      blocked:")
        lines.extend(f"  - {_REASON_WORDS.get(reason, reason)}" for reason in state.reasons)
    return lines


def describe_result(person: Person, result: EnableResult) -> list[str]:
    """The lines `addin-api mailbox test` prints."""
    lines = [f"Test & Enable for {person.name or person.upn} <{person.upn}>:"]
    for direction, value in (
        ("incoming", result.incoming),
        ("outgoing", result.outgoing),
        ("appointments", result.appointments),
    ):
        lines.append(f"  {direction + ':':14}{_RESULT_WORDS[value]}")
    lines.extend(f"  reason:       {reason}" for reason in result.reasons)
    return lines


def _result(delivered_by_sss: bool, ok: bool) -> int | None:
    if not delivered_by_sss:
        return None
    return dvmailbox.SUCCESS if ok else dvmailbox.FAILURE


def _mailbox_id(person: Person) -> str:
    if person.mailbox_id is None:
        raise NotFound(f"{person.upn} has no mailbox in this environment")
    return person.mailbox_id
