"""`make bench`: how much the service costs over the Dataverse and Entra calls it cannot avoid.

Starts the devstack as `addin-api devstack --users 64` starts it (a subprocess: HTTPS with persistent connections)
and the service under gunicorn with the shipped config (a subprocess, plain HTTP on 127.0.0.1), drives it with a
load generator in another process (this file run with `--load`), prints a table and writes the figures as JSON
(`bench-results.json` by default):

1. round trips per action, from the devstack request log, and identity calls per 100 requests of one warm user;
2. latency efficiency under load: every Dataverse request delayed by L ms (`/_devstack/faults` `delayMs`),
   1 / 16 / 64 concurrent users (synthetic full-rights users, one principal each) tracking distinct emails:
   p50 / p95 / p99, throughput and (round trips × L) / p50 — 1.0 means the service adds nothing over the network
   time it cannot avoid; then L = 0: requests per second and CPU-seconds per request of the gunicorn processes;
3. memory: peak RSS growth of a single worker tracking an email with a 5 MB and then a 25 MB attachment;
4. throttling: scaled-down per-user limits (`PUT /_devstack/limits`), a burst from one user: Dataverse requests the
   service sent while that user was inside a Retry-After window (from the log's `at`, `durationMs` and
   `retryAfter`), and whether a second user was affected.

A script that prints figures, not a test: nothing here asserts a timing. Loopback only; stops by itself.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import resource
import runpy
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = ROOT / "addin_api" / "gunicorn_conf.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024
MAX_USERS = 64
GRACE_MS = 20
GUNICORN_SHOWN = ("workers", "threads", "worker_class", "keepalive", "max_requests")
DANA_EMAIL = "dana@fabrikam.example"  # seed.DANA_EMAIL; the load generator does not import the devstack

TARGETS = {
    "track_first_round_trips": 2,
    "warm_identity_calls": 0,
    "efficiency_16": 0.9,
    "efficiency_64": 0.8,
    "rss_growth_multiple": 3.0,
    "sent_inside_retry_after": 0,
}


# -- the load generator (a separate process: `bench.py --load` with a JSON spec on stdin) -------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection to the service, reopened when the server closed it."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.tls = host, port, tls
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        """Send one request; on a connection the server had closed, reconnect and send it once more."""
        for attempt in (0, 1):
            if self._conn is None:
                if self.tls is None:
                    self._conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                else:
                    self._conn = http.client.HTTPSConnection(self.host, self.port, timeout=60, context=self.tls)
            try:
                self._conn.request(method, path, body=body, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the socket."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def email_body(message_id: str, recipients: int = 1, attachments: Sequence[dict[str, str]] = ()) -> dict[str, Any]:
    """A track-email request body from Dana (a seeded contact and lead) to `recipients` addresses."""
    body: dict[str, Any] = {
        "internetMessageId": message_id,
        "subject": "Bench",
        "body": "<p>Quarterly figures attached.</p>",
        "bodyType": "html",
        "from": {"address": DANA_EMAIL, "name": "Dana Smith"},
        "to": [{"address": f"person{i}@bench.example"} for i in range(recipients)],
        "sentAt": "2026-11-20T09:30:00Z",
    }
    if attachments:
        body["attachments"] = list(attachments)
    return body


def run_load(spec: dict[str, Any], out: TextIO) -> None:
    """Closed loop: each user tracks distinct emails back to back; report latencies of the measured window.

    Protocol on `out`: a `start` line when the measured window opens, an `end` line when its last request has
    finished, then one JSON line with the results.
    """
    host, port = spec["host"], int(spec["port"])
    tokens: list[str] = spec["tokens"]
    run = spec["run"]
    warmup = int(spec.get("warmup", 2))
    seconds = float(spec["seconds"])
    mode = spec.get("mode", "track")
    pace = float(spec.get("pace", 0.0))
    ready = threading.Barrier(len(tokens) + 1)
    go = threading.Event()
    window: dict[str, float] = {}
    results: list[list[tuple[float, float, int]]] = [[] for _ in tokens]

    replay: list[dict[str, Any]] = spec.get("replay", [])
    template_id = spec.get("templateMessageId", "")

    def request(conn: Connection, token: str, n: int, user: int) -> int:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        message_id = f"<{run}-{user}-{n}@bench.example>"
        if mode == "replay":
            # The service's own Dataverse requests for one track, for a new message (and so a new activity id).
            swaps = [
                (quote(template_id, safe="").encode(), quote(message_id, safe="").encode()),
                (json.dumps(template_id).encode(), json.dumps(message_id).encode()),
                (spec["templateActivityId"].encode(), str(uuid.uuid4()).encode()),
            ]
            status = 0
            for sent in replay:
                body = base64.b64decode(sent["body"])
                for old, new in swaps:
                    body = body.replace(old, new)
                auth = {"Authorization": f"Bearer {token}"}
                status, _ = conn.request(sent["method"], sent["path"], body, {**sent["headers"], **auth})
                if status >= 300:
                    break
            return status
        if mode == "status":
            path = "/api/v1/emails?internetMessageId=" + quote(message_id, safe="")
            status, _ = conn.request("GET", path, None, headers)
        else:
            payload = json.dumps(email_body(message_id)).encode()
            status, _ = conn.request("POST", "/api/v1/emails", payload, headers)
        return status

    def user_loop(index: int) -> None:
        tls = ssl.create_default_context(cafile=spec["caFile"]) if spec.get("caFile") else None
        conn = Connection(host, port, tls)
        token = tokens[index]
        n = 0
        try:
            for _ in range(warmup):
                request(conn, token, n, index)
                n += 1
        finally:
            ready.wait()
        go.wait()
        end = window["end"]
        while True:
            started = time.time()
            if started >= end:
                break
            try:
                status = request(conn, token, n, index)
            except OSError:
                status = 0
            results[index].append((started, time.time() - started, status))
            n += 1
            if pace:
                time.sleep(max(0.0, pace - (time.time() - started)))
        conn.close()

    threads = [threading.Thread(target=user_loop, args=(i,), daemon=True) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    ready.wait()  # every user has warmed up
    print("start", file=out, flush=True)
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    window["start"] = time.time()
    window["end"] = window["start"] + seconds
    go.set()
    for thread in threads:
        thread.join()
    finished = time.time()
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    print("end", file=out, flush=True)
    cpu = (usage_after.ru_utime + usage_after.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime)
    report = {
        "windowStart": window["start"],
        "windowEnd": finished,
        "requests": [[started, latency, status] for per_user in results for started, latency, status in per_user],
        "perUser": [len(r) for r in results],
        "loadgenCpuSeconds": cpu,
    }
    print(json.dumps(report), file=out, flush=True)


# -- processes ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def proc_cpu_seconds(pid: int | str, children: bool = False) -> float:
    """utime + stime of a process (plus its reaped children's with `children`), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")": state is field 3, so utime (14), stime (15), cutime (16), cstime (17) sit at 11..14.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def child_pids(parent: int) -> list[int]:
    """The live child processes of `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def status_kib(pid: int, field: str) -> int:
    """A `VmRSS` / `VmHWM` figure (KiB) from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class Gunicorn:
    """A gunicorn subprocess serving `app` with `options`, ready once `probe` answers 200."""

    def __init__(
        self,
        app: str,
        options: Sequence[str],
        env: dict[str, str],
        log_dir: Path,
        *,
        scheme: str = "http",
        probe: str = "/readyz",
        workers: int = 0,
        verify: str | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.log_file = log_dir / f"gunicorn-{self.port}.log"
        self._stderr = self.log_file.open("wb")
        command = [sys.executable, "-m", "gunicorn", *options, "--bind", f"127.0.0.1:{self.port}", app]
        self.process = subprocess.Popen(
            command, env={**env, "ADDIN_API_PUBLIC_URL": self.url}, stdout=subprocess.DEVNULL, stderr=self._stderr
        )
        self._wait_ready(probe, workers, verify)

    @classmethod
    def service(
        cls, devstack_env: dict[str, str], extra: dict[str, str], log_dir: Path, flags: Sequence[str] = ()
    ) -> Gunicorn:
        """The service with the shipped config and the devstack's environment (plus `extra` and gunicorn `flags`)."""
        env = {**os.environ, **devstack_env, **extra}
        env.pop("REQUESTS_CA_BUNDLE", None)
        options = ["-c", str(GUNICORN_CONF), "--chdir", str(ROOT), *flags]
        return cls("addin_api:create_app()", options, env, log_dir, workers=int(extra.get("ADDIN_API_WORKERS", "0")))

    def _wait_ready(self, probe: str, workers: int, verify: str | None) -> None:
        import requests

        deadline = time.monotonic() + 60
        with requests.Session() as http:
            http.trust_env = False
            http.verify = verify or True
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self._stderr.name}")
                try:
                    if http.get(self.url + probe, timeout=2).status_code == 200:
                        while workers and len(self.workers()) < workers and time.monotonic() < deadline:
                            time.sleep(0.1)
                        return
                except requests.RequestException:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not become ready within 60 s; see {self._stderr.name}")

    def workers(self) -> list[int]:
        """The worker processes' pids."""
        return child_pids(self.process.pid)

    def cpu_seconds(self) -> float:
        """CPU time of the master, its reaped workers and its live workers."""
        total = proc_cpu_seconds(self.process.pid, children=True)
        for pid in self.workers():
            try:
                total += proc_cpu_seconds(pid)
            except OSError:
                pass  # exited between listing and reading: the master's cutime has it once reaped
        return total

    def stop(self) -> None:
        """Stop gunicorn (SIGTERM, graceful) and wait."""
        self.process.terminate()
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._stderr.close()


# -- the benchmark ------------------------------------------------------------------------------------------------


@dataclass
class Bench:
    """The running devstack and what the phases share."""

    devstack_url: str
    devstack_cpu: Callable[[], float]
    control: Any  # requests.Session trusting the devstack CA
    devstack_env: dict[str, str]
    log_dir: Path
    seconds: float
    run_id: str

    # control surface
    def token(self, upn: str, audience: str = "addin") -> str:
        """Mint a bootstrap token as Office would (or, with audience "dataverse", one Dataverse would accept)."""
        body = {"user": upn, "audience": audience}
        response = self.control.post(f"{self.devstack_url}/_devstack/token", json=body, timeout=10)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def clear_log(self) -> None:
        """Empty the devstack request log."""
        self.control.delete(f"{self.devstack_url}/_devstack/requests", timeout=10).raise_for_status()

    def log(self) -> list[dict[str, Any]]:
        """The devstack request log."""
        response = self.control.get(f"{self.devstack_url}/_devstack/requests", timeout=30)
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["requests"]
        return entries

    def latency(self, ms: int) -> None:
        """Delay every Dataverse request by `ms` (0: no delay)."""
        self.control.delete(f"{self.devstack_url}/_devstack/faults", timeout=10).raise_for_status()
        if ms:
            fault = {"target": "dataverse", "path": ".*", "delayMs": ms}
            self.control.post(f"{self.devstack_url}/_devstack/faults", json=fault, timeout=10).raise_for_status()

    def limits(self, **limits: Any) -> dict[str, Any]:
        """Set the emulator's per-user service-protection limits."""
        response = self.control.put(f"{self.devstack_url}/_devstack/limits", json=limits, timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset(self) -> None:
        """Back to the seeded state (data, log, faults, limits and service-protection usage)."""
        self.control.post(f"{self.devstack_url}/_devstack/reset", timeout=60).raise_for_status()

    @contextmanager
    def service(self, options: Sequence[str] = (), **extra: str) -> Iterator[Gunicorn]:
        """The service under gunicorn for the block (`options`: gunicorn flags over the shipped config)."""
        server = Gunicorn.service(self.devstack_env, extra, self.log_dir, options)
        try:
            yield server
        finally:
            server.stop()

    def load(self, service: Gunicorn | None, tokens: list[str], **spec: Any) -> dict[str, Any]:
        """Run the load generator process; sample CPU of gunicorn, the devstack and the generator.

        Without a service, `spec` names the port (and CA file) of what the generator calls directly.
        """
        port = service.port if service is not None else spec.pop("port")
        full = {"host": "127.0.0.1", "port": port, "tokens": tokens, "seconds": self.seconds, **spec}
        command = [sys.executable, str(Path(__file__).resolve()), "--load"]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(full))
        process.stdin.close()
        if process.stdout.readline().strip() != "start":
            process.wait()
            raise RuntimeError("the load generator failed to start")
        service_cpu = service.cpu_seconds() if service is not None else 0.0
        devstack_cpu = self.devstack_cpu()
        if process.stdout.readline().strip() != "end":
            process.wait()
            raise RuntimeError("the load generator failed")
        service_cpu = service.cpu_seconds() - service_cpu if service is not None else 0.0
        devstack_cpu = self.devstack_cpu() - devstack_cpu
        result: dict[str, Any] = json.loads(process.stdout.readline())
        process.wait(timeout=30)
        result["serviceCpuSeconds"] = service_cpu
        result["devstackCpuSeconds"] = devstack_cpu
        return result


def service_calls(log_file: Path) -> list[dict[str, Any]]:
    """The service's `dataverse.call` events (DEBUG): send and answer times, status, Dataverse's request id."""
    calls: list[dict[str, Any]] = []
    for line in log_file.read_text(errors="replace").splitlines():
        if '"dataverse.call"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "dataverse.call" and event.get("service_request_id"):
            calls.append(event)
    return calls


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def in_window(entries: list[dict[str, Any]], start: float, end: float, kind: str) -> list[dict[str, Any]]:
    """Log entries of `kind` that arrived inside [start, end]."""
    return [e for e in entries if e["kind"] == kind and start <= arrival(e) <= end]


def arrival(entry: dict[str, Any]) -> float:
    """When the devstack received a logged request (`at` is when it answered)."""
    return float(entry["at"]) - float(entry.get("durationMs", 0)) / 1000


# -- phase 1: round trips -----------------------------------------------------------------------------------------


def round_trips(bench: Bench) -> dict[str, Any]:
    """Dataverse and identity requests per action, one worker, one user (alice)."""
    import requests

    from addin_api.devstack import seed

    rows: list[dict[str, Any]] = []
    with bench.service(ADDIN_API_WORKERS="1") as service, requests.Session() as http:
        http.trust_env = False
        http.headers["Authorization"] = f"Bearer {bench.token('alice@contoso.example')}"
        base = f"{service.url}/api/v1"
        run = bench.run_id

        def count(action: str, call: Callable[[], requests.Response]) -> requests.Response:
            bench.clear_log()
            response = call()
            log = bench.log()
            rows.append(
                {
                    "action": action,
                    "status": response.status_code,
                    "dataverse": sum(1 for e in log if e["kind"] == "dataverse"),
                    "identity": sum(1 for e in log if e["kind"] == "identity"),
                }
            )
            return response

        count("me (cold: JWKS, OBO, WhoAmI, privilege)", lambda: http.get(f"{base}/me", timeout=30))
        count("me (warm)", lambda: http.get(f"{base}/me", timeout=30))
        status_url = f"{base}/emails?internetMessageId=" + quote(f"<{run}-status@bench.example>", safe="")
        count("email status", lambda: http.get(status_url, timeout=30))
        one = email_body(f"<{run}-rt1@bench.example>", 1)
        tracked = count(
            "track email first time, 1 recipient", lambda: http.post(f"{base}/emails", json=one, timeout=30)
        )
        fifty = email_body(f"<{run}-rt50@bench.example>", 50)
        count("track email first time, 50 recipients", lambda: http.post(f"{base}/emails", json=fifty, timeout=30))
        count("track again (already tracked)", lambda: http.post(f"{base}/emails", json=one, timeout=30))
        appointment = {
            "globalObjectId": f"{run}-appointment",
            "subject": "Bench review",
            "start": "2026-12-01T15:00:00Z",
            "end": "2026-12-01T16:00:00Z",
            "organizer": {"address": "alice@contoso.example"},
            "requiredAttendees": [{"address": DANA_EMAIL}],
        }
        count("track appointment first time", lambda: http.post(f"{base}/appointments", json=appointment, timeout=30))
        activity = tracked.json()["activityId"]
        regarding = {"table": "account", "id": seed.FABRIKAM_ACCOUNT_ID}
        count(
            "set regarding",
            lambda: http.put(f"{base}/emails/{activity}/regarding", json=regarding, timeout=30),
        )
        count("clear regarding", lambda: http.delete(f"{base}/emails/{activity}/regarding", timeout=30))
        search = f"{base}/regarding?search=Fab&tables=account,contact,lead,opportunity,incident"
        count("regarding search, 5 tables", lambda: http.get(search, timeout=30))
        record = {"table": "contact", "fields": {"firstname": "Bench", "lastname": run}}
        count("create record (contact)", lambda: http.post(f"{base}/records", json=record, timeout=30))
        people = f"{base}/people?email=" + quote(DANA_EMAIL)
        count("people lookup", lambda: http.get(people, timeout=30))
        count("untrack", lambda: http.delete(f"{base}/emails/{activity}", timeout=30))

        bench.clear_log()
        statuses = []
        for i in range(100):
            url = f"{base}/me" if i % 2 == 0 else status_url
            statuses.append(http.get(url, timeout=30).status_code)
        log = bench.log()
        warm = {
            "requests": 100,
            "ok": sum(1 for s in statuses if s == 200),
            "identity": sum(1 for e in log if e["kind"] == "identity"),
            "dataverse": sum(1 for e in log if e["kind"] == "dataverse"),
        }
    return {"actions": rows, "warm100": warm}


# -- phase 2: latency efficiency and pure service cost -------------------------------------------------------------


def load_levels(bench: Bench, tokens: list[str], latency_ms: int, users: Sequence[int], **gunicorn: str) -> list[Any]:
    """Closed-loop tracking at each concurrency, Dataverse delayed by `latency_ms`."""
    levels = []
    with bench.service(**gunicorn) as service:
        try:
            for count in users:
                # The emulator filters rows in Python: start each level from the seeded data so its cost stays flat.
                bench.reset()
                bench.latency(latency_ms)
                result = bench.load(service, tokens[:count], run=f"{bench.run_id}-L{latency_ms}-u{count}-{time.time()}")
                levels.append(summarize(bench, result, latency_ms, count))
        finally:
            bench.reset()
    return levels


def summarize(bench: Bench, result: dict[str, Any], latency_ms: int, users: int) -> dict[str, Any]:
    """Percentiles, throughput, round trips per request, efficiency and CPU per request of one load level."""
    requests_ = result["requests"]
    ok = [latency for _, latency, status in requests_ if status in (200, 201)]
    errors: dict[str, int] = {}
    for _, _, status in requests_:
        if status not in (200, 201):
            errors[str(status)] = errors.get(str(status), 0) + 1
    duration = result["windowEnd"] - result["windowStart"]
    log = bench.log()
    dataverse = in_window(log, result["windowStart"], result["windowEnd"], "dataverse")
    identity = in_window(log, result["windowStart"], result["windowEnd"], "identity")
    completed = len(requests_)
    trips = len(dataverse) / completed if completed else float("nan")
    p50 = statistics.median(ok) if ok else float("nan")
    # Time spent inside the emulated Dataverse per call (the injected L plus its own processing).
    inside_ms = statistics.median(float(e["durationMs"]) for e in dataverse) if dataverse else float("nan")
    cpu_ms = (result["serviceCpuSeconds"] + result["devstackCpuSeconds"] + result["loadgenCpuSeconds"]) * 1000
    level: dict[str, Any] = {
        "latencyMs": latency_ms,
        "users": users,
        "requests": completed,
        "ok": len(ok),
        "errors": errors,
        "seconds": round(duration, 2),
        "throughput": round(len(ok) / duration, 1),
        "p50Ms": round(p50 * 1000, 1),
        "p95Ms": round(percentile(ok, 95) * 1000, 1),
        "p99Ms": round(percentile(ok, 99) * 1000, 1),
        "dataverseTripsPerRequest": round(trips, 2),
        "identityCalls": len(identity),
        "serviceCpuMsPerRequest": round(result["serviceCpuSeconds"] / max(completed, 1) * 1000, 2),
        "devstackCpuMsPerRequest": round(result["devstackCpuSeconds"] / max(completed, 1) * 1000, 2),
        "loadgenCpuMsPerRequest": round(result["loadgenCpuSeconds"] / max(completed, 1) * 1000, 2),
        "serviceCpuCoresBusy": round(result["serviceCpuSeconds"] / duration, 2),
        "allCpuCoresBusy": round(cpu_ms / 1000 / duration, 2),
        "dataverseCallMedianMs": round(inside_ms, 1),
    }
    if latency_ms:
        # The network time the service cannot avoid, over what the caller waited.
        level["efficiency"] = round(TARGETS["track_first_round_trips"] * latency_ms / 1000 / p50, 2)
        level["efficiencyMeasuredTrips"] = round(trips * latency_ms / 1000 / p50, 2)
        # What the caller waited over the time the calls spent inside the emulator (L plus its processing).
        level["efficiencyVsDataverseTime"] = round(trips * inside_ms / 1000 / p50, 2)
        # CPU the whole rig (service, emulator, load generator) would need to serve every user at the ideal latency.
        ideal_rate = users / (TARGETS["track_first_round_trips"] * latency_ms / 1000)
        level["coresNeededAtIdealLatency"] = round(ideal_rate * cpu_ms / max(completed, 1) / 1000, 2)
        level["serviceCoresNeededAtIdealLatency"] = round(
            ideal_rate * result["serviceCpuSeconds"] / max(completed, 1), 2
        )
        # The emulator is one process (one interpreter lock): beyond one core it cannot keep up at any price.
        level["emulatorCoresNeededAtIdealLatency"] = round(
            ideal_rate * result["devstackCpuSeconds"] / max(completed, 1), 2
        )
    return level


# -- phase 2e: the emulator alone --------------------------------------------------------------------------------


def capture_track(bench: Bench, upn: str, message_id: str) -> dict[str, Any]:
    """The Dataverse requests the service's own code sends to track the bench email once (first time), recorded.

    Runs `services.tracking.track` with a `DataverseClient` whose transport also writes down each request, so the
    replay sends byte for byte what the service sends (the bearer token aside).
    """

    from addin_api.dataverse.activities import EMAIL
    from addin_api.dataverse.client import DataverseClient, JsonPayload, Reply, UserGate
    from addin_api.model import TrackPolicy
    from addin_api.schemas import TrackEmailSchema
    from addin_api.services import tracking
    from addin_api.services.me import MeInfo
    from addin_api.settings import Settings
    from addin_api.wiring import build_session

    settings = Settings.from_env(bench.devstack_env)
    recorded: list[dict[str, Any]] = []

    class Recording(DataverseClient):
        def _transmit(
            self, method: str, url: str, data: bytes | JsonPayload | None, headers: dict[str, str], timeout: Any
        ) -> Reply:
            body = data.reader().read() if isinstance(data, JsonPayload) else (data or b"")
            path = url.split("://", 1)[1]
            kept = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "content-length")}
            recorded.append({"method": method, "path": path[path.index("/") :], "headers": kept, "body": body})
            return super()._transmit(method, url, data, headers, timeout)

    token = bench.token(upn, audience="dataverse")
    environment = next(iter(settings.dataverse_urls.values()))
    session = build_session(settings)
    dv = Recording(session, environment, lambda force: token, settings, UserGate(4), ("bench", upn))
    who = dv.get("WhoAmI")
    me = MeInfo(str(who["UserId"]), str(who["BusinessUnitId"]), str(who["OrganizationId"]), None, upn, True)
    recorded.clear()
    item = TrackEmailSchema().load(email_body(message_id))
    # A first track never reaches the fallback ids, so any key will do.
    policy = TrackPolicy(settings.max_attachment_bytes, os.urandom(32))
    created = tracking.track(dv, environment, me, item, policy).created_now
    session.close()
    if not created or len(recorded) != 2:
        raise RuntimeError(f"capturing a first track sent {len(recorded)} requests (created: {created})")
    return {
        "templateMessageId": message_id,
        "templateActivityId": EMAIL.activity_id(environment, message_id),
        "replay": [{**r, "body": base64.b64encode(r["body"]).decode()} for r in recorded],
    }


