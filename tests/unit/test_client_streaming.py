"""Long JSON bodies (attachments) are sent in slices of the caller's own strings, byte for byte as json.dumps."""

from __future__ import annotations

import base64
import json

from addin_api.dataverse.streaming import STREAM_STRINGS_FROM, JsonPayload, json_payload


def test_a_small_body_is_compact_utf8_json() -> None:
    """Without long strings the body is one buffer, compact, non-ASCII kept as UTF-8."""
    body = {"subject": "Grüße", "n": 1}

    assert json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() == json_payload(body)


def test_a_long_base64_string_is_kept_as_it_is_and_read_back_exactly() -> None:
    """An attachment's base64 is a piece of its own; reading the payload in odd slices gives the same JSON."""
    content = base64.b64encode(bytes(range(256)) * (STREAM_STRINGS_FROM // 256 + 1)).decode()
    body = {"subject": "s", "attachments": [{"body": content}, {"body": content}]}

    payload = json_payload(body)

    assert isinstance(payload, JsonPayload)
    assert 2 == sum(piece is content for piece in payload.pieces)
    reader = payload.reader()
    read = b"".join(iter(lambda: reader.read(7777), b""))
    assert (json.loads(read), len(read)) == (body, payload.length)


def test_a_long_string_json_would_escape_is_serialised_normally() -> None:
    """A long string with a quote is not plain: it goes through json.dumps like any other value."""
    text = '"' * STREAM_STRINGS_FROM

    assert isinstance(json_payload({"description": text}), bytes)


def test_each_reader_starts_from_the_beginning() -> None:
    """A retry reads the whole body again."""
    payload = json_payload({"body": "A" * STREAM_STRINGS_FROM})
    assert isinstance(payload, JsonPayload)

    first, second = payload.reader().read(), payload.reader().read()

    assert first == second
    assert len(first) == len(payload.reader())
