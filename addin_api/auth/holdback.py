"""Holding back a user's token requests: their Retry-After window after Entra's 429 or 5xx, and one exchange at a
time per user and environment (the others wait, then read the cached token)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

from addin_api.dataverse.limits import ThrottleWindows


class UserWindows:
    """When each user may next be sent to the token endpoint, after Entra answered them 429 or 5xx."""

    def __init__(self, clock: Callable[[], float], shared: ThrottleWindows | None, max_users: int) -> None:
        self._clock = clock
        self._shared = shared
        self._max_users = max_users
        self._lock = threading.Lock()
        self._until: dict[Hashable, float] = {}

    def remaining(self, user_key: Hashable) -> float:
        """Seconds left in the user's window here or, if none, in the shared store."""
        with self._lock:
            left = self._until.get(user_key, 0.0) - self._clock()
            if left <= 0:
                self._until.pop(user_key, None)
        if left <= 0 and self._shared is not None:
            left = self._shared.remaining(user_key)
        return max(left, 0.0)

    def block(self, user_key: Hashable, seconds: float) -> None:
        """Send nothing for the user for `seconds` (a longer window already open wins)."""
        now = self._clock()
        with self._lock:
            for key in [k for k, until in self._until.items() if until <= now]:
                del self._until[key]
            if len(self._until) >= self._max_users and user_key not in self._until:
                del self._until[min(self._until, key=self._until.__getitem__)]
            self._until[user_key] = max(now + seconds, self._until.get(user_key, 0.0))
        if self._shared is not None:
            self._shared.block(user_key, seconds)


class SingleFlight:
    """A lock per key, created while someone holds or waits for it and dropped after the last one leaves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[threading.Lock, list[int]]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold `key`'s lock for the block (other keys are never waited for)."""
        with self._lock:
            lock, users = self._held.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._lock:
                users[0] -= 1
                if users[0] == 0:
                    del self._held[key]
