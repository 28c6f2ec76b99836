"""The requests the devstack served, kept for `GET /_devstack/requests` (a leaf: imports no other devstack module)."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class RequestLog:
    """The requests the devstack served, in arrival order (a `$batch` is one entry with its parts).

    Only the newest `capacity` entries are kept, so a devstack left running under `make dev` or a long benchmark does
    not grow without bound (tests and the bench clear the log before what they look at).
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=capacity)

    def append(self, entry: dict[str, Any]) -> None:
        """Record one served request."""
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        """Return a copy of the log."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._entries.clear()
