"""What every v1 view shares: parsing with a schema, the caller's Dataverse client and their `me` info."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from flask import request
from marshmallow import Schema, ValidationError

from addin_api.api.principal import current_principal
from addin_api.errors import ValidationFailed
from addin_api.services import Dataverse
from addin_api.services.me import MeInfo, current_me
from addin_api.wiring import collaborators

READ_SLICE = 256 * 1024
# The deepest body the API takes nests three levels (a track request, its attachments, one attachment); deeper is
# refused before the schemas see it, as is a body past the depth where Python's recursive JSON decoder gives up.
MAX_JSON_DEPTH = 16
# String literals, containers and separators (`{`, `[`, `,` outside strings) in one body. The largest request the API
# takes, an email with 3 × 500 recipients of {address, name} and 50 attachments, has fewer than 12 000; a body with
# more is refused from its text before it is parsed, since parsing is what costs (a 1 MiB body of `{},` is 350 000
# dicts, about 40 MB).
MAX_JSON_ITEMS = 50_000
# Query parameters the parser reads before giving up (no route takes more than three).
MAX_QUERY_FIELDS = 16
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
NOT_TEXT = "must be valid Unicode text"
ME_KEY = "addin_api.me"  # the request's MeInfo in its WSGI environ


def parse(schema: Schema, data: Mapping[str, Any] | None) -> Any:
    """Load `data` with `schema` (a command, or a dict for a schema without `post_load`) or raise 422 naming each
    field."""
    if data is None:
        raise ValidationFailed({"body": ["must be a JSON object"]})
    try:
        loaded = schema.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"body": exc.messages}
        raise ValidationFailed(messages) from exc
    return loaded


def json_body(max_bytes: int | None = None) -> dict[str, Any] | None:
    """The request's JSON object, or None when the body is not a JSON object; 413 over `max_bytes` (or the app's).

    Parsed without keeping the raw bytes or their decoded text alive next to the result (`get_json` caches the
    bytes for the whole request): a tracked email with a 25 MB attachment holds its base64 text once, not thrice.
    Every body is checked before it costs more than its size: too many items, too deep, or text that is not
    Unicode (a lone surrogate, which no UTF-8 encoder writes and Dataverse cannot store) is a 422, never a 500.
    """
    if max_bytes is not None:
        limit = request.max_content_length
        request.max_content_length = max_bytes if limit is None else min(limit, max_bytes)
    if not request.is_json:
        return None
    raw = _read_body()
    try:
        text = raw.decode(json.detect_encoding(raw))
    except UnicodeDecodeError as exc:
        raise ValidationFailed({"body": ["must be JSON in UTF-8"]}) from exc
    del raw
    if _items(text) > MAX_JSON_ITEMS:
        raise ValidationFailed({"body": [f"must hold at most {MAX_JSON_ITEMS} values"]})
    try:
        body = json.loads(text, parse_constant=_not_json)
    except RecursionError as exc:
        raise ValidationFailed({"body": [f"must not nest deeper than {MAX_JSON_DEPTH} levels"]}) from exc
    except ValueError:
        return None
    _check_values(body)
    return body if isinstance(body, dict) else None


def _items(text: str) -> int:
    """How many string literals, `{`, `[` and `,` outside strings `text` holds, counted up to MAX_JSON_ITEMS + 1."""
    count = text.count(",") + text.count("[") + text.count("{") + text.count('"') // 2
    if count <= MAX_JSON_ITEMS:
        return count  # the common case: an upper bound under the limit, no need to look inside strings
    strings = json.JSONDecoder()  # reads one string literal at a time: the C scanner, escapes and all
    count = position = 0
    while count <= MAX_JSON_ITEMS:  # each turn counts one string literal: a hostile body stops within the limit
        quote = text.find('"', position)
        stop = len(text) if quote < 0 else quote
        count += text.count(",", position, stop) + text.count("[", position, stop) + text.count("{", position, stop)
        if quote < 0:
            break
        try:
            _, position = strings.raw_decode(text, quote)
        except ValueError:
            break  # not JSON: the parser stops at the same place, after no more than was counted
        count += 1
    return count


def _not_json(constant: str) -> None:
    """`NaN` and `Infinity` are JavaScript, not JSON (RFC 8259 §6)."""
    raise ValueError(constant)


def _check_values(body: Any) -> None:
    """Refuse a body nested deeper than MAX_JSON_DEPTH or holding a string (or name) that is not Unicode text."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(body, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_JSON_DEPTH:
            raise ValidationFailed({"body": [f"must not nest deeper than {MAX_JSON_DEPTH} levels"]})
        if isinstance(value, str):
            if not _is_text(value):
                raise ValidationFailed(_at(path, NOT_TEXT))
        elif isinstance(value, dict):
            for key, item in value.items():
                if not _is_text(key):
                    raise ValidationFailed(_at(path, "must have field names that are valid Unicode text"))
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, str(index))) for index, item in enumerate(value))


