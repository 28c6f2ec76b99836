"""The sync worker's jobs on Dramatiq: "sync this mailbox", sent by the webhooks and the catch-up timer.

- **Broker**: Redis when `ADDIN_API_REDIS_URL` is set, so any number of workers on any number of hosts share one
  queue; Dramatiq's Redis broker acknowledges a message only once its job returned, and requeues the messages of a
  worker that stopped sending heartbeats — a killed worker's jobs run elsewhere. Without Redis (`addin-api dev`) a
  stub broker and an in-process worker run the same actor. https://dramatiq.io/reference.html#brokers
- **Coalescing**: a burst of notifications for one mailbox sends one job; a mailbox is marked queued (a short-lived
  key) when a job is sent, and the mark is cleared when the job starts, so a change after that start sends another.
- **Lease**: one per mailbox (Dramatiq's concurrent rate limiter, limit 1, with a TTL so a dead holder's lease
  lapses): two workers never sync one mailbox at once; a job that finds the lease held is retried with backoff.
- **Retries**: a pass that left items failing raises, and Dramatiq retries the job with exponential backoff.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backend import RateLimiterBackend
from dramatiq.rate_limits.backends import RedisBackend, StubBackend

__all__ = ["ACTOR", "QUEUE", "Jobs", "MailboxJob", "PassIncomplete", "open_jobs"]

log = logging.getLogger(__name__)

QUEUE = "addin-api-mailbox-sync"
ACTOR = "sync_mailbox"
NAMESPACE = "addin-api-jobs"
QUEUED_SECONDS = 30
LEASE_MS = 60_000
# A killed worker's jobs return to the queue once its heartbeat is this old.
HEARTBEAT_TIMEOUT_MS = 15_000
JOB_OPTIONS = {"max_retries": 12, "min_backoff": 500, "max_backoff": 60_000, "time_limit": 300_000}


@dataclass(frozen=True)
class MailboxJob:
    """Sync one mailbox: the tenant, the environment, the owner; `resubscribe` renews its subscriptions first."""

    tenant_id: str
    environment_url: str
    owner_oid: str
    upn: str = ""
    resubscribe: bool = False

    @property
    def key(self) -> str:
        """The mailbox's key for its lease and its queued mark."""
        return hashlib.sha256(f"{self.environment_url.lower()} {self.owner_oid.lower()}".encode()).hexdigest()


class PassIncomplete(Exception):
    """A pass left items to retry (Dramatiq retries the job with backoff)."""


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


class Jobs:
    """The broker, the mailbox actor and its lease; `handler` runs a job (only workers set one)."""

    def __init__(self, broker: dramatiq.Broker, marks: _Marks, leases: RateLimiterBackend) -> None:
        self.broker = broker
        self._marks = marks
        self._leases = leases
        self.handler: Callable[[MailboxJob], None] | None = None
        self.actor: dramatiq.Actor[..., None] = dramatiq.Actor(
            self._run, broker=broker, actor_name=ACTOR, queue_name=QUEUE, priority=0, options=dict(JOB_OPTIONS)
        )

    def send(self, job: MailboxJob) -> bool:
        """Send a job unless one for that mailbox is already queued (a resubscribe is always sent)."""
        if not job.resubscribe and not self._marks.mark(job.key):
            return False
        self.actor.send(job.tenant_id, job.environment_url, job.owner_oid, job.upn, job.resubscribe)
        return True

    def _run(self, tenant_id: str, environment_url: str, owner_oid: str, upn: str, resubscribe: bool) -> None:
        job = MailboxJob(tenant_id, environment_url, owner_oid, upn, resubscribe)
        if self.handler is None:
            raise RuntimeError("this process runs no sync jobs")
        self._marks.clear(job.key)
        lease = ConcurrentRateLimiter(self._leases, f"mailbox:{job.key}", limit=1, ttl=LEASE_MS)  # type: ignore[no-untyped-call]
        with lease.acquire():
            self.handler(job)

    def worker(self, threads: int) -> dramatiq.Worker:
        """A Dramatiq worker consuming the mailbox queue in this process."""
        return dramatiq.Worker(self.broker, queues={QUEUE}, worker_threads=threads, worker_timeout=200)


def open_jobs(redis_url: str | None) -> Jobs:
    """The jobs on Redis when a URL is given, else in this process only."""
    if redis_url is None:
        return Jobs(StubBroker(), _MemoryMarks(), StubBackend())  # type: ignore[no-untyped-call]
    client: Any = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        client=client, namespace=NAMESPACE, heartbeat_timeout=HEARTBEAT_TIMEOUT_MS, maintenance_chance=20
    )
    return Jobs(broker, _RedisMarks(client), RedisBackend(client=client))
