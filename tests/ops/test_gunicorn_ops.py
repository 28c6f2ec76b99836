"""The shipped gunicorn config: coherent timeouts, limits, JSON access logs without query strings, graceful
shutdown, and Prometheus metrics that add up across two workers (and survive a worker's death)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import ALICE, Devstack, log_leaks
from opsutil import CONFIG, Service, metric, serving, wait_until

from addin_api.auth import tokens
from addin_api.devstack import seed
from addin_api.settings import Settings

pytestmark = pytest.mark.slow


def load_config(env: dict[str, str]) -> dict[str, Any]:
    """The config file's settings as gunicorn reads them, evaluated in a subprocess with `env`."""
    code = (
        "import json, runpy, sys; ns = runpy.run_path(sys.argv[1]); "
        "print(json.dumps({k: v for k, v in ns.items() if isinstance(v, (int, str, float))}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(CONFIG)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 0 == result.returncode, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_config_is_coherent_with_the_request_budget_and_hardened() -> None:
    """gevent workers; the worker timeout outlasts the 20 s budget; limits and forwarded IPs as documented."""
    config = load_config({"ADDIN_API_FORWARDED_ALLOW_IPS": "10.0.0.0/8, 192.168.0.10"})

    assert {
        "worker_class": "addin_api.server.ProblemGeventWorker",
        "worker_connections": 1000,
        "limit_request_line": 4094,
        "limit_request_fields": 50,
        "max_requests": 10000,
        "forwarded_allow_ips": "10.0.0.0/8,192.168.0.10",
        "accesslog": "-",
    } == {
        k: config[k] for k in ("worker_class", "worker_connections", "limit_request_line", "limit_request_fields")
    } | {k: config[k] for k in ("max_requests", "forwarded_allow_ips", "accesslog")}
    assert config["timeout"] > Settings.request_budget_seconds
    assert config["graceful_timeout"] >= config["timeout"]
    assert "threads" not in config


def test_a_header_line_holds_any_token_the_app_accepts() -> None:
    """gunicorn's header limit fits `Authorization: Bearer <the largest token the app accepts>`."""
    config = load_config({})
    assert tokens.MAX_TOKEN_BYTES == config["MAX_TOKEN_BYTES"]
    assert config["limit_request_field_size"] >= len("Authorization: Bearer ") + tokens.MAX_TOKEN_BYTES


def test_invalid_forwarded_allow_ips_stop_gunicorn_naming_the_variable() -> None:
    """A typo in the trusted proxy list fails at start instead of trusting nobody (or everybody) silently."""
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "--check-config", "addin_api:create_app()"],
        env={**os.environ, "ADDIN_API_FORWARDED_ALLOW_IPS": "10.0.0.0/8,proxy.internal"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 0 != result.returncode
    assert "ADDIN_API_FORWARDED_ALLOW_IPS: 'proxy.internal'" in result.stderr


@pytest.fixture()
def service(devstack: Devstack, tmp_path: Path) -> Iterator[Service]:
    """`addin-api serve` with two workers against the devstack."""
    with serving(devstack, tmp_path, workers=2) as started:
        yield started


def json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a log file (every line must be one)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def raw_request(port: int, payload: bytes) -> bytes:
    """Send raw bytes and return the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(payload)
        return sock.recv(200).split(b"\r\n", 1)[0]


def test_access_and_app_logs_are_redacted_json_and_limits_hold(service: Service, devstack: Devstack) -> None:
    """Access lines are JSON without the query string; app events are JSON; oversized requests are refused."""
    token = devstack.token(ALICE)
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "ops-access-1"}
    response = requests.get(f"{service.url}/api/v1/people?email={seed.DANA_EMAIL}", headers=headers, timeout=30)
    assert 200 == response.status_code

    too_long = raw_request(service.port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(60))
    too_many = raw_request(service.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert (b"414", b"431") == (too_long.split()[1], too_many.split()[1])

    assert 0 == service.stop()
    access = [e for e in json_lines(service.stdout_path) if e.get("event") == "access"]
    app_events = json_lines(service.stderr_path)
    [line] = [e for e in access if e["request_id"] == "ops-access-1"]
    assert ("GET", "/api/v1/people", 200) == (line["method"], line["path"], line["status"])
    [event] = [e for e in app_events if e.get("event") == "request" and e.get("request_id") == "ops-access-1"]
    assert ("/api/v1/people", 200, devstack.config["tenantId"]) == (event["route"], event["status"], event["tenant"])
    text = service.stdout_path.read_text() + service.stderr_path.read_text()
    assert [] == log_leaks(text, (devstack.config["clientSecret"], token))


def test_sigterm_lets_in_flight_requests_finish(service: Service, devstack: Devstack) -> None:
    """A deploy's SIGTERM stops the server only after a slow in-flight request has been answered."""
    headers = {"Authorization": f"Bearer {devstack.token(ALICE)}"}
    devstack.fault(target="dataverse", path="WhoAmI", delayMs=1500)
    devstack.clear_log()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(requests.get, f"{service.url}/api/v1/me", headers=headers, timeout=60)
        # Signal only once the request is inside the worker (its OBO call is logged before Dataverse is called).
        wait_until(lambda: _obo_seen(devstack), "the OBO call")
        service.process.send_signal(signal.SIGTERM)
        answered = pending.result()
    assert (200, True) == (answered.status_code, answered.json()["canUseAddIn"])
    assert 0 == service.stop()


def _obo_seen(devstack: Devstack) -> bool:
    return any(e["path"].endswith("/token") for e in devstack.requests_log("identity"))


def test_metrics_add_up_across_two_workers_and_a_dead_worker(service: Service, devstack: Devstack) -> None:
    """Request, Dataverse, identity and token-cache counts from every worker sum exactly, even after one died."""
    headers = {"Authorization": f"Bearer {devstack.token(ALICE)}"}
    before = requests.get(f"{service.url}/metrics", timeout=30).text
    devstack.clear_log()

    def call(path: str) -> int:
        return requests.get(f"{service.url}{path}", headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        first = list(pool.map(call, ["/healthz"] * 20 + ["/api/v1/me"] * 10))
    # Kill a worker that served some of them: gunicorn replaces it and `child_exit` marks it dead; its counters
    # (files named after its pid) must still be counted.
    victim = next(p for p in service.worker_pids() if (service.metrics_dir / f"counter_{p}.db").exists())
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in service.worker_pids() and len(service.worker_pids()) == 2, "worker replacement")
    with ThreadPoolExecutor(8) as pool:
        second = list(pool.map(call, ["/healthz"] * 20 + ["/api/v1/regarding?search=Fab"] * 6))
    assert {200} == set(first) | set(second)

    text = requests.get(f"{service.url}/metrics", timeout=30).text
    identity = devstack.requests_log("identity")
    dataverse = devstack.requests_log("dataverse")
    obo_calls = sum(1 for e in identity if e["path"].endswith("/oauth2/v2.0/token"))
    assert {
        "healthz": 40.0,
        "me": 10.0,
        "regarding": 6.0,
        "dataverse": float(len(dataverse)),
        "identity": float(len(identity)),
        "cache misses": float(obo_calls),
    } == {
        "healthz": metric(text, "addin_api_requests_total", route="/healthz", status="200")
        - metric(before, "addin_api_requests_total", route="/healthz", status="200"),
        "me": metric(text, "addin_api_requests_total", route="/api/v1/me", status="200"),
        "regarding": metric(text, "addin_api_request_duration_seconds_count", route="/api/v1/regarding"),
        "dataverse": metric(text, "addin_api_outbound_requests_total", target="dataverse"),
        "identity": metric(text, "addin_api_outbound_requests_total", target="identity"),
        "cache misses": metric(text, "addin_api_token_cache_lookups_total", result="miss"),
    }
    assert metric(text, "addin_api_token_cache_lookups_total", result="hit") >= 1
