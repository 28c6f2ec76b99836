"""Helpers for the operations suites: free ports, a service subprocess under gunicorn, a Redis server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from addin_api.cli import dev_environment
from addin_api.devstack.control import config_document

ROOT = Path(__file__).parents[1]
CONFIG = ROOT / "addin_api" / "gunicorn_conf.py"


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(probe: Any, what: str, seconds: float = 60) -> None:
    """Poll `probe()` until it is true; fail naming `what` after `seconds` (generous: CI cores are busy)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {seconds} s")


class Service:
    """The service under gunicorn with the shipped config, started through `addin-api serve`; logs kept in files."""

    def __init__(self, env: dict[str, str], log_dir: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout_path = log_dir / f"service-{self.port}.out"
        self.stderr_path = log_dir / f"service-{self.port}.err"
        self.metrics_dir = log_dir / f"metrics-{self.port}"
        full_env = {
            **os.environ,
            **env,
            "ADDIN_API_WORKERS": str(workers),
            "ADDIN_API_WORKER_CONNECTIONS": "1000",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
        }
        self._stdout = self.stdout_path.open("wb")
        self._stderr = self.stderr_path.open("wb")
        command = [sys.executable, "-m", "addin_api.cli", "serve", "--bind", f"127.0.0.1:{self.port}"]
        self.process = subprocess.Popen(command, env=full_env, stdout=self._stdout, stderr=self._stderr, cwd=ROOT)

    def start(self) -> Service:
        """Wait until /healthz answers."""

        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited: {self.stderr_path.read_text()[-2000:]}")
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200

        wait_until(up, "gunicorn start")
        return self

    def worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the master)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return sorted(int(c) for c in children)

    def stop(self) -> int:
        """SIGTERM (graceful) and wait; return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        finally:
            self._stdout.close()
            self._stderr.close()
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        return code


@contextmanager
def serving(devstack: Any, tmp_path: Path, workers: int, public_url: str = "http://127.0.0.1") -> Iterator[Service]:
    """`addin-api serve` with the shipped config against the devstack, stopped after the block."""
    started = Service(dev_environment(config_document(devstack.server.state), public_url), tmp_path, workers).start()
    try:
        yield started
    finally:
        started.stop()


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`, from a text exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        metric_name, _, rest = series.partition("{")
        if metric_name != name:
            continue
        found = dict(
            (k, v.strip('"')) for k, _, v in (part.partition("=") for part in rest.rstrip("}").split(",") if part)
        )
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


class RedisServer:
    """A throwaway `redis-server` on a free port, without persistence."""

    def __init__(self, work_dir: Path) -> None:
        if shutil.which("redis-server") is None:
            # Never skipped: `make test` installs it (apt-get install -y redis-server).
            pytest.fail("redis-server is not installed: run `make test` or `apt-get install -y redis-server`")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(work_dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> RedisServer:
        """Wait until it answers PING."""
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=1)

        def ping() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(ping, "redis-server start", 30)
        client.close()
        return self

    def stop(self) -> None:
        """Terminate and wait."""
        self.process.terminate()
        self.process.wait(timeout=30)
