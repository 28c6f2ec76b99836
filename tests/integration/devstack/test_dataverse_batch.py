"""The emulated Dataverse's `$batch`, service protection and concurrency, and a generic OData client's session."""

from __future__ import annotations

import email
import email.policy
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from addin_api.devstack.seed import DANA_CONTACT_ID, FABRIKAM_ACCOUNT_ID

ODATA = {"Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"}
CRLF = "\r\n"


def headers_for(stack: Any, user: str = "alice@contoso.example") -> dict[str, str]:
    """OData headers with a Dataverse bearer token."""
    return {**ODATA, "Authorization": f"Bearer {stack.token(user, audience='dataverse')}"}


def http_part(method: str, url: str, body: Any = None, content_id: str | None = None) -> str:
    """One application/http part as Microsoft's batch examples write it."""
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    if body is not None:
        lines += ["Content-Type: application/json; type=entry", "", json.dumps(body)]
    else:
        lines += [""]
    return CRLF.join(lines) + CRLF


def batch_body(boundary: str, items: list[str | list[str]]) -> str:
    """Assemble a batch: a string is a plain part, a list of strings is a change set."""
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(f"--{boundary}{CRLF}{item}")
        else:
            changeset = f"changeset_{uuid.uuid4().hex}"
            inner = "".join(f"--{changeset}{CRLF}{part}" for part in item) + f"--{changeset}--{CRLF}"
            out.append(f"--{boundary}{CRLF}Content-Type: multipart/mixed; boundary={changeset}{CRLF}{CRLF}{inner}")
    return "".join(out) + f"--{boundary}--{CRLF}"


def send_batch(stack: Any, items: list[str | list[str]], **extra: str) -> requests.Response:
    """POST $batch."""
    boundary = f"batch_{uuid.uuid4().hex}"
    headers = {**headers_for(stack), "Content-Type": f"multipart/mixed; boundary={boundary}", **extra}
    return stack.http.post(stack.api + "$batch", data=batch_body(boundary, items), headers=headers, timeout=20)


def parse_batch_response(response: requests.Response) -> list[dict[str, Any]]:
    """Parse a multipart batch response with the stdlib email parser into flat inner responses."""
    raw = f"Content-Type: {response.headers['Content-Type']}\r\n\r\n".encode() + response.content
    message = email.message_from_bytes(raw, policy=email.policy.HTTP)
    out: list[dict[str, Any]] = []

    def walk(part: Any, in_changeset: bool) -> None:
        if part.is_multipart():
            for sub in part.iter_parts():
                walk(sub, in_changeset or part is not message)
            return
        assert "application/http" == part.get_content_type()
        assert "binary" == part["Content-Transfer-Encoding"]
        text = part.get_payload(decode=True).decode()
        status_line, _, rest = text.replace(CRLF, "\n").partition("\n")
        head, _, body = rest.partition("\n\n")
        inner_headers = dict(line.split(": ", 1) for line in head.split("\n") if line)
        out.append(
            {
                "status": int(status_line.split()[1]),
                "status_line": status_line,
                "headers": inner_headers,
                "body": json.loads(body) if body.strip() else None,
                "content_id": part["Content-ID"],
                "changeset": in_changeset,
            }
        )

    walk(message, False)
    return out


