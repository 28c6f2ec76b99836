"""`addin-api sync`: the sync worker (long-running, or one pass with `--once`), and the one `addin-api dev` embeds."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from addin_api.settings import Settings
    from addin_api.sync.category_pass import PassResult
    from addin_api.wiring import AppAccess

__all__ = ["EmbeddedWorker", "add_sync_parser", "cmd_sync", "describe_pass"]


def add_sync_parser(commands: Any, default_data_dir: str) -> None:
    """The `sync` command's arguments."""
    sync = commands.add_parser(
        "sync", help="run the sync worker: track what users mark in Outlook (--once: one pass, then exit)"
    )
    sync.add_argument("--once", action="store_true", help="run one pass over the mailboxes and exit")
    sync.add_argument("--user", help="with --once: only this user's mailbox (UPN; default: every synchronized one)")
    sync.add_argument("--environment", help="with --once: the Dataverse environment URL (default: the only one)")
    sync.add_argument(
        "--data-dir",
        help=f"where cursors and item states are kept without Redis (default: $ADDIN_API_SHARED_STATE_DIR, "
        f"else {default_data_dir})",
    )
    sync.set_defaults(func=cmd_sync, default_data_dir=default_data_dir)


def cmd_sync(args: argparse.Namespace) -> int:
    """The worker until SIGTERM or SIGINT, or with `--once` one pass; exit 0, 1 (failures, bad config) or 2."""
    from addin_api.settings import Settings, SettingsError
    from addin_api.wiring import build_app_access

    try:
        settings = Settings.from_env()
        settings.activity_id_key()
        access = build_app_access(settings)
    except SettingsError as exc:
        print(f"addin-api sync: the configuration is invalid: {'; '.join(exc.problems)}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"addin-api sync: no readable secret to key activity ids with ({exc})", file=sys.stderr)
        return 1
    data_dir = Path(args.data_dir or settings.shared_state_dir or args.default_data_dir)
    if args.once:
        return _once(settings, access, args, data_dir)
    if args.user or args.environment:
        print("addin-api sync: --user and --environment go with --once", file=sys.stderr)
        return 2
    return _run(settings, access, data_dir)


def _run(settings: Settings, access: AppAccess, data_dir: Path) -> int:
    from addin_api import logs
    from addin_api.settings import parse_log_level
    from addin_api.sync.jobs import open_jobs
    from addin_api.sync.store import open_store
    from addin_api.sync.worker import SyncRuntime, run_worker

    logs.configure(parse_log_level(os.environ)[0])
    store = open_store(settings.redis_url, data_dir)
    runtime = SyncRuntime.build(settings, access, store, open_jobs(settings.redis_url))
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    print(f"ready: sync worker ({'Redis' if settings.redis_url else 'this process only'})", flush=True)
    run_worker(runtime, stop, threads=settings.sync_threads, catch_up_seconds=settings.sync_catch_up_seconds)
    return 0


def _once(settings: Settings, access: AppAccess, args: argparse.Namespace, data_dir: Path) -> int:
    from addin_api.errors import ApiError
    from addin_api.model import TrackPolicy
    from addin_api.sync.category_pass import run_pass, synchronized_owners
    from addin_api.sync.graph import GraphClient
    from addin_api.sync.store import open_store

    logging.getLogger("addin_api").addHandler(logging.NullHandler())
    try:
        tenant_id, environment = access.environment(args.environment)
    except LookupError as exc:
        print(f"addin-api sync: {exc}", file=sys.stderr)
        return 2
    policy = TrackPolicy(settings.max_attachment_bytes, settings.activity_id_key())
    try:
        owners, others = synchronized_owners(access.dataverse(environment), args.user)
    except ApiError as exc:
        print(f"addin-api sync: {exc.detail} ({exc.code})", file=sys.stderr)
        return 1
    store = open_store(settings.redis_url, data_dir)
    graph = GraphClient.for_app(settings, access.session, tenant_id)
    ok = True
    for owner in owners:
        owner_dv = access.dataverse(environment, acting_as=owner.object_id)
        result = run_pass(graph, owner_dv, owner, store, environment_url=environment, policy=policy)
        print("\n".join(describe_pass(result)), flush=True)
        ok = ok and result.ok
    if args.user:
        for upn, reason in others:
            print(f"{upn}: not synchronized ({reason})")
    return 0 if ok and not (args.user and others) else 1


def describe_pass(result: PassResult) -> list[str]:
    """The lines `addin-api sync --once` prints for one mailbox."""
    head = (
        f"{result.owner.upn}: {result.tracked} tracked, {result.already_tracked} already tracked, "
        f"{len(result.failures)} failed; Graph {result.graph_requests} requests, "
        f"Dataverse {result.dataverse_round_trips} round trips"
    )
    if result.costs:
        graph = sorted({c.graph_requests for c in result.costs})
        trips = sorted({c.dataverse_round_trips for c in result.costs if not c.already_tracked})
        head += (
            f"; per message: Graph {'/'.join(map(str, graph))}, "
            f"Dataverse {'/'.join(map(str, trips)) or '-'} (new), beside the folders' delta pages"
        )
    lines = [head]
    if result.problem is not None:
        lines.append(f"  stopped: {result.problem}")
    lines.extend(f"  failed: {f.folder} {f.message_id}: {f.reason}" for f in result.failures)
    return lines


class EmbeddedWorker:
    """`addin-api dev`'s sync worker: in the service's process, its jobs on an in-process broker the webhooks share."""

    def __init__(self, app: Flask, settings: Settings, data_dir: Path, *, catch_up_seconds: float = 5.0) -> None:
        from addin_api.api import webhooks
        from addin_api.sync.jobs import open_jobs
        from addin_api.sync.store import open_store
        from addin_api.sync.worker import SyncRuntime
        from addin_api.wiring import build_app_access

        self._stop = threading.Event()
        self._catch_up = catch_up_seconds
        self._threads = settings.sync_threads
        jobs = open_jobs(None)
        self.runtime = SyncRuntime.build(settings, build_app_access(settings), open_store(None, data_dir), jobs)
        webhooks.init_app(app, jobs)
        self._thread = threading.Thread(target=self._work, name="sync-worker", daemon=True)

    def start(self) -> EmbeddedWorker:
        """Start consuming jobs and the catch-up timer."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the jobs in hand."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _work(self) -> None:
        from addin_api.sync.worker import run_worker

        run_worker(self.runtime, self._stop, threads=self._threads, catch_up_seconds=self._catch_up)
