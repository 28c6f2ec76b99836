"""Encode and decode Dataverse Web API `$batch` bodies (OData 4.0 multipart/mixed); no HTTP here.

A batch is a multipart/mixed body whose parts are `application/http` requests, or change sets (a nested
multipart/mixed) whose requests succeed or fail together. GETs are not allowed inside a change set; a batch holds
at most 1000 requests; a `Content-ID` lets later requests of the same change set refer to a created record as `$n`.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_REQUESTS = 1000
CRLF = "\r\n"
JSON_PART = "application/json; type=entry"
_STATUS_LINE = re.compile(r"^HTTP/\d(?:\.\d)?\s+(\d{3})(?:\s.*)?$")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass
class BatchRequest:
    """One request of a batch; `url` is relative to the API base (e.g. `contacts?$select=fullname`) or `$n/…`."""

    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_id: str | None = None


@dataclass
class ChangeSet:
    """Requests Dataverse runs in one transaction: all succeed or all are rolled back."""

    requests: list[BatchRequest]


@dataclass
class BatchResponse:
    """One response of a batch; `headers` have lower-case names; `body` is parsed JSON (text if not JSON) or None."""

    status: int
    headers: dict[str, str]
    body: Any
    content_id: str | None

    @property
    def ok(self) -> bool:
        """Tell whether the part succeeded (2xx)."""
        return 200 <= self.status < 300


def encode_batch(items: Sequence[BatchRequest | ChangeSet], api_base: str) -> tuple[str, bytes]:
    """Return the `Content-Type` (with its boundary) and the body of a `$batch` request for `items`."""
    count = sum(len(i.requests) if isinstance(i, ChangeSet) else 1 for i in items)
    if count == 0:
        raise ValueError("a batch needs at least one request")
    if count > MAX_REQUESTS:
        raise ValueError(f"a batch holds at most {MAX_REQUESTS} requests")
    boundary = f"batch_{uuid.uuid4().hex}"
    lines: list[str] = []
    for item in items:
        lines.append(f"--{boundary}")
        if isinstance(item, ChangeSet):
            if not item.requests:
                raise ValueError("a change set needs at least one request")
            changeset = f"changeset_{uuid.uuid4().hex}"
            lines += [f"Content-Type: multipart/mixed; boundary={changeset}", ""]
            for request in item.requests:
                if request.method.upper() == "GET":
                    raise ValueError("GET requests are not allowed inside a change set")
                lines.append(f"--{changeset}")
                lines += _encode_request(request, api_base)
            lines.append(f"--{changeset}--")
            lines.append("")
        else:
            lines += _encode_request(item, api_base)
    lines.append(f"--{boundary}--")
    lines.append("")
    return f"multipart/mixed; boundary={boundary}", CRLF.join(lines).encode("utf-8")


def _encode_request(request: BatchRequest, api_base: str) -> list[str]:
    method = request.method.upper()
    if not re.fullmatch(r"[A-Z]+", method):
        raise ValueError("not an HTTP method")
    if any(c in request.url for c in "\r\n ") or request.url.startswith(("http:", "https:", "/")):
        raise ValueError("a batch URL is relative to the API base and has no spaces or line breaks")
    # `$1/…` refers to the record created by Content-ID 1 in the same change set; it is not under the base.
    url = request.url if request.url.startswith("$") else api_base + request.url
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if request.content_id is not None:
        lines.append(f"Content-ID: {_header_value(request.content_id)}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    headers = dict(request.headers)
    payload: str | None = None
    if request.body is not None:
        payload = json.dumps(request.body, separators=(",", ":"))
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = JSON_PART
    lines += [f"{_header_value(k)}: {_header_value(v)}" for k, v in headers.items()]
    lines.append("")
    lines.append(payload if payload is not None else "")
    return lines


def _header_value(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("header names and values cannot contain line breaks")
    return value


def decode_batch(content_type: str, body: bytes) -> list[BatchResponse]:
    """Parse a `$batch` response into its parts' responses, change sets flattened, in order."""
    responses: list[BatchResponse] = []
    for headers, content in _parts(content_type, body):
        inner_type = headers.get("content-type", "")
        if inner_type.lower().startswith("multipart/mixed"):
            for inner_headers, inner_content in _parts(inner_type, content):
                responses.append(_decode_response(inner_headers, inner_content))
        else:
            responses.append(_decode_response(headers, content))
    return responses


def boundary_of(content_type: str) -> str:
    """Return the `boundary` parameter of a multipart content type, or raise ValueError."""
    match = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type, re.IGNORECASE)
    if match is None:
        raise ValueError("the content type has no boundary")
    return match.group(1) or match.group(2)


def _parts(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart body into (lower-cased MIME headers, content) pairs.

    A delimiter is a line `--boundary` (`--boundary--` closes), optionally followed by spaces or tabs. Found with
    `bytes.find` rather than a regular expression: every answer has a new boundary, so a pattern built from it would
    be compiled on every call.
    """
    marker = b"--" + boundary_of(content_type).encode("ascii")
    parts: list[tuple[dict[str, str], bytes]] = []
    previous_end: int | None = None
    search_from = 0
    while (at := body.find(marker, search_from)) >= 0:
        search_from = end = at + len(marker)
        if at and body[at - 1] != 0x0A:
            continue  # not at the start of a line
        closing = body.startswith(b"--", end)
        if closing:
            end += 2
        while end < len(body) and body[end] in (0x20, 0x09):
            end += 1
        if end < len(body) and body[end] == 0x0D and (end + 1 == len(body) or body[end + 1] == 0x0A):
            end += 1
        if end < len(body) and body[end] != 0x0A:
            continue  # the boundary text inside a longer line
        if previous_end is not None:
            # The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
            chunk = body[previous_end:at]
            chunk = chunk[1:] if chunk.startswith(b"\n") else chunk
            chunk = chunk.removesuffix(b"\n").removesuffix(b"\r")
            parts.append(_split_headers(chunk))
        if closing:
            return parts
        previous_end = end
    raise ValueError("the multipart body has no closing delimiter")


def _split_headers(chunk: bytes) -> tuple[dict[str, str], bytes]:
    """Split a block of `Name: value` lines from the content after the first blank line."""
    if chunk.startswith((b"\r\n", b"\n")):
        return {}, chunk.split(b"\n", 1)[1]
    found = _HEADER_END.search(chunk)
    head, rest = (chunk[: found.start()], chunk[found.end() :]) if found else (chunk, b"")
    return _parse_headers(head.decode("utf-8", "replace").splitlines()), rest


def _parse_headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            headers[key.strip().lower()] = value.strip()
    return headers


def _decode_response(mime_headers: dict[str, str], content: bytes) -> BatchResponse:
    head, _, body = _split_http(content)
    match = _STATUS_LINE.match(head[0].strip()) if head else None
    if match is None:
        raise ValueError("a batch part is not an HTTP response")
    headers = _parse_headers(head[1:])
    # OData puts Content-ID among the part's MIME headers; early clients put it among the HTTP headers.
    content_id = mime_headers.get("content-id") or headers.get("content-id")
    return BatchResponse(int(match.group(1)), headers, _parse_body(body), content_id)


def _split_http(content: bytes) -> tuple[list[str], bool, bytes]:
    """Split an embedded HTTP message into its start line + header lines and its body."""
    found = _HEADER_END.search(content)
    head, body = (content[: found.start()], content[found.end() :]) if found else (content, b"")
    lines = head.decode("utf-8", "replace").lstrip("\r\n").splitlines()
    return lines, found is not None, body


def _parse_body(body: bytes) -> Any:
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
