"""Tracking while composing: mark a message being written so that the mailbox sync tracks it once it is sent, with
the regarding the user chose (see `sync.compose` for how the mark travels)."""

from __future__ import annotations

from datetime import UTC, datetime

from addin_api.dataverse import odata
from addin_api.dataverse.port import Dataverse
from addin_api.dataverse.tables import REGARDING_TABLES
from addin_api.model import RecordRef
from addin_api.model_mailbox import MarkCompose, PendingTrack
from addin_api.sync import compose
from addin_api.sync.store import SyncStore

__all__ = ["mark_compose"]


def mark_compose(dv: Dataverse, store: SyncStore, scope: str, command: MarkCompose) -> PendingTrack:
    """Keep a token for the message; the record it will be regarding is read first (one round trip), so a record
    the caller cannot see is refused now (404), not after the message is sent."""
    regarding: RecordRef | None = None
    if command.regarding is not None:
        table = REGARDING_TABLES[command.regarding.table]
        record_id = odata.guid(command.regarding.id)
        row = dv.get(f"{table.entity_set}({record_id})", {"$select": f"{table.primary_id},{table.primary_name}"})
        name = row.get(table.primary_name)
        regarding = RecordRef(table.logical_name, record_id, name if isinstance(name, str) else None)
    token, until = compose.mark(store, scope, command.regarding)
    expires = datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return PendingTrack(token, compose.HEADER, expires, regarding)
