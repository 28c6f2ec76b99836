"""Per-user concurrency cap and Retry-After memory for Dataverse calls, shared by every client of one app.

Dataverse enforces its service-protection limits per user (6000 requests, 1200 s of execution and 52 concurrent
requests per 5-minute window, per web server) and lengthens the penalty for clients that keep sending after a 429.
So we keep far fewer requests in flight per user, and once Dataverse says "retry after N seconds" we send nothing
for that user until then. The concurrency cap is per process: with W gunicorn workers a user has at most W × cap in
flight. The Retry-After windows are per process too, unless a shared `ThrottleWindows` (Redis) is given: then a
window opened by one instance holds on every instance.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/api-limits
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Protocol

from addin_api.errors import Throttled


class ThrottleWindows(Protocol):
    """Retry-After windows shared between instances."""

    def remaining(self, user_key: Hashable) -> float:
        """Seconds left in the user's window (0.0 when none)."""
        ...

    def block(self, user_key: Hashable, seconds: float) -> None:
        """Open or lengthen the user's window."""
        ...


class UserGate:
    """Per-user concurrency cap and throttle memory, shared by all clients of one app (thread-safe)."""

    def __init__(
        self,
        max_concurrent: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        shared: ThrottleWindows | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.max_concurrent = max_concurrent
        self._shared = shared
        self._clock = clock
        self._changed = threading.Condition()
        self._in_flight: dict[Hashable, int] = {}
        self._blocked_until: dict[Hashable, float] = {}

    @contextmanager
    def slot(self, user_key: Hashable, timeout: float) -> Iterator[None]:
        """Hold one of the user's slots for the block; wait up to `timeout` seconds for one, else raise Throttled."""
        deadline = self._clock() + timeout
        with self._changed:
            while self._in_flight.get(user_key, 0) >= self.max_concurrent:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    # The user's own earlier requests are still running: ask the client to come back shortly.
                    raise Throttled(retry_after=1)
                self._changed.wait(remaining)
            self._in_flight[user_key] = self._in_flight.get(user_key, 0) + 1
        try:
            yield
        finally:
            with self._changed:
                left = self._in_flight[user_key] - 1
                if left:
                    self._in_flight[user_key] = left
                else:
                    del self._in_flight[user_key]
                self._changed.notify_all()

    def in_flight(self, user_key: Hashable) -> int:
        """Return how many of the user's requests hold a slot now."""
        with self._changed:
            return self._in_flight.get(user_key, 0)

    def blocked_for(self, user_key: Hashable) -> float:
        """Return the seconds left in the user's Retry-After window (0.0 when not blocked)."""
        with self._changed:
            left = 0.0
            until = self._blocked_until.get(user_key)
            if until is not None:
                left = until - self._clock()
                if left <= 0:
                    del self._blocked_until[user_key]
                    left = 0.0
        if left <= 0 and self._shared is not None:
            # Another instance may have been told to back off for this user.
            left = self._shared.remaining(user_key)
        return left

    def block(self, user_key: Hashable, seconds: float) -> None:
        """Send nothing for the user for `seconds` (a longer window already recorded wins)."""
        now = self._clock()
        with self._changed:
            # Forget expired windows here so the map stays as small as the set of currently throttled users.
            for key in [k for k, until in self._blocked_until.items() if until <= now]:
                del self._blocked_until[key]
            until = now + max(seconds, 0.0)
            self._blocked_until[user_key] = max(until, self._blocked_until.get(user_key, until))
        if self._shared is not None:
            self._shared.block(user_key, seconds)

    def check(self, user_key: Hashable) -> None:
        """Raise Throttled with the remaining seconds (rounded up) if the user is inside a Retry-After window."""
        left = self.blocked_for(user_key)
        if left > 0:
            raise Throttled(retry_after=max(1, math.ceil(left)))