def emulator_alone(bench: Bench, latency_ms: int, users: Sequence[int]) -> list[dict[str, Any]]:
    """The service's two track requests sent straight to the emulator by the load generator: the rig's floor.

    With the same L and users, this is the best p50 any service could reach on this machine: the emulator's own
    processing and the machine's CPU, with no service at all.
    """
    from addin_api.devstack.config import synthetic_users

    upns = [u.upn for u in synthetic_users(max(users))]
    tokens = [bench.token(upn, audience="dataverse") for upn in upns]
    template = capture_track(bench, upns[0], f"<{bench.run_id}-template@bench.example>")
    port = int(bench.devstack_url.rsplit(":", 1)[1])
    ca_file = bench.devstack_env["ADDIN_API_CA_BUNDLE"]
    rows = []
    bench.latency(latency_ms)
    try:
        for n in users:
            bench.clear_log()
            result = bench.load(
                None, tokens[:n], mode="replay", port=port, caFile=ca_file, run=f"{bench.run_id}-floor-{n}", **template
            )
            requests_ = result["requests"]
            ok = [latency for _, latency, status in requests_ if status in (200, 201)]
            duration = result["windowEnd"] - result["windowStart"]
            p50 = statistics.median(ok) if ok else float("nan")
            dataverse = in_window(bench.log(), result["windowStart"], result["windowEnd"], "dataverse")
            rows.append(
                {
                    "latencyMs": latency_ms,
                    "users": n,
                    "tracks": len(requests_),
                    "ok": len(ok),
                    "throughput": round(len(ok) / duration, 1),
                    "p50Ms": round(p50 * 1000, 1),
                    "p95Ms": round(percentile(ok, 95) * 1000, 1),
                    "efficiency": round(TARGETS["track_first_round_trips"] * latency_ms / 1000 / p50, 2),
                    "dataverseRequestsPerTrack": round(len(dataverse) / max(len(requests_), 1), 2),
                    "dataverseCallMedianMs": round(
                        statistics.median(float(e["durationMs"]) for e in dataverse) if dataverse else float("nan"), 1
                    ),
                    "devstackCpuMsPerTrack": round(result["devstackCpuSeconds"] / max(len(requests_), 1) * 1000, 2),
                    "loadgenCpuMsPerTrack": round(result["loadgenCpuSeconds"] / max(len(requests_), 1) * 1000, 2),
                }
            )
    finally:
        bench.latency(0)
    return rows


