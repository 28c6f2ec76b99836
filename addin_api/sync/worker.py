"""The long-running sync worker (`addin-api sync`): job threads on Dramatiq and the catch-up timer.

Every catch-up interval, the worker lists the mailboxes that synchronize incoming email with each configured
environment (read as the app's application user) and sends one "sync this mailbox" job for each — coalesced with
the jobs the webhooks sent. A job, under the mailbox's lease: keeps the mailbox's subscriptions alive (created,
renewed, or created again once Graph removed them), then runs the tracking passes as the owner. Several workers on
several hosts run the same timer; the coalescing and the lease make that harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import requests

from addin_api.dataverse.port import Dataverse
from addin_api.errors import ApiError, NotFound
from addin_api.model import MeInfo, TrackPolicy
from addin_api.settings import Settings
from addin_api.sync import admin, outgoing
from addin_api.sync.category_pass import Owner, PassResult, run_pass, synchronized_owners
from addin_api.sync.folder_rules import kept_rule_folders
from addin_api.sync.graph import GraphClient
from addin_api.sync.graph_errors import GraphError
from addin_api.sync.jobs import Jobs, MailboxJob, PassIncomplete
from addin_api.sync.store import OPTIONS_CHANGED, SyncStore, mailbox_scope
from addin_api.sync.subscriptions import Endpoints, ensure_subscriptions

__all__ = ["SyncRuntime", "run_worker"]

log = logging.getLogger(__name__)

# The jobs of a scheduled Test & Enable and of sending (beside the feeds "mail", "calendar" and "all").
TEST, SEND = "test", "send"
# How often the worker looks for emails Dataverse queued to send.
SEND_POLL_SECONDS = 2.0
# How long an owner's roles and options, as a pass read them, are trusted by the next passes.
CALLER_SECONDS = 300.0


class AppAccess(Protocol):
    """The app acting as itself (`wiring.AppAccess`, built by the command that runs the worker)."""

    settings: Settings
    session: requests.Session

    def dataverse(self, environment_url: str, *, acting_as: str | None = None) -> Dataverse:
        """A Dataverse client as the application user, or impersonating `acting_as`."""
        ...


@dataclass
class SyncRuntime:
    """What a worker process's jobs share: the app's access, the store, the jobs and the webhook endpoints."""

    access: AppAccess
    store: SyncStore
    jobs: Jobs
    policy: TrackPolicy
    endpoints: Endpoints | None
    _graphs: dict[str, GraphClient] = field(default_factory=dict)
    # Each owner as Dataverse knows them and their options, with when a pass read them (wall-clock seconds), kept a
    # while (a pass then needs no `WhoAmI`).
    _callers: dict[str, tuple[float, MeInfo, bool | None]] = field(default_factory=dict)
    _people: dict[str, tuple[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, settings: Settings, access: AppAccess, store: SyncStore, jobs: Jobs) -> SyncRuntime:
        """The runtime of `settings`; without a public URL no subscription is made (catch-up alone tracks)."""
        key = settings.activity_id_key()
        endpoints = Endpoints.for_service(settings.public_url, key) if settings.public_url else None
        runtime = cls(access, store, jobs, TrackPolicy(settings.max_attachment_bytes, key), endpoints)
        jobs.handler = runtime.handle
        return runtime

    def graph(self, tenant_id: str) -> GraphClient:
        """The tenant's Graph client (one per process: it holds the per-mailbox request slots)."""
        with self._lock:
            found = self._graphs.get(tenant_id)
            if found is None:
                found = self._graphs[tenant_id] = GraphClient.for_app(
                    self.access.settings, self.access.session, tenant_id
                )
            return found

    def handle(self, job: MailboxJob) -> None:
        """One job: the mailbox's subscriptions, then its passes; PassIncomplete when items are left to retry."""
        graph = self.graph(job.tenant_id)
        if job.feeds == TEST:
            self.test_and_enable(job, graph)
            return
        if job.feeds == SEND:
            self.send(job, graph)
            return
        scope = mailbox_scope(job.environment_url, job.owner_oid)
        subscribed = kept_rule_folders(self.store, scope)
        self._subscribe(graph, scope, job, subscribed, forget=job.resubscribe)
        owner_dv = self.access.dataverse(job.environment_url, acting_as=job.owner_oid)
        owner = Owner(job.upn, job.owner_oid)
        known, auto_create = self._caller(scope)
        results: list[PassResult] = [
            run_pass(
                graph,
                owner_dv,
                owner,
                self.store,
                environment_url=job.environment_url,
                policy=self.policy,
                caller=known,
                auto_create=auto_create,
                feeds=job.feeds,
                folders_seconds=self.access.settings.sync_folders_seconds,
            ),
        ]
        first = results[0]
        now_ruled = kept_rule_folders(self.store, scope)
        if now_ruled is not None and now_ruled != subscribed:
            self._subscribe(graph, scope, job, now_ruled)  # a rule was added or removed: watch its folder now
        if first.caller is not None and (first.caller is not known or first.auto_create != auto_create):
            with self._lock:
                self._callers[scope] = (time.time(), first.caller, first.auto_create)
        for result in results:
            log.info(
                "sync_pass",
                extra={
                    "tracked": result.tracked,
                    "already": result.already_tracked,
                    "failed": len(result.failures),
                    "untracked": result.untracked,
                    "undeliverable": result.undeliverable,
                    "auto": result.auto_tracked,
                    "graph": result.graph_requests,
                    "dataverse": result.dataverse_round_trips,
                    "problem": result.problem,
                },
            )
        if any(r.failures or r.transient for r in results):
            # Dramatiq sends the job again with backoff; a pending item's attempts are counted in the store.
            raise PassIncomplete(f"{sum(len(r.failures) for r in results)} items left to retry")

    def _subscribe(
        self, graph: GraphClient, scope: str, job: MailboxJob, rule_folders: list[str] | None, forget: bool = False
    ) -> None:
        """Create or renew the mailbox's subscriptions (those of its rule folders too)."""
        if self.endpoints is None:
            return
        try:
            ensure_subscriptions(
                graph, self.store, scope, job.owner_oid, self.endpoints, forget=forget, rule_folders=rule_folders
            )
        except GraphError as exc:
            # The passes do not need the subscriptions: catch-up still tracks; the next job tries again.
            log.warning("subscription_failed", extra={"code": exc.code})

    def test_and_enable(self, job: MailboxJob, graph: GraphClient) -> None:
        """A Test & Enable an administrator scheduled: probe the mailbox and record the statuses."""
        app = self.access.dataverse(job.environment_url)
        try:
            person = admin.find_user(app, job.upn)
        except NotFound:
            return  # the user left since the round listed them
        result = admin.run_test_and_enable(app, graph, person)
        log.info("sync_test_and_enable", extra={"succeeded": result.succeeded})

    def send(self, job: MailboxJob, graph: GraphClient) -> None:
        """Send the owner's Pending Send emails, when their mailbox sends through server-side sync here."""
        app = self.access.dataverse(job.environment_url)
        found = outgoing.sender(app, job.upn)
        if found is None:
            log.info("sync_send_not_enabled", extra={"oid": job.owner_oid})
            return  # Dynamics leaves them Pending Send until the mailbox is enabled
        owner, systemuser_id = found
        scope = mailbox_scope(job.environment_url, job.owner_oid)
        result = outgoing.send_pending(app, graph, owner, systemuser_id, self.store, scope)
        log.info("sync_sends", extra={"sent": result.sent, "failed": result.failed, "retrying": len(result.retrying)})
        if result.transient or result.retrying:
            raise PassIncomplete(f"{len(result.retrying)} emails left to send")

    def poll_sends(self) -> int:
        """Send a job for each owner with emails waiting to be sent; the number sent."""
        sent = 0
        for tenant_id, environment_url in self.access.settings.dataverse_urls.items():
            app = self.access.dataverse(environment_url)
            for systemuser_id in outgoing.pending_owners(app):
                person = self._person(app, environment_url, systemuser_id)
                if person is not None:
                    job = MailboxJob(tenant_id, environment_url.rstrip("/"), person[0], person[1], feeds=SEND)
                    sent += self.jobs.send(job)
        return sent

    def _person(self, app: Dataverse, environment_url: str, systemuser_id: str) -> tuple[str, str] | None:
        """(object id, sign-in name) of a systemuser, read once per process."""
        key = f"{environment_url} {systemuser_id}"
        with self._lock:
            found = self._people.get(key)
        if found is None:
            row = app.get(f"systemusers({systemuser_id})", {"$select": "azureactivedirectoryobjectid,domainname"})
            oid, upn = row.get("azureactivedirectoryobjectid"), row.get("domainname")
            if not isinstance(oid, str) or not oid or not isinstance(upn, str):
                return None
            found = (oid, upn)
            with self._lock:
                self._people[key] = found
        return found

    def _caller(self, scope: str) -> tuple[MeInfo | None, bool | None]:
        """The owner's roles and options as kept, unless they expired or the owner changed their options since."""
        with self._lock:
            found = self._callers.get(scope)
        if found is None or time.time() - found[0] >= CALLER_SECONDS:
            return None, None
        changed = self.store.get(scope, OPTIONS_CHANGED)
        if changed is not None and _seconds(changed) >= found[0]:
            return None, None
        return found[1], found[2]

    def catch_up(self) -> int:
        """Send a job for every synchronized mailbox of every environment; the number sent."""
        sent = 0
        for tenant_id, environment_url in self.access.settings.dataverse_urls.items():
            try:
                owners, _others = synchronized_owners(self.access.dataverse(environment_url))
            except ApiError as exc:
                log.warning("catch_up_failed", extra={"code": exc.code})
                continue
            for owner in owners:
                job = MailboxJob(tenant_id, environment_url.rstrip("/"), owner.object_id, owner.upn)
                sent += self.jobs.send(job)
            sent += self._scheduled_tests(tenant_id, environment_url.rstrip("/"))
        return sent

    def _scheduled_tests(self, tenant_id: str, environment_url: str) -> int:
        """Send a Test & Enable job for each mailbox an administrator scheduled one for."""
        try:
            people = admin.scheduled_tests(self.access.dataverse(environment_url))
        except ApiError as exc:
            log.warning("scheduled_tests_failed", extra={"code": exc.code})
            return 0
        jobs = (MailboxJob(tenant_id, environment_url, p.object_id, p.upn, feeds=TEST) for p in people)
        return sum(self.jobs.send(job) for job in jobs)


def run_worker(runtime: SyncRuntime, stop: threading.Event, *, threads: int, catch_up_seconds: float) -> None:
    """Consume jobs on `threads` threads, run the catch-up timer and look for emails to send, until `stop` is set."""
    worker = runtime.jobs.worker(threads)
    worker.start()
    log.info("sync_worker_started", extra={"threads": threads})
    next_round = 0.0
    try:
        while not stop.is_set():
            if time.monotonic() >= next_round:
                _safely(runtime.catch_up, "catch_up_failed")
                next_round = time.monotonic() + catch_up_seconds
            _safely(runtime.poll_sends, "send_poll_failed")
            stop.wait(max(0.0, min(SEND_POLL_SECONDS, next_round - time.monotonic())))
    finally:
        worker.stop()
        log.info("sync_worker_stopped")


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _safely(step: Callable[[], int], event: str) -> None:
    try:
        step()
    except Exception as exc:  # a broken round must not end the worker: the next one tries again
        log.warning(event, extra={"error": type(exc).__name__})
