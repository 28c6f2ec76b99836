"""`$batch` encoding and decoding: round trips, change sets, Content-ID and a Dataverse-shaped response."""

from __future__ import annotations

import json
import re
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest

from addin_api.dataverse.batch import (
    BatchRequest,
    BatchResponse,
    ChangeSet,
    boundary_of,
    decode_batch,
    encode_batch,
)

API = "https://org.example.crm.dynamics.com/api/data/v9.2/"
ACCOUNT = "a59c24d8-0000-4d5e-8f90-123456789abc"
TASK = "b59c24d8-0000-4d5e-8f90-123456789abc"


def decode_batch_request(content_type: str, body: bytes, api_base: str) -> list[BatchRequest | ChangeSet]:
    """Read a `$batch` request body back into requests and change sets, with the standard library's MIME parser."""
    parsed = message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    items: list[BatchRequest | ChangeSet] = []
    for part in parsed.get_payload():
        if part.is_multipart():
            items.append(ChangeSet([_request(inner, api_base) for inner in part.get_payload()]))
        else:
            items.append(_request(part, api_base))
    return items


def _request(part: Message, api_base: str) -> BatchRequest:
    """One `application/http` part as the request it holds (the JSON part type is the encoder's, dropped)."""
    text = part.get_payload(decode=True).decode("utf-8")
    head, _, content = text.partition("\r\n\r\n")
    start, *lines = head.split("\r\n")
    method, url = re.match(r"^([A-Z]+) (\S+) HTTP/1\.1$", start).groups()  # type: ignore[union-attr]
    headers = dict(line.split(": ", 1) for line in lines)
    if headers.get("Content-Type") == "application/json; type=entry":
        del headers["Content-Type"]
    body: Any = json.loads(content) if content.strip() else None
    return BatchRequest(method, url.removeprefix(api_base), body, headers, part.get("Content-ID"))


def _items() -> list[BatchRequest | ChangeSet]:
    return [
        BatchRequest("GET", "contacts?$select=fullname&$filter=emailaddress1%20eq%20%27a%40b.example%27"),
        ChangeSet(
            [
                BatchRequest("POST", "accounts", {"name": "Fabrikam", "description": "Ünïcode ✓"}, content_id="1"),
                BatchRequest(
                    "POST",
                    "contacts",
                    {"lastname": "Smith", "parentcustomerid_account@odata.bind": "$1"},
                    content_id="2",
                ),
                BatchRequest("PATCH", "$1", {"telephone1": "555"}, {"If-Match": "*"}, content_id="3"),
            ]
        ),
        BatchRequest("GET", "WhoAmI", headers={"Prefer": 'odata.include-annotations="*"'}),
    ]


def test_round_trip_preserves_requests_change_sets_and_content_ids() -> None:
    """Decoding what encode_batch wrote gives back the same requests, change sets and Content-IDs."""
    content_type, body = encode_batch(_items(), API)
    assert _items() == decode_batch_request(content_type, body, API)


def test_encoding_follows_the_dataverse_shape() -> None:
    """Parts are application/http with binary transfer encoding, CRLF lines, absolute URLs under the base."""
    content_type, body = encode_batch(_items(), API)
    text = body.decode("utf-8")
    boundary = boundary_of(content_type)
    assert content_type.startswith("multipart/mixed; boundary=batch_")
    assert text.startswith(f"--{boundary}\r\n")
    assert text.endswith(f"--{boundary}--\r\n")
    assert 5 == text.count("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n")
    assert f"GET {API}WhoAmI HTTP/1.1\r\n" in text
    assert "PATCH $1 HTTP/1.1\r\nIf-Match: *\r\nContent-Type: application/json; type=entry\r\n" in text
    assert "Content-ID: 2\r\n\r\nPOST " + API + "contacts HTTP/1.1\r\n" in text
    assert "\n" not in text.replace("\r\n", "")


def test_get_inside_a_change_set_is_refused() -> None:
    """GETs are not allowed in a change set."""
    with pytest.raises(ValueError):
        encode_batch([ChangeSet([BatchRequest("GET", "contacts")])], API)


def test_more_than_1000_requests_are_refused() -> None:
    """A batch holds at most 1000 requests."""
    encode_batch([BatchRequest("GET", "WhoAmI")] * 1000, API)
    with pytest.raises(ValueError):
        encode_batch([BatchRequest("GET", "WhoAmI")] * 1001, API)


@pytest.mark.parametrize(
    "request_",
    [
        BatchRequest("GET", "contacts HTTP/1.1\r\nX-Evil: 1"),
        BatchRequest("GET", "https://attacker.example/api/data/v9.2/contacts"),
        BatchRequest("GET", "/contacts"),
        BatchRequest("GET", "contacts", headers={"X-A": "1\r\nX-B: 2"}),
        BatchRequest("GE T", "contacts"),
    ],
)
def test_unsafe_requests_are_refused(request_: BatchRequest) -> None:
    """Line breaks, absolute or rooted URLs and odd methods cannot be smuggled into a batch."""
    with pytest.raises(ValueError):
        encode_batch([request_], API)


