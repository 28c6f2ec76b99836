"""How much the Graph client asks of one mailbox at once, and when it sends a refused request again.

Outlook allows an app 4 concurrent requests per mailbox and answers more with 429
(https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits), so each mailbox gets 4 slots in
this process (several worker processes need a shared limiter on top, such as the job engine's). 429, 503 and 504 are
sent again after `Retry-After` (or a short backoff when Graph gives none), a bounded number of times and within a
bounded total wait; Graph's own guidance is to honour Retry-After
(https://learn.microsoft.com/en-us/graph/throttling#best-practices-to-handle-throttling).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from addin_api.dataverse.retry import parse_retry_after

# Outlook's concurrency limit per app and mailbox.
MAILBOX_CONCURRENCY = 4
RETRY_STATUS = frozenset({429, 503, 504})
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 8.0


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_attempts` sends of one request, waiting at most `max_total_wait` seconds between them in all."""

    max_attempts: int = 4
    max_total_wait: float = 60.0

    def delay(self, attempt: int, status: int, retry_after: str | None, waited: float) -> float | None:
        """Seconds to wait before sending again after `attempt` (1-based) was answered `status`; None: give up.

        `retry_after` is the answer's header and `waited` what this request has already waited.
        """
        if status not in RETRY_STATUS or attempt >= self.max_attempts:
            return None
        seconds = parse_retry_after(retry_after)
        if seconds is None:
            seconds = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        if waited + seconds > self.max_total_wait:
            return None
        return seconds


class MailboxSlots:
    """At most `limit` requests in flight per mailbox in this process; a request past it waits for a slot."""

    def __init__(self, limit: int = MAILBOX_CONCURRENCY) -> None:
        self.limit = limit
        self._changed = threading.Condition()
        self._in_flight: dict[str, int] = {}

    @contextmanager
    def hold(self, mailbox: str) -> Iterator[None]:
        """Hold one of the mailbox's slots for the block.

        Mailboxes are compared ignoring case; address each one the same way (its object id) so that it has one key.
        """
        key = mailbox.casefold()
        with self._changed:
            self._changed.wait_for(lambda: self._in_flight.get(key, 0) < self.limit)
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            yield
        finally:
            with self._changed:
                left = self._in_flight[key] - 1
                if left:
                    self._in_flight[key] = left
                else:
                    del self._in_flight[key]
                self._changed.notify_all()

    def in_flight(self, mailbox: str) -> int:
        """Requests to the mailbox in flight now."""
        with self._changed:
            return self._in_flight.get(mailbox.casefold(), 0)