def test_batch_gets_and_changeset_round_trip(devstack: Any) -> None:
    """GETs outside and a change set with a Content-ID reference come back as Dataverse sends them."""
    api_path = "/api/data/v9.2/"
    items: list[str | list[str]] = [
        http_part("GET", f"{api_path}accounts({FABRIKAM_ACCOUNT_ID})?$select=name"),
        [
            http_part("POST", f"{api_path}accounts", {"name": "Batch Co"}, content_id="1"),
            http_part(
                "POST",
                f"{api_path}contacts",
                {"lastname": "Batch", "parentcustomerid_account@odata.bind": "$1"},
                content_id="2",
            ),
            http_part("PATCH", "$1", {"telephone1": "555"}, content_id="3"),
        ],
        http_part("GET", f"{devstack.api}contacts?$select=fullname&$filter=lastname%20eq%20'Batch'"),
    ]
    response = send_batch(devstack, items)
    parts = parse_batch_response(response)
    assert 200 == response.status_code
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert [(200, False, None), (204, True, "1"), (204, True, "2"), (204, True, "3"), (200, False, None)] == [
        (p["status"], p["changeset"], p["content_id"]) for p in parts
    ]
    assert "HTTP/1.1 204 No Content" == parts[1]["status_line"]
    assert "Fabrikam, Inc." == parts[0]["body"]["name"]
    account_url = parts[1]["headers"]["OData-EntityId"]
    contact = parts[4]["body"]["value"][0]
    account = devstack.http.get(account_url + "?$select=telephone1", headers=headers_for(devstack), timeout=10).json()
    assert "Batch" == contact["fullname"]
    assert "555" == account["telephone1"]


def test_failed_changeset_rolls_back(devstack: Any) -> None:
    """One failure in a change set undoes its other changes; the batch answers 400 without continue-on-error."""
    items: list[str | list[str]] = [
        [
            http_part("POST", "accounts", {"name": "Rolled Back Ltd"}, content_id="1"),
            http_part("POST", "accounts", {"name": "x" * 161}, content_id="2"),
        ],
        http_part("GET", "accounts?$select=name"),
    ]
    response = send_batch(devstack, items)
    parts = parse_batch_response(response)
    check = devstack.http.get(
        devstack.api + "accounts?$filter=name eq 'Rolled Back Ltd'", headers=headers_for(devstack), timeout=10
    ).json()
    assert 400 == response.status_code
    assert [(400, "2")] == [(p["status"], p["content_id"]) for p in parts]
    assert "0x80044331" == parts[0]["body"]["error"]["code"]
    assert [] == check["value"]


def test_continue_on_error(devstack: Any) -> None:
    """With odata.continue-on-error every part runs and the batch answers 200."""
    items: list[str | list[str]] = [
        http_part("GET", f"accounts({uuid.uuid4()})"),
        http_part("GET", f"accounts({FABRIKAM_ACCOUNT_ID})?$select=name"),
    ]
    stopped = send_batch(devstack, items)
    continued = send_batch(devstack, items, Prefer="odata.continue-on-error")
    assert (400, [404]) == (stopped.status_code, [p["status"] for p in parse_batch_response(stopped)])
    assert (200, [404, 200]) == (continued.status_code, [p["status"] for p in parse_batch_response(continued)])


def test_unknown_content_id_reference(devstack: Any) -> None:
    """A reference to a Content-ID not in the change set answers 400."""
    response = send_batch(devstack, [[http_part("PATCH", "$7", {"name": "x"}, content_id="1")]])
    parts = parse_batch_response(response)
    assert "Content-ID Reference: '$7' does not exist in the batch context." == parts[0]["body"]["error"]["message"]


def test_get_inside_changeset_is_refused(devstack: Any) -> None:
    """GET is not allowed inside a change set."""
    response = send_batch(devstack, [[http_part("GET", "accounts")]])
    assert [400] == [p["status"] for p in parse_batch_response(response)]


def test_batch_is_one_log_entry_with_parts(devstack: Any) -> None:
    """The request log has one entry for a batch, listing its parts."""
    devstack.clear_log()
    send_batch(devstack, [http_part("GET", "WhoAmI"), [http_part("POST", "accounts", {"name": "Logged"}, "1")]])
    entries = devstack.requests_log("dataverse")
    assert [("POST", "/api/data/v9.2/$batch", 200)] == [(e["method"], e["path"], e["status"]) for e in entries]
    assert [
        {"method": "GET", "path": "/api/data/v9.2/WhoAmI", "status": 200},
        {"method": "POST", "path": "/api/data/v9.2/accounts", "status": 204},
    ] == entries[0]["parts"]


