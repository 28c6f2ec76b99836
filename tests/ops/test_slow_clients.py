"""Slow clients against `addin-api serve`: a header line a second and a body a byte a second do not stop the server.

About 150 connections trickle request headers and 80 authenticated ones trickle a body, on loopback, for a bounded
time; meanwhile `/healthz` and `/api/v1/me` must answer. Probe latencies are printed (run with `-s` to see them),
never asserted.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from conftest import ALICE, Devstack
from opsutil import Service, serving

from addin_api.cli import dev_environment
from addin_api.devstack.control import config_document

pytestmark = pytest.mark.slow

SLOW_HEADER_CONNECTIONS = 150
SLOW_BODY_CONNECTIONS = 80
LOAD_SECONDS = 14.0
PROBE_EVERY = 0.5


@pytest.fixture()
def service(devstack: Devstack, tmp_path: Path) -> Iterator[Service]:
    """`addin-api serve` with the shipped config (two workers) against the devstack."""
    with serving(devstack, tmp_path, workers=2) as started:
        yield started


@dataclass
class SlowLoad:
    """Trickling connections driven from one thread: each sends one header line, or one body byte, a second."""

    port: int
    token: str
    header_conns: list[socket.socket] = field(default_factory=list)
    body_conns: list[socket.socket] = field(default_factory=list)
    reopened: int = 0  # slow-header connections the server closed (and the load opened again)
    body_closed: int = 0  # slow-body connections the server answered or closed before the load ended
    stop: threading.Event = field(default_factory=threading.Event)

    def _connect(self, first: bytes) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(first)
        sock.setblocking(False)
        return sock

    def _header_start(self) -> socket.socket:
        return self._connect(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    def open(self) -> None:
        """Open every connection: request lines and some headers, or full headers and the body's first byte."""
        for _ in range(SLOW_HEADER_CONNECTIONS):
            self.header_conns.append(self._header_start())
        head = (
            "POST /api/v1/emails HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{{"
        ).encode()
        for _ in range(SLOW_BODY_CONNECTIONS):
            self.body_conns.append(self._connect(head))

    @staticmethod
    def _closed_by_server(sock: socket.socket) -> bool:
        try:
            sock.recv(65536)  # an answer or the end of the stream: the server is done with this connection
            return True
        except BlockingIOError:
            return False
        except OSError:
            return True

    def run(self) -> None:
        """Every second, one more header line on each header connection and one more body byte on each body one."""
        tick = 0
        while not self.stop.wait(1.0):
            tick += 1
            for index, sock in enumerate(self.header_conns):
                try:
                    if self._closed_by_server(sock):
                        raise ConnectionError
                    sock.send(f"X-Slow-{tick}: {tick}\r\n".encode())
                except OSError:
                    sock.close()
                    self.reopened += 1
                    self.header_conns[index] = self._header_start()
            for sock in self.body_conns:
                if sock.fileno() < 0:
                    continue
                try:
                    if self._closed_by_server(sock):
                        raise ConnectionError
                    sock.send(b" ")
                except OSError:
                    sock.close()
                    self.body_closed += 1

    def close(self) -> None:
        """Close every connection."""
        for sock in self.header_conns + self.body_conns:
            sock.close()


def _probe(url: str, headers: dict[str, str]) -> tuple[int, float]:
    started = time.monotonic()
    status = requests.get(url, headers=headers, timeout=30).status_code
    return status, (time.monotonic() - started) * 1000


def _figures(latencies: list[float]) -> str:
    return f"p50 {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms over {len(latencies)}"


def test_health_and_api_answer_while_slow_clients_hold_connections(service: Service, devstack: Devstack) -> None:
    """150 slow-header and 80 slow-body (authenticated) connections; /healthz and /api/v1/me still answer 200."""
    token = devstack.token(ALICE)
    auth = {"Authorization": f"Bearer {token}"}
    assert 200 == requests.get(f"{service.url}/api/v1/me", headers=auth, timeout=30).status_code  # warm caches
    load = SlowLoad(service.port, token)
    load.open()
    runner = threading.Thread(target=load.run, name="slow-load", daemon=True)
    runner.start()
    health: list[tuple[int, float]] = []
    api: list[tuple[int, float]] = []
    try:
        deadline = time.monotonic() + LOAD_SECONDS
        with ThreadPoolExecutor(2) as pool:
            while time.monotonic() < deadline:
                pending_health = pool.submit(_probe, f"{service.url}/healthz", {})
                pending_api = pool.submit(_probe, f"{service.url}/api/v1/me", auth)
                health.append(pending_health.result())
                api.append(pending_api.result())
                time.sleep(PROBE_EVERY)
    finally:
        load.stop.set()
        runner.join(timeout=30)
        still_open = sum(1 for sock in load.body_conns if sock.fileno() >= 0)
        load.close()

    print(
        f"\nslow clients: {SLOW_HEADER_CONNECTIONS} header + {SLOW_BODY_CONNECTIONS} body connections for "
        f"{LOAD_SECONDS:.0f} s; header connections dropped by the server and reopened: {load.reopened}; "
        f"body connections still open at the end: {still_open}\n"
        f"  /healthz    {_figures([ms for _, ms in health])}\n"
        f"  /api/v1/me  {_figures([ms for _, ms in api])}"
    )
    assert {200} == {status for status, _ in health}
    assert {200} == {status for status, _ in api}
    # The load was real: the slow bodies were still being waited for, and trickled headers hit the read deadline.
    assert SLOW_BODY_CONNECTIONS == still_open
    assert load.reopened > 0


@pytest.fixture()
def one_worker(devstack: Devstack, tmp_path: Path) -> Iterator[Service]:
    """`addin-api serve` with one worker, so every request of the test shares one process's per-user slots."""
    env = dev_environment(config_document(devstack.server.state), "http://127.0.0.1")
    started = Service(env, tmp_path, workers=1).start()
    try:
        yield started
    finally:
        started.stop()


def test_requests_overlap_in_a_gevent_worker_within_the_per_user_cap(one_worker: Service, devstack: Devstack) -> None:
    """Ten parallel lookups by one user in one worker: Dataverse calls overlap (I/O yields) but never more than 4."""
    headers = {"Authorization": f"Bearer {devstack.token(ALICE)}"}
    url = f"{one_worker.url}/api/v1/people?email=dana@fabrikam.example"
    assert 200 == requests.get(url, headers=headers, timeout=30).status_code  # token exchange and caches warm
    devstack.clear_log()
    devstack.fault(target="dataverse", path=r"\$batch", delayMs=400, count=10)
    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda _: requests.get(url, headers=headers, timeout=60).status_code, range(10)))
    assert [200] * 10 == statuses
    log = [e for e in devstack.requests_log("dataverse") if e["path"].endswith("$batch")]
    assert 10 == len(log)
    intervals = [(e["at"] - e["durationMs"] / 1000, e["at"]) for e in log]
    peak = max(sum(1 for s, e in intervals if s <= start < e) for start, _ in intervals)
    assert 2 <= peak <= 4, peak
