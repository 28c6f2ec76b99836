"""A Dataverse email as the Graph draft the worker sends for it."""

from __future__ import annotations

import base64

import pytest

from addin_api.sync.graph_errors import GraphError
from addin_api.sync.outgoing import INLINE_ATTACHMENT_BYTES, graph_message


def email(**fields: object) -> dict[str, object]:
    """An email row as the worker reads it, with its parties and attachments expanded."""
    return {
        "activityid": "e1",
        "subject": "Proposal",
        "description": "<p>Attached.</p>",
        "trackingtoken": None,
        "email_activity_parties": [
            {"participationtypemask": 1, "addressused": "alice@contoso.example"},
            {"participationtypemask": 2, "addressused": "dana@fabrikam.example"},
            {"participationtypemask": 3, "addressused": "sam@northwind.example"},
            {"participationtypemask": 4, "addressused": "audit@contoso.example"},
            {"participationtypemask": 2, "addressused": None},
        ],
        "email_activity_mime_attachment": [],
        **fields,
    }


def test_the_parties_become_to_cc_and_bcc_and_the_sender_is_the_mailbox() -> None:
    """From is the mailbox the draft is made in; a party without an address is left out."""
    message = graph_message(email(), "<e1@contoso.example>")
    assert [r["emailAddress"]["address"] for r in message["toRecipients"]] == ["dana@fabrikam.example"]
    assert [r["emailAddress"]["address"] for r in message["ccRecipients"]] == ["sam@northwind.example"]
    assert [r["emailAddress"]["address"] for r in message["bccRecipients"]] == ["audit@contoso.example"]
    assert "from" not in message
    assert (message["internetMessageId"], message["body"]) == (
        "<e1@contoso.example>",
        {"contentType": "html", "content": "<p>Attached.</p>"},
    )


def test_the_tracking_token_is_sent_in_the_subject() -> None:
    """As Dynamics sends it: the subject, a space, the token."""
    assert graph_message(email(trackingtoken="CRM:0001001"), "<e1@x>")["subject"] == "Proposal CRM:0001001"
    assert graph_message(email(), "<e1@x>")["subject"] == "Proposal"


def test_attachments_go_inline_up_to_graphs_limit() -> None:
    """File attachments with their content; past 3 MB in all the email is refused, not cut."""
    small = {"filename": "quote.pdf", "mimetype": "application/pdf", "body": base64.b64encode(b"%PDF").decode()}
    message = graph_message(email(email_activity_mime_attachment=[small]), "<e1@x>")
    assert message["attachments"] == [
        {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": "quote.pdf",
            "contentType": "application/pdf",
            "contentBytes": small["body"],
        }
    ]
    large = {**small, "body": base64.b64encode(b"x" * (INLINE_ATTACHMENT_BYTES + 1)).decode()}
    with pytest.raises(GraphError) as refused:
        graph_message(email(email_activity_mime_attachment=[large]), "<e1@x>")
    assert refused.value.code == "attachments_too_large"
