"""Benchmark mailbox synchronization: category applied → activity, catch-up, cost per message, and scale.

Starts, as separate processes on loopback: `addin-api devstack --users 64`, a redis-server, the service under
gunicorn (the webhooks) and `addin-api sync` workers on Redis. Users act as they would in Outlook, through Graph
with delegated tokens: they give messages the "Tracked to Dynamics 365" category; the script polls Dataverse (as an
administrator) until each message's email activity exists.

Phases:
- latency: N messages to alice, categorized one after another; category applied → activity, p50 / p95.
- catch-up: notifications paused (`/_devstack/graph/notifications/pause`), M messages categorized; the time until
  all are tracked, beside the worker's catch-up interval.
- cost: Graph requests and Dataverse round trips the workers sent per tracked message (the devstack's request log).
- rules: a folder rule made through the service, then messages moved into its folder; moved → activity regarding
  the rule's record, p50 / p95.
- scale: 1000 messages to 20 mailboxes, categorized in bursts, 2 workers of which one is killed (SIGKILL) midway:
  activities created, duplicates, lost, time to drain.

A script that prints figures, not a test: nothing here asserts a timing. Loopback only; stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ROOT, Gunicorn, arrival, devstack, percentile, redis_server  # noqa: E402

from addin_api.cli import dev_environment  # noqa: E402
from addin_api.dataverse import mailbox as dvmailbox  # noqa: E402
from addin_api.devstack.config import synthetic_users  # noqa: E402
from addin_api.devstack.seed import FABRIKAM_ACCOUNT_ID  # noqa: E402

TRACKED = "Tracked to Dynamics 365"
ALICE, MEGAN = "alice@contoso.example", "megan@contoso.example"
SENDER = {"address": "lee@northwind.example", "name": "Lee Gu"}
CATCH_UP_SECONDS = 10


@dataclass
class Stack:
    """The running processes and the control surface."""

    url: str
    http: requests.Session
    env: dict[str, str]
    log_dir: Path
    service_url: str = ""
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def token(self, user: str, audience: str) -> str:
        """A delegated token for `user` (cached for the run; the devstack's tokens last an hour)."""
        key = (user, audience)
        if key not in self._tokens:
            response = self.http.post(
                f"{self.url}/_devstack/token", json={"user": user, "audience": audience}, timeout=10
            )
            response.raise_for_status()
            self._tokens[key] = str(response.json()["access_token"])
        return self._tokens[key]

    def graph(self, user: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Graph as `user` in Outlook."""
        headers = {"Authorization": f"Bearer {self.token(user, 'graph')}", **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.url}/v1.0{path}", headers=headers, timeout=30, **kwargs)

    def dataverse(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The Web API as megan (an administrator)."""
        headers = {
            "Authorization": f"Bearer {self.token(MEGAN, 'dataverse')}",
            "Accept": "application/json",
            **kwargs.pop("headers", {}),
        }
        return self.http.request(method, f"{self.url}/api/data/v9.2/{path}", headers=headers, timeout=30, **kwargs)

    def log(self) -> list[dict[str, Any]]:
        """The devstack request log."""
        entries: list[dict[str, Any]] = self.http.get(f"{self.url}/_devstack/requests", timeout=30).json()["requests"]
        return entries

    def oid(self, upn: str) -> str:
        """A demo user's Entra object id."""
        users = self.http.get(f"{self.url}/_devstack/config", timeout=10).json()["users"]
        return str(next(u["oid"] for u in users if u["upn"] == upn))

    def clear_log(self) -> None:
        """Empty the devstack request log."""
        self.http.delete(f"{self.url}/_devstack/requests", timeout=10).raise_for_status()

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        """`addin-api sync` (the long-running worker) as its own process."""
        log = (self.log_dir / f"worker-{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "addin_api.cli", "sync"], env=self.env, cwd=ROOT, stdout=log, stderr=log
        )
        self.workers.append(process)
        return process


def enable_mailbox(stack: Stack, upn: str) -> None:
    """Approve the user's mailbox and enable incoming sync (as an admin would with `addin-api mailbox`), and give
    the mailbox the tracking category."""
    found = stack.dataverse(
        "GET", f"systemusers?$filter=domainname eq '{upn}'&$expand=defaultmailbox($select=mailboxid)"
    )
    box = found.json()["value"][0]["defaultmailbox"]
    values = {
        "emailrouteraccessapproval": dvmailbox.APPROVED,
        "incomingemaildeliverymethod": dvmailbox.EMAIL_SERVER_SIDE_SYNC,
        "incomingemailstatus": dvmailbox.SUCCESS,
    }
    changed = stack.dataverse("PATCH", f"mailboxes({box['mailboxid']})", json=values, headers={"If-Match": "*"})
    changed.raise_for_status()
    listed = stack.graph(upn, "GET", "/me/outlook/masterCategories").json()["value"]
    if not any(c["displayName"] == TRACKED for c in listed):
        stack.graph(upn, "POST", "/me/outlook/masterCategories", json={"displayName": TRACKED, "color": "preset9"})


def deliver(stack: Stack, to: str, subject: str) -> tuple[str, str]:
    """Deliver a message from outside; (Graph message id in `to`'s mailbox, Internet message id)."""
    internet_id = f"<{uuid.uuid4().hex}@northwind.example>"
    body = {"from": SENDER, "to": [{"address": to}], "subject": subject, "body": "Hello", "bodyType": "text"}
    response = stack.http.post(
        f"{stack.url}/_devstack/mail/deliver", json={**body, "internetMessageId": internet_id}, timeout=10
    )
    response.raise_for_status()
    return str(response.json()["deliveries"][0]["messageId"]), internet_id


def categorize(stack: Stack, user: str, message_id: str) -> None:
    """Give a message the tracking category, as the user in Outlook."""
    stack.graph(user, "PATCH", f"/me/messages/{message_id}", json={"categories": [TRACKED]}).raise_for_status()


def activities(stack: Stack, subject_prefix: str) -> Counter[str]:
    """How many email activities each Internet message id has, among those whose subject starts with the prefix."""
    counts: Counter[str] = Counter()
    path = f"emails?$select=messageid&$filter=startswith(subject,'{subject_prefix}')"
    while path:
        page = stack.dataverse("GET", path, headers={"Prefer": "odata.maxpagesize=500"}).json()
        counts.update(str(row["messageid"]) for row in page["value"])
        next_link = page.get("@odata.nextLink")
        path = next_link.split("/api/data/v9.2/", 1)[1] if next_link else ""
    return counts


def wait_for(check: Callable[[], bool], seconds: float, every: float = 0.05) -> bool:
    """Poll `check` until it holds or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


def latency(stack: Stack, count: int) -> dict[str, Any]:
    """Category applied → activity, one message at a time, with notifications.

    Timed from the devstack's request log: from the arrival of the user's PATCH that gives the category to the end
    of the worker's create of the email (the i-th create answers the i-th PATCH: one message is in flight at a time).
    """
    subject = f"bench-latency-{uuid.uuid4().hex[:6]}"
    delivered = [deliver(stack, ALICE, f"{subject} {n}") for n in range(count)]
    settle_arrivals(stack)
    stack.clear_log()
    for message_id, internet_id in delivered:
        categorize(stack, ALICE, message_id)
        wait_for(lambda i=internet_id: activities(stack, subject)[i] > 0, 30)  # type: ignore[misc]
    log = stack.log()
    patches = [arrival(e) for e in log if e["kind"] == "graph" and e["method"] == "PATCH"]
    seconds = [done - applied for applied, done in zip(patches, alices_creates(log), strict=False)]
    tracked = sum(1 for n in activities(stack, subject).values() if n)
    return {
        "messages": count,
        "tracked": tracked,
        "p50Seconds": round(percentile(seconds, 50), 3) if seconds else None,
        "p95Seconds": round(percentile(seconds, 95), 3) if seconds else None,
        "maxSeconds": round(max(seconds), 3) if seconds else None,
        **cost(log, tracked, stack.oid(ALICE)),
    }


def settle(stack: Stack, quiet: float = 2.0, limit: float = 60.0) -> None:
    """Wait until the workers sent Graph nothing for `quiet` seconds (the passes earlier changes caused are over)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        worker = [float(e["at"]) for e in stack.log() if e["kind"] == "graph" and "/v1.0/users/" in e["path"]]
        if not worker or time.time() - max(worker) >= quiet:
            return
        time.sleep(0.5)


def alices_creates(log: list[dict[str, Any]]) -> list[float]:
    """When each of the workers' creates of an email as alice ended, in order (the i-th answers the i-th action: one
    message is in flight at a time)."""
    return [
        float(e["at"])
        for e in log
        if e["kind"] == "dataverse"
        and e["method"] == "POST"
        and e["path"].endswith("/emails")
        and e.get("actingAs") == ALICE
    ]


def settle_arrivals(stack: Stack) -> None:
    """Wait until the workers put the messages just delivered to the owner's options (`CheckIncomingEmail`, one
    round trip each, on arrival): a catch-up interval, then quiet. Otherwise that evaluation, which every new Inbox
    message costs whether or not it is ever tracked, would be counted against tracking it."""
    time.sleep(CATCH_UP_SECONDS + 1)
    settle(stack)


def cost(log: list[dict[str, Any]], tracked: int, oid: str) -> dict[str, Any]:
    """The workers' Graph requests and Dataverse round trips per tracked message, from the request log.

    The workers' Graph calls for alice's mailbox address `users/{her object id}`; the bench's own go to `me`
    (categorize), and subscription renewals are counted apart. The workers' Dataverse calls for her messages run as
    her by impersonation (`actingAs` in the log); the catch-up round's listing of mailboxes runs as the app itself,
    and the bench polls as megan. Alice's own catch-up passes (one every interval) are counted in.
    """
    graph = [e for e in log if e["kind"] == "graph" and e["path"].startswith(f"/v1.0/users/{oid}/")]
    subscriptions = [e for e in log if e["kind"] == "graph" and e["path"].startswith("/v1.0/subscriptions")]
    dataverse = [e for e in log if e["kind"] == "dataverse" and e.get("actingAs") == ALICE]
    return {
        "graphRequestsPerMessage": round(len(graph) / tracked, 2) if tracked else None,
        "dataverseRoundTripsPerMessage": round(len(dataverse) / tracked, 2) if tracked else None,
        "subscriptionRequests": len(subscriptions),
    }


def catch_up(stack: Stack, count: int) -> dict[str, Any]:
    """With notifications dropped: categorize `count` messages, then time until all are tracked."""
    subject = f"bench-catchup-{uuid.uuid4().hex[:6]}"
    delivered = [deliver(stack, ALICE, f"{subject} {n}") for n in range(count)]
    settle(stack)  # the passes the deliveries' notifications caused must not be the ones that track
    stack.http.post(f"{stack.url}/_devstack/graph/notifications/pause", timeout=10).raise_for_status()
    try:
        for message_id, _ in delivered:
            categorize(stack, ALICE, message_id)
        started = time.monotonic()
        done = wait_for(lambda: len(activities(stack, subject)) >= count, 4 * CATCH_UP_SECONDS + 30, every=0.25)
        elapsed = time.monotonic() - started
    finally:
        stack.http.delete(f"{stack.url}/_devstack/graph/notifications/pause", timeout=10).raise_for_status()
    return {
        "messages": count,
        "tracked": len(activities(stack, subject)),
        "allTracked": done,
        "seconds": round(elapsed, 2),
        "catchUpIntervalSeconds": CATCH_UP_SECONDS,
    }


def send(stack: Stack, count: int) -> dict[str, Any]:
    """Emails alice sends from Dynamics 365 (`SendEmail`, IssueSend true), one after another: Pending Send → the
    worker sends it through Graph and marks it Sent. Timed from the log: the SendEmail's arrival → the end of the
    worker's PATCH of that email."""
    headers = {"Authorization": f"Bearer {stack.token(ALICE, 'dataverse')}", "Accept": "application/json"}
    api = f"{stack.url}/api/data/v9.2"
    settle(stack)
    stack.clear_log()
    ids: list[str] = []
    for n in range(count):
        parties = [{"participationtypemask": 2, "addressused": "sam@northwind.example"}]
        body = {"subject": f"bench-send {n}", "description": "<p>Hi</p>", "directioncode": True}
        created = stack.http.post(f"{api}/emails", json={**body, "email_activity_parties": parties}, headers=headers)
        email_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
        sent = stack.http.post(
            f"{api}/emails({email_id})/Microsoft.Dynamics.CRM.SendEmail", json={"IssueSend": True}, headers=headers
        )
        sent.raise_for_status()
        ids.append(email_id)
        wait_for(
            lambda i=email_id: stack.dataverse("GET", f"emails({i})?$select=statuscode").json()["statuscode"] == 3, 30
        )  # type: ignore[misc]
    log = stack.log()
    queued = {e["path"].split("(")[1].split(")")[0]: arrival(e) for e in log if e["path"].endswith(".SendEmail")}
    marked = {
        e["path"].split("(")[1].rstrip(")"): float(e["at"])
        for e in log
        if e["kind"] == "dataverse" and e["method"] == "PATCH" and e["path"].startswith("/api/data/v9.2/emails(")
    }
    seconds = [marked[i] - queued[i] for i in ids if i in marked and i in queued]
    return {
        "emails": count,
        "sent": len(seconds),
        "p50Seconds": round(percentile(seconds, 50), 3) if seconds else None,
        "p95Seconds": round(percentile(seconds, 95), 3) if seconds else None,
        "pollSeconds": 2.0,
    }


def reply(stack: Stack, count: int) -> dict[str, Any]:
    """Replies to emails alice sent from Dynamics 365 regarding an account (with a tracking token), on her default
    options: each correlates, is tracked regarding the same account. Timed from the log: the reply's delivery →
    the end of the worker's create of its email."""
    headers = {"Authorization": f"Bearer {stack.token(ALICE, 'dataverse')}", "Accept": "application/json"}
    api = f"{stack.url}/api/data/v9.2"
    account = stack.dataverse("GET", "accounts?$select=accountid&$top=1").json()["value"][0]["accountid"]
    seconds: list[float] = []
    regarded = 0
    for n in range(count):
        subject = f"bench-reply-{uuid.uuid4().hex[:6]} {n}"
        token = stack.http.post(f"{api}/GetTrackingTokenEmail", json={"Subject": subject}, headers=headers).json()
        body = {
            "subject": subject,
            "description": "<p>Proposal</p>",
            "directioncode": True,
            "regardingobjectid_account_email@odata.bind": f"/accounts({account})",
            "email_activity_parties": [{"participationtypemask": 2, "addressused": SENDER["address"]}],
        }
        created = stack.http.post(f"{api}/emails", json=body, headers=headers)
        email_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
        stack.http.post(
            f"{api}/emails({email_id})/Microsoft.Dynamics.CRM.SendEmail",
            json={"IssueSend": True, "TrackingToken": token["TrackingToken"]},
            headers=headers,
        ).raise_for_status()

        def sent(i: str = email_id) -> dict[str, Any]:
            found: dict[str, Any] = stack.dataverse("GET", f"emails({i})?$select=statuscode,messageid").json()
            return found

        wait_for(lambda: sent()["statuscode"] == 3, 30)
        time.sleep(1.1)  # a reply of a later second than the original (Graph's times are to the second)
        answer = {
            "from": SENDER,
            "to": [{"address": ALICE}],
            "subject": f"RE: {subject} {token['TrackingToken']}",
            "body": "Agreed.",
            "bodyType": "text",
            "inReplyTo": sent()["messageid"],
        }
        started = time.monotonic()
        stack.http.post(f"{stack.url}/_devstack/mail/deliver", json=answer, timeout=10).raise_for_status()
        path = f"emails?$select=_regardingobjectid_value&$filter=startswith(subject,'RE: {subject}')"
        if wait_for(lambda p=path: bool(stack.dataverse("GET", p).json()["value"]), 30, every=0.02):  # type: ignore[misc]
            seconds.append(time.monotonic() - started)
            regarded += stack.dataverse("GET", path).json()["value"][0]["_regardingobjectid_value"] == account
    return {
        "replies": count,
        "tracked": len(seconds),
        "regardingTheSameRecord": regarded,
        "p50Seconds": round(percentile(seconds, 50), 3) if seconds else None,
        "p95Seconds": round(percentile(seconds, 95), 3) if seconds else None,
    }


def rules(stack: Stack, count: int) -> dict[str, Any]:
    """A folder rule made through the service (`POST /api/v1/folder-rules`, as the pane makes it); then N messages
    moved into its folder one after another; moved → activity regarding the rule's account, p50 / p95.

    Timed from the request log: the arrival of alice's move to the end of the worker's create of the email.
    """
    name = f"bench-rule-{uuid.uuid4().hex[:6]}"
    folder = stack.graph(ALICE, "POST", "/me/mailFolders/inbox/childFolders", json={"displayName": name})
    folder.raise_for_status()
    folder_id = str(folder.json()["id"])
    body = {"folderId": folder_id, "regarding": {"table": "account", "id": FABRIKAM_ACCOUNT_ID}}
    made = stack.http.post(
        f"{stack.service_url}/api/v1/folder-rules",
        json=body,
        headers={"Authorization": f"Bearer {stack.token(ALICE, 'addin')}"},
        timeout=30,
    )
    made.raise_for_status()
    rule_id = made.json()["id"]

    def onboarded() -> bool:
        row = stack.dataverse("GET", f"mailboxtrackingfolders({rule_id})?$select=folderonboardingstatus").json()
        return bool(row.get("folderonboardingstatus") == 1)

    onboard_started = time.monotonic()
    wait_for(onboarded, 60)
    onboard_seconds = time.monotonic() - onboard_started
    subject = f"bench-rule-{uuid.uuid4().hex[:6]}"
    delivered = [deliver(stack, ALICE, f"{subject} {n}") for n in range(count)]
    settle_arrivals(stack)
    stack.clear_log()
    for message_id, internet_id in delivered:
        moved = stack.graph(
            ALICE,
            "POST",
            f"/me/messages/{message_id}/move",
            json={"destinationId": folder_id},
            headers={"Prefer": 'IdType="ImmutableId"'},
        )
        moved.raise_for_status()
        wait_for(lambda i=internet_id: activities(stack, subject)[i] > 0, 30)  # type: ignore[misc]
    log = stack.log()
    moves = [arrival(e) for e in log if e["kind"] == "graph" and e["method"] == "POST" and e["path"].endswith("/move")]
    seconds = [done - applied for applied, done in zip(moves, alices_creates(log), strict=False)]
    found = stack.dataverse(
        "GET", f"emails?$select=_regardingobjectid_value&$filter=startswith(subject,'{subject}')"
    ).json()["value"]
    return {
        "messages": count,
        "tracked": len(found),
        "regardingTheRulesRecord": sum(1 for r in found if r["_regardingobjectid_value"] == FABRIKAM_ACCOUNT_ID),
        "ruleOnboardedSeconds": round(onboard_seconds, 3),
        "p50Seconds": round(percentile(seconds, 50), 3) if seconds else None,
        "p95Seconds": round(percentile(seconds, 95), 3) if seconds else None,
        "maxSeconds": round(max(seconds), 3) if seconds else None,
        **cost(log, len(found), stack.oid(ALICE)),
    }


def scale(stack: Stack, mailboxes: Sequence[str], total: int, burst: int) -> dict[str, Any]:
    """`total` messages over the mailboxes, categorized in bursts; the first worker killed halfway."""
    subject = f"bench-scale-{uuid.uuid4().hex[:6]}"
    delivered = [
        (upn, *deliver(stack, upn, f"{subject} {n}")) for n in range(total) for upn in [mailboxes[n % len(mailboxes)]]
    ]
    started = time.monotonic()
    killed_at: float | None = None
    for offset in range(0, total, burst):
        for upn, message_id, _ in delivered[offset : offset + burst]:
            categorize(stack, upn, message_id)
        if killed_at is None and offset + burst >= total // 2:
            stack.workers[0].send_signal(signal.SIGKILL)
            killed_at = time.monotonic() - started
        time.sleep(0.2)
    categorized = time.monotonic() - started
    wanted = {internet_id for _, _, internet_id in delivered}
    wait_for(lambda: wanted <= set(activities(stack, subject)), 300, every=1.0)
    drained = time.monotonic() - started
    counts = activities(stack, subject)
    return {
        "messages": total,
        "mailboxes": len(mailboxes),
        "workers": len(stack.workers),
        "killedAtSeconds": round(killed_at or 0.0, 2),
        "activities": sum(counts.values()),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "lost": len(wanted - set(counts)),
        "categorizedInSeconds": round(categorized, 2),
        "drainedInSeconds": round(drained, 2),
    }


@contextmanager
def running(tmp: Path, workers: int) -> Iterator[Stack]:
    """The devstack, Redis, the service and `workers` sync workers."""
    with ExitStack() as stack_exit:
        url, ca_file, _ = stack_exit.enter_context(devstack(tmp))
        redis_url = stack_exit.enter_context(redis_server(tmp))
        if redis_url is None:
            raise SystemExit("bench-sync needs redis-server (make system-deps)")
        http = stack_exit.enter_context(requests.Session())
        http.trust_env, http.verify = False, str(ca_file)
        config = http.get(f"{url}/_devstack/config", timeout=10).json()
        devstack_env = dev_environment(config, "http://127.0.0.1")
        extra = {"ADDIN_API_REDIS_URL": redis_url}
        service = Gunicorn.service(devstack_env, extra, tmp)
        stack_exit.callback(service.stop)
        env = {
            **os.environ,
            **devstack_env,
            **extra,
            "ADDIN_API_PUBLIC_URL": service.url,
            "ADDIN_API_SYNC_CATCH_UP_SECONDS": str(CATCH_UP_SECONDS),
        }
        env.pop("REQUESTS_CA_BUNDLE", None)
        stack = Stack(url, http, env, tmp, service.url)
        stack_exit.callback(_stop_workers, stack)
        yield stack


def _stop_workers(stack: Stack) -> None:
    for process in stack.workers:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the phases, print the figures and write bench-sync-results.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-messages", type=int, default=50)
    parser.add_argument("--catch-up-messages", type=int, default=10)
    parser.add_argument("--send-emails", type=int, default=20)
    parser.add_argument("--replies", type=int, default=10)
    parser.add_argument("--rule-messages", type=int, default=20)
    parser.add_argument("--phases", default="latency,catchUp,send,reply,rules,scale", help="comma-separated, in order")
    parser.add_argument("--scale-messages", type=int, default=1000)
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "bench-sync-results.json"))
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="addin-bench-sync-") as tmp, running(Path(tmp), 2) as stack:
        mailboxes = [ALICE] + [u.upn for u in synthetic_users(args.mailboxes - 1)]
        for upn in mailboxes:
            enable_mailbox(stack, upn)
        stack.start_worker("a")
        stack.start_worker("b")
        time.sleep(CATCH_UP_SECONDS / 2)  # the first catch-up round subscribes every mailbox
        phases = {
            "latency": lambda: latency(stack, args.latency_messages),
            "catchUp": lambda: catch_up(stack, args.catch_up_messages),
            "send": lambda: send(stack, args.send_emails),
            "reply": lambda: reply(stack, args.replies),
            "rules": lambda: rules(stack, args.rule_messages),
            "scale": lambda: scale(stack, mailboxes, args.scale_messages, args.burst),
        }
        for name in args.phases.split(","):
            print(name, file=sys.stderr, flush=True)
            results[name] = phases[name]()
    print(json.dumps(results, indent=2))
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
