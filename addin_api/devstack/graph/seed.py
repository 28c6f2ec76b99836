"""What the emulated mailboxes hold after a start or a reset: alice's tracking category and a few Inbox messages."""

from __future__ import annotations

from addin_api.devstack.graph.mail import message_data, recipient
from addin_api.devstack.graph.store import Category, GraphStore

ALICE = "alice@contoso.example"
# The category Dynamics 365 App for Outlook applies to tracked items.
# https://learn.microsoft.com/en-us/dynamics365/outlook-app/user/track-outlook-email
TRACKED_CATEGORY = "Tracked to Dynamics 365"
TRACKED_CATEGORY_ID = "d365d365-0000-4000-8000-00000000ca7e"
SEED_MESSAGES = (
    ("maria.campbell@fabrikam.example", "Maria Campbell", "Pricing for the 2027 renewal", "Could you send the quote?"),
    ("nancy.anderson@adventure-works.example", "Nancy Anderson", "Site visit next week", "Tuesday works for us."),
    ("sam.lee@northwind.example", "Sam Lee", "Re: Support case 4411", "The fix works, thank you."),
)


def seed_mailboxes(store: GraphStore) -> None:
    """Seed the mailboxes (called by the store on start and reset)."""
    box = store.mailbox(ALICE)
    if box is None:
        return
    box.categories[TRACKED_CATEGORY_ID] = Category(TRACKED_CATEGORY_ID, TRACKED_CATEGORY, "preset9")
    inbox = box.folder("inbox")
    assert inbox is not None
    for n, (address, name, subject, text) in enumerate(SEED_MESSAGES):
        data = message_data(
            {"subject": subject, "body": {"contentType": "text", "content": text}, "toRecipients": [recipient(ALICE)]},
            is_draft=False,
        )
        sender = recipient(address, name)
        data.update(
            {
                "from": sender,
                "sender": sender,
                "internetMessageId": f"<seed-{n + 1}@{address.split('@')[1]}>",
                "conversationId": f"seed-conversation-{n + 1}",
                "receivedDateTime": f"2026-11-2{n + 1}T09:00:00Z",
                "sentDateTime": f"2026-11-2{n + 1}T08:59:00Z",
                "isRead": False,
            }
        )
        store.add_item(box, inbox.id, data)
