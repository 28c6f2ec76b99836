"""The pure Dataverse builders: drafts of emails and appointments, party rows, the deep insert, new records, the
live view's query and rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from addin_api.dataverse.activities import APPOINTMENT, activity_body, html_description
from addin_api.dataverse.appointment import appointment_draft
from addin_api.dataverse.email import email_draft
from addin_api.dataverse.latest import latest_query, read_latest
from addin_api.dataverse.parties import SENDER, TO, Match, Party, Resolved, party_results, party_rows
from addin_api.dataverse.records import sender_record
from addin_api.dataverse.tables import CONTACT, LEAD
from addin_api.model import Address, LatestActivity, RecordRef, TrackAppointment, TrackEmail

SENT_AT = datetime(2026, 12, 1, 10, 30, tzinfo=timezone(timedelta(hours=1)))


def email(**changes: object) -> TrackEmail:
    """A plain email from Zoe to Alice and Bob."""
    fields: dict[str, object] = {
        "internet_message_id": "<m@x>",
        "subject": "Hi",
        "sender": Address("Zoe@Fabrikam.example"),
        "sent_at": SENT_AT,
        "to": (Address("alice@contoso.example"), Address("bob@contoso.example")),
    }
    return TrackEmail(**{**fields, **changes})  # type: ignore[arg-type]


def test_an_email_draft_lists_the_sender_first_lower_cased_and_the_recipients_joined() -> None:
    """Columns follow the email table: UTC `actualend`, `torecipients` joined with `;`."""
    draft = email_draft(email(), caller_email=None)

    assert [(SENDER, "zoe@fabrikam.example"), (TO, "alice@contoso.example"), (TO, "bob@contoso.example")] == [
        (p.mask, p.address) for p in draft.parties
    ]
    assert "2026-12-01T09:30:00Z" == draft.columns["actualend"]
    assert "alice@contoso.example;bob@contoso.example" == draft.columns["torecipients"]


def test_an_email_draft_cuts_the_sender_and_recipients_to_their_column_lengths() -> None:
    """email.sender holds 250 characters, email.torecipients 500."""
    long = "a" * 64 + "@" + "b" * 250
    draft = email_draft(email(sender=Address(long), to=(Address(long), Address(long))), caller_email=None)

    assert (250, 500) == (len(draft.columns["sender"]), len(draft.columns["torecipients"]))


def test_the_direction_given_wins_over_the_callers_address() -> None:
    """`incoming` is received even from the caller; no direction and the caller as sender is sent."""
    caller = "zoe@fabrikam.example"
    assert 4 == email_draft(email(direction="incoming"), caller).columns["statuscode"]
    assert 3 == email_draft(email(), caller).columns["statuscode"]


def test_plain_text_becomes_escaped_html_with_its_line_breaks() -> None:
    """`text` bodies are escaped; HTML bodies pass as they are."""
    assert "a &lt;b&gt;<br>\nc" == html_description("a <b>\r\nc", "text")
    assert "<p>x</p>" == html_description("<p>x</p>", "html")


def test_an_appointment_draft_has_the_organizer_as_its_sender_and_a_location_only_when_given() -> None:
    """The organizer leads the parties; times are UTC."""
    command = TrackAppointment(
        global_object_id="040000",
        subject="Sync",
        start=datetime(2026, 12, 1, 9, tzinfo=UTC),
        end=datetime(2026, 12, 1, 10, tzinfo=UTC),
        organizer=Address("Org@X.example", "Org"),
        required_attendees=(Address("a@x.example"),),
    )
    draft = appointment_draft(command)

    assert draft.sender == Party(7, "org@x.example", "Org") == draft.parties[0]
    assert "location" not in draft.columns
    assert ("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z") == (
        draft.columns["scheduledstart"],
        draft.columns["scheduledend"],
    )


def test_the_unresolved_sender_row_is_bound_to_the_record_created_for_it() -> None:
    """Only the sender's address-only row gets the bind; a resolved party keeps its own."""
    sender, to = Party(SENDER, "zoe@x.example"), Party(TO, "a@x.example")
    match = Match(CONTACT, "c1", "A")
    resolved = [Resolved(sender, ()), Resolved(to, (match,))]

    rows = party_rows(resolved, (sender, LEAD, "l1"))

    assert [
        {"participationtypemask": 1, "addressused": "zoe@x.example", "partyid_lead@odata.bind": "/leads(l1)"},
        {"participationtypemask": 2, "partyid_contact@odata.bind": "/contacts(c1)", "addressused": "a@x.example"},
    ] == rows
    created = RecordRef("lead", "l1", "Zoe")
    assert ((created,), (match.ref,)) == tuple(p.resolved for p in party_results(resolved, (sender, created)))


def test_a_new_sender_record_splits_the_display_name_and_a_lead_gets_a_subject() -> None:
    """First name is all but the last word; without a name the address's local part is the last name."""
    lead = sender_record("lead", "zoe@x.example", "Zoe Ann Quinn", "")
    contact = sender_record("contact", "zoe@x.example", None, "Hi")

    assert ("Zoe Ann", "Quinn", "Email from zoe@x.example") == (
        lead.body["firstname"],
        lead.body["lastname"],
        lead.body["subject"],
    )
    assert ("zoe", "firstname" in contact.body, "subject" in contact.body) == (contact.body["lastname"], False, False)
    assert RecordRef("lead", lead.id, "Zoe Ann Quinn") == lead.ref


def test_the_deep_insert_binds_the_new_record_as_regarding_when_none_was_chosen() -> None:
    """No regarding chosen and a new sender record: the activity is regarding that record."""
    draft = appointment_draft(
        TrackAppointment("g", "S", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    )

    body = activity_body(draft, "id-1", [], [], (CONTACT, "c1"))

    assert "/contacts(c1)" == body[APPOINTMENT.regarding_property(CONTACT) + "@odata.bind"]
    assert ("id-1", []) == (body["activityid"], body["appointment_activity_parties"])


def test_the_latest_query_selects_the_key_and_regarding_newest_first() -> None:
    """The live view asks for the table's own key column and its latest eight rows."""
    expected = (
        "appointments?$select=activityid%2Csubject%2Cglobalobjectid%2Ccreatedon%2C_regardingobjectid_value"
        "&$orderby=createdon%20desc&$top=8"
    )

    assert expected == latest_query(APPOINTMENT)


def test_a_latest_row_reads_its_key_and_the_regarding_display_name() -> None:
    """The key comes from the table's key column and the regarding name from its formatted value."""
    row = {
        "activityid": "a1",
        "subject": "Lunch",
        "globalobjectid": "040000008200E0",
        "messageid": "<ignored@x>",
        "createdon": "2026-12-01T09:30:00Z",
        "_regardingobjectid_value": "r1",
        "_regardingobjectid_value@OData.Community.Display.V1.FormattedValue": "Adventure Works Cycles",
    }

    expected = LatestActivity(
        "appointment", "a1", "Lunch", "040000008200E0", "2026-12-01T09:30:00Z", "Adventure Works Cycles"
    )
    assert expected == read_latest(APPOINTMENT, row)
