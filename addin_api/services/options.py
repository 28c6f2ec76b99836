"""The caller's personal options, as Dynamics 365's Personal Options › Email shows them: which incoming email the
mailbox sync tracks automatically. Items directly in the Inbox are evaluated; items the user tracks (the pane, the
category) are tracked whatever the option. https://learn.microsoft.com/en-us/power-platform/admin/email-message-filtering-correlation
"""

from __future__ import annotations

from addin_api.dataverse import options as dvoptions
from addin_api.dataverse.port import Dataverse
from addin_api.model import TRACK_INCOMING, MeInfo, PersonalOptions


def personal_options(dv: Dataverse, caller: MeInfo) -> PersonalOptions:
    """Read the caller's options (one round trip)."""
    method = dvoptions.read_filtering(dv, caller.user_id)
    return PersonalOptions(TRACK_INCOMING[method] if 0 <= method < len(TRACK_INCOMING) else "replies")


def change_options(dv: Dataverse, caller: MeInfo, options: PersonalOptions) -> PersonalOptions:
    """Write the caller's options (one round trip) and answer them."""
    dvoptions.write_filtering(dv, caller.user_id, TRACK_INCOMING.index(options.track_incoming))
    return options