# -- phase 3: memory ----------------------------------------------------------------------------------------------


def memory(bench: Bench) -> list[dict[str, Any]]:
    """Peak RSS growth of the only worker while it tracks an email with one 5 MB, then one 25 MB attachment."""
    import requests

    rows = []
    limit = 32 * MIB
    with (
        bench.service(ADDIN_API_WORKERS="1", ADDIN_API_MAX_ATTACHMENT_BYTES=str(limit)) as service,
        requests.Session() as http,
    ):
        http.trust_env = False
        http.headers["Authorization"] = f"Bearer {bench.token('alice@contoso.example')}"
        (worker,) = service.workers()
        small = {"name": "warm.txt", "contentType": "text/plain", "contentBase64": base64.b64encode(b"x").decode()}
        warm = email_body(f"<{bench.run_id}-mem-warm@bench.example>", attachments=[small])
        http.post(f"{service.url}/api/v1/emails", json=warm, timeout=60).raise_for_status()
        for size_mb in (5, 25):
            size = size_mb * 1000 * 1000
            content = base64.b64encode(os.urandom(size)).decode()
            attachment = {
                "name": f"{size_mb}mb.bin",
                "contentType": "application/octet-stream",
                "contentBase64": content,
            }
            payload = json.dumps(email_body(f"<{bench.run_id}-mem-{size_mb}@bench.example>", attachments=[attachment]))
            del content, attachment
            idle = status_kib(worker, "VmRSS")
            reset = reset_peak_rss(worker)
            before_peak = status_kib(worker, "VmHWM")
            response = http.post(
                f"{service.url}/api/v1/emails",
                data=payload,
                headers={"Content-Type": "application/json"},
                timeout=120,
            )
            peak = status_kib(worker, "VmHWM")
            growth = (peak - idle) * 1024
            rows.append(
                {
                    "attachmentBytes": size,
                    "status": response.status_code,
                    "saved": response.json().get("attachments", {}).get("saved") if response.ok else None,
                    "requestBodyBytes": len(payload),
                    "idleRssMiB": round(idle / 1024, 1),
                    "peakRssMiB": round(peak / 1024, 1),
                    "peakWasReset": reset and before_peak <= idle + 1024,
                    "growthMiB": round(growth / MIB, 1),
                    "growthMultiple": round(growth / size, 2),
                }
            )
    return rows


