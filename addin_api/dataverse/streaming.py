"""JSON request bodies that hold long strings (base64 attachments), sent in slices rather than one buffer.

`json.dumps(body).encode()` would hold two more copies of every attachment; a `JsonPayload` keeps the caller's long
strings as they are and serialises only what is around them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

# A JSON body holding a string this long is sent from the caller's objects in slices.
STREAM_STRINGS_FROM = 256 * 1024
_READ_SIZE = 64 * 1024


class JsonPayload:
    """A JSON body as pieces: serialised bytes around long plain-ASCII strings kept as they are (reusable)."""

    def __init__(self, pieces: Sequence[bytes | str]) -> None:
        self.pieces = tuple(pieces)
        # The strings are ASCII: one byte per character.
        self.length = sum(len(piece) for piece in self.pieces)

    def reader(self) -> PayloadReader:
        """A fresh file-like reader over the body (one per attempt)."""
        return PayloadReader(self.pieces, self.length)


class PayloadReader:
    """`read(n)` and `len()` for requests and urllib3: Content-Length is set and the body is sent in slices."""

    def __init__(self, pieces: Sequence[bytes | str], length: int) -> None:
        self._pieces = pieces
        self._length = length
        self._index = 0
        self._offset = 0

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(_READ_SIZE):
            yield chunk

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left when negative); b"" at the end."""
        want = self._length if size is None or size < 0 else size
        out: list[bytes] = []
        while want > 0 and self._index < len(self._pieces):
            piece = self._pieces[self._index]
            part = piece[self._offset : self._offset + want]
            out.append(part.encode("ascii") if isinstance(part, str) else part)
            self._offset += len(part)
            want -= len(part)
            if self._offset >= len(piece):
                self._index, self._offset = self._index + 1, 0
        return b"".join(out)


def json_payload(body: Mapping[str, Any]) -> bytes | JsonPayload:
    """The body as compact UTF-8 JSON: bytes, or a `JsonPayload` when it holds long strings (attachments)."""
    long_strings: list[str] = []
    tag = f"addin-api-long-string-{uuid.uuid4().hex}-"

    def swap(value: Any) -> Any:
        if isinstance(value, str) and len(value) >= STREAM_STRINGS_FROM and _plain_ascii(value):
            long_strings.append(value)
            return f"{tag}{len(long_strings) - 1}"
        if isinstance(value, Mapping):
            return {key: swap(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [swap(item) for item in value]
        return value

    text = json.dumps(swap(body), ensure_ascii=False, separators=(",", ":"))
    if not long_strings:
        return text.encode("utf-8")
    pieces: list[bytes | str] = []
    for index, part in enumerate(re.split(f"{re.escape(tag)}(\\d+)", text)):
        pieces.append(long_strings[int(part)] if index % 2 else part.encode("utf-8"))
    return JsonPayload(pieces)


def _plain_ascii(value: str) -> bool:
    """True when JSON writes the string unchanged (base64 is): printable ASCII without quote or backslash."""
    return value.isascii() and value.isprintable() and '"' not in value and "\\" not in value
