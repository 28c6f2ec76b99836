"""`addin-api dev` starts the devstack and the service, prints a `ready:` line per server, and stops on SIGINT."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
from test_gunicorn import free_port

pytestmark = pytest.mark.slow


def test_dev_prints_ready_lines_and_serves(tmp_path: Path) -> None:
    """Both servers answer at the printed URLs with the printed token; Ctrl-C ends the process cleanly."""
    port, devstack_port = free_port(), free_port()
    command = [sys.executable, "-m", "addin_api.cli", "dev", "--port", str(port), "--devstack-port", str(devstack_port)]
    process = subprocess.Popen(
        [*command, "--data-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        ready: list[str] = []
        token = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not token:
            line = process.stdout.readline()
            if line.startswith("ready: "):
                ready.append(line.removeprefix("ready: ").strip())
            elif line.startswith("TOKEN="):
                token = line.removeprefix("TOKEN=").strip()
        assert [f"https://127.0.0.1:{devstack_port}", f"https://127.0.0.1:{port}"] == ready
        session = requests.Session()
        session.trust_env = False
        session.verify = str(tmp_path / "ca.pem")
        me = session.get(f"{ready[1]}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert (200, "Alice Wong") == (me.status_code, me.json()["name"])
        assert 200 == session.get(f"{ready[0]}/_devstack/config", timeout=10).status_code
        assert 200 == session.get(f"{ready[1]}/dev", timeout=10).status_code
        assert 200 == session.get(f"{ready[1]}/taskpane.html", timeout=10).status_code
    finally:
        process.send_signal(signal.SIGINT)
        assert 0 == process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()


def test_manifest_command_renders_for_a_deployment() -> None:
    """`addin-api manifest` prints a well-formed manifest pointing at the given host and app id."""
    client_id = "4d7e2b9a-6c1f-4e3d-a8b5-9f0e1d2c3b4a"
    command = [sys.executable, "-m", "addin_api.cli", "manifest", "--base-url", "https://addin.contoso.example"]
    done = subprocess.run([*command, "--client-id", client_id], capture_output=True, text=True, timeout=60)
    assert 0 == done.returncode, done.stderr
    root = ElementTree.fromstring(done.stdout)
    assert root.tag.endswith("OfficeApp")
    assert "https://addin.contoso.example/taskpane.html" in done.stdout
    assert f"api://addin.contoso.example/{client_id}" in done.stdout


@pytest.mark.parametrize("busy", ["--port", "--devstack-port"])
def test_dev_on_a_busy_port_names_the_flag_that_moves_it(tmp_path: Path, busy: str) -> None:
    """A port already taken: `addin-api dev` exits 1 naming the port and the flag to choose another, no traceback."""
    ports = {"--port": free_port(), "--devstack-port": free_port()}
    holder = socket.socket()
    holder.bind(("127.0.0.1", ports[busy]))
    holder.listen()
    try:
        command = [sys.executable, "-m", "addin_api.cli", "dev", "--data-dir", str(tmp_path)]
        for flag, port in ports.items():
            command += [flag, str(port)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        holder.close()
    assert 1 == done.returncode
    assert f"127.0.0.1:{ports[busy]}" in done.stderr
    assert f"choose another port with {busy} <port>" in done.stderr
    assert "Traceback" not in done.stderr
    assert "ready:" not in done.stdout


def test_dev_runs_a_sync_worker_the_harness_feeds(tmp_path: Path) -> None:
    """`make dev` shows mailbox sync: a message arrives, the harness gives it the category, the activity lands and
    the pane's status of it says the worker tracked it."""
    port, devstack_port = free_port(), free_port()
    command = [sys.executable, "-m", "addin_api.cli", "dev", "--port", str(port), "--devstack-port", str(devstack_port)]
    with (tmp_path / "dev.err").open("wb") as err:
        process = subprocess.Popen(
            [*command, "--data-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=err, text=True
        )
    assert process.stdout is not None
    try:
        token = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not token:
            line = process.stdout.readline()
            token = line.removeprefix("TOKEN=").strip() if line.startswith("TOKEN=") else ""
        session = requests.Session()
        session.trust_env, session.verify = False, str(tmp_path / "ca.pem")
        service = f"https://127.0.0.1:{port}"
        alice = "alice@contoso.example"
        arrived = session.post(
            f"{service}/dev/api/mail/deliver", json={"user": alice, "subject": "dev-sync"}, timeout=30
        )
        internet_id = arrived.json()["internetMessageId"]
        message_id = arrived.json()["deliveries"][0]["messageId"]
        given = session.post(f"{service}/dev/api/mail/categorize", json={"user": alice, "id": message_id}, timeout=30)
        assert given.status_code == 204, given.text

        def status() -> dict[str, object]:
            found = session.get(
                f"{service}/api/v1/emails",
                params={"internetMessageId": internet_id},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            body: dict[str, object] = found.json()
            return body

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and status().get("syncState") != "tracked":
            time.sleep(0.2)
        assert {"tracked": True, "syncState": "tracked"}.items() <= status().items()
    finally:
        process.send_signal(signal.SIGINT)
        assert 0 == process.wait(timeout=30)
        process.stdout.close()