def reset_peak_rss(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux ≥ 4.0, own processes); tell whether it worked."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# -- phase 4: throttling ------------------------------------------------------------------------------------------


def throttling(
    bench: Bench,
    tokens: list[str],
    retry_after: int,
    workers: str,
    options: Sequence[str] = (),
    redis_url: str | None = None,
) -> dict[str, Any]:
    """A burst from one user against scaled-down limits while another user sends at a gentle pace."""
    bench.reset()
    limits = bench.limits(requests=20, windowSeconds=5, retryAfter=retry_after)
    # At DEBUG the service logs each Dataverse call with its send and answer times (`dataverse.call`).
    extra = {"ADDIN_API_WORKERS": workers, "ADDIN_API_LOG_LEVEL": "DEBUG"}
    if redis_url is not None:
        extra["ADDIN_API_REDIS_URL"] = redis_url
        options = [*options, "(Redis)"]
    try:
        with bench.service([o for o in options if o != "(Redis)"], **extra) as service:
            bench.clear_log()
            burst_spec = {"mode": "status", "warmup": 0, "run": f"{bench.run_id}-burst"}
            other: dict[str, Any] = {}

            def gentle() -> None:
                # The other user: one request a second, far under its own limit.
                other.update(bench.load(service, [tokens[1]], mode="status", warmup=0, pace=1.0, run="other"))

            thread = threading.Thread(target=gentle)
            thread.start()
            burst = bench.load(service, [tokens[0]] * 8, **burst_spec)
            thread.join()
            log = bench.log()
        calls = service_calls(service.log_file)
    finally:
        bench.reset()
    burst_user, other_user = "bench-user-01@contoso.example", "bench-user-02@contoso.example"
    mine = [e for e in log if e["kind"] == "dataverse" and e.get("user") == burst_user]
    # Seen from Dataverse: requests arriving after it answered a 429, until that Retry-After ends. These include
    # requests the service had already sent, on other connections, before the 429 reached it.
    windows = [(float(e["at"]), float(e["at"]) + float(e["retryAfter"])) for e in mine if e["status"] == 429]
    inside = [e for e in mine if any(start < arrival(e) < end for start, end in windows)]
    inside_offsets = [
        round(min(arrival(e) - start for start, end in windows if start < arrival(e) < end) * 1000, 1) for e in inside
    ]
    after_grace = sum(1 for offset in inside_offsets if offset > GRACE_MS)
    # Seen from the service (the target): requests it sent for the user after one of its workers had opened the
    # window for a 429 (recorded where every worker checks before sending), until that Retry-After ended. Its calls
    # are matched to Dataverse's log by x-ms-service-request-id. Also counted from the moment the 429 was read off
    # the socket, which adds what another worker sent in the fraction of a millisecond before the window was shared.
    retry_after_of = {e["serviceRequestId"]: float(e["retryAfter"]) for e in mine if e["status"] == 429}
    my_calls = [c for c in calls if c["service_request_id"] in {e["serviceRequestId"] for e in mine}]
    throttled = [c for c in my_calls if c["service_request_id"] in retry_after_of and c.get("window_opened_at")]

    def sent_within(opened: str, at: str = "sent_at") -> list[float]:
        # A Retry-After counts from when its answer arrived (`answered_at`), whenever the window is taken to open.
        spans = [(c[opened], c["answered_at"] + retry_after_of[c["service_request_id"]]) for c in throttled]
        return [
            round(min(c[at] - start for start, end in spans if start < c[at] < end) * 1000, 2)
            for c in my_calls
            if any(start < c[at] < end for start, end in spans)
        ]

    # The target: calls whose last look at the user's window came after a worker had opened it. A call that looked
    # just before can still leave a moment after (its worker finishing the request it had decided to send).
    decided_in_window = sent_within("window_opened_at", "checked_at")
    sent_in_window = sent_within("window_opened_at")
    sent_after_read = sent_within("answered_at")
    statuses: dict[str, int] = {}
    for _, _, status in burst["requests"]:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    other_statuses: dict[str, int] = {}
    for _, _, status in other["requests"]:
        other_statuses[str(status)] = other_statuses.get(str(status), 0) + 1
    other_trips = [e for e in log if e["kind"] == "dataverse" and e.get("user") == other_user]
    return {
        "workers": int(workers),
        "gunicornOptions": " ".join(options),
        "limits": limits,
        "burstClientStatuses": statuses,
        "burstDataverseRequests": len(mine),
        "dataverse429s": len(windows),
        "serviceCallsMatched": len(my_calls),
        "decidedInsideRetryAfter": len(decided_in_window),
        "sentInsideRetryAfter": len(sent_in_window),
        "sentInsideOffsetsMs": sent_in_window[:20],
        "sentAfterThe429WasRead": len(sent_after_read),
        "sentAfterThe429WasReadOffsetsMs": sent_after_read[:20],
        "arrivedInsideRetryAfter": len(inside),
        "arrivedInsideAfterGrace": after_grace,
        "arrivedInsideOffsetsMs": inside_offsets[:20],
        "otherUserClientStatuses": other_statuses,
        "otherUserDataverse429s": sum(1 for e in other_trips if e["status"] == 429),
    }


