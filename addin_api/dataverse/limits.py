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

import hashlib
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from addin_api.errors import Throttled


class ThrottleWindows(Protocol):
    """Per-user Retry-After windows shared between instances (Redis, or SQLite on one host).

    The port of `UserGate` (Dataverse's windows) and of `OboProvider` (the token endpoint's).
    """

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
        # After a Retry-After window, one request goes first (the probe); the user's other requests wait for its
        # answer instead of all resending at once and earning a longer penalty.
        self._needs_probe: set[Hashable] = set()
        self._probing: set[Hashable] = set()

    @contextmanager
    def slot(self, user_key: Hashable, timeout: float) -> Iterator[None]:
        """Hold one of the user's slots for the block; wait up to `timeout` seconds for one, else raise Throttled."""
        deadline = self._clock() + timeout
        with self._changed:
            while self._in_flight.get(user_key, 0) >= self.max_concurrent or user_key in self._probing:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    # The user's own earlier requests are still running: ask the client to come back shortly.
                    raise Throttled(retry_after=1)
                self._changed.wait(remaining)
            probe = user_key in self._needs_probe
            if probe:
                self._probing.add(user_key)
                self._needs_probe.discard(user_key)
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
                if probe:
                    # A 429 answered to the probe has already re-armed `_needs_probe` through `block`; a probe that
                    # found the window still open and sent nothing hands the role to the next request.
                    self._probing.discard(user_key)
                    if self._blocked_until.get(user_key, 0.0) > self._clock():
                        self._needs_probe.add(user_key)
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
            self._needs_probe.add(user_key)
        if self._shared is not None:
            self._shared.block(user_key, seconds)

    def probing(self, user_key: Hashable) -> bool:
        """Tell whether a probe request for the user is in flight after a Retry-After window."""
        with self._changed:
            return user_key in self._probing

    def check(self, user_key: Hashable) -> None:
        """Raise Throttled with the remaining seconds (rounded up) if the user is inside a Retry-After window."""
        left = self.blocked_for(user_key)
        if left > 0:
            raise Throttled(retry_after=max(1, math.ceil(left)))


class SqliteThrottleWindows:
    """Retry-After windows shared by the processes of one host (gunicorn workers) through a SQLite file.

    Without Redis, a window one worker learned would otherwise be unknown to the others and lost when a worker is
    recycled. Times are wall-clock so every process reads them alike. A storage error never fails a request: the
    process-local window still holds.

    Every Dataverse call asks for the caller's window, so reads must be cheap: each process keeps the open windows in
    memory and reloads them only when a `.changes` file beside the database has grown (every `block` appends a byte
    after its write commits) — one `stat` per question instead of a query.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._changes = path.with_name(path.name + ".changes")
        self._local = threading.local()
        self._seen: tuple[int, int, int] | None = None  # the `.changes` file (inode, size, mtime) when last loaded
        self._windows: dict[str, float] = {}

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened (and the table made) on first use."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._path, timeout=0.5, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            # No fsync per window: the other workers must see it within microseconds; a power cut may lose it.
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("CREATE TABLE IF NOT EXISTS windows (user TEXT PRIMARY KEY, until REAL NOT NULL)")
            self._local.connection = connection
        return connection

    @staticmethod
    def _key(user_key: Hashable) -> str:
        return hashlib.sha256(repr(user_key).encode()).hexdigest()

    def _stamp(self) -> tuple[int, int, int]:
        try:
            found = os.stat(self._changes)
        except OSError:
            return (0, 0, 0)  # no window opened on this host yet (or unreadable: then the database decides)
        return (found.st_ino, found.st_size, found.st_mtime_ns)

    def remaining(self, user_key: Hashable) -> float:
        """Seconds left in the user's window (0.0 when none or unreadable)."""
        stamp = self._stamp()
        if stamp != self._seen:
            try:
                rows = (
                    self._connection().execute("SELECT user, until FROM windows WHERE until > ?", (time.time(),))
                ).fetchall()
            except sqlite3.Error:
                return 0.0
            # Loaded after reading the stamp: a window written meanwhile is either in `rows` or reloaded next time.
            self._windows = {str(user): float(until) for user, until in rows}
            self._seen = stamp
        until = self._windows.get(self._key(user_key))
        return max(until - time.time(), 0.0) if until is not None else 0.0

    def block(self, user_key: Hashable, seconds: float) -> None:
        """Open or lengthen the user's window (a longer one already recorded wins)."""
        try:
            self._connection().execute(
                "INSERT INTO windows (user, until) VALUES (?, ?) "
                "ON CONFLICT (user) DO UPDATE SET until = max(until, excluded.until)",
                (self._key(user_key), time.time() + max(seconds, 0.0)),
            )
        except sqlite3.Error:
            return
        try:
            # Appending (not touching) changes the size even when two windows open within one clock tick.
            descriptor = os.open(self._changes, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(descriptor, b".")
            finally:
                os.close(descriptor)
        except OSError:
            pass
