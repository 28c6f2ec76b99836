"""The sync worker's jobs on Dramatiq: "sync this mailbox", sent by the webhooks and the catch-up timer.

- **Broker**: Redis when `ADDIN_API_REDIS_URL` is set, so any number of workers on any number of hosts share one
  queue; Dramatiq's Redis broker acknowledges a message only once its job returned, and requeues the messages of a
  worker that stopped sending heartbeats — a killed worker's jobs run elsewhere. Without Redis (`addin-api dev`) a
  stub broker and an in-process worker run the same actor. https://dramatiq.io/reference.html#brokers
- **Coalescing**: a burst of notifications for one mailbox sends one job; a mailbox is marked queued (a short-lived
  key) when a job is sent, and the mark is cleared when the job starts, so a change after that start sends another.
- **Lease**: one per mailbox (a redis-py lock with a short TTL that the holder renews while its job runs, so a
  killed holder's lease lapses within seconds): two workers never sync one mailbox at once. A job that finds the
  lease held leaves the queued mark in place and is sent again a quarter of a second later, so the change it
  announced is seen by a pass that starts after it.
- **Retries**: a pass that left items failing raises, and Dramatiq retries the job with exponential backoff.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import Retry
from redis.exceptions import LockError

__all__ = ["ACTOR", "QUEUE", "Jobs", "MailboxJob", "PassIncomplete", "open_jobs"]

log = logging.getLogger(__name__)

QUEUE = "addin-api-mailbox-sync"
ACTOR = "sync_mailbox"
NAMESPACE = "addin-api-jobs"
QUEUED_SECONDS = 30
# The lease's TTL; its holder renews it every third of that while the job runs.
LEASE_SECONDS = 10.0
# A job that found its mailbox's lease held is sent again this much later.
BUSY_DELAY_MS = 250
# A killed worker's jobs return to the queue once its heartbeat is this old; the broker's maintenance (which does
# that) runs on this many of a million broker commands — an idle consumer fetches about five times a second.
HEARTBEAT_TIMEOUT_MS = 15_000
MAINTENANCE_CHANCE = 50_000
JOB_OPTIONS = {"max_retries": 12, "min_backoff": 500, "max_backoff": 60_000, "time_limit": 300_000}


@dataclass(frozen=True)
class MailboxJob:
    """Sync one mailbox: the tenant, the environment, the owner; `resubscribe` renews its subscriptions first."""

    tenant_id: str
    environment_url: str
    owner_oid: str
    upn: str = ""
    resubscribe: bool = False
    # Which feeds changed: "inbox", "sentitems", "mail" (both), "calendar", or "all".
    feeds: str = "all"

    @property
    def key(self) -> str:
        """The mailbox's key for its lease."""
        return hashlib.sha256(f"{self.environment_url.lower()} {self.owner_oid.lower()}".encode()).hexdigest()

    @property
    def mark(self) -> str:
        """The key of its queued mark: a job per mailbox and feeds is queued at most once."""
        return f"{self.key}:{self.feeds}"


class PassIncomplete(Retry):
    """A pass left items to retry: Dramatiq retries the job with backoff, and logs it as expected, not as an error."""


class _Marks(Protocol):
    def mark(self, key: str) -> bool: ...

    def clear(self, key: str) -> None: ...


class _MemoryMarks:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def mark(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._until.get(key, 0.0) > now:
                return False
            self._until[key] = now + QUEUED_SECONDS
            return True

    def clear(self, key: str) -> None:
        with self._lock:
            self._until.pop(key, None)


class _RedisMarks:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def mark(self, key: str) -> bool:
        return bool(self._client.set(f"{NAMESPACE}:queued:{key}", b"1", nx=True, ex=QUEUED_SECONDS))

    def clear(self, key: str) -> None:
        self._client.delete(f"{NAMESPACE}:queued:{key}")


class _Leases(Protocol):
    def hold(self, key: str) -> Any:
        """A context manager yielding whether the lease on `key` was taken (held until the block ends)."""
        ...


class _MemoryLeases:
    def __init__(self) -> None:
        self._held: set[str] = set()
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, key: str) -> Iterator[bool]:
        with self._lock:
            taken = key not in self._held
            self._held.add(key)
        try:
            yield taken
        finally:
            if taken:
                with self._lock:
                    self._held.discard(key)


class _RedisLeases:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    @contextmanager
    def hold(self, key: str) -> Iterator[bool]:
        lease = self._client.lock(f"{NAMESPACE}:lease:{key}", timeout=LEASE_SECONDS, blocking=False)
        if not lease.acquire():
            yield False
            return
        done = threading.Event()
        renewer = threading.Thread(target=_renew, args=(lease, done), name="lease-renewer", daemon=True)
        renewer.start()
        try:
            yield True
        finally:
            done.set()
            renewer.join()
            try:
                lease.release()
            except LockError:  # lapsed (Redis unreachable for longer than the TTL): another worker may hold it
                log.warning("sync_lease_lost")


def _renew(lease: Any, done: threading.Event) -> None:
    while not done.wait(LEASE_SECONDS / 3):
        try:
            lease.extend(LEASE_SECONDS, replace_ttl=True)
        except (LockError, redis.RedisError):
            log.warning("sync_lease_not_renewed")
            return


class Jobs:
    """The broker, the mailbox actor and its lease; `handler` runs a job (only workers set one)."""

    def __init__(self, broker: dramatiq.Broker, marks: _Marks, leases: _Leases) -> None:
        self.broker = broker
        self._marks = marks
        self._leases = leases
        self.handler: Callable[[MailboxJob], None] | None = None
        self.actor: dramatiq.Actor[..., None] = dramatiq.Actor(
            self._run, broker=broker, actor_name=ACTOR, queue_name=QUEUE, priority=0, options=dict(JOB_OPTIONS)
        )

    def send(self, job: MailboxJob) -> bool:
        """Send a job unless one for that mailbox is already queued (a resubscribe is always sent)."""
        if not job.resubscribe and not self._marks.mark(job.mark):
            return False
        self.actor.send(*self._args(job))
        return True

    @staticmethod
    def _args(job: MailboxJob) -> tuple[str, str, str, str, bool, str]:
        return job.tenant_id, job.environment_url, job.owner_oid, job.upn, job.resubscribe, job.feeds

    def _run(
        self, tenant_id: str, environment_url: str, owner_oid: str, upn: str, resubscribe: bool, feeds: str = "all"
    ) -> None:
        job = MailboxJob(tenant_id, environment_url, owner_oid, upn, resubscribe, feeds)
        if self.handler is None:
            raise RuntimeError("this process runs no sync jobs")
        with self._leases.hold(job.key) as taken:
            if not taken:
                # Another worker syncs this mailbox now; it may have read past the change this job announces.
                self._marks.mark(job.mark)
                self.actor.send_with_options(args=self._args(job), delay=BUSY_DELAY_MS)
                return
            self._marks.clear(job.mark)
            self.handler(job)

    def worker(self, threads: int) -> dramatiq.Worker:
        """A Dramatiq worker consuming the mailbox queue in this process."""
        return dramatiq.Worker(self.broker, queues={QUEUE}, worker_threads=threads, worker_timeout=200)


def open_jobs(redis_url: str | None) -> Jobs:
    """The jobs on Redis when a URL is given, else in this process only."""
    if redis_url is None:
        return Jobs(StubBroker(), _MemoryMarks(), _MemoryLeases())
    client: Any = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        client=client,
        namespace=NAMESPACE,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE,
    )
    return Jobs(broker, _RedisMarks(client), _RedisLeases(client))