@contextmanager
def redis_server(data_dir: Path) -> Iterator[str | None]:
    """A throwaway redis-server on a loopback port without persistence; None when none is installed."""
    import shutil

    if shutil.which("redis-server") is None:
        yield None
        return
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, cwd=data_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- report -------------------------------------------------------------------------------------------------------


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def print_report(results: dict[str, Any]) -> None:
    """The table."""
    print(f"\naddin-api bench  {results['when']}  cores {results['cpus']}  loadavg before {results['loadavgBefore']}")
    print(f"devstack: {results['devstack']}; service gunicorn defaults: {results['gunicornDefaults']}")
    if "roundTrips" in results:
        print("\n1. Round trips per action (one worker, alice)")
        print(f"  {'action':44s} {'status':>6s} {'dataverse':>9s} {'identity':>8s}")
        for row in results["roundTrips"]["actions"]:
            print(f"  {row['action']:44s} {row['status']:>6d} {row['dataverse']:>9d} {row['identity']:>8d}")
        warm = results["roundTrips"]["warm100"]
        print(
            f"  100 further requests of one user (me / status): identity {warm['identity']}, "
            f"dataverse {warm['dataverse']}, ok {warm['ok']}"
        )
    for title, key in (
        ("2. Load", "load"),
        ("2b. Load, tuned gunicorn", "loadTuned"),
        ("2c. Load, long latency (CPU no longer the limit)", "loadSlow"),
        ("2d. Load, long latency, tuned gunicorn", "loadSlowTuned"),
    ):
        if not results.get(key):
            continue
        print(f"\n{title}: closed-loop users tracking distinct emails ({results[key + 'Config']})")
        print(
            f"  {'L ms':>4s} {'users':>5s} {'req':>5s} {'err':>4s} {'req/s':>6s} {'p50':>7s} {'p95':>7s} {'p99':>7s}"
            f" {'trips':>5s} {'eff':>5s} {'eff/dv':>6s} {'svc cpu ms/req':>14s} {'devstack':>8s} {'loadgen':>7s}"
            f" {'cores busy':>10s} {'cores needed':>12s} {'idp':>4s}"
        )
        for lv in results[key]:
            eff = f"{lv['efficiency']:.2f}" if "efficiency" in lv else "-"
            eff_dv = f"{lv['efficiencyVsDataverseTime']:.2f}" if "efficiency" in lv else "-"
            needed = f"{lv['coresNeededAtIdealLatency']:.2f}" if "efficiency" in lv else "-"
            print(
                f"  {lv['latencyMs']:>4d} {lv['users']:>5d} {lv['requests']:>5d} {sum(lv['errors'].values()):>4d}"
                f" {lv['throughput']:>6.1f} {lv['p50Ms']:>7.1f} {lv['p95Ms']:>7.1f} {lv['p99Ms']:>7.1f}"
                f" {lv['dataverseTripsPerRequest']:>5.2f} {eff:>5s} {eff_dv:>6s} {lv['serviceCpuMsPerRequest']:>14.2f}"
                f" {lv['devstackCpuMsPerRequest']:>8.2f} {lv['loadgenCpuMsPerRequest']:>7.2f}"
                f" {lv['allCpuCoresBusy']:>10.2f} {needed:>12s} {lv['identityCalls']:>4d}"
            )
    if results.get("emulatorAlone"):
        print(
            "\n2e. The emulator alone: the load generator sends the service's two track requests straight to it"
            " (the best any service could do on this machine)"
        )
        print(
            f"  {'L ms':>4s} {'users':>5s} {'tracks':>6s} {'ok':>5s} {'tracks/s':>8s} {'p50':>7s} {'p95':>7s}"
            f" {'eff':>5s} {'dv call p50':>11s} {'devstack ms/track':>17s} {'loadgen':>7s}"
        )
        for row in results["emulatorAlone"]:
            print(
                f"  {row['latencyMs']:>4d} {row['users']:>5d} {row['tracks']:>6d} {row['ok']:>5d}"
                f" {row['throughput']:>8.1f} {row['p50Ms']:>7.1f} {row['p95Ms']:>7.1f} {row['efficiency']:>5.2f}"
                f" {row['dataverseCallMedianMs']:>11.1f} {row['devstackCpuMsPerTrack']:>17.2f}"
                f" {row['loadgenCpuMsPerTrack']:>7.2f}"
            )
    if "memory" in results:
        print("\n3. Memory: one worker tracking one attachment")
        for row in results["memory"]:
            print(
                f"  {row['attachmentBytes'] / 1e6:>4.0f} MB: status {row['status']}, idle {row['idleRssMiB']} MiB, "
                f"peak {row['peakRssMiB']} MiB, growth {row['growthMiB']} MiB = {row['growthMultiple']}x"
                f"{'' if row['peakWasReset'] else ' (VmHWM not reset)'}"
            )
    if "throttling" in results:
        print("\n4. Throttling: 8 parallel status requests of one user for the window, a second user at 1 req/s")
        for row in results["throttling"]:
            limits = row["limits"]
            print(
                f"  workers {row['workers']} {row['gunicornOptions']}, limits {limits['requests']} req / "
                f"{limits['windowSeconds']:g} s, "
                f"Retry-After {limits['retryAfter']} s: client {row['burstClientStatuses']}; Dataverse requests "
                f"{row['burstDataverseRequests']} (of which the service logged {row['serviceCallsMatched']}), "
                f"429s {row['dataverse429s']}; sent on a decision taken inside a Retry-After window the service "
                f"had opened {row['decidedInsideRetryAfter']}; sent (decided just before) after it opened "
                f"{row['sentInsideRetryAfter']} {row['sentInsideOffsetsMs']} ms; "
                f"sent after a worker read a 429 {row['sentAfterThe429WasRead']} "
                f"{row['sentAfterThe429WasReadOffsetsMs']} ms; arrived at Dataverse after its 429 (already on the "
                f"wire included) {row['arrivedInsideRetryAfter']}, of which more than {GRACE_MS} ms after it "
                f"{row['arrivedInsideAfterGrace']}; other user {row['otherUserClientStatuses']}, "
                f"its 429s {row['otherUserDataverse429s']}"
            )
    print("\nTargets")
    for name, (value, target, met) in results["targets"].items():
        print(f"  {'met   ' if met else 'MISSED'} {name}: {value} (target {target})")
    alone = {row["users"]: row["efficiency"] for row in results.get("emulatorAlone", [])}
    for lv in results.get("load", []):
        if lv["latencyMs"] and lv["users"] in alone:
            # What the emulator allows on this machine bounds what the service can show (phase 2e).
            print(
                f"  note   {lv['users']} users, L={lv['latencyMs']} ms: the emulator alone reaches {alone[lv['users']]}"
                f", the service {lv['efficiency']} ({lv['efficiency'] / alone[lv['users']]:.2f} of it)"
            )
    print(f"\nloadavg after {results['loadavgAfter']}; {results['elapsedSeconds']} s")


