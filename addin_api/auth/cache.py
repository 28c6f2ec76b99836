"""Where Dataverse access tokens obtained on-behalf-of users are kept until shortly before they expire.

`TokenCache` is the port (get / set / delete by string key, with a time to live); `InMemoryTokenCache` is the
in-process adapter. A shared adapter (e.g. Redis `SET key value EX ttl`) can replace it without touching callers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class TokenCache(Protocol):
    """Store opaque tokens by key for a limited time."""

    def get(self, key: str) -> str | None:
        """Return the token stored under `key`, or None if absent or expired."""
        ...

    def set(self, key: str, token: str, ttl_seconds: float) -> None:
        """Store `token` under `key` for `ttl_seconds`."""
        ...

    def delete(self, key: str) -> None:
        """Forget the token stored under `key`, if any."""
        ...


class InMemoryTokenCache:
    """A thread-safe, size-bounded dict of tokens with deadlines on a monotonic clock."""

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, float]] = {}

    def get(self, key: str) -> str | None:
        """Return the token stored under `key`, or None if absent or expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            token, deadline = entry
            if self._clock() >= deadline:
                del self._entries[key]
                return None
            return token

    def set(self, key: str, token: str, ttl_seconds: float) -> None:
        """Store `token` under `key` for `ttl_seconds` (nothing is stored for a non-positive ttl)."""
        if ttl_seconds <= 0:
            return
        with self._lock:
            now = self._clock()
            if key not in self._entries and len(self._entries) >= self._max_entries:
                self._evict(now)
            self._entries[key] = (token, now + ttl_seconds)

    def delete(self, key: str) -> None:
        """Forget the token stored under `key`, if any."""
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _evict(self, now: float) -> None:
        """Drop expired entries, then, if still full, the ones closest to expiry (called with the lock held)."""
        for key in [k for k, (_, deadline) in self._entries.items() if deadline <= now]:
            del self._entries[key]
        overflow = len(self._entries) - self._max_entries + 1
        if overflow > 0:
            for key in sorted(self._entries, key=lambda k: self._entries[k][1])[:overflow]:
                del self._entries[key]
