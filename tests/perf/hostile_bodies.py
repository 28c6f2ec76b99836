"""What a hostile request body costs the service: time, answer size and a worker's peak memory, per body.

Starts the devstack (in this process) and, for each body, a fresh service under gunicorn with the shipped config
(one worker, so its peak RSS is the body's), sends the body once as an authenticated user and prints one line:

    body                                 bytes  status  code               seconds  answer bytes  peak RSS growth

`--tree DIR` serves the service from another checkout (e.g. `git archive <commit> | tar -x -C DIR`), to compare a
fix with what came before it. A script that prints figures, not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import MIB, ROOT, Gunicorn, status_kib

ALICE = "alice@contoso.example"


def valid_email() -> dict[str, object]:
    """A valid track-email body (the hostile cases change one field of it)."""
    return {
        "internetMessageId": "<hostile-bench@mail.fabrikam.example>",
        "subject": "Quarterly review",
        "from": {"address": "dana@fabrikam.example"},
        "sentAt": "2026-11-20T09:30:00Z",
    }


def with_raw(field: str, raw: str) -> bytes:
    """The valid body with `field` set to the raw JSON text `raw`."""
    return json.dumps({**valid_email(), field: "RAW"}).replace('"RAW"', raw).encode()


def empty_objects(size: int) -> bytes:
    """`{"to": [{}, {}, …]}` of about `size` bytes: recipients with no address."""
    return json.dumps({"to": "RAW"}).replace('"RAW"', "[" + ",".join(["{}"] * (size // 3)) + "]").encode()


def empty_strings(size: int) -> bytes:
    """`{"to": ["", "", …]}` of about `size` bytes."""
    return json.dumps({"to": "RAW"}).replace('"RAW"', "[" + ",".join(['""'] * (size // 3)) + "]").encode()


CASES: dict[str, Callable[[], bytes]] = {
    "1 MiB of empty recipients {}": lambda: empty_objects(1 * MIB),
    "8 MiB of empty recipients {}": lambda: empty_objects(8 * MIB),
    "8 MiB of empty strings": lambda: empty_strings(8 * MIB),
    "subject nested 1000 deep": lambda: with_raw("subject", "[" * 1000 + "]" * 1000),
    'subject "\\ud800"': lambda: with_raw("subject", '"\\ud800"'),
}


def warm(port: int, token: str) -> None:
    """One ordinary call first, so that signing keys, the token exchange and `me` are not counted against the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        conn.getresponse().read()
    finally:
        conn.close()


def send(port: int, token: str, body: bytes, timeout: float) -> tuple[int, str, int, float]:
    """POST the body to /api/v1/emails; (status, problem code, answer bytes, seconds) — status 0 on a timeout."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = time.monotonic()
    try:
        conn.request("POST", "/api/v1/emails", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    except TimeoutError:
        return 0, "timed out", 0, time.monotonic() - started
    except (http.client.RemoteDisconnected, ConnectionResetError):
        return 0, "worker died", 0, time.monotonic() - started  # gunicorn's log says why
    finally:
        conn.close()
    seconds = time.monotonic() - started
    try:
        code = str(json.loads(data).get("code", ""))
    except ValueError:
        code = "(not JSON)"
    return response.status, code, len(data), seconds


class PeakWatch:
    """Reads a worker's VmHWM every half second, so a worker killed mid-request still reports its peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start_kib = self.peak_kib = status_kib(pid, "VmHWM")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._read()

    def _read(self) -> None:
        try:
            self.peak_kib = max(self.peak_kib, status_kib(self.pid, "VmHWM"))
        except (OSError, KeyError):
            pass  # the worker is gone (or a zombie without memory figures)

    def growth_mib(self) -> float:
        """Peak RSS growth since the watch started, in MiB."""
        self._stop.set()
        self._thread.join()
        self._read()
        return (self.peak_kib - self.start_kib) / 1024


def main(argv: Sequence[str] | None = None) -> int:
    """Run every case against a fresh one-worker service and print a line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to serve (default: this one)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for one answer (default 900)")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this")
    parser.add_argument("--log-dir", type=Path, default=None, help="keep gunicorn's logs here (default: discarded)")
    args = parser.parse_args(argv)

    import requests

    from addin_api.cli import dev_environment
    from addin_api.devstack.server import DevstackServer

    tree = args.tree.resolve()
    with tempfile.TemporaryDirectory(prefix="addin-hostile-") as tmp, requests.Session() as control:
        server = DevstackServer(Path(tmp), port=0).start()
        try:
            control.trust_env = False
            control.verify = str(server.ca_file)
            config = control.get(f"{server.url}/_devstack/config", timeout=10).json()
            env = {**os.environ, **dev_environment(config, "http://127.0.0.1")}
            env.update(ADDIN_API_WORKERS="1", ADDIN_API_THREADS="4", PYTHONPATH=str(tree))
            env.pop("REQUESTS_CA_BUNDLE", None)
            token = control.post(
                f"{server.url}/_devstack/token", json={"user": ALICE, "audience": "addin"}, timeout=10
            ).json()["access_token"]
            options = ["-c", str(tree / "addin_api" / "gunicorn_conf.py"), "--chdir", str(tree)]
            print(f"service from {tree}", file=sys.stderr)
            os.chdir(tree)  # `python -m gunicorn` puts its working directory first on sys.path
            heading = ("body", "bytes", "status", "code", "seconds", "answer bytes", "peak RSS +MiB")
            print("{:36} {:>9}  {:>6}  {:18} {:>8} {:>13} {:>14}".format(*heading))
            for name, build in CASES.items():
                if args.only not in name:
                    continue
                body = build()
                service = Gunicorn("addin_api:create_app()", options, env, args.log_dir or Path(tmp), workers=1)
                try:
                    (worker,) = service.workers()
                    warm(service.port, token)
                    watch = PeakWatch(worker)
                    status, code, answer, seconds = send(service.port, token, body, args.timeout)
                    growth = watch.growth_mib()
                finally:
                    service.stop()
                print(f"{name:36} {len(body):>9}  {status:>6}  {code:18} {seconds:>8.2f} {answer:>13} {growth:>14.0f}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