def evaluate(results: dict[str, Any]) -> dict[str, tuple[Any, Any, bool]]:
    """Each target: (measured, target, met)."""
    targets: dict[str, tuple[Any, Any, bool]] = {}
    if "roundTrips" in results:
        actions = {row["action"]: row for row in results["roundTrips"]["actions"]}
        first = [actions[a]["dataverse"] for a in actions if a.startswith("track email first time")]
        targets["track email first time, Dataverse round trips (1 / 50 recipients)"] = (first, 2, max(first) <= 2)
        warm = results["roundTrips"]["warm100"]["identity"]
        targets["identity calls in 100 warm requests of one user"] = (warm, 0, warm == 0)
    for key, label in (
        ("load", "defaults"),
        ("loadTuned", results.get("loadTunedConfig", "")),
        ("loadSlow", "defaults"),
        ("loadSlowTuned", results.get("loadSlowTunedConfig", "")),
    ):
        by_users = {lv["users"]: lv for lv in results.get(key, []) if lv["latencyMs"]}
        for n, target in ((16, TARGETS["efficiency_16"]), (64, TARGETS["efficiency_64"])):
            if n in by_users:
                value = by_users[n]["efficiency"]
                name = f"latency efficiency, {n} users, L={by_users[n]['latencyMs']} ms ({label})"
                targets[name] = (value, target, value >= target)
    if "memory" in results:
        for row in results["memory"]:
            name = f"peak RSS growth / attachment size, {row['attachmentBytes'] / 1e6:.0f} MB"
            targets[name] = (row["growthMultiple"], 3.0, row["growthMultiple"] <= 3.0)
    for row in results.get("throttling", []):
        where = f"{row['workers']} worker(s) {row['gunicornOptions']}, Retry-After {row['limits']['retryAfter']} s"
        sent, target = row["decidedInsideRetryAfter"], TARGETS["sent_inside_retry_after"]
        matched = row["serviceCallsMatched"] == row["burstDataverseRequests"]
        targets[f"Dataverse requests sent inside a Retry-After window (decided after it opened), {where}"] = (
            sent,
            0,
            sent == 0 and matched,
        )
        other = set(row["otherUserClientStatuses"]) <= {"200"} and row["otherUserDataverse429s"] == 0
        targets[f"other user unaffected, {where}"] = (other, True, other)
    return targets


