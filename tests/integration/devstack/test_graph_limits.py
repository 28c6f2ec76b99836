"""Graph throttling and faults on the devstack: per-mailbox concurrency, injected 429 / 503 / 410 in Graph's shape."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from conftest import ALICE, Devstack
from graph_support import as_app, wait_until


def test_more_than_four_concurrent_requests_to_a_mailbox_get_429(devstack: Devstack) -> None:
    """Six requests at once to alice's mailbox while each takes 1.5 s: four are served, two get ApplicationThrottled."""
    graph = as_app(devstack)
    devstack.fault(target="graph", path=f"/users/{ALICE}/mailFolders$", delayMs=1500, count=6)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: graph.call("GET", f"/users/{ALICE}/mailFolders"), range(6)))
    throttled = [r for r in responses if r.status_code == 429]

    assert (4, 2) == (sum(1 for r in responses if r.status_code == 200), len(throttled))
    assert {("ApplicationThrottled", "Application is over its MailboxConcurrency limit.")} == {
        (r.json()["error"]["code"], r.json()["error"]["message"]) for r in throttled
    }
    assert all(r.headers.get("Retry-After") for r in throttled)


def test_other_mailboxes_are_not_held_up_by_a_busy_one(devstack: Devstack) -> None:
    """With the concurrency limit at 1 and alice's mailbox busy, bob's mailbox still answers."""
    graph = as_app(devstack)
    devstack.http.put(f"{devstack.url}/_devstack/graph/limits", json={"concurrent": 1}, timeout=10).raise_for_status()
    devstack.fault(target="graph", path=f"/users/{ALICE}/mailFolders$", delayMs=1500, count=1)

    with ThreadPoolExecutor(max_workers=1) as pool:
        busy = pool.submit(graph.call, "GET", f"/users/{ALICE}/mailFolders")
        # alice's one slot is taken once a second request to her mailbox is refused
        refused = wait_until(lambda: graph.call("GET", f"/users/{ALICE}/mailFolders/inbox").status_code == 429)
        bob = graph.call("GET", "/users/bob@contoso.example/mailFolders")
        busy.result()

    assert refused
    assert 200 == bob.status_code


def test_injected_faults_answer_in_graphs_shape(devstack: Devstack) -> None:
    """A 429 fault carries Retry-After; a 503 and a 410 carry Graph's codes; the faults are used up by count."""
    graph = as_app(devstack)
    path = f"/users/{ALICE}/mailFolders/inbox/messages/delta"
    devstack.fault(target="graph", path="/messages/delta$", status=429, retryAfter=7, count=1)
    throttled = graph.call("GET", path)
    devstack.fault(target="graph", path="/messages/delta$", status=503, count=1)
    unavailable = graph.call("GET", path)
    devstack.fault(target="graph", path="/messages/delta$", status=410, count=1)
    gone = graph.call("GET", path)
    served = graph.call("GET", path)

    assert (429, "7", "ApplicationThrottled") == (
        throttled.status_code,
        throttled.headers["Retry-After"],
        throttled.json()["error"]["code"],
    )
    assert (503, "ServiceUnavailable") == (unavailable.status_code, unavailable.json()["error"]["code"])
    assert (410, "SyncStateNotFound") == (gone.status_code, gone.json()["error"]["code"])
    assert 200 == served.status_code
    assert [429, 503, 410, 200] == [e["status"] for e in devstack.requests_log("graph")[-4:]]
