"""Graph messages and events as the pane's tracks: which carry the tracking category, and the command each is."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import ValidationError

from addin_api.sync.autotrack import replied_to
from addin_api.sync.calendar import appointment_command, carries_event
from addin_api.sync.graph import MasterCategory
from addin_api.sync.items import TRACKED_CATEGORY, carries, track_command, tracking_category

TRACKED = MasterCategory("cat-1", TRACKED_CATEGORY, "preset19")


def message(**fields: Any) -> dict[str, Any]:
    """A message as delta and GET give it."""
    return {
        "id": "m1",
        "internetMessageId": "<m1@fabrikam.example>",
        "subject": "Quote",
        "categories": [TRACKED_CATEGORY],
        "isDraft": False,
        "from": {"emailAddress": {"address": "Dana@Fabrikam.example", "name": "Dana"}},
        "toRecipients": [{"emailAddress": {"address": "alice@contoso.example"}}],
        "sentDateTime": "2026-12-01T09:00:00Z",
        "body": {"contentType": "html", "content": "<p>Hi</p>"},
        **fields,
    }


def test_the_category_is_found_by_its_id_whatever_it_is_called_now() -> None:
    """A rename in Outlook keeps the id: the known id wins over the default name."""
    renamed = MasterCategory("cat-1", "CRM", "preset19")
    other = MasterCategory("cat-2", TRACKED_CATEGORY, "preset0")
    assert tracking_category([other, renamed], "cat-1") == renamed
    assert tracking_category([other, renamed], None) == other
    assert tracking_category([renamed], "gone") is None


def test_a_message_carries_the_category_only_when_sent_or_received_and_keyed() -> None:
    """Drafts and messages without an Internet message id are never tracked."""
    assert carries(message(), TRACKED)
    assert not carries(message(categories=["Red category"]), TRACKED)
    assert not carries(message(isDraft=True), TRACKED)
    assert not carries(message(internetMessageId=""), TRACKED)
    assert not carries(message(categories=None), TRACKED)


def test_a_message_becomes_the_panes_track_command() -> None:
    """The pane's schema loads it: addresses lower-cased, direction kept."""
    command = track_command(message(), "incoming", 1024)
    assert (command.internet_message_id, command.direction) == ("<m1@fabrikam.example>", "incoming")
    assert command.sender is not None and command.sender.address == "dana@fabrikam.example"


def test_an_event_carries_the_category_unless_cancelled() -> None:
    """Cancelled meetings are not tracked; an event needs its iCalUId."""
    event = {"iCalUId": "040000008200E00074C5B7101A82E008AB", "categories": [TRACKED_CATEGORY]}
    assert carries_event(event, TRACKED)
    assert not carries_event({**event, "isCancelled": True}, TRACKED)
    assert not carries_event({**event, "iCalUId": None}, TRACKED)


def test_an_event_becomes_an_appointment_track_with_its_attendees_split() -> None:
    """Required and optional attendees, the location's name, UTC times."""
    event = {
        "iCalUId": "040000008200E00074C5B7101A82E008AB",
        "subject": "Review",
        "start": {"dateTime": "2026-12-10T15:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-10T16:00:00.0000000", "timeZone": "UTC"},
        "location": {"displayName": "Room 4"},
        "organizer": {"emailAddress": {"address": "alice@contoso.example"}},
        "attendees": [
            {"emailAddress": {"address": "dana@fabrikam.example"}, "type": "required"},
            {"emailAddress": {"address": "sam@northwind.example"}, "type": "optional"},
        ],
    }
    command = appointment_command(event)
    assert (command.global_object_id, command.location) == (event["iCalUId"], "Room 4")
    assert command.start.isoformat() == "2026-12-10T15:00:00+00:00"
    assert [a.address for a in command.required_attendees] == ["dana@fabrikam.example"]
    assert [a.address for a in command.optional_attendees] == ["sam@northwind.example"]


def test_an_event_not_in_utc_is_refused_rather_than_misplaced() -> None:
    """The worker asks for UTC; a time in another zone is not guessed at."""
    event = {
        "iCalUId": "040000008200E00074C5B7101A82E008AB",
        "subject": "Review",
        "start": {"dateTime": "2026-12-10T15:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2026-12-10T16:00:00", "timeZone": "Pacific Standard Time"},
    }
    with pytest.raises(ValidationError):
        appointment_command(event)


def test_a_reply_names_what_it_answers_in_reply_to_first_then_references_newest_first() -> None:
    """In-Reply-To leads; References follow from the newest; duplicates and non-ids are dropped; at most ten."""
    headers = [
        {"name": "Message-ID", "value": "<self@x>"},
        {"name": "in-reply-to", "value": "<b@x>"},
        {"name": "References", "value": "<a@x> <b@x> junk"},
    ]
    assert replied_to(headers) == ["<b@x>", "<a@x>"]
    many = [{"name": "References", "value": " ".join(f"<{n}@x>" for n in range(30))}]
    assert len(replied_to(many)) == 10
    assert replied_to([]) == []
