"""`addin-api mailbox approve|test|status` as a real process against a running devstack, as an administrator runs it.

The command acts as the app's Dataverse application user with client-credentials tokens (and Graph's, for Test &
Enable), configured by the same `ADDIN_API_*` variables as the service.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from test_gunicorn import free_port

from addin_api.cli import dev_environment
from addin_api.sync.admin import INCOMING_EMAIL_REJECTED

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "addin_api.cli"]
ALICE, BOB, CAROL, MEGAN = (f"{name}@contoso.example" for name in ("alice", "bob", "carol", "megan"))


@dataclass
class Stack:
    """A devstack process, its control surface and the environment the CLI is given."""

    url: str
    http: requests.Session
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `addin-api mailbox …` to completion."""
        return subprocess.run(
            [*CLI, "mailbox", *args], capture_output=True, text=True, timeout=120, env=self.env, check=False
        )

    def mailbox(self, upn: str) -> dict[str, Any]:
        """The user's mailbox row, read as megan (an administrator), not through the CLI."""
        found = self.http.get(
            self.api + f"systemusers?$filter=domainname eq '{upn}'&$expand=defaultmailbox",
            headers=self.as_megan(),
            timeout=10,
        )
        box: dict[str, Any] = found.json()["value"][0]["defaultmailbox"]
        return box

    def change_mailbox(self, upn: str, values: dict[str, Any]) -> None:
        """PATCH the user's mailbox row as megan."""
        url = self.api + f"mailboxes({self.mailbox(upn)['mailboxid']})"
        self.http.patch(url, json=values, headers={**self.as_megan(), "If-Match": "*"}, timeout=10).raise_for_status()

    @property
    def api(self) -> str:
        """The emulated Dataverse Web API."""
        return f"{self.url}/api/data/v9.2/"

    def as_megan(self) -> dict[str, str]:
        """Headers with a Dataverse token for megan."""
        token = self.http.post(f"{self.url}/_devstack/token", json={"user": MEGAN, "audience": "dataverse"}, timeout=10)
        return {"Authorization": f"Bearer {token.json()['access_token']}", "Accept": "application/json"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`addin-api devstack` on a free port, and the CLI's environment for it."""
    data_dir = tmp_path_factory.mktemp("mailbox-cli")
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "devstack", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not process.stdout.readline().startswith("ready: "):
            pass
        http = requests.Session()
        http.trust_env = False
        http.verify = str(Path(data_dir) / "ca.pem")
        config = http.get(f"https://127.0.0.1:{port}/_devstack/config", timeout=10).json()
        env = {**os.environ, **dev_environment(config, "https://127.0.0.1:5000")}
        yield Stack(f"https://127.0.0.1:{port}", http, env)
        http.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        process.stdout.close()


@pytest.fixture()
def devstack(stack: Stack) -> Stack:
    """The module's devstack, back in its seeded state."""
    stack.http.post(f"{stack.url}/_devstack/reset", timeout=30).raise_for_status()
    return stack


def test_approve_bob_then_status_shows_him_approved(devstack: Stack) -> None:
    """Megan (an administrator) approves bob's address through the app; his mailbox and status say approved."""
    before = devstack.run("status", "--user", BOB)
    approved = devstack.run("approve", "--user", BOB, "--by", MEGAN)
    after = devstack.run("status", "--user", BOB)

    assert (0, 0, 0) == (before.returncode, approved.returncode, after.returncode), approved.stderr
    assert "approved:      no" in before.stdout
    assert "approved:      yes" in after.stdout
    assert "the email address is not approved" not in after.stdout
    assert 1 == devstack.mailbox(BOB)["emailrouteraccessapproval"]
    assert "" == after.stderr


def test_approve_without_an_administrator_is_refused_in_one_line(devstack: Stack) -> None:
    """Bob cannot approve carol (no prvApproveRejectEmailAddress): exit 1, one line naming the problem, no change."""
    done = devstack.run("approve", "--user", CAROL, "--by", BOB)

    assert 1 == done.returncode
    assert [
        "addin-api mailbox approve: You do not have the privileges for this operation in Dynamics 365 "
        "(dataverse_forbidden)"
    ] == done.stderr.splitlines()
    assert 1 == devstack.mailbox(CAROL)["emailrouteraccessapproval"]


def test_test_and_enable_for_alice_succeeds_and_writes_the_statuses(devstack: Stack) -> None:
    """Alice's mailbox answers Graph: every direction Success, the test time recorded, the mark kept here."""
    done = devstack.run("test", "--user", ALICE)

    box = devstack.mailbox(ALICE)
    assert 0 == done.returncode, done.stderr
    assert (1, 1, 1) == (box["incomingemailstatus"], box["outgoingemailstatus"], box["actstatus"])
    assert box["testmailboxaccesscompletedon"] != "2025-01-06T08:30:00Z"
    assert (True, False) == (box["orgmarkedasprimaryforexchangesync"], box["testemailconfigurationscheduled"])
    assert "  incoming:     success" in done.stdout.splitlines()


def test_a_mailbox_held_by_another_environment_fails_incoming_until_taken_over(devstack: Stack) -> None:
    """Tested before but not marked here: IncomingEmailRejected and exit 1; --take-over moves the mark here."""
    devstack.change_mailbox(ALICE, {"orgmarkedasprimaryforexchangesync": False})

    rejected = devstack.run("test", "--user", ALICE)
    box = devstack.mailbox(ALICE)
    taken = devstack.run("test", "--user", ALICE, "--take-over")

    assert 1 == rejected.returncode
    assert {"  incoming:     failure", f"  reason:       {INCOMING_EMAIL_REJECTED}"} <= set(
        rejected.stdout.splitlines()
    )
    assert 1 == len(rejected.stderr.splitlines())
    assert (2, 1, False) == (
        box["incomingemailstatus"],
        box["outgoingemailstatus"],
        box["orgmarkedasprimaryforexchangesync"],
    )
    assert 0 == taken.returncode, taken.stderr
    assert (1, True) == (
        devstack.mailbox(ALICE)["incomingemailstatus"],
        devstack.mailbox(ALICE)["orgmarkedasprimaryforexchangesync"],
    )


def test_status_for_carol_says_incoming_sync_is_off(devstack: Stack) -> None:
    """Carol's incoming email is not delivered by server-side synchronization, and that blocks tracking."""
    done = devstack.run("status", "--user", CAROL)

    assert 0 == done.returncode, done.stderr
    assert "incoming:      off (not delivered by server-side synchronization)" in done.stdout.splitlines()
    assert any("incoming email is not synchronized" in line for line in done.stdout.splitlines())


def test_usage_errors_exit_2(devstack: Stack) -> None:
    """A missing --user or --by, or an environment that is not configured, is a usage error."""
    missing = devstack.run("status")
    no_approver = devstack.run("approve", "--user", BOB)
    elsewhere = devstack.run("status", "--user", ALICE, "--environment", "https://elsewhere.crm.dynamics.com")

    assert (2, 2, 2) == (missing.returncode, no_approver.returncode, elsewhere.returncode)
    assert 2 == devstack.mailbox(BOB)["emailrouteraccessapproval"]
    assert 1 == len(elsewhere.stderr.splitlines())


def test_an_unknown_user_fails_in_one_line(devstack: Stack) -> None:
    """No such sign-in name: exit 1, one line, nothing on stdout."""
    done = devstack.run("status", "--user", "nobody@contoso.example")

    assert (1, "") == (done.returncode, done.stdout)
    assert ["addin-api mailbox status: No user signs in as nobody@contoso.example in this environment (not_found)"] == (
        done.stderr.splitlines()
    )