def test_batch_parts_respect_privileges(devstack: Any) -> None:
    """A read-only user's batch GET works and its create is refused with 403."""
    boundary = f"batch_{uuid.uuid4().hex}"
    body = batch_body(boundary, [http_part("GET", "WhoAmI"), [http_part("POST", "emails", {"subject": "x"}, "1")]])
    headers = {
        **headers_for(devstack, "carol@contoso.example"),
        "Content-Type": f"multipart/mixed; boundary={boundary}",
    }
    response = devstack.http.post(devstack.api + "$batch", data=body, headers=headers, timeout=10)
    assert [200, 403] == [p["status"] for p in parse_batch_response(response)]


def test_more_than_1000_requests_is_refused(devstack: Any) -> None:
    """A batch over 1000 requests answers 400."""
    response = send_batch(devstack, [http_part("GET", "WhoAmI")] * 1001)
    assert 400 == response.status_code


def test_concurrent_creates_of_one_activityid_leave_one_record(devstack: Any) -> None:
    """20 concurrent POSTs of the same activityid: one 204, nineteen 412 0x80040237, one record."""
    activity_id = str(uuid.uuid4())
    headers = headers_for(devstack)
    body = {
        "activityid": activity_id,
        "subject": "Race",
        "email_activity_parties": [{"participationtypemask": 2, "addressused": "x@example.com"}],
    }

    def create(_: int) -> tuple[int, str]:
        with requests.Session() as session:
            session.verify = devstack.ca_file
            session.trust_env = False
            response = session.post(devstack.api + "emails", json=body, headers=headers, timeout=20)
            return response.status_code, response.json()["error"]["code"] if response.content else ""

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(create, range(20)))
    parties = devstack.http.get(
        devstack.api + f"activityparties?$filter=_activityid_value eq {activity_id}", headers=headers, timeout=10
    ).json()["value"]
    assert [(204, "")] + [(412, "0x80040237")] * 19 == sorted(results)
    assert 1 == len(parties)


def put_limits(devstack: Any, **limits: Any) -> None:
    """Scale the service-protection limits."""
    devstack.http.put(f"{devstack.url}/_devstack/limits", json=limits, timeout=10).raise_for_status()


def test_request_limit(devstack: Any) -> None:
    """Past `requests` in the window: 429, Retry-After and 0x80072322."""
    put_limits(devstack, requests=3, windowSeconds=60)
    headers = headers_for(devstack)
    statuses = [devstack.http.get(devstack.api + "WhoAmI", headers=headers, timeout=10) for _ in range(4)]
    last = statuses[-1]
    assert [200, 200, 200, 429] == [r.status_code for r in statuses]
    assert "0x80072322" == last.json()["error"]["code"]
    assert 1 <= int(last.headers["Retry-After"]) <= 60


def test_limits_are_per_user(devstack: Any) -> None:
    """Another user is not throttled by Alice's usage."""
    put_limits(devstack, requests=1, windowSeconds=60)
    alice, bob = headers_for(devstack), headers_for(devstack, "bob@contoso.example")
    first = devstack.http.get(devstack.api + "WhoAmI", headers=alice, timeout=10)
    second = devstack.http.get(devstack.api + "WhoAmI", headers=alice, timeout=10)
    other = devstack.http.get(devstack.api + "WhoAmI", headers=bob, timeout=10)
    assert [200, 429, 200] == [first.status_code, second.status_code, other.status_code]


def test_execution_time_limit(devstack: Any) -> None:
    """Past `executionMs` of execution in the window: 429 0x80072321 with the configured Retry-After."""
    put_limits(devstack, executionMs=50, windowSeconds=60, retryAfter=7)
    devstack.fault(target="dataverse", path="WhoAmI", delayMs=80, count=1)
    headers = headers_for(devstack)
    devstack.http.get(devstack.api + "WhoAmI", headers=headers, timeout=10)
    refused = devstack.http.get(devstack.api + "WhoAmI", headers=headers, timeout=10)
    assert (429, "0x80072321", "7") == (
        refused.status_code,
        refused.json()["error"]["code"],
        refused.headers["Retry-After"],
    )