DATAVERSE_RESPONSE = (
    "--batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f\r\n"
    "Content-Type: multipart/mixed; boundary=changesetresponse_ff83b4f1-ab48-430c-b81c-926a2c596abc\r\n"
    "\r\n"
    "--changesetresponse_ff83b4f1-ab48-430c-b81c-926a2c596abc\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 1\r\n"
    "\r\n"
    "HTTP/1.1 204 No Content\r\n"
    "OData-Version: 4.0\r\n"
    f"Location: {API}accounts({ACCOUNT})\r\n"
    f"OData-EntityId: {API}accounts({ACCOUNT})\r\n"
    "\r\n"
    "\r\n"
    "--changesetresponse_ff83b4f1-ab48-430c-b81c-926a2c596abc\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 2\r\n"
    "\r\n"
    "HTTP/1.1 204 No Content\r\n"
    "OData-Version: 4.0\r\n"
    f"Location: {API}tasks({TASK})\r\n"
    f"OData-EntityId: {API}tasks({TASK})\r\n"
    "\r\n"
    "\r\n"
    "--changesetresponse_ff83b4f1-ab48-430c-b81c-926a2c596abc--\r\n"
    "--batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json; odata.metadata=minimal; odata.streaming=true\r\n"
    "OData-Version: 4.0\r\n"
    "\r\n"
    "{\r\n"
    f'  "@odata.context": "{API}$metadata#tasks(subject)",\r\n'
    f'  "value": [{{"@odata.etag": "W/\\"77180907\\"", "subject": "Task 1", "activityid": "{TASK}"}}]\r\n'
    "}\r\n"
    "--batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "HTTP/1.1 404 Not Found\r\n"
    "Content-Type: application/json; odata.metadata=minimal\r\n"
    "OData-Version: 4.0\r\n"
    "\r\n"
    '{"error":{"code":"0x80040217","message":"contact With Id = 00000000 Does Not Exist"}}\r\n'
    "--batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f--\r\n"
)


def test_decodes_a_dataverse_shaped_response() -> None:
    """A change set's responses come first (with Content-IDs), then the GETs, flattened in order."""
    content_type = "multipart/mixed; boundary=batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f"
    expected = [
        BatchResponse(
            204,
            {
                "odata-version": "4.0",
                "location": f"{API}accounts({ACCOUNT})",
                "odata-entityid": f"{API}accounts({ACCOUNT})",
            },
            None,
            "1",
        ),
        BatchResponse(
            204,
            {
                "odata-version": "4.0",
                "location": f"{API}tasks({TASK})",
                "odata-entityid": f"{API}tasks({TASK})",
            },
            None,
            "2",
        ),
        BatchResponse(
            200,
            {
                "content-type": "application/json; odata.metadata=minimal; odata.streaming=true",
                "odata-version": "4.0",
            },
            {
                "@odata.context": f"{API}$metadata#tasks(subject)",
                "value": [{"@odata.etag": 'W/"77180907"', "subject": "Task 1", "activityid": TASK}],
            },
            None,
        ),
        BatchResponse(
            404,
            {"content-type": "application/json; odata.metadata=minimal", "odata-version": "4.0"},
            {"error": {"code": "0x80040217", "message": "contact With Id = 00000000 Does Not Exist"}},
            None,
        ),
    ]
    assert expected == decode_batch(content_type, DATAVERSE_RESPONSE.encode("utf-8"))


def test_decodes_bare_line_feeds_and_a_quoted_boundary() -> None:
    """Servers that write LF-only lines and quote the boundary parameter are understood too."""
    body = DATAVERSE_RESPONSE.replace("\r\n", "\n").encode("utf-8")
    content_type = 'multipart/mixed; boundary="batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f"'
    assert [204, 204, 200, 404] == [r.status for r in decode_batch(content_type, body)]
    assert ["1", "2", None, None] == [r.content_id for r in decode_batch(content_type, body)]


def test_only_whole_delimiter_lines_split_parts() -> None:
    """The boundary inside a line (or as a longer word) is content; trailing blanks after a delimiter are allowed."""
    body = (
        b"preamble --b is not a delimiter\r\n"
        b"--b \t\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n\r\nsee --b and\r\n--bb\r\n"
        b"--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n--b--  \r\nepilogue"
    )
    responses = decode_batch("multipart/mixed; boundary=b", body)
    assert [(200, "see --b and\r\n--bb"), (204, None)] == [(r.status, r.body) for r in responses]


def test_a_truncated_body_is_an_error() -> None:
    """A body without its closing delimiter is refused rather than half-read."""
    content_type = "multipart/mixed; boundary=batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f"
    truncated = DATAVERSE_RESPONSE.rsplit("--batchresponse", 1)[0].encode("utf-8")
    with pytest.raises(ValueError):
        decode_batch(content_type, truncated)


def test_a_content_type_without_boundary_is_an_error() -> None:
    """A multipart content type must name its boundary."""
    with pytest.raises(ValueError):
        decode_batch("multipart/mixed", b"")


def test_non_json_part_bodies_are_kept_as_text() -> None:
    """A part whose body is not JSON keeps its text; an empty body is None."""
    body = (
        b"--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 502 Bad Gateway\r\n\r\n<html>down</html>\r\n"
        b"--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n--b--\r\n"
    )
    assert [BatchResponse(502, {}, "<html>down</html>", None), BatchResponse(204, {}, None, None)] == (
        decode_batch("multipart/mixed; boundary=b", body)
    )
