"""Several instances share OBO tokens and users' Retry-After windows through Redis (`ADDIN_API_REDIS_URL`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from conftest import ALICE, Devstack
from opsutil import RedisServer, Service, free_port

from addin_api.cli import dev_environment
from addin_api.devstack.control import config_document
from addin_api.redis_support import RedisThrottleWindows, RedisTokenCache, connect

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A throwaway redis-server for this module."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture()
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The server's URL, emptied before each test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    yield redis_server.url


def test_token_cache_stores_with_a_ttl_hashes_keys_and_forgets(redis_url: str) -> None:
    """Tokens expire with their TTL; Redis never sees the tenant or user ids; delete forgets."""
    client = connect(redis_url)
    cache = RedisTokenCache(client)
    cache.set("obo|app|tenant-1|user-1|https://org", "token-1", 60)
    cache.set("obo|app|tenant-1|user-2|https://org", "token-2", 0)

    keys = [k.decode() for k in client.keys("*")]
    assert ("token-1", None, 1) == (cache.get("obo|app|tenant-1|user-1|https://org"), cache.get("x"), len(keys))
    assert "tenant-1" not in keys[0] and "user-1" not in keys[0]
    assert 55_000 < int(client.pttl(keys[0])) <= 60_000
    cache.delete("obo|app|tenant-1|user-1|https://org")
    assert None is cache.get("obo|app|tenant-1|user-1|https://org")


def test_throttle_windows_keep_the_longer_window(redis_url: str) -> None:
    """A shorter Retry-After never shortens a window another instance opened."""
    windows = RedisThrottleWindows(connect(redis_url))
    windows.block(("tenant", "user"), 120)
    windows.block(("tenant", "user"), 2)

    assert 110 < windows.remaining(("tenant", "user")) <= 120
    assert 0.0 == windows.remaining(("tenant", "other"))


def test_redis_down_means_in_process_behaviour_not_errors() -> None:
    """With nothing listening, reads miss and writes are dropped; callers never see an exception."""
    client = connect(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
    cache, windows = RedisTokenCache(client), RedisThrottleWindows(client)
    cache.set("k", "v", 60)
    windows.block("user", 30)
    assert (None, 0.0) == (cache.get("k"), windows.remaining("user"))


@pytest.fixture()
def two_instances(devstack: Devstack, redis_url: str, tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    """Two service processes (gunicorn, one worker each) against one Redis and the devstack."""
    env = {
        **dev_environment(config_document(devstack.server.state), "http://127.0.0.1"),
        "ADDIN_API_REDIS_URL": redis_url,
    }
    first = Service(env, tmp_path, workers=1)
    second = Service(env, tmp_path, workers=1)
    try:
        yield first.start(), second.start()
    finally:
        first.stop()
        second.stop()


def test_two_instances_make_one_obo_call_and_honour_each_others_retry_after(
    two_instances: tuple[Service, Service], devstack: Devstack
) -> None:
    """Alternating between instances costs one OBO call in all; a 429 seen by A makes B refuse without sending."""
    a, b = two_instances
    headers = {"Authorization": f"Bearer {devstack.token(ALICE)}"}
    devstack.clear_log()

    statuses = [
        requests.get(f"{url}/api/v1/regarding?search=Fab", headers=headers, timeout=60).status_code
        for url in (a.url, b.url) * 3
    ]
    obo_calls = [e for e in devstack.requests_log("identity") if e["path"].endswith("/oauth2/v2.0/token")]
    assert ([200] * 6, 1) == (statuses, len(obo_calls))

    devstack.fault(target="dataverse", path=r"\$batch", status=429, retryAfter=120, count=1)
    throttled = requests.get(f"{a.url}/api/v1/regarding?search=Fab", headers=headers, timeout=60)
    assert (429, "120") == (throttled.status_code, throttled.headers["Retry-After"])
    devstack.clear_log()

    refused = requests.get(f"{b.url}/api/v1/regarding?search=Fab", headers=headers, timeout=60)

    assert (429, "throttled") == (refused.status_code, refused.json()["code"])
    assert 100 < int(refused.headers["Retry-After"]) <= 120
    assert [] == devstack.requests_log("dataverse")
