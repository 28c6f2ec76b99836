"""The caller's personal options, as Dynamics 365's Personal Options › Email shows them: which incoming email the
mailbox sync tracks automatically (items directly in the Inbox are evaluated; what the user tracks — the pane, the
category — is tracked whatever the option), and whether the unresolved sender of an email it tracks becomes a
contact. https://learn.microsoft.com/en-us/power-platform/admin/email-message-filtering-correlation
"""

from __future__ import annotations

from addin_api.dataverse import options as dvoptions
from addin_api.dataverse.port import Dataverse
from addin_api.model import TRACK_INCOMING, MeInfo
from addin_api.model_mailbox import PersonalOptions


def personal_options(dv: Dataverse, caller: MeInfo) -> PersonalOptions:
    """Read the caller's options (one round trip)."""
    method, auto_create = dvoptions.read_options(dv, caller.user_id)
    track = TRACK_INCOMING[method] if 0 <= method < len(TRACK_INCOMING) else "replies"
    return PersonalOptions(track, "contact" if auto_create else "none")


def change_options(dv: Dataverse, caller: MeInfo, options: PersonalOptions) -> PersonalOptions:
    """Write the caller's options (one round trip) and answer them."""
    method = TRACK_INCOMING.index(options.track_incoming)
    dvoptions.write_options(dv, caller.user_id, method, options.auto_create == "contact")
    return options
