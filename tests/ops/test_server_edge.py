"""What `addin-api serve` answers at its edge: big tokens, what gunicorn refuses (problem+json), pane path spellings
and the public identity, all over real HTTP against gunicorn with the shipped config."""

from __future__ import annotations

import json
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import ALICE, Devstack
from opsutil import Service, serving

from addin_api.auth.tokens import MAX_TOKEN_BYTES

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from test_taskpane_routes import STANDIN_MARK, STANDIN_SPELLINGS, raw_get  # noqa: E402

pytestmark = pytest.mark.slow
PUBLIC_URL = "https://addin.contoso.example"


@pytest.fixture()
def service(devstack: Devstack, tmp_path: Path) -> Iterator[Service]:
    """`addin-api serve` (one worker) against the devstack, with a public URL unlike the address it listens on."""
    with serving(devstack, tmp_path, workers=1, public_url=PUBLIC_URL) as started:
        yield started


def raw(port: int, payload: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer (the server closes): status, headers (lower-case names), body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]))
    return int(lines[0].split(" ", 2)[1]), headers, body


def group_token(devstack: Devstack, size: int) -> str:
    """A valid token for Alice grown to about `size` bytes by group claims (as Entra adds them)."""
    groups = [str(uuid.uuid4()) for _ in range(size * 3 // 4 // 39)]  # 39 bytes each, base64url adds a third
    return devstack.token(ALICE, groups=groups)


def test_a_valid_token_with_group_claims_over_8_kb_is_accepted(service: Service, devstack: Devstack) -> None:
    """A 12 KB token (gunicorn's default limit is 8 KB) reaches the app and is accepted."""
    token = group_token(devstack, 12 * 1024)
    assert 12 * 1024 - 500 < len(token) < MAX_TOKEN_BYTES
    answered = requests.get(f"{service.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert (200, True) == (answered.status_code, answered.json()["canUseAddIn"])


def test_a_token_over_the_app_limit_is_refused_by_the_app(service: Service, devstack: Devstack) -> None:
    """Just over 16 KB the app, not gunicorn, refuses the token: 401 invalid_token problem+json."""
    token = "x" * (MAX_TOKEN_BYTES + 10)
    answered = requests.get(f"{service.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert (401, "application/problem+json", "invalid_token") == (
        answered.status_code,
        answered.headers["Content-Type"],
        answered.json()["code"],
    )


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"a" * 40000 + b"\r\n\r\n", 431, None),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(60)) + b"\r\n",
            431,
            None,
        ),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (b"GARBAGE\r\n\r\n", 400, "bad_request"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n", 400, "bad_request"),
        (b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request"),
    ],
    ids=["header-too-long", "too-many-headers", "request-line-too-long", "bad-request-line", "bad-header", "version"],
)
def test_what_gunicorn_refuses_is_problem_json(service: Service, payload: bytes, status: int, code: str | None) -> None:
    """Requests gunicorn refuses before the app answer problem+json with a stable code, not an HTML page."""
    got, headers, body = raw(service.port, payload)
    problem = json.loads(body)
    assert (status, "application/problem+json") == (got, headers["content-type"])
    assert (status, code or "request_header_fields_too_large") == (problem["status"], problem["code"])
    assert headers["x-request-id"] == problem["requestId"]
    assert b"<html" not in body.lower()


def test_no_spelling_reaches_a_dev_file_under_gunicorn(service: Service) -> None:
    """The production server serves the pane's assets, and no spelling of a path reaches the Office.js stand-in."""
    assert 200 == raw_get(service.port, "/taskpane/js/main.js")[0]
    targets = [*STANDIN_SPELLINGS, "/dev/office-standin.js", "/dev", "/static/dev/office-standin.js"]
    served = {}
    for target in targets:
        status, body = raw_get(service.port, target)
        if status < 400 or STANDIN_MARK in body:
            served[target] = status
    assert {} == served


def test_the_public_identity_comes_from_the_settings_not_the_request(service: Service) -> None:
    """/manifest.xml and the pane config carry ADDIN_API_PUBLIC_URL whatever Host the request names."""
    headers = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    manifest = requests.get(f"{service.url}/manifest.xml", headers=headers, timeout=30)
    config = requests.get(f"{service.url}/taskpane/config.json", headers=headers, timeout=30)
    assert (200, 200) == (manifest.status_code, config.status_code)
    assert "evil.example" not in manifest.text and f"{PUBLIC_URL}/taskpane.html" in manifest.text
    assert config.json()["apiScope"].startswith("api://addin.contoso.example/")
