"""The caller's mailbox as the pane shows it: how each direction is synchronized and, when tracking is impossible,
why (stable reason codes).

Dynamics 365 App for Outlook needs the user's mailbox approved and enabled for server-side synchronization, and the
user to hold `prvUseOfficeApps`:
https://learn.microsoft.com/en-us/dynamics365/outlook-app/deploy-dynamics-365-app-for-outlook
"""

from __future__ import annotations

from addin_api.dataverse import mailbox as dvmailbox
from addin_api.dataverse.mailbox import MailboxRow
from addin_api.dataverse.port import Dataverse
from addin_api.model import (
    ADD_IN_NOT_ALLOWED,
    DISABLED,
    FAILURE,
    INCOMING_DISABLED,
    NO_MAILBOX,
    NOT_APPROVED,
    NOT_RUN,
    OTHER_ENVIRONMENT,
    REASONS,
    SUCCESS,
    TEST_FAILED,
    TEST_NOT_RUN,
    MeInfo,
)
from addin_api.model_mailbox import MailboxEnvironment, MailboxState

_STATUS = {dvmailbox.SUCCESS: SUCCESS, dvmailbox.FAILURE: FAILURE, dvmailbox.NOT_RUN: NOT_RUN}


def mailbox_state(dv: Dataverse, environment_url: str, caller: MeInfo) -> MailboxState:
    """Read the caller's mailbox and organization (one Dataverse round trip) and say what stops tracking."""
    row, organization = dvmailbox.read_mailbox(dv, caller.user_id, caller.organization_id)
    reasons = _reasons(row, caller)
    environment = MailboxEnvironment(environment_url, organization.organization_id, organization.name)
    if row is None:
        return MailboxState(False, DISABLED, DISABLED, DISABLED, reasons, environment, None)
    return MailboxState(
        approved=row.approval == dvmailbox.APPROVED,
        incoming=_direction(row.incoming_method, dvmailbox.EMAIL_SERVER_SIDE_SYNC, row.incoming_status),
        outgoing=_direction(row.outgoing_method, dvmailbox.EMAIL_SERVER_SIDE_SYNC, row.outgoing_status),
        appointments=_direction(row.act_method, dvmailbox.ACT_SERVER_SIDE_SYNC, row.act_status),
        reasons=reasons,
        environment=environment,
        last_sync=row.last_sync,
    )


def _direction(method: int | None, server_side_sync: int, status: int | None) -> str:
    """A direction not delivered by server-side synchronization is disabled; otherwise its last test's result."""
    if method != server_side_sync:
        return DISABLED
    return _STATUS.get(status if status is not None else dvmailbox.NOT_RUN, NOT_RUN)


def _reasons(row: MailboxRow | None, info: MeInfo) -> tuple[str, ...]:
    found: set[str] = set()
    if not info.can_use_add_in:
        found.add(ADD_IN_NOT_ALLOWED)
    if row is None:
        found.add(NO_MAILBOX)
        return tuple(r for r in REASONS if r in found)
    if row.approval != dvmailbox.APPROVED:
        found.add(NOT_APPROVED)
    if row.incoming_method != dvmailbox.EMAIL_SERVER_SIDE_SYNC:
        found.add(INCOMING_DISABLED)
    elif row.incoming_status == dvmailbox.FAILURE:
        found.add(TEST_FAILED)
        # An Exchange mailbox synchronizes with one environment only: Test & Enable links it to the environment
        # that ran it, and the other environments' mailbox rows stop synchronizing (their tests fail).
        # https://learn.microsoft.com/en-us/power-platform/admin/best-practices-server-side-synchronization
        # The environment holding the mailbox carries the "synchronize with this organization only" mark
        # (orgmarkedasprimaryforexchangesync), so a failed incoming test without the mark here is read as "bound
        # to another environment"; a first test that failed for another reason looks the same in Dataverse, so
        # both codes are given.
        if not row.marked_primary_here:
            found.add(OTHER_ENVIRONMENT)
    elif row.incoming_status != dvmailbox.SUCCESS:
        found.add(TEST_NOT_RUN)
    return tuple(r for r in REASONS if r in found)
