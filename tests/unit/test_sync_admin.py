"""Test & Enable's decision, the PATCH that records it, and the words `addin-api mailbox` prints (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from addin_api.dataverse.errors import app_only_error
from addin_api.errors import ApplicationUserMissing, ImpersonationNotAllowed
from addin_api.model import DISABLED, INCOMING_DISABLED, SUCCESS
from addin_api.model_mailbox import MailboxEnvironment, MailboxState
from addin_api.sync.admin import (
    INCOMING_EMAIL_REJECTED,
    NOT_APPROVED_REJECTED,
    EnableResult,
    MailboxFacts,
    Person,
    decide,
    describe,
    outcome_update,
)
from addin_api.sync.probe import MailboxProbe

READY = MailboxFacts(
    approved=True,
    incoming_sss=True,
    outgoing_sss=True,
    appointments_sss=True,
    marked_here=True,
    tested_before=True,
)
REACHABLE = MailboxProbe(can_read_inbox=True, can_read_sent_items=True, has_tracking_category=True)
CAROL = Person("5e7a0003", "ca201000", "Carol Diaz", "carol@contoso.example", "b0x")


def facts(**changes: bool) -> MailboxFacts:
    """READY with some facts changed."""
    return MailboxFacts(**{**READY.__dict__, **changes})


def test_a_reachable_approved_mailbox_succeeds_in_every_direction() -> None:
    """Every direction delivered by server-side sync and answered by Graph: Success, no reasons."""
    assert EnableResult(1, 1, 1, ()) == decide(READY, REACHABLE, take_over=False)


def test_a_mailbox_held_by_another_environment_fails_incoming_with_incoming_email_rejected() -> None:
    """Tested before, not marked here: the incoming test fails; outgoing and appointments are still tested."""
    result = decide(facts(marked_here=False), REACHABLE, take_over=False)

    assert EnableResult(2, 1, 1, (INCOMING_EMAIL_REJECTED,)) == result
    assert (False, False) == (result.succeeded, result.holds_mailbox)


def test_taking_the_mailbox_over_succeeds_and_moves_the_mark_here() -> None:
    """ "Sync with this environment only": the same mailbox succeeds and the PATCH marks it here."""
    result = decide(facts(marked_here=False), REACHABLE, take_over=True)

    update = outcome_update(result, datetime(2026, 12, 2, 18, 0, tzinfo=UTC))
    assert (True, True, True) == (
        result.succeeded,
        update["orgmarkedasprimaryforexchangesync"],
        update["isactsyncorgflagset"],
    )


def test_a_first_test_marks_the_mailbox_for_this_environment() -> None:
    """Never tested and not marked anywhere: the first environment to enable the mailbox takes it."""
    result = decide(facts(marked_here=False, tested_before=False), REACHABLE, take_over=False)

    assert (1, True) == (result.incoming, result.holds_mailbox)


def test_an_unapproved_mailbox_fails_every_direction() -> None:
    """Dataverse processes email only for approved addresses."""
    result = decide(facts(approved=False), REACHABLE, take_over=False)

    assert EnableResult(2, 2, 2, (NOT_APPROVED_REJECTED,)) == result


def test_graph_refusing_the_mailbox_fails_the_directions_it_blocks() -> None:
    """The Inbox was read but Sent Items refused: incoming succeeds, outgoing and appointments fail, with the reason."""
    probe = MailboxProbe(
        can_read_inbox=True, can_read_sent_items=False, has_tracking_category=False, failure="access_denied"
    )

    assert EnableResult(1, 2, 2, ("access_denied",)) == decide(READY, probe, take_over=False)


def test_directions_not_delivered_by_server_side_sync_are_not_tested_nor_written() -> None:
    """Carol's incoming email is not synchronized: no incoming result, no incoming column in the PATCH."""
    result = decide(facts(incoming_sss=False), REACHABLE, take_over=False)

    update = outcome_update(result, datetime(2026, 12, 2, 18, 0, tzinfo=UTC))
    assert (None, "incomingemailstatus" in update) == (result.incoming, False)
    assert "orgmarkedasprimaryforexchangesync" not in update
    assert {
        "testemailconfigurationscheduled": False,
        "testmailboxaccesscompletedon": "2026-12-02T18:00:00Z",
        "outgoingemailstatus": 1,
        "actstatus": 1,
    } == update


def test_status_words_say_incoming_is_off_and_why_tracking_is_blocked() -> None:
    """The status lines name the direction that is off and the reason, in words."""
    environment = MailboxEnvironment("https://contoso.crm.dynamics.com", "0rg", "Contoso")
    state = MailboxState(True, DISABLED, SUCCESS, SUCCESS, (INCOMING_DISABLED,), environment, None)

    lines = describe(CAROL, state)

    assert "incoming:      off (not delivered by server-side synchronization)" in lines
    assert "tracking:      blocked:" in lines
    assert lines[-1].startswith("  - incoming email is not synchronized")


@pytest.mark.parametrize(
    ("code", "message", "impersonating", "expected"),
    [
        ("0x80072560", "The user is not a member of the organization.", False, ApplicationUserMissing),
        ("0x80072560", "The user is not a member of the organization.", True, ApplicationUserMissing),
        (
            "0x80040220",
            "Principal user (Id=1, type=8) is missing prvActOnBehalfOfAnotherUser privilege (Id=2)",
            True,
            ImpersonationNotAllowed,
        ),
        ("0x80040220", "Principal user (Id=1, type=8) is missing prvCreateActivity privilege (Id=2)", True, None),
        ("0x80040220", "Principal user (Id=1, type=8) is missing prvActOnBehalfOfAnotherUser privilege", False, None),
    ],
)
def test_app_only_errors_are_told_apart(code: str, message: str, impersonating: bool, expected: type | None) -> None:
    """Only 0x80072560 and a missing prvActOnBehalfOfAnotherUser while impersonating get their own errors."""
    found = app_only_error(code, message, impersonating=impersonating)

    assert expected == (type(found) if found is not None else None)