def _is_text(value: str) -> bool:
    """False when `value` holds a surrogate code point: a JSON `\\ud800` escape left unpaired, or undecodable bytes."""
    return value.isascii() or not LONE_SURROGATE.search(value)


def _at(path: tuple[str, ...], message: str) -> dict[str, Any]:
    """An `errors` entry for the value at `path`, nested as the schemas nest theirs ("body" for the whole body)."""
    if not path:
        return {"body": [message]}
    entry: Any = [message]
    for key in reversed(path):
        entry = {key: entry}
    found: dict[str, Any] = entry
    return found


def _read_body() -> bytes | bytearray:
    """The request body, read in slices into one buffer of its declared length (no joined copy)."""
    stream = request.stream  # raises 413 before we allocate when the declared length is over the limit
    length = request.content_length
    if length is None:
        return request.get_data(cache=False)
    body = bytearray(length)
    with memoryview(body) as view:
        filled = 0
        while filled < length:
            got = stream.readinto(view[filled : filled + READ_SLICE])  # type: ignore[attr-defined]
            if not got:
                break
            filled += got
    del body[filled:]
    return body


def query_args() -> dict[str, str]:
    """The query string as a plain dict: a repeated parameter, or one that is not UTF-8 text, is an error.

    Parsed from the raw bytes rather than `request.args`, which replaces bytes that are not UTF-8 with U+FFFD and
    would send a different value to Dataverse than the one the client meant.
    """
    text = request.query_string.decode("utf-8", "surrogateescape")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="surrogateescape", max_num_fields=MAX_QUERY_FIELDS)
    except ValueError as exc:
        raise ValidationFailed({"query": [f"must have at most {MAX_QUERY_FIELDS} parameters"]}) from exc
    args: dict[str, str] = {}
    for key, value in pairs:
        if not _is_text(key):
            raise ValidationFailed({"query": ["must have parameter names that are UTF-8 text"]})
        if not _is_text(value):
            raise ValidationFailed({key: ["must be UTF-8 text"]})
        if key in args:
            raise ValidationFailed({key: ["must be given once"]})
        args[key] = value
    return args


def dataverse() -> tuple[Dataverse, str]:
    """A Dataverse client acting as the caller, and their environment URL."""
    principal = current_principal()
    wired = collaborators()
    return wired.dataverse(principal), wired.environment_url(principal)


def me(dv: Dataverse) -> MeInfo:
    """The caller's Dataverse identity and add-in privilege (cached per user, and kept for the request: the add-in
    check of `declare` and the view that reads it again cost one look-up).

    Kept in the WSGI environ, which is this request's alone (`g` lives as long as the app context, which a test
    client may share between requests).
    """
    found = request.environ.get(ME_KEY)
    if isinstance(found, MeInfo):
        return found
    principal = current_principal()
    wired = collaborators()
    key = (principal.tenant_id, principal.object_id, wired.environment_url(principal))
    info = current_me(dv, wired.me_cache, key)
    request.environ[ME_KEY] = info
    return info
