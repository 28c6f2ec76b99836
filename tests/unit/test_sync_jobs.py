"""The sync worker's jobs on the in-process broker: coalescing per mailbox, the per-mailbox lease, retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dramatiq
import pytest
from dramatiq.broker import MessageProxy

from addin_api.sync.jobs import BUSY_DELAY_MS, JOB_OPTIONS, QUEUE, Jobs, MailboxJob, PassIncomplete, open_jobs

ENVIRONMENT = "https://contoso.crm.example"
TENANT = "2f5c0d4e-0000-4000-8000-0000000000aa"
ALICE = MailboxJob(TENANT, ENVIRONMENT, "5e7a0001-0000-4000-8000-000000000001", "alice@contoso.example")
BOB = MailboxJob(TENANT, ENVIRONMENT, "5e7a0002-0000-4000-8000-000000000002", "bob@contoso.example")
# How long a test waits for something that should happen within a second or two.
PATIENCE_S = 10.0


class Recorder:
    """A `jobs.handler` that records each job it ran; `behaviour` may block or raise."""

    def __init__(self, behaviour: Callable[[MailboxJob, int], None] | None = None) -> None:
        self.calls: list[MailboxJob] = []
        self._behaviour = behaviour
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)

    def __call__(self, job: MailboxJob) -> None:
        with self._lock:
            self.calls.append(job)
            count = len(self.calls)
            self.changed.notify_all()
        if self._behaviour is not None:
            self._behaviour(job, count)

    def wait_for(self, count: int, timeout: float = PATIENCE_S) -> bool:
        """Whether at least `count` calls arrived within `timeout` seconds."""
        with self._lock:
            return self.changed.wait_for(lambda: len(self.calls) >= count, timeout)


class Processed(dramatiq.Middleware):
    """Counts the messages a worker finished processing (the broker's own middleware hook)."""

    def __init__(self) -> None:
        self.count = 0

    def after_process_message(
        self, broker: dramatiq.Broker, message: MessageProxy, *, result: object = None, exception: object = None
    ) -> None:
        """One more message processed."""
        self.count += 1


@contextmanager
def running(jobs: Jobs, threads: int = 1) -> Iterator[dramatiq.Worker]:
    """A worker on the jobs' queue, stopped on the way out."""
    worker = jobs.worker(threads)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def test_a_burst_of_sends_for_one_mailbox_runs_the_handler_once() -> None:
    """Five notifications for one mailbox before any worker ran: one send goes out, the handler runs once."""
    jobs = open_jobs(None)
    recorder = Recorder()
    jobs.handler = recorder

    sent = [jobs.send(ALICE) for _ in range(5)]
    with running(jobs):
        jobs.broker.join(QUEUE, timeout=int(PATIENCE_S * 1000))

    assert [True, False, False, False, False] == sent
    assert [ALICE] == recorder.calls


def test_a_send_after_the_job_started_runs_the_handler_again() -> None:
    """The mark is cleared when a job starts: a change seen during its pass sends another job, which runs after."""
    started = threading.Event()
    release = threading.Event()

    def first_blocks(job: MailboxJob, count: int) -> None:
        if count == 1:
            started.set()
            assert release.wait(PATIENCE_S)

    jobs = open_jobs(None)
    recorder = Recorder(first_blocks)
    jobs.handler = recorder
    with running(jobs, threads=2):
        assert jobs.send(ALICE)
        assert started.wait(PATIENCE_S)
        again = jobs.send(ALICE)
        release.set()
        jobs.broker.join(QUEUE, timeout=int(PATIENCE_S * 1000))

    assert again
    assert [ALICE, ALICE] == recorder.calls


def test_two_mailboxes_run_the_handler_once_each() -> None:
    """Coalescing is per mailbox: Alice's and Bob's notifications each run one job."""
    jobs = open_jobs(None)
    recorder = Recorder()
    jobs.handler = recorder

    sent = [jobs.send(ALICE), jobs.send(BOB), jobs.send(ALICE), jobs.send(BOB)]
    with running(jobs):
        jobs.broker.join(QUEUE, timeout=int(PATIENCE_S * 1000))

    assert [True, True, False, False] == sent
    assert sorted([ALICE.owner_oid, BOB.owner_oid]) == sorted(job.owner_oid for job in recorder.calls)


def test_a_resubscribe_is_sent_even_when_a_job_is_queued() -> None:
    """A lifecycle event must renew the subscriptions: it is sent although a sync of that mailbox is queued."""
    jobs = open_jobs(None)
    recorder = Recorder()
    jobs.handler = recorder
    resubscribe = MailboxJob(ALICE.tenant_id, ALICE.environment_url, ALICE.owner_oid, ALICE.upn, resubscribe=True)

    sent = [jobs.send(ALICE), jobs.send(resubscribe), jobs.send(resubscribe)]
    with running(jobs):
        jobs.broker.join(QUEUE, timeout=int(PATIENCE_S * 1000))

    assert [True, True, True] == sent
    assert [False, True, True] == sorted(job.resubscribe for job in recorder.calls)


def test_a_job_whose_mailbox_is_leased_waits_and_runs_once_the_lease_is_released() -> None:
    """Another worker holds the mailbox: the job does not run the handler, is sent again later, and runs after."""
    jobs = open_jobs(None)
    processed = Processed()
    jobs.broker.add_middleware(processed)
    recorder = Recorder()
    jobs.handler = recorder
    with running(jobs):
        with jobs._leases.hold(ALICE.key) as taken:
            assert taken
            assert jobs.send(ALICE)
            time.sleep(BUSY_DELAY_MS / 1000 * 1.5)
            assert processed.count >= 1, "the job ran while the lease was held"
            assert [] == recorder.calls
            assert not jobs.send(ALICE), "a busy job keeps its mailbox marked queued"
        released = time.monotonic()
        assert recorder.wait_for(1)
        waited = time.monotonic() - released
        jobs.broker.join(QUEUE, timeout=int(PATIENCE_S * 1000))

    assert [ALICE] == recorder.calls
    assert waited < BUSY_DELAY_MS / 1000 * 3


def test_a_pass_left_incomplete_is_retried() -> None:
    """PassIncomplete from the handler: Dramatiq retries the job with backoff, and the retry runs the handler."""

    def first_fails(job: MailboxJob, count: int) -> None:
        if count == 1:
            raise PassIncomplete("1 item left to retry")

    jobs = open_jobs(None)
    recorder = Recorder(first_fails)
    jobs.handler = recorder
    with running(jobs):
        assert jobs.send(ALICE)
        jobs.broker.join(QUEUE, timeout=int(PATIENCE_S * 1000))

    assert [ALICE, ALICE] == recorder.calls
    assert 0 < int(JOB_OPTIONS["min_backoff"]) <= 1_000, "the first retry comes within a second or so"


def test_a_job_in_a_process_without_a_handler_is_not_lost_silently() -> None:
    """A process that runs no sync jobs (no handler) fails the job rather than dropping it as done."""
    jobs = open_jobs(None)

    with pytest.raises(RuntimeError, match="no sync jobs"):
        jobs.actor.fn(*Jobs._args(ALICE))


def test_the_mailbox_key_ignores_case_and_separates_environments() -> None:
    """One mailbox whatever the casing of its URL and object id; the same owner in another environment differs."""
    shouted = MailboxJob(TENANT, ENVIRONMENT.upper(), ALICE.owner_oid.upper())
    elsewhere = MailboxJob(TENANT, "https://fabrikam.crm.example", ALICE.owner_oid)

    assert ALICE.key == shouted.key
    assert ALICE.key != elsewhere.key
    assert ALICE.key != BOB.key
