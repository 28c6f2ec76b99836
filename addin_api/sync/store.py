"""What the sync worker keeps between passes, shared by every worker and read by the service.

Per mailbox (`scope`: the environment and the owner's Entra object id, `mailbox_scope`):
- **cursors**: named values — per-folder delta links, the tracking category's id, subscription ids. A delta link is
  the cursor of a folder's next round and a next link resumes a round part-way; either is stored only once the page
  before it is done. https://learn.microsoft.com/en-us/graph/delta-query-messages
- **item states**, keyed by the item's Internet message id (or an event's iCalUId): whether the worker tracked it,
  is still trying (`pending`, with the attempts so far), gave up (`undeliverable`, with the reason the pane shows),
  or saw the category removed (`untracked`).

Backends: `InMemoryStore` (tests and `addin-api dev`, one process), `SqliteStore` (one host: `addin-api sync` with a
data directory), `RedisStore` (several workers on several hosts, `ADDIN_API_REDIS_URL`). Unlike the service's token
cache, these are the worker's truth: a Redis error is raised, never swallowed. Redis keys are hashed so Redis never
holds a tenant, user or message id in clear.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import redis

__all__ = [
    "LAST_SYNC",
    "OPTIONS_CHANGED",
    "ItemState",
    "InMemoryStore",
    "RedisStore",
    "SqliteStore",
    "SyncState",
    "SyncStore",
    "mailbox_scope",
    "open_store",
]

# "filtered": an incoming message the owner's options declined to track automatically (the service does not show it).
SyncState = Literal["tracked", "pending", "undeliverable", "untracked", "filtered"]
SQLITE_NAME = "sync-state.sqlite3"
# The cursor holding when the mailbox's last complete pass ended (ISO 8601, UTC), shown as the mailbox's lastSync.
LAST_SYNC = "last_sync"
# The cursor the service sets (seconds since the epoch) when the owner changes their options: the workers then read
# them again instead of trusting what they keep.
OPTIONS_CHANGED = "options_changed"
_REDIS_PREFIX = "addin-api:sync:"


def mailbox_scope(environment_url: str, owner_object_id: str) -> str:
    """The key of one mailbox in one environment."""
    return f"{environment_url.rstrip('/').lower()} {owner_object_id.lower()}"


@dataclass(frozen=True)
class ItemState:
    """What the worker knows of one item: its state, attempts so far, the last failure's code, the activity id."""

    state: SyncState
    attempts: int = 0
    reason: str | None = None
    activity_id: str | None = None
    # The record a folder rule set it regarding ("table:id"), so that the rule is applied once, not on every change.
    regarding: str | None = None

    def to_json(self) -> str:
        """The state as stored."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ItemState:
        """A stored state."""
        raw: dict[str, Any] = json.loads(text)
        return cls(
            raw["state"], int(raw.get("attempts", 0)), raw.get("reason"), raw.get("activity_id"), raw.get("regarding")
        )


class SyncStore(Protocol):
    """Cursors and item states per mailbox."""

    def get(self, scope: str, name: str) -> str | None:
        """The stored cursor, or None."""
        ...

    def put(self, scope: str, name: str, value: str | None) -> None:
        """Store a cursor (None forgets it)."""
        ...

    def item(self, scope: str, key: str) -> ItemState | None:
        """The state of one item, or None when the worker never saw it."""
        ...

    def set_item(self, scope: str, key: str, state: ItemState | None) -> None:
        """Record an item's state (None forgets it)."""
        ...


class InMemoryStore:
    """Cursors and item states held in this process."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def get(self, scope: str, name: str) -> str | None:
        """The stored cursor, or None."""
        with self._lock:
            return self._values.get(("cursor", scope, name))

    def put(self, scope: str, name: str, value: str | None) -> None:
        """Store a cursor (None forgets it)."""
        self._set(("cursor", scope, name), value)

    def item(self, scope: str, key: str) -> ItemState | None:
        """The state of one item, or None."""
        with self._lock:
            found = self._values.get(("item", scope, key))
        return None if found is None else ItemState.from_json(found)

    def set_item(self, scope: str, key: str, state: ItemState | None) -> None:
        """Record an item's state (None forgets it)."""
        self._set(("item", scope, key), None if state is None else state.to_json())

    def _set(self, key: tuple[str, str, str], value: str | None) -> None:
        with self._lock:
            if value is None:
                self._values.pop(key, None)
            else:
                self._values[key] = value


class SqliteStore:
    """Cursors and item states in one SQLite file; each write is committed before the call returns."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        with closing(self._connect()) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS sync_state (kind TEXT NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL,"
                " value TEXT NOT NULL, PRIMARY KEY (kind, scope, name))"
            )

    def get(self, scope: str, name: str) -> str | None:
        """The stored cursor, or None."""
        return self._get("cursor", scope, name)

    def put(self, scope: str, name: str, value: str | None) -> None:
        """Store a cursor (None forgets it)."""
        self._set("cursor", scope, name, value)

    def item(self, scope: str, key: str) -> ItemState | None:
        """The state of one item, or None."""
        found = self._get("item", scope, key)
        return None if found is None else ItemState.from_json(found)

    def set_item(self, scope: str, key: str, state: ItemState | None) -> None:
        """Record an item's state (None forgets it)."""
        self._set("item", scope, key, None if state is None else state.to_json())

    def _get(self, kind: str, scope: str, name: str) -> str | None:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT value FROM sync_state WHERE kind = ? AND scope = ? AND name = ?", (kind, scope, name)
            ).fetchone()
        return None if row is None else str(row[0])

    def _set(self, kind: str, scope: str, name: str, value: str | None) -> None:
        with closing(self._connect()) as db:
            if value is None:
                db.execute("DELETE FROM sync_state WHERE kind = ? AND scope = ? AND name = ?", (kind, scope, name))
            else:
                db.execute(
                    "INSERT INTO sync_state (kind, scope, name, value) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (kind, scope, name) DO UPDATE SET value = excluded.value",
                    (kind, scope, name, value),
                )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=10, isolation_level=None)


class RedisStore:
    """Cursors and item states in Redis: one hash of cursors and one of item states per mailbox."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def get(self, scope: str, name: str) -> str | None:
        """The stored cursor, or None."""
        return _text(self._client.hget(_key("cursors", scope), name))

    def put(self, scope: str, name: str, value: str | None) -> None:
        """Store a cursor (None forgets it)."""
        if value is None:
            self._client.hdel(_key("cursors", scope), name)
        else:
            self._client.hset(_key("cursors", scope), name, value)

    def item(self, scope: str, key: str) -> ItemState | None:
        """The state of one item, or None."""
        found = _text(self._client.hget(_key("items", scope), _digest(key)))
        return None if found is None else ItemState.from_json(found)

    def set_item(self, scope: str, key: str, state: ItemState | None) -> None:
        """Record an item's state (None forgets it)."""
        if state is None:
            self._client.hdel(_key("items", scope), _digest(key))
        else:
            self._client.hset(_key("items", scope), _digest(key), state.to_json())


def open_store(redis_url: str | None, data_dir: Path | None) -> SyncStore:
    """Redis when a URL is configured, else a SQLite file in `data_dir`, else memory."""
    if redis_url is not None:
        # Imported here: loading redis-py takes a good part of a second, which a process without Redis need not pay.
        import redis

        client: redis.Redis = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        return RedisStore(client)
    if data_dir is not None:
        return SqliteStore(data_dir / SQLITE_NAME)
    return InMemoryStore()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _key(kind: str, scope: str) -> str:
    return f"{_REDIS_PREFIX}{kind}:{_digest(scope)}"


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else None
