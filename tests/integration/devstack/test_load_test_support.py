"""Load-test support in the devstack: synthetic full-rights users, Retry-After in the request log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from addin_api.devstack.config import FULL_RIGHTS, synthetic_users
from addin_api.devstack.server import DevstackServer


@pytest.fixture()
def bench_devstack(tmp_path: Path) -> Iterator[tuple[DevstackServer, requests.Session]]:
    """A devstack with two synthetic users besides the demo users."""
    server = DevstackServer(tmp_path, port=0, extra_users=synthetic_users(2)).start()
    http = requests.Session()
    http.trust_env = False
    http.verify = str(server.ca_file)
    yield server, http
    http.close()
    server.stop()


def test_synthetic_users_are_distinct_full_rights_users() -> None:
    """Each synthetic user has its own UPN, object id and systemuser id, and full rights."""
    users = synthetic_users(3)
    expected = ["bench-user-01@contoso.example", "bench-user-02@contoso.example", "bench-user-03@contoso.example"]
    assert expected == [u.upn for u in users]
    assert 3 == len({u.oid for u in users}) == len({u.systemuserid for u in users})
    assert all(u.privileges == FULL_RIGHTS for u in users)


def test_devstack_lists_mints_for_and_knows_extra_users(
    bench_devstack: tuple[DevstackServer, requests.Session],
) -> None:
    """The config lists the extra users, and a Dataverse token minted for one is that user in WhoAmI."""
    server, http = bench_devstack
    user = synthetic_users(2)[1]
    config = http.get(f"{server.url}/_devstack/config", timeout=10).json()
    assert user.upn in [u["upn"] for u in config["users"]]
    minted = http.post(f"{server.url}/_devstack/token", json={"user": user.upn, "audience": "dataverse"}, timeout=10)
    headers = {"Authorization": f"Bearer {minted.json()['access_token']}", "Accept": "application/json"}
    who = http.get(f"{server.url}/api/data/v9.2/WhoAmI", headers=headers, timeout=10)
    assert (200, user.systemuserid) == (who.status_code, who.json()["UserId"])


def test_request_log_carries_retry_after_of_throttled_answers(
    bench_devstack: tuple[DevstackServer, requests.Session],
) -> None:
    """A 429 in the request log carries its Retry-After, so a load test can tell when the caller may send again."""
    server, http = bench_devstack
    user = synthetic_users(1)[0]
    http.put(f"{server.url}/_devstack/limits", json={"requests": 1, "windowSeconds": 60, "retryAfter": 7}, timeout=10)
    minted = http.post(f"{server.url}/_devstack/token", json={"user": user.upn, "audience": "dataverse"}, timeout=10)
    headers = {"Authorization": f"Bearer {minted.json()['access_token']}", "Accept": "application/json"}
    http.delete(f"{server.url}/_devstack/requests", timeout=10)
    statuses = [http.get(f"{server.url}/api/data/v9.2/WhoAmI", headers=headers, timeout=10).status_code for _ in "ab"]
    log = http.get(f"{server.url}/_devstack/requests", timeout=10).json()["requests"]
    assert ([200, 429], [None, "7"]) == (statuses, [e.get("retryAfter") for e in log])