@contextmanager
def devstack(data_dir: Path) -> Iterator[tuple[str, Path, Callable[[], float]]]:
    """Run `addin-api devstack` (a subprocess, started exactly as the command starts it, with `--users`); yield its
    URL, CA file and a CPU-seconds reading of its process.
    """
    port = free_port()
    command = [
        *(sys.executable, "-m", "addin_api.cli", "devstack"),
        *("--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--users", str(MAX_USERS)),
    ]
    log = (data_dir / "devstack.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log)
    assert process.stdout is not None
    try:
        deadline = time.monotonic() + 60
        url = ""
        while not url:
            line = process.stdout.readline().decode()
            if not line or time.monotonic() > deadline:
                raise RuntimeError(f"addin-api devstack did not start; see {log.name}")
            if line.startswith("ready: "):
                url = line.split(" ", 1)[1].strip()
        yield url, data_dir / "ca.pem", lambda: proc_cpu_seconds(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        log.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run every phase, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--latency-ms", type=int, default=50, help="Dataverse latency L (default 50)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per load level (default 5)")
    parser.add_argument("--users", default="1,16,64", help="concurrent users per level (default 1,16,64)")
    parser.add_argument(
        "--slow-latency-ms", type=int, default=400, help="a second, CPU-light latency for 16/64 users (0: skip)"
    )
    parser.add_argument(
        "--tuned-workers", type=int, default=4, help="gunicorn workers of the tuned run (ADDIN_API_WORKERS; 0: skip)"
    )
    parser.add_argument(
        "--phases", default="roundtrips,load,memory,throttling", help="comma-separated subset of the phases to run"
    )
    parser.add_argument("--out", default="bench-results.json", help="where to write the JSON")
    args = parser.parse_args(argv)
    if args.load:
        run_load(json.loads(sys.stdin.read()), sys.stdout)
        return 0

    import requests

    from addin_api.cli import dev_environment
    from addin_api.devstack.config import synthetic_users

    users = [int(u) for u in args.users.split(",")]
    started = time.monotonic()
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "loadavgBefore": loadavg(),
        "gunicornDefaults": {k: v for k, v in runpy.run_path(str(GUNICORN_CONF)).items() if k in GUNICORN_SHOWN},
    }
    results["devstack"] = f"addin-api devstack --users {MAX_USERS}"
    with (
        tempfile.TemporaryDirectory(prefix="addin-bench-") as tmp,
        devstack(Path(tmp)) as (url, ca_file, devstack_cpu),
        requests.Session() as control,
    ):
        control.trust_env = False
        control.verify = str(ca_file)
        config = control.get(f"{url}/_devstack/config", timeout=10).json()
        bench = Bench(
            devstack_url=url,
            devstack_cpu=devstack_cpu,
            control=control,
            devstack_env=dev_environment(config, "http://127.0.0.1"),
            log_dir=Path(tmp),
            seconds=args.seconds,
            run_id=uuid.uuid4().hex[:8],
        )
        tokens = [bench.token(u.upn) for u in synthetic_users(MAX_USERS)]
        phases = set(args.phases.split(","))
        if "roundtrips" in phases:
            print("round trips", file=sys.stderr, flush=True)
            results["roundTrips"] = round_trips(bench)
        if "load" in phases:
            print("load", file=sys.stderr, flush=True)
            results["loadConfig"] = "gunicorn_conf.py defaults"
            results["load"] = load_levels(bench, tokens, args.latency_ms, users) + load_levels(bench, tokens, 0, users)
            if args.tuned_workers:
                results["loadTunedConfig"] = f"ADDIN_API_WORKERS={args.tuned_workers}"
                results["loadTuned"] = load_levels(
                    bench, tokens, args.latency_ms, [max(users)], ADDIN_API_WORKERS=str(args.tuned_workers)
                )
            if args.slow_latency_ms:
                # A latency long enough that the whole rig needs well under one core: what is left is queueing.
                slow = [u for u in users if u > 1]
                results["loadSlowConfig"] = f"gunicorn_conf.py defaults, L={args.slow_latency_ms} ms"
                results["loadSlow"] = load_levels(bench, tokens, args.slow_latency_ms, slow)
                if args.tuned_workers:
                    results["loadSlowTunedConfig"] = (
                        f"ADDIN_API_WORKERS={args.tuned_workers}, L={args.slow_latency_ms} ms"
                    )
                    results["loadSlowTuned"] = load_levels(
                        bench, tokens, args.slow_latency_ms, [max(users)], ADDIN_API_WORKERS=str(args.tuned_workers)
                    )
        if "load" in phases or "floor" in phases:
            print("emulator alone", file=sys.stderr, flush=True)
            results["emulatorAlone"] = emulator_alone(bench, args.latency_ms, users)
        if "memory" in phases:
            print("memory", file=sys.stderr, flush=True)
            results["memory"] = memory(bench)
        if "throttling" in phases:
            print("throttling", file=sys.stderr, flush=True)
            results["throttling"] = [
                throttling(bench, tokens, retry_after, workers) for workers in ("1", "2") for retry_after in (2, 10)
            ]
            # Once more without worker recycling (`max_requests`), which forgets the Retry-After windows.
            results["throttling"].append(throttling(bench, tokens, 10, "1", ("--max-requests", "0")))
            # And with the windows shared through Redis (ADDIN_API_REDIS_URL), when a redis-server is installed.
            with redis_server(Path(tmp)) as redis_url:
                if redis_url is not None:
                    for retry_after in (2, 10):
                        row = throttling(bench, tokens, retry_after, "2", redis_url=redis_url)
                        results["throttling"].append(row)
    results["loadavgAfter"] = loadavg()
    results["elapsedSeconds"] = round(time.monotonic() - started, 1)
    results["targets"] = evaluate(results)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print_report(results)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