def test_concurrency_limit(devstack: Any) -> None:
    """More than `concurrent` requests in flight: 429 0x80072326."""
    put_limits(devstack, concurrent=1)
    devstack.fault(target="dataverse", path="WhoAmI", delayMs=600, count=1)
    headers = headers_for(devstack)

    def call(path: str) -> requests.Response:
        with requests.Session() as session:
            session.verify = devstack.ca_file
            session.trust_env = False
            return session.get(devstack.api + path, headers=headers, timeout=10)

    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(call, "WhoAmI")
        import time

        time.sleep(0.2)
        fast = pool.submit(call, f"accounts({FABRIKAM_ACCOUNT_ID})?$select=name")
        assert (200, 429, "0x80072326") == (
            slow.result().status_code,
            fast.result().status_code,
            fast.result().json()["error"]["code"],
        )


def test_batch_counts_as_one_request(devstack: Any) -> None:
    """A $batch of several parts counts once against the number of requests."""
    put_limits(devstack, requests=2, windowSeconds=60)
    response = send_batch(devstack, [http_part("GET", "WhoAmI")] * 5)
    after = devstack.http.get(devstack.api + "WhoAmI", headers=headers_for(devstack), timeout=10)
    assert (200, 200) == (response.status_code, after.status_code)


@pytest.mark.parametrize("audience", ["dataverse"])
def test_generic_odata_client_session(devstack: Any, audience: str) -> None:
    """A client written only from Microsoft's docs tracks, reads, updates, pages, batches and deletes an email."""
    session = requests.Session()
    session.verify = devstack.ca_file
    session.trust_env = False
    session.headers.update(
        {
            "Authorization": f"Bearer {devstack.token('alice@contoso.example', audience=audience)}",
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "Content-Type": "application/json; charset=utf-8",
        }
    )
    base = devstack.api
    created = session.post(
        base + "emails",
        data=json.dumps(
            {
                "subject": "Contract renewal",
                "description": "<p>Please find the contract attached.</p>",
                "directioncode": True,
                "regardingobjectid_account_email@odata.bind": f"/accounts({FABRIKAM_ACCOUNT_ID})",
                "email_activity_parties": [
                    {
                        "participationtypemask": 1,
                        "partyid_systemuser@odata.bind": "/systemusers(5e7a0001-0000-4000-8000-00000000a11c)",
                    },
                    {"participationtypemask": 2, "partyid_contact@odata.bind": f"/contacts({DANA_CONTACT_ID})"},
                ],
            }
        ),
        timeout=10,
    )
    email_url = created.headers["OData-EntityId"]
    read = session.get(
        email_url + "?$select=subject,_regardingobjectid_value&$expand=email_activity_parties($select=_partyid_value)",
        timeout=10,
    ).json()
    updated = session.patch(
        email_url,
        data=json.dumps({"statecode": 1, "statuscode": 3}),
        headers={"If-Match": read["@odata.etag"]},
        timeout=10,
    )
    pages = []
    url = base + "emails?$select=subject&$filter=_regardingobjectid_value eq " + FABRIKAM_ACCOUNT_ID
    while url:
        page = session.get(url, headers={"Prefer": "odata.maxpagesize=1"}, timeout=10).json()
        pages.append([e["subject"] for e in page["value"]])
        url = page.get("@odata.nextLink")
    boundary = "batch_" + uuid.uuid4().hex
    changeset = "changeset_" + uuid.uuid4().hex
    batch = (
        f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
        f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n"
        f"DELETE {email_url} HTTP/1.1\r\n\r\n"
        f"--{changeset}--\r\n--{boundary}--\r\n"
    )
    batched = session.post(
        base + "$batch", data=batch, headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}, timeout=10
    )
    gone = session.get(email_url, timeout=10)
    assert 204 == created.status_code
    assert ("Contract renewal", FABRIKAM_ACCOUNT_ID, 2) == (
        read["subject"],
        read["_regardingobjectid_value"],
        len(read["email_activity_parties"]),
    )
    assert 204 == updated.status_code
    assert [["Re: Laptop refresh quote"], ["Contract renewal"]] == pages
    assert (200, "HTTP/1.1 204 No Content") == (batched.status_code, parse_batch_response(batched)[0]["status_line"])
    assert 404 == gone.status_code
